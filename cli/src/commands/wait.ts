/**
 * Watching a job settle: polls the job's events block range by block range, folds them with the
 * audit's rebuild (one source of truth for what a segment's state is), reports progress, and
 * returns once every segment is accepted, failed or closed. After the job's deadline it can close
 * the segments that can no longer settle, so the requester's budget comes back without waiting
 * for anyone else.
 */
import type { AcceptedSegment } from "@tessellate/sdk/resultFiles";
import { FatalError, RetryableError } from "@tessellate/sdk/errors";
import type { MarketClient } from "@tessellate/sdk/market";
import { contractErrorOf } from "@tessellate/sdk/contractErrors";
import { acceptedSegmentOf, createFold, dueAuditDraws, isHeld, isSegmentDone, jobMarketConstants, protocolNow, sceneRefusals, SegmentStatus, segmentOf, type JobRecord } from "@tessellate/sdk/protocol";
import { findJobCreation, readJobEvents } from "../chainReads.ts";
import { sleep as defaultSleep } from "../output.ts";
import { jobProgressOf, type JobProgress } from "../progress.ts";
import { closableSegments, closeInBatches } from "./cancel.ts";

/**
 * How long `job submit` and `job wait` let an audit draw stay due before sending it themselves
 * (the replicas' nodes draw within a poll or two, to be paid).
 */
export const AUDIT_DRAW_GRACE_MS = 15_000;

export interface WaitForJobOptions {
  jobId: bigint;
  /** Block of the job's creation, when known (saves a search). */
  fromBlock?: bigint;
  /** Time between polls (default: 5 × the connection's polling interval, 200 ms to 5 s). */
  pollIntervalMs?: number;
  /** After the deadline, close segments that can no longer settle (sends transactions). */
  closeWhenExpired?: boolean;
  /**
   * Audited jobs: draw the audit of segments whose draw has been due for `afterMs` (sends
   * `auditSegments`). The replicas' nodes draw it as soon as it is due, to be paid; this keeps a
   * job moving when they do not. Unset: never.
   */
  drawDueAudits?: { afterMs: number };
  /** Give up after this long (default: no limit; the job's deadline bounds the wait anyway). */
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: JobProgress, job: JobRecord) => void;
  /**
   * The registered providers (lower-case addresses), read once a provider has refused the job
   * because of its scene. When every one of them has, and none holds a slot, nobody will render
   * the job: the wait stops (`stoppedEarly: "refused"`) instead of running to the deadline.
   */
  registeredProviders?: () => Promise<ReadonlySet<string>>;
}

/** Where a job's money went, from its `Credited` events. */
export interface JobMoney {
  /** Rewards to agreeing replicas, out of escrow. */
  paid: bigint;
  /** Protocol fees, out of escrow. */
  fees: bigint;
  /** Budget returned to the requester. */
  refunded: bigint;
  /** Seized collateral credited to the requester. */
  compensation: bigint;
  /** Seized collateral paid to tie-breakers and keepers. */
  tieBreakerRewards: bigint;
  keeperFees: bigint;
  /** Escrow not yet paid out or refunded. */
  escrowLeft: bigint;
}

export interface JobOutcome {
  jobId: bigint;
  job: JobRecord;
  accepted: Map<number, AcceptedSegment>;
  failed: number[];
  closed: number[];
  /** Untouched segments refunded by a cancellation. */
  refunded: number[];
  /** Segments still open when the wait ended (only when it timed out or the deadline passed without closing). */
  open: number[];
  /** Every segment accepted. */
  complete: boolean;
  /** The wait ended before every segment settled. */
  stoppedEarly?: "timeout" | "deadline" | "refused";
  money: JobMoney;
  elapsedMs: number;
  /** Last block read. */
  toBlock: bigint;
}

/** Money of a job from its rebuilt credits. */
export function jobMoneyOf(job: JobRecord): JobMoney {
  return {
    paid: job.credits.Reward,
    fees: job.credits.Fee,
    refunded: job.credits.Refund,
    compensation: job.creditsToRequester.Compensation,
    tieBreakerRewards: job.credits.TieBreakerReward,
    keeperFees: job.credits.KeeperFee,
    escrowLeft: job.escrow,
  };
}

/** The outcome of a job as its events stand. */
export function jobOutcomeOf(job: JobRecord, elapsedMs: number, toBlock: bigint): JobOutcome {
  const accepted = new Map<number, AcceptedSegment>();
  const failed: number[] = [];
  const closed: number[] = [];
  const refunded: number[] = [];
  const open: number[] = [];
  for (let i = 0; i < job.params.segmentCount; i++) {
    const seg = segmentOf(job, i);
    if (seg.status === SegmentStatus.Accepted && seg.accepted) accepted.set(i, acceptedSegmentOf(seg)!);
    else if (seg.status === SegmentStatus.Failed) failed.push(i);
    else if (seg.status === SegmentStatus.Closed) closed.push(i);
    else if (isSegmentDone(job, seg)) refunded.push(i);
    else open.push(i);
  }
  return {
    jobId: job.jobId,
    job,
    accepted,
    failed,
    closed,
    refunded,
    open,
    complete: accepted.size === job.params.segmentCount,
    money: jobMoneyOf(job),
    elapsedMs,
    toBlock,
  };
}

