/**
 * An adversary's off-chain model of where `JobMarket.claim` lands, reproduced from the contract
 * source (contracts/JobMarket.sol `claim`, `_randomStart`, `_nextOpen`, `_tryClaim`):
 *  - the scan starts at `keccak256(abi.encode(prevrandao, block.number, claimer, jobId)) % segmentCount`;
 *  - it visits the open segments (bitmap: a segment closes when every slot is assigned) from the
 *    start to the end, then from 0 up to the start, at most MAX_CLAIM_SCAN of them;
 *  - it skips a segment the claimer already holds a replica of, and takes one free slot of each
 *    other, until `count` slots are taken.
 * On Ethereum `prevrandao` of block n+1 is fixed by block n, so all of this is known one block
 * ahead: this is the hole of issue 10 property 1, measured by scripts/simCollusion.ts. The model
 * ignores given-back slots (the simulation never abandons), and is checked against every claim
 * the simulation sends and by test/contracts/attacks/claimPrediction.test.ts.
 */
import { encodeAbiParameters, keccak256, type Address, type Hex } from "viem";
import { jobMarketConstants } from "../../sdk/src/contracts.generated.ts";

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
}

export function emptyClaimState(segmentCount: number, slots: number): ClaimState {
  return { segmentCount, slots, holders: Array.from({ length: segmentCount }, () => []) };
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
    if (holders.includes(me)) continue;
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
    if (holders.length < state.slots && !holders.includes(me)) out.push(s);
  }
  return out;
}

/** Records a claim's landed segments in the state. */
export function recordClaim(state: ClaimState, claimer: Address, segments: readonly number[]): void {
  for (const s of segments) state.holders[s].push(claimer.toLowerCase());
}

function* range(from: number, to: number) {
  for (let i = from; i < to; i++) yield i;
}
