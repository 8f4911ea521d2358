/**
 * An adversary's off-chain model of where `JobMarket.claim` lands, reproduced from the contract
 * source (contracts/JobMarket.sol `claim`, `_randomStart`, `_nextOpen`, `_tryClaim`):
 *  - the scan starts at `keccak256(abi.encode(prevrandao, block.number, claimer, jobId)) % segmentCount`;
 *  - it visits the open segments (bitmap: a segment closes when every slot is assigned) from the
 *    start to the end, then from 0 up to the start, at most MAX_CLAIM_SCAN of them;
 *  - it skips a segment the claimer already holds a replica of, and takes one free slot of each
 *    other, until `count` slots are taken.
 * On Ethereum `prevrandao` of block n+1 is fixed by block n, so all of this is known one block
 * ahead: this is the hole of issue 10 property 1, measured by scripts/simCollusion.ts. A slot
 * given back (`abandon`) reopens its segment; the emptied slot keeps its last holder's record,
 * which refuses that holder the segment for its lease plus one lease, until another claimer takes
 * that very slot (claims prefer never-used slots). The model keeps the record for the rest of the
 * job (the simulated jobs are claimed within minutes of multi-day leases). The model is checked against every claim the
 * simulation sends and by test/contracts/attacks/claimPrediction.test.ts.
 */
import { encodeAbiParameters, keccak256, type Address, type Hex } from "viem";
import { jobMarketConstants } from "../../sdk/src/contracts.generated.ts";
import type { SlotRef } from "../../sdk/src/protocol/slots.ts";

/** The contract's `_randomStart` for a claim by `claimer` in a block with these `prevrandao` and number. */
export function predictStart(prevrandao: Hex, blockNumber: bigint, claimer: Address, jobId: bigint, segmentCount: number): number {
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

/** The segments a `claim(jobId, count)` by `claimer` lands on, given the scan's start. */
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
