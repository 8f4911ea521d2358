/**
 * The protocol's "may this happen now" rules, as JobMarket decides them. They take the smallest
 * shapes they need, so they apply both to the fold's records (see fold.ts) and to the contracts'
 * views. Times are chain seconds.
 */
import type { Address } from "viem";
import { AbandonReason, JobStatus, jobMarketConstants, ReplicaState, SegmentStatus, segmentHeaderConstants } from "../contracts.generated.ts";

export interface JobLike {
  status: number;
  params: { deadline: bigint; leaseDuration: number };
}

/** A segment; `slots` 0 means no claim ever touched it (the fold's records; views report the redundancy instead). */
export interface SegmentLike {
  status: number;
  slots: number;
  assigned: number;
  revealDeadline: bigint;
  /** Slots committed or revealed, and the replica slots: where given, `isClosable` also applies the commit-wait rule. */
  committed?: number;
  replicas?: readonly Pick<ReplicaLike, "state" | "leaseEnd">[];
  /** Blind round (digestChain.ts); where given with the replicas' `revealRound`, claimability applies the last round's rule. */
  round?: number;
}

export interface ReplicaLike {
  provider: Address;
  state: number;
  leaseEnd: bigint;
  revealRound?: number;
}

/**
 * A slot emptied in the last blind round after a replica revealed in it stays shut
 * (JobMarketBase._nextRoundIfRevealed): no deeper link of the digest chain is left to ask its new
 * holder for, so the segment waits for `closeSegments`.
 */
export function isShutInLastRound(round: number | undefined, replicas: readonly Pick<ReplicaLike, "state" | "revealRound">[]): boolean {
  return round === segmentHeaderConstants.MAX_ROUND && replicas.some((r) => r.state === ReplicaState.Revealed && r.revealRound === round);
}

/**
 * Whether `closeSegments` accepts the segment now (JobMarket._closable). The commit-wait rule
 * (a segment stalled: see {@link isStalled}) needs the segment's replicas; without them it is not applied.
 */
export function isClosable(job: JobLike, seg: SegmentLike, now: bigint): boolean {
  if (!isInPlay(seg.status)) return false;
  if (now > job.params.deadline) {
    // An untouched segment of a cancelled job was refunded by `cancelJob`.
    if (seg.slots === 0 && job.status === JobStatus.Cancelled) return false;
    return seg.revealDeadline === 0n || now > seg.revealDeadline;
  }
  // Before the deadline: a cancelled job's touched segment that can never fill all its slots ...
  if (job.status === JobStatus.Cancelled && seg.slots !== 0 && seg.assigned < seg.slots) return true;
  // ... or one whose committed replica has waited too long for its peers.
  return isStalled(job, seg, now);
}

/**
 * JobMarket._stalled: the segment's reveal window never opened and a committed replica's lease
 * ended more than COMMIT_WAIT_LEASES leases ago, so anyone may close the segment and release the
 * collateral that waited (the bound on how long honest collateral waits for its peers).
 */
export function isStalled(job: Pick<JobLike, "params">, seg: Pick<SegmentLike, "revealDeadline" | "committed" | "replicas">, now: bigint): boolean {
  if (seg.committed === 0 || seg.revealDeadline !== 0n || !seg.replicas) return false;
  const wait = BigInt(job.params.leaseDuration) * BigInt(jobMarketConstants.COMMIT_WAIT_LEASES);
  return seg.replicas.some((r) => r.state === ReplicaState.Committed && now > r.leaseEnd + wait);
}

/**
 * What `abandon` at chain time `now` forfeits of a claim with lease end `leaseEnd`
 * (JobMarket._abandonForfeit): ABANDON_FORFEIT_BPS of the collateral pro rata of the lease elapsed.
 */
export function abandonForfeit(params: { collateralPerReplica: bigint; leaseDuration: number }, leaseEnd: bigint, now: bigint): bigint {
  const lease = BigInt(params.leaseDuration);
  const remaining = leaseEnd > now ? leaseEnd - now : 0n;
  const elapsed = remaining >= lease ? 0n : lease - remaining;
  return (params.collateralPerReplica * BigInt(jobMarketConstants.ABANDON_FORFEIT_BPS) * elapsed) / (10_000n * lease);
}

/**
 * Whether `provider` is still cooling down after giving back a slot of this segment: `abandon`
 * leaves its address and lease end in the emptied slot, and JobMarket._tryClaim refuses it the
 * segment until that lease end plus one lease.
 */
export function isCoolingDown(rep: Pick<ReplicaLike, "provider" | "state"> & { leaseEnd?: bigint }, provider: Address, now: bigint | undefined, leaseDuration: number): boolean {
  if (rep.state !== ReplicaState.Empty || rep.provider.toLowerCase() !== provider.toLowerCase()) return false;
  if (now === undefined || rep.leaseEnd === undefined) return true;
  return now <= rep.leaseEnd + BigInt(leaseDuration);
}

/**
 * Why `expire` accepts the replica now (JobMarket.expire): `"lease"` for a claim whose lease
 * passed without a commit, `"reveal"` for a commit whose reveal window passed; undefined when it
 * would revert.
 */
export function expirableReason(seg: Pick<SegmentLike, "revealDeadline">, rep: Pick<ReplicaLike, "state" | "leaseEnd">, now: bigint): "lease" | "reveal" | undefined {
  if (rep.state === ReplicaState.Claimed && now > rep.leaseEnd) return "lease";
  if (rep.state === ReplicaState.Committed && seg.revealDeadline !== 0n && now > seg.revealDeadline) return "reveal";
  return undefined;
}

