/**
 * An off-chain model of where a claim ticket lands, reproduced from the contract source
 * (contracts/JobMarketBase.sol `_resolveTicket`, `_claimRandomness`, `_drawClaims`, `_scanClaims`,
 * `_nextOpen`, `_tryClaim`), used by the collusion simulation (scripts/simCollusion.ts) and its
 * attack tests:
 *  - `requestClaim(jobId, count)` in block B queues ticket number i of the job (its index in the
 *    job's queue, from 0) seeded by B; it resolves first-in first-out in a later block;
 *  - its randomness is R = `keccak256(abi.encode(blockhash(B), jobId, i))`;
 *  - its first slot is drawn uniformly over the free (segment, slot) pairs the claimer may take:
 *    draw a (a = 0 .. MAX_DRAW_ATTEMPTS − 1) is x = `keccak256(abi.encode(R, a)) % (segmentCount ×
 *    redundancy)`, segment x / redundancy, slot index x % redundancy, accepted iff the segment is
 *    open, the index is below its free slots and the claimer holds none of it and is not refused it;
 *  - the rest of the ticket scans the open segments (bitmap: a segment closes when every slot is
 *    assigned) from the start of the drawn segment's cell (`cellStart`: the segments cut into runs
 *    of `count` rounded up to a multiple of 4, the segments of one header word) to the end, then
 *    from 0 on, at most MAX_CLAIM_SCAN of them; if every draw was rejected, the whole ticket scans
 *    from R % segmentCount;
 *  - the scan skips a segment the claimer already holds a replica of, and takes one free slot of
 *    each other, until `count` slots are taken.
 * The landing is known only once block B exists, after the request is final: this is claim
 * tickets' answer to issue 10 property 1. Before tickets the scan started at
 * `keccak256(abi.encode(prevrandao, block.number, claimer, jobId))` of the claim's own block, known
 * one block ahead (`predictPrevrandaoStart`, kept to show that it no longer matches); before the
 * draw (issue 10 property 4) a ticket scanned from R % segmentCount (`predictScan`), which favours
 * a segment after a run of closed ones.
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

/** The contract's randomness (`_claimRandomness`) of ticket `ticketIndex` of `jobId`, seeded by a block with hash `seedHash`. */
export function claimRandomness(seedHash: Hex, jobId: bigint, ticketIndex: bigint): bigint {
  return BigInt(
    keccak256(encodeAbiParameters([{ type: "bytes32" }, { type: "uint256" }, { type: "uint256" }], [seedHash, jobId, ticketIndex])),
  );
}

/** Where the ticket's scan starts when none of its draws is accepted (and where every ticket scanned from before the draw). */
export function predictStart(seedHash: Hex, jobId: bigint, ticketIndex: bigint, segmentCount: number): number {
  return Number(claimRandomness(seedHash, jobId, ticketIndex) % BigInt(segmentCount));
}

/** Draw `attempt` of a ticket with randomness `randomness`: the value reduced mod segmentCount × redundancy. */
export function drawValue(randomness: bigint, attempt: number): bigint {
  return BigInt(keccak256(encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }], [randomness, BigInt(attempt)])));
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

/**
 * The segments a ticket of `count` slots by `claimer` with randomness `randomness` lands on, in
 * the order of its ReplicasClaimed event: the drawn first slot, then the scan from its cell's start.
 */
export function predictLanding(state: ClaimState, claimer: Address, randomness: bigint, count: number): number[] {
  const me = claimer.toLowerCase();
  const space = BigInt(state.segmentCount * state.slots);
  for (let a = 0; a < jobMarketConstants.MAX_DRAW_ATTEMPTS; a++) {
    const x = drawValue(randomness, a) % space;
    const segment = Number(x / BigInt(state.slots));
    if (Number(x % BigInt(state.slots)) >= free(state, segment) || !takes(state, segment, me)) continue;
    const after = { ...state, holders: state.holders.map((h, s) => (s === segment ? [...h, me] : h)) };
    return [segment, ...predictScan(after, claimer, cellStart(segment, count), count - 1)];
  }
  return predictScan(state, claimer, Number(randomness % BigInt(state.segmentCount)), count);
}

/**
 * The segments a scan of `count` slots by `claimer` from `start` lands on: a ticket's fallback
 * when none of its draws is accepted, and the whole of a ticket before the draw.
 */
