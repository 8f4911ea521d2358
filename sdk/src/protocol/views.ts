/**
 * What the contracts' view functions should report for a state the fold built: the bridge
 * between the event fold and `jobOf`, `segmentOf`, `replicaOf`, `providerOf` (the audit compares
 * them field by field; the fold's property test checks them after every action).
 */
import type { Hex } from "viem";
import { SegmentStatus } from "../contracts.generated.ts";
import type { JobView, ProviderView, ReplicaView, SegmentView } from "../market.ts";
import { ZERO_ADDRESS, ZERO_SEAL, type JobRecord, type ProviderRecord, type ReplicaRecord, type SegmentRecord } from "./fold.ts";
import { reputationScore } from "./reputation.ts";
import type { AcceptedSegment } from "../resultFiles.ts";

/** What `jobOf` should report. */
export function expectedJobView(job: JobRecord): JobView {
  const p = job.params;
  return {
    requester: job.requester,
    status: job.status,
    segmentCount: p.segmentCount,
    segmentsTouched: job.segmentsTouched,
    redundancy: p.redundancy,
    quorum: p.quorum,
    feeBps: job.feeBps,
    minReputation: p.minReputation,
    rewardPerReplica: p.rewardPerReplica,
    collateralPerReplica: p.collateralPerReplica,
    leaseDuration: p.leaseDuration,
    revealWindow: p.revealWindow,
    deadline: p.deadline,
    escrow: job.escrow,
    verification: p.verification,
    toleranceBps: p.toleranceBps,
    auditBps: p.auditBps,
  };
}

/** What `segmentOf` should report for a segment the fold built. */
export function expectedSegmentView(job: JobRecord, seg: SegmentRecord): SegmentView {
  return {
    status: seg.status,
    slots: seg.slots === 0 ? job.params.redundancy : seg.slots,
    assigned: seg.assigned,
    committed: seg.committed,
    revealed: seg.revealed,
    tieBreakers: seg.tieBreakers,
    revealDeadline: seg.revealDeadline,
    acceptedSeal: seg.status === SegmentStatus.Accepted && seg.accepted && !seg.cleared ? seg.accepted.seal : ZERO_SEAL,
    round: seg.round,
  };
}

/**
 * What `replicaOf` should report for a replica slot: Empty once the segment's slots were
 * cleared. `seal` is undefined when the events cannot tell it (a commitment not yet revealed).
 */
export function expectedReplicaView(seg: SegmentRecord, rep: ReplicaRecord | undefined): Omit<ReplicaView, "seal"> & { seal?: Hex } {
  if (!rep || seg.cleared) return { provider: ZERO_ADDRESS, state: 0, leaseEnd: 0n, seal: ZERO_SEAL };
  return { provider: rep.provider, state: rep.state, leaseEnd: rep.leaseEnd, seal: rep.seal };
}

/** What `providerOf` should report. */
export function expectedProviderView(p: ProviderRecord): ProviderView {
  return {
    registered: p.registered,
    staked: p.staked,
    locked: p.locked,
    unbonding: p.unbonding,
    unbondingReadyAt: p.unbondingReadyAt,
    accepted: p.reputation.accepted,
    rejected: p.reputation.rejected,
    expired: p.reputation.expired,
    abandoned: p.reputation.abandoned,
    score: reputationScore(p.reputation),
  };
}

/** One agreeing replica's result: where it is and what it must match. */
export interface ResultCandidate {
  replica: number;
  digest: Hex;
  resultCid: string;
  /** Tolerant jobs: the fingerprint the replica revealed (its pixels must give exactly this). */
  fingerprint?: Hex;
}

/**
 * The results a requester may composite an accepted segment from, in the documented order: the
 * accepted replica's (`SegmentAccepted.replica`), then every other replica that agreed with it and
 * was paid, by slot number. A compositor takes the first whose CID resolves and whose pixels give
 * its digest (and, Tolerant, its fingerprint): one agreeing replica that published nothing, or
 * something else, cannot withhold the segment. Empty while the segment is not accepted.
 */
export function acceptedCandidates(seg: SegmentRecord): ResultCandidate[] {
  const accepted = seg.accepted;
  if (!accepted) return [];
  const out: ResultCandidate[] = [];
  const add = (replica: number, digest: Hex | undefined, resultCid: string | undefined, fingerprint: Hex | undefined) => {
    if (digest === undefined || resultCid === undefined || resultCid === "" || out.some((c) => c.replica === replica && c.resultCid === resultCid)) return;
    out.push({ replica, digest, resultCid, ...(fingerprint === undefined ? {} : { fingerprint }) });
  };
  if (accepted.replica < 0) add(-1, accepted.digest, accepted.resultCid, accepted.fingerprint);
  else add(accepted.replica, accepted.digest, accepted.resultCid, accepted.fingerprint);
  seg.replicas.forEach((rep, k) => {
    if (k !== accepted.replica && rep.verdict === "accepted") add(k, rep.digest, rep.resultCid, rep.fingerprint);
  });
  return out;
}

/**
 * The accepted result of a segment as the compositor and the audit take it: the accepted
 * replica's result with every other agreeing replica's as `alternatives` (acceptedCandidates'
 * order). Undefined while the segment is not accepted.
 */
export function acceptedSegmentOf(seg: SegmentRecord): AcceptedSegment | undefined {
  const toSegment = (c: ResultCandidate): AcceptedSegment => ({
    digest: c.digest,
    resultCid: c.resultCid,
    ...(c.fingerprint === undefined ? {} : { fingerprint: c.fingerprint }),
    ...(c.replica < 0 ? {} : { replica: c.replica }),
  });
  const [first, ...rest] = acceptedCandidates(seg);
  if (!first) return undefined;
  return { ...toSegment(first), ...(rest.length === 0 ? {} : { alternatives: rest.map(toSegment) }) };
}

/**
 * What a Tolerant reveal passes as `peerFingerprints`: entry k is the fingerprint replica k revealed
 * (from its ReplicasRevealed event), "0x" where replica k has not revealed.
 */
export function peerFingerprintsOf(seg: SegmentRecord): Hex[] {
  return seg.replicas.map((rep) => (rep.stage === 3 && rep.fingerprint !== undefined ? rep.fingerprint : ("0x" as Hex)));
}