export function isExpirable(seg: Pick<SegmentLike, "revealDeadline">, rep: Pick<ReplicaLike, "state" | "leaseEnd">, now: bigint): boolean {
  return expirableReason(seg, rep, now) !== undefined;
}

/** Whether the job takes claims at chain time `now` (open, and a lease started now ends by the deadline). */
export function isJobClaimable(job: JobLike, now: bigint): boolean {
  return job.status === JobStatus.Open && now + BigInt(job.params.leaseDuration) <= job.params.deadline;
}

/** Whether a slot holds a replica (claimed, committed or revealed, not yet settled). */
export function isHeld(rep: Pick<ReplicaLike, "state">): boolean {
  return rep.state === ReplicaState.Claimed || rep.state === ReplicaState.Committed || rep.state === ReplicaState.Revealed;
}

/**
 * Whether `provider` could be given a slot of this segment (JobMarket._tryClaim): open, not every
 * slot taken, no non-empty slot of it belongs to `provider` (never two replicas of one segment), not shut in the last blind round ({@link isShutInLastRound}),
 * and `provider` is not cooling down after giving a slot of it back ({@link isCoolingDown}; without
 * `at`, a give-back of its own counts as still cooling down). `redundancy` stands in for the slot
 * count of an untouched segment.
 */
export function isSegmentClaimableBy(
  seg: SegmentLike,
  replicas: readonly (Pick<ReplicaLike, "provider" | "state" | "revealRound"> & { leaseEnd?: bigint })[],
  provider: Address,
  redundancy: number,
  at?: { now: bigint; leaseDuration: number },
): boolean {
  const slots = seg.slots === 0 ? redundancy : seg.slots;
  if (!isInPlay(seg.status) || seg.assigned >= slots) return false;
  if (isShutInLastRound(seg.round, replicas)) return false;
  const me = provider.toLowerCase();
  return !replicas.some((r) => (r.state !== ReplicaState.Empty && r.provider.toLowerCase() === me) || isCoolingDown(r, provider, at?.now, at?.leaseDuration ?? 0));
}

/**
 * Whether `cancelJob` refunded this segment: nobody had claimed it (no slots yet). Its on-chain
 * status stays `Open` — cancelling writes nothing per segment — so readers must not show it as open.
 */
export function isRefundedByCancellation(job: Pick<JobLike, "status">, seg: Pick<SegmentLike, "status" | "slots">): boolean {
  return job.status === JobStatus.Cancelled && seg.status === SegmentStatus.Open && seg.slots === 0;
}

/** True once nothing more will happen to the segment: accepted, failed, closed, or refunded by a cancellation while untouched. */
export function isSegmentDone(job: Pick<JobLike, "status">, seg: Pick<SegmentLike, "status" | "slots">): boolean {
  return (!isInPlay(seg.status) && seg.status !== SegmentStatus.Verifying) || isRefundedByCancellation(job, seg);
}

/**
 * Whether a segment's slots are still being claimed, committed or revealed (JobMarketBase._inPlay):
 * Open, or an audit under way (Auditing, Disputed). A Verifying segment waits for `auditSegments`.
 */
export function isInPlay(status: number): boolean {
  return status === SegmentStatus.Open || status === SegmentStatus.Auditing || status === SegmentStatus.Disputed;
}

/**
 * The segments of an audited job whose audit draw is due at block `latest` (JobMarket.auditSegments):
 * Verifying, with the quorum block (the fold keeps it in `revealDeadline`) before `latest`.
 */
export function dueAuditDraws(job: { segments: ReadonlyMap<number, Pick<SegmentLike, "status" | "revealDeadline">> }, latest: bigint): number[] {
  const due: number[] = [];
  for (const [segment, seg] of job.segments) if (seg.status === SegmentStatus.Verifying && seg.revealDeadline < latest) due.push(segment);
  return due.sort((a, b) => a - b);
}

/** Give-back reasons that say the job itself cannot be rendered (not the provider's time or resources). */
export const SCENE_REFUSALS: readonly number[] = [AbandonReason.SceneFault, AbandonReason.SceneUnavailable];

/**
 * Providers that gave back a slot of this job because of the scene (SCENE_REFUSALS), each with
 * its latest such give-back — what the requester is shown, and how it tells that nobody will
 * render the job.
 */
export function sceneRefusals(job: { segments: ReadonlyMap<number, { givenBack: readonly GiveBackLike[] }> }): Map<string, GiveBackLike & { segment: number }> {
  const refusals = new Map<string, GiveBackLike & { segment: number }>();
  for (const [segment, seg] of job.segments) {
    for (const g of seg.givenBack) {
      if (!SCENE_REFUSALS.includes(g.reason)) continue;
      const key = g.provider.toLowerCase();
      const known = refusals.get(key);
      if (!known || g.blockNumber >= known.blockNumber) refusals.set(key, { ...g, segment });
    }
  }
  return refusals;
}

/** The parts of a give-back record the refusal rules read. */
export interface GiveBackLike {
  provider: Address;
  reason: number;
  detail: string;
  blockNumber: bigint;
}

/**
 * The protocol's clock, in chain seconds: the latest block's timestamp, or the wall clock when
 * blocks are older (a quiet chain mines no block to move its time on; the next transaction's
 * block will carry at least the wall clock). Deadlines, leases and reveal windows are judged by it.
 */
export function protocolNow(latestBlockTimestamp: bigint, wallClockMs: number): bigint {
  const wall = BigInt(Math.floor(wallClockMs / 1000));
  return latestBlockTimestamp > wall ? latestBlockTimestamp : wall;
}