export function predictScan(state: ClaimState, claimer: Address, start: number, count: number): number[] {
  const me = claimer.toLowerCase();
  const landed: number[] = [];
  let inspected = 0;
  const order = [...range(start, state.segmentCount), ...range(0, start)];
  for (const segment of order) {
    if (landed.length >= count || inspected >= jobMarketConstants.MAX_CLAIM_SCAN) break;
    if (free(state, segment) === 0) continue; // closed in the bitmap: not visited
    ++inspected;
    if (!takes(state, segment, me)) continue;
    landed.push(segment);
  }
  return landed;
}

/**
 * What the first slot of a ticket of `claimer` resolved on this state does, over its unknown
 * randomness: `drawn[s]`, the chance that a draw is accepted on segment s (its weight, the free
 * slots it may take, over all such slots, times the chance that some draw is accepted), and
 * `fallback`, the chance that every draw is rejected and the ticket scans from a uniform start.
 */
export function firstSlotOdds(state: ClaimState, claimer: Address): { drawn: number[]; fallback: number } {
  const me = claimer.toLowerCase();
  const weights = state.holders.map((_, s) => (takes(state, s, me) ? Math.min(free(state, s), state.slots) : 0));
  const total = weights.reduce((a, b) => a + b, 0);
  const fallback = (1 - total / (state.segmentCount * state.slots)) ** jobMarketConstants.MAX_DRAW_ATTEMPTS;
  return { drawn: weights.map((w) => (total === 0 ? 0 : (w / total) * (1 - fallback))), fallback };
}

/**
 * What a claimer can still compute before it requests: the chance, over the ticket's unknown
 * randomness, that a one-slot ticket resolved on this state lands on each segment: its share of
 * the free slots it may take, except where every draw misses (a job's tail) and the scan, which
 * favours a segment after a long closed run, decides.
 */
export function landingOdds(state: ClaimState, claimer: Address): number[] {
  const { drawn, fallback } = firstSlotOdds(state, claimer);
  const odds = [...drawn];
  for (let start = 0; start < state.segmentCount; start++) {
    const [segment] = predictScan(state, claimer, start, 1);
    if (segment !== undefined) odds[segment] += fallback / state.segmentCount;
  }
  return odds;
}

/** The chance that a ticket of `count` slots by `claimer` resolved on this state takes a slot of each segment. */
export function coverageOdds(state: ClaimState, claimer: Address, count: number): number[] {
  const me = claimer.toLowerCase();
  const { drawn, fallback } = firstSlotOdds(state, claimer);
  const odds = new Array<number>(state.segmentCount).fill(0);
  for (let s = 0; s < state.segmentCount; s++) {
    if (drawn[s] > 0) {
      const after = { ...state, holders: state.holders.map((h, t) => (t === s ? [...h, me] : h)) };
      for (const t of [s, ...predictScan(after, claimer, cellStart(s, count), count - 1)]) odds[t] += drawn[s];
    }
    for (const t of predictScan(state, claimer, s, count)) odds[t] += fallback / state.segmentCount;
  }
  return odds;
}

/** Segments `claimer` could land on at all (open, not held by it): when only one is left, landing is certain. */
export function claimableBy(state: ClaimState, claimer: Address): number[] {
  const me = claimer.toLowerCase();
  const out: number[] = [];
  for (let s = 0; s < state.segmentCount; s++) if (takes(state, s, me)) out.push(s);
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

/**
 * Where the rest of a ticket of `count` slots drawn on `segment` scans from (`_drawClaims`): the
 * start of the segment's cell, the job's segments cut into runs of `count` rounded up to whole
 * header words (four segments each).
 */
export function cellStart(segment: number, count: number): number {
  const cell = (count + 3) & ~3;
  return segment - (segment % cell);
}

/** Free slots of a segment (0: closed in the bitmap). */
function free(state: ClaimState, segment: number): number {
  return Math.max(state.slots - state.holders[segment].length, 0);
}

/** Whether `_tryClaim` gives `me` a slot of this segment: open, not held by it, not refused it. */
function takes(state: ClaimState, segment: number, me: string): boolean {
  return free(state, segment) > 0 && !state.holders[segment].includes(me) && !refused(state, segment, me);
}

function refused(state: ClaimState, segment: number, me: string): boolean {
  return state.records[segment].some((r) => r.address === me);
}

function* range(from: number, to: number) {
  for (let i = from; i < to; i++) yield i;
}