/**
 * Waits until every segment of the job is accepted, failed or closed (or refunded by a
 * cancellation), reporting progress after each poll that brought new events.
 */
export async function waitForJob(
  options: WaitForJobOptions,
  deps: { market: MarketClient; now?: () => number; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> },
): Promise<JobOutcome> {
  const { market } = deps;
  const now = deps.now ?? Date.now;
  const pause = deps.sleep ?? defaultSleep;
  const started = now();
  const pollMs = options.pollIntervalMs ?? Math.min(5_000, Math.max(200, market.conn.pollingIntervalMs * 5));
  const fromBlock = options.fromBlock ?? (await findJobCreation(market, options.jobId)).blockNumber;
  const rebuilder = createFold();
  let next = fromBlock;
  let lastCloseAt = -Infinity;
  const dueSince = new Map<number, number>();

  for (;;) {
    options.signal?.throwIfAborted();
    let latest: bigint;
    try {
      latest = await market.blockNumber();
      if (latest >= next) {
        rebuilder.apply(await readJobEvents(market, options.jobId, next, latest));
        next = latest + 1n;
      }
    } catch (error) {
      if (!(error instanceof RetryableError)) throw error;
      await pause(pollMs, options.signal); // the node hiccuped: try again
      continue;
    }
    const job = rebuilder.state.jobs.get(options.jobId);
    if (!job) throw new FatalError("CLI_UNKNOWN_JOB", `job ${options.jobId} has no JobCreated event from block ${fromBlock} — check the job id and --from-block`);
    const progress = jobProgressOf(job, now() - started);
    options.onProgress?.(progress, job);
    if (progress.done === progress.segments) return jobOutcomeOf(job, now() - started, next - 1n);

    if (options.registeredProviders && (await everyProviderRefused(job, options.registeredProviders))) {
      return { ...jobOutcomeOf(job, now() - started, next - 1n), stoppedEarly: "refused" };
    }

    if (options.drawDueAudits && market.account && (await drawStaleAudits(market, job, latest, dueSince, now(), options.drawDueAudits.afterMs))) continue;

    const chainNow = await market.latestTimestamp();
    const clock = protocolNow(chainNow, now());
    if (clock > job.params.deadline) {
      if (options.closeWhenExpired && market.account && now() - lastCloseAt >= 10 * pollMs) {
        const closable = closableSegments(job, clock);
        if (closable.length > 0) {
          lastCloseAt = now();
          await closeInBatches(market, options.jobId, closable);
          continue; // read the closing events right away
        }
      }
      const lastReveal = job.params.deadline + BigInt(job.params.revealWindow);
      if (!options.closeWhenExpired && clock > lastReveal) {
        return { ...jobOutcomeOf(job, now() - started, next - 1n), stoppedEarly: "deadline" };
      }
    }
    if (options.timeoutMs !== undefined && now() - started >= options.timeoutMs) {
      return { ...jobOutcomeOf(job, now() - started, next - 1n), stoppedEarly: "timeout" };
    }
    await pause(pollMs, options.signal);
  }
}

/**
 * Sends `auditSegments` for the segments whose draw has been due since `afterMs` ago (first seen
 * due: `dueSince`); true when it drew some. A draw someone else sent first is no error.
 */
async function drawStaleAudits(market: MarketClient, job: JobRecord, latest: bigint, dueSince: Map<number, number>, at: number, afterMs: number): Promise<boolean> {
  const due = dueAuditDraws(job, latest);
  for (const segment of dueSince.keys()) if (!due.includes(segment)) dueSince.delete(segment);
  for (const segment of due) if (!dueSince.has(segment)) dueSince.set(segment, at);
  const stale = due.filter((segment) => at - dueSince.get(segment)! >= afterMs).slice(0, jobMarketConstants.MAX_BATCH);
  if (stale.length === 0) return false;
  try {
    await market.auditSegments(job.jobId, stale);
  } catch (error) {
    if (contractErrorOf(error)?.name !== "JobMarketAuditNotDue") throw error;
  }
  for (const segment of stale) dueSince.delete(segment);
  return true;
}

/** Whether every registered provider gave this job back because of its scene, and nobody holds a slot of it. */
async function everyProviderRefused(job: JobRecord, registered: () => Promise<ReadonlySet<string>>): Promise<boolean> {
  const refusals = sceneRefusals(job);
  if (refusals.size === 0) return false;
  for (const seg of job.segments.values()) if (seg.replicas.some((r) => r !== undefined && isHeld(r))) return false;
  const providers = await registered();
  return providers.size > 0 && [...providers].every((p) => refusals.has(p));
}
