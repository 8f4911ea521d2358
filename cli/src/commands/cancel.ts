/**
 * `tessellate job cancel <jobId>`: stops new claims and refunds the segments nobody claimed
 * (`cancelJob`), then refunds right away the segments that can already be closed — those whose
 * slots are not all held (`closeSegments`, in batches). Segments whose every slot is held keep
 * running until they settle or their leases and reveal windows run out.
 */
import type { MarketClient, ProtocolEvent } from "@tessellate/sdk/market";
import { FatalError } from "@tessellate/sdk/errors";
import { CreditKindNames, createFold, isClosable, jobMarketConstants, JobStatus, SegmentStatus, segmentOf, type JobRecord } from "@tessellate/sdk/protocol";
import { findJobCreation, readJobEvents } from "../chainReads.ts";
import { formatTokens, plural } from "../format.ts";
import { silentOutput, type Output } from "../output.ts";

/** Most segments per `closeSegments` call (JobMarket.MAX_BATCH). */
export const CLOSE_BATCH = jobMarketConstants.MAX_BATCH;

/** Segments `closeSegments` accepts now (the sdk's `isClosable`, JobMarket's `_closable`). */
export function closableSegments(job: JobRecord, nowSeconds: bigint): number[] {
  const closable: number[] = [];
  for (let i = 0; i < job.params.segmentCount; i++) if (isClosable(job, segmentOf(job, i), nowSeconds)) closable.push(i);
  return closable;
}

/** Sums the requester's refunds and compensation in transaction events. */
export function refundsIn(events: ProtocolEvent[], requester: string): { refunded: bigint; compensation: bigint } {
  let refunded = 0n;
  let compensation = 0n;
  for (const e of events) {
    if (e.eventName !== "Credited") continue;
    const a = e.args as { account: string; kind: number; amount: bigint };
    if (a.account.toLowerCase() !== requester.toLowerCase()) continue;
    if (CreditKindNames[a.kind] === "Refund") refunded += a.amount;
    if (CreditKindNames[a.kind] === "Compensation") compensation += a.amount;
  }
  return { refunded, compensation };
}

/**
 * Closes the given segments in batches. A batch the contract refuses (a segment became
 * unclosable meanwhile) is retried one segment at a time, so one refusal does not block the rest.
 */
export async function closeInBatches(market: MarketClient, jobId: bigint, segments: number[]): Promise<{ closed: number[]; events: ProtocolEvent[]; refused: number[] }> {
  const closed: number[] = [];
  const refused: number[] = [];
  const events: ProtocolEvent[] = [];
  for (let i = 0; i < segments.length; i += CLOSE_BATCH) {
    const batch = segments.slice(i, i + CLOSE_BATCH);
    try {
      const outcome = await market.closeSegments(jobId, batch);
      closed.push(...batch);
      events.push(...outcome.events);
    } catch (error) {
      if (!(error instanceof FatalError)) throw error;
      if (batch.length === 1) {
        refused.push(...batch);
        continue;
      }
      for (const segment of batch) {
        try {
          const outcome = await market.closeSegments(jobId, [segment]);
          closed.push(segment);
          events.push(...outcome.events);
        } catch (inner) {
          if (!(inner instanceof FatalError)) throw inner;
          refused.push(segment);
        }
      }
    }
  }
  return { closed, events, refused };
}

export interface CancelResult {
  jobId: bigint;
  /** False when the job was already cancelled (only segments were closed). */
  cancelled: boolean;
  /** Refund of the untouched segments by `cancelJob`. */
  untouchedRefund: bigint;
  closedSegments: number[];
  /** Refund and compensation of the closed segments. */
  closedRefund: bigint;
  compensation: bigint;
  /** Segments still running (all their slots held): they settle or can be closed later. */
  stillRunning: number[];
  /** The requester's withdrawable market balance afterwards. */
  balance: bigint;
}

/** Cancels a job and closes what can be closed now. The market client must sign as the requester. */
export async function cancelJob(options: { jobId: bigint; fromBlock?: bigint }, deps: { market: MarketClient; output?: Output }): Promise<CancelResult> {
  const { market } = deps;
  const out = deps.output ?? silentOutput;
  const { jobId } = options;
  const me = market.account;
  if (!me) throw new FatalError("CHAIN_NO_ACCOUNT", "job cancel sends transactions: configure the requester's key");
  const created = await findJobCreation(market, jobId, { fromBlock: options.fromBlock });
  const view = await market.jobOf(jobId);
  if (view.requester.toLowerCase() !== me.toLowerCase()) {
    throw new FatalError("CLI_NOT_REQUESTER", `job ${jobId} was posted by ${view.requester}, not by ${me} — only its requester can cancel it; use that account's key`);
  }

  let cancelled = false;
  let untouchedRefund = 0n;
  if (view.status === JobStatus.Open) {
    const outcome = await market.cancelJob(jobId);
    cancelled = true;
    const event = outcome.events.find((e) => e.eventName === "JobCancelled");
    untouchedRefund = event ? (event.args as { refunded: bigint }).refunded : 0n;
    out.print(`cancelled job ${jobId} (tx ${outcome.hash}): ${formatTokens(untouchedRefund)} refunded for segments nobody claimed`);
  } else {
    out.print(`job ${jobId} was already cancelled; closing what can be closed`);
  }

  const latest = await market.blockNumber();
  const rebuilder = createFold();
  rebuilder.apply(await readJobEvents(market, jobId, created.blockNumber, latest));
  const job = rebuilder.state.jobs.get(jobId)!;
  const now = await market.latestTimestamp();
  const closable = closableSegments(job, now);
  const { closed, events, refused } = await closeInBatches(market, jobId, closable);
  const { refunded, compensation } = refundsIn(events, me);
  if (closed.length > 0) {
    out.print(`closed ${plural(closed.length, "segment")} (${closed.join(", ")}): ${formatTokens(refunded)} refunded${compensation > 0n ? `, ${formatTokens(compensation)} compensation for missed deadlines` : ""}`);
  }
  if (refused.length > 0) out.print(`could not close segment${refused.length === 1 ? "" : "s"} ${refused.join(", ")} yet (they settled or changed meanwhile)`);

  const stillRunning: number[] = [];
  for (let i = 0; i < job.params.segmentCount; i++) {
    const seg = segmentOf(job, i);
    if (seg.status === SegmentStatus.Open && seg.slots !== 0 && !closed.includes(i)) stillRunning.push(i);
  }
  if (stillRunning.length > 0) {
    out.print(
      `${plural(stillRunning.length, "segment")} still running (${stillRunning.slice(0, 20).join(", ")}${stillRunning.length > 20 ? ", …" : ""}): every slot is held; they settle normally, or can be closed after the deadline with \`tessellate job cancel ${jobId}\` again`,
    );
  }
  const balance = await market.marketBalanceOf(me);
  out.print(`withdrawable balance: ${formatTokens(balance)} — run \`tessellate withdraw\` to receive it`);
  return { jobId, cancelled, untouchedRefund, closedSegments: closed, closedRefund: refunded, compensation, stillRunning, balance };
}
