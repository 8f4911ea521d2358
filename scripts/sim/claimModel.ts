/**
 * An off-chain model of where a claim ticket lands, reproduced from the contract source
 * (contracts/JobMarketBase.sol `_resolveTicket`, `_claimRandomness`, `_scanClaims`, `_nextOpen`,
 * `_tryClaim`), used by the collusion simulation (scripts/simCollusion.ts) and its attack tests:
 *  - `requestClaim(jobId, count)` in block B queues ticket number i of the job (its index in the
 *    job's queue, from 0) seeded by B; it resolves first-in first-out in a later block;
 *  - the scan starts at `keccak256(abi.encode(blockhash(B), jobId, i)) % segmentCount`;
 *  - it visits the open segments (bitmap: a segment closes when every slot is assigned) from the
 *    start to the end, then from 0 up to the start, at most MAX_CLAIM_SCAN of them;
 *  - it skips a segment the claimer already holds a replica of, and takes one free slot of each
 *    other, until `count` slots are taken.
 * The landing is known only once block B exists, after the request is final: this is claim
 * tickets' answer to issue 10 property 1. Before tickets the start was
 * `keccak256(abi.encode(prevrandao, block.number, claimer, jobId))` of the claim's own block, known
 * one block ahead (`predictPrevrandaoStart`, kept to show that it no longer matches).
 * A slot given back (`abandon`) reopens its segment; the emptied slot keeps its last holder's
 * record, which refuses that holder the segment for its lease plus one lease, until another
 * claimer takes that very slot (claims prefer never-used slots). The model keeps the record for
 * the rest of the job (the simulated jobs are claimed within minutes of multi-day leases). The
 * simulation checks the model against every ticket the contract resolves, and
 * test/contracts/attacks/claimPrediction.test.ts checks it on its own.
 */
import { encodeAbiParameters, keccak256, type Address, type Hex } from "viem";
import { jobMarketConstants } from "../../sdk/src/contracts.generated.ts";
import type { SlotRef } from "../../sdk/src/protocol/slots.ts";

/** The contract's scan start for ticket `ticketIndex` of `jobId`, seeded by a block with hash `seedHash`. */
export function predictStart(seedHash: Hex, jobId: bigint, ticketIndex: bigint, segmentCount: number): number {
  const hash = keccak256(
    encodeAbiParameters([{ type: "bytes32" }, { type: "uint256" }, { type: "uint256" }], [seedHash, jobId, ticketIndex]),
  );
  return Number(BigInt(hash) % BigInt(segmentCount));
}

/**
 * The scan start of the contract BEFORE claim tickets (`_randomStart` of `claim`, in the block
 * that mined the claim): what a block-choice attacker computed one block ahead. Kept for the
 * attack test that shows it no longer names where a claim lands.
 */
export function predictPrevrandaoStart(prevrandao: Hex, blockNumber: bigint, claimer: Address, jobId: bigint, segmentCount: number): number {
  const hash = keccak256(
    encodeAbiParameters(
      [{ type: "uint256" }, { type: "uint256" }, { type: "address" }, { type: "uint256" }],
      [BigInt(prevrandao), blockNumber, claimer, jobId],
    ),
  );
  return Number(BigInt(hash) % BigInt(segmentCount));
}

/** What the claimer knows about a job's claim state (from the ReplicasClaimed events). */
export interface ClaimState {
  segmentCount: number;
  /** Slots per segment (the job's redundancy; the simulation opens no tie-breakers). */
  slots: number;
  /** Per segment, the addresses (lower-case) holding a replica. */
  holders: string[][];
  /** Per segment, the emptied slots that still name the address that gave them back (refused that segment). */
  records: { replica: number; address: string }[][];
}

export function emptyClaimState(segmentCount: number, slots: number): ClaimState {
  return {
    segmentCount,
    slots,
    holders: Array.from({ length: segmentCount }, () => []),
    records: Array.from({ length: segmentCount }, () => []),
  };
}

/** The segments a ticket of `count` slots by `claimer` lands on, given the scan's start. */
export function predictLanding(state: ClaimState, claimer: Address, start: number, count: number): number[] {
  const me = claimer.toLowerCase();
  const landed: number[] = [];
  let inspected = 0;
  const order = [...range(start, state.segmentCount), ...range(0, start)];
  for (const segment of order) {
    if (landed.length >= count || inspected >= jobMarketConstants.MAX_CLAIM_SCAN) break;
    const holders = state.holders[segment];
    if (holders.length >= state.slots) continue; // closed in the bitmap: not visited
    ++inspected;
    if (holders.includes(me) || refused(state, segment, me)) continue;
    landed.push(segment);
  }
  return landed;
}

/**
 * What a claimer can still compute before it requests: the chance, over the uniformly random scan
 * start, that a one-slot ticket resolved on this state lands on each segment (segments after a
 * long closed run are likelier: the scan starts anywhere in the run and takes the next open one).
 */
export function landingOdds(state: ClaimState, claimer: Address): number[] {
  const odds = new Array<number>(state.segmentCount).fill(0);
  for (let start = 0; start < state.segmentCount; start++) {
    const [segment] = predictLanding(state, claimer, start, 1);
    if (segment !== undefined) odds[segment] += 1 / state.segmentCount;
  }
  return odds;
}

/** Segments `claimer` could land on at all (open, not held by it): when only one is left, landing is certain. */
export function claimableBy(state: ClaimState, claimer: Address): number[] {
  const me = claimer.toLowerCase();
  const out: number[] = [];
  for (let s = 0; s < state.segmentCount; s++) {
    const holders = state.holders[s];
    if (holders.length < state.slots && !holders.includes(me) && !refused(state, s, me)) out.push(s);
  }
  return out;
}

/** Records a claim's landed slots (from its ReplicasClaimed event) in the state. */
export function recordClaim(state: ClaimState, claimer: Address, slots: readonly SlotRef[]): void {
  for (const { segment, replica } of slots) {
    state.holders[segment].push(claimer.toLowerCase());
    state.records[segment] = state.records[segment].filter((r) => r.replica !== replica);
  }
}

/** Records a give-back (`abandon`) of `claimer`'s slots. */
export function recordAbandon(state: ClaimState, claimer: Address, slots: readonly SlotRef[]): void {
  const me = claimer.toLowerCase();
  for (const { segment, replica } of slots) {
    state.holders[segment] = state.holders[segment].filter((h) => h !== me);
    state.records[segment].push({ replica, address: me });
  }
}

function refused(state: ClaimState, segment: number, me: string): boolean {
  return state.records[segment].some((r) => r.address === me);
}

function* range(from: number, to: number) {
  for (let i = from; i < to; i++) yield i;
}
