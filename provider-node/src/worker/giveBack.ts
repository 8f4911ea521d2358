/**
 * Giving back what cannot be finished: uncommitted claims of cancelled jobs and claims whose lease
 * is too short for the estimated render are abandoned (collateral back but for the contract's
 * forfeit pro rata of the lease used, never slashed in full); partial segments of cancelled jobs,
 * stuck segments past the deadline and segments where this node's commitment has waited
 * COMMIT_WAIT_LEASES leases for its peers (the sdk's `isClosable` / `isStalled`) are closed to
 * release collateral.
 */
import { FatalError } from "@tessellate/sdk/errors";
import { AbandonReason, AbandonReasonNames, isClosable, JobStatus as ChainJobStatus, jobMarketConstants, ReplicaState } from "@tessellate/sdk/protocol";
import type { ReplicaRow } from "../state/stateStore.ts";
import { chunks, fields, groupByJob, MAX_BATCH, RenderAbort, type GiveBack, type WorkerContext } from "./context.ts";

export async function giveBack(ctx: WorkerContext, now: number): Promise<void> {
  const { store, config } = ctx.d;
  // Uncommitted claims of cancelled jobs, and claims waiting to render whose lease is too short now.
  for (const job of store.listJobs({ status: "cancelled" })) {
    for (const row of store.listReplicas({ jobId: job.jobId, states: ["claimed", "rendering", "rendered"] })) {
      const flight = ctx.inFlight.get(row.id);
      if (flight) flight.controller.abort(new RenderAbort("cancelled", "the requester cancelled the job"));
      else if (!ctx.toAbandon.has(row.id)) ctx.toAbandon.set(row.id, { reason: AbandonReason.Unspecified, message: "the requester cancelled the job" });
    }
  }
  for (const row of store.listReplicas({ states: ["claimed"] })) {
    if (ctx.inFlight.has(row.id) || ctx.toAbandon.has(row.id) || ctx.deferred.isTrial(row.jobId)) continue;
    const seconds = ctx.estimateSeconds(row);
    if (seconds !== undefined && now + seconds * config.limits.renderTimeSafetyFactor > row.leaseEnd - config.limits.commitMarginSeconds) {
      ctx.toAbandon.set(row.id, { reason: AbandonReason.TooLittleTime, message: `the render (~${Math.ceil(seconds)} s) cannot finish before the lease ends at ${row.leaseEnd}` });
    }
  }
  // One abandon per job and reason: the contract publishes one reason per call.
  const byJob = new Map<string, { jobId: bigint; entries: { row: ReplicaRow; reason: GiveBack }[] }>();
  for (const [id, reason] of ctx.toAbandon) {
    const row = store.getReplica(id);
    if (!row || !["claimed", "rendering", "rendered"].includes(row.state) || ctx.inFlight.has(id)) {
      if (!row || !["claimed", "rendering", "rendered"].includes(row.state)) ctx.toAbandon.delete(id);
      continue;
    }
    const group = `${row.jobId}:${reason.reason}:${reason.message}`;
    const entry = byJob.get(group) ?? { jobId: row.jobId, entries: [] };
    entry.entries.push({ row, reason });
    byJob.set(group, entry);
  }
  for (const { jobId, entries } of byJob.values()) {
    const key = `abandon:${jobId}`;
    if (!ctx.ready(key)) continue;
    for (const batch of chunks(entries, MAX_BATCH)) await sendAbandon(ctx, jobId, batch, now);
  }
  await closeSegments(ctx, now);
}

/** The words published with an abandon: at most the contract's MAX_ABANDON_DETAIL bytes of UTF-8. */
export function abandonDetail(message: string): string {
  const max = Number(jobMarketConstants.MAX_ABANDON_DETAIL);
  const bytes = new TextEncoder().encode(message);
  if (bytes.length <= max) return message;
  // Cut on a character boundary, leaving room for the ellipsis (3 bytes).
  let cut = new TextDecoder().decode(bytes.subarray(0, max - 3));
  if (cut.endsWith("\uFFFD")) cut = cut.slice(0, -1);
  return `${cut}…`;
}

export async function sendAbandon(ctx: WorkerContext, jobId: bigint, entries: { row: ReplicaRow; reason: GiveBack }[], now: number): Promise<void> {
  const { store, market } = ctx.d;
  const live = entries.filter(({ row }) => {
    if (now <= row.leaseEnd) return true;
    store.transition(row.id, "failed", { lastError: `could not give it back before the lease ended: ${entries[0].reason.message}` }, "lease passed");
    ctx.toAbandon.delete(row.id);
    return false;
  });
  if (live.length === 0) return;
  try {
    const { reason, message } = live[0].reason;
    await market.abandon(jobId, live.map(({ row }) => ({ segment: row.segment, replica: row.replica })), reason, abandonDetail(message));
    ctx.d.metrics.count("abandons", live.length);
    for (const { row } of live) {
      ctx.toAbandon.delete(row.id);
      ctx.log.warn({ ...fields(row), reason: message, code: AbandonReasonNames[reason] }, "abandoned replica");
    }
    ctx.backoff.succeeded(`abandon:${jobId}`);
    await ctx.syncQuietly();
    // The event settles the row; record the reason on it as well.
    for (const { row } of live) {
      const current = store.getReplica(row.id)!;
      if (current.state !== "abandoned") store.transition(row.id, "abandoned", { lastError: message }, "abandon sent");
      else store.recordAttempt(row.id, message);
    }
  } catch (error) {
    ctx.failed(`abandon:${jobId}`, error, { jobId: String(jobId), segments: live.map(({ row }) => row.segment) }, "abandon");
    if (error instanceof FatalError) {
      await ctx.syncQuietly();
      for (const { row } of live) {
        const current = store.getReplica(row.id)!;
        ctx.toAbandon.delete(row.id);
        if (["claimed", "rendering", "rendered"].includes(current.state)) {
          store.transition(row.id, "failed", { lastError: `abandon rejected: ${(error as Error).message}` }, "abandon rejected");
        }
      }
    }
  }
}

/**
 * Frees collateral held in segments that can no longer settle: partial segments of a cancelled
 * job (not every slot held), and segments past the job deadline whose reveal never opened or closed.
 */
export async function closeSegments(ctx: WorkerContext, now: number): Promise<void> {
  const { store, market } = ctx.d;
  const waiting = store.listReplicas({ states: ["committed", "recovering", "revealed"] });
  for (const [jobId, rows] of groupByJob(waiting)) {
    const job = store.getJob(jobId);
    if (!job) continue;
    const pastDeadline = now > Number(job.params.deadline);
    // A commitment of ours that has waited COMMIT_WAIT_LEASES leases past its lease end for its peers.
    const wait = job.params.leaseDuration * jobMarketConstants.COMMIT_WAIT_LEASES;
    const waited = rows.filter((r) => r.state === "committed" && now > r.leaseEnd + wait);
    if (job.status !== "cancelled" && !pastDeadline && waited.length === 0) continue;
    const key = `close:${jobId}`;
    if (!ctx.ready(key)) continue;
    const closable: number[] = [];
    try {
      for (const segment of new Set(rows.map((r) => r.segment))) {
        const seg = await market.segmentOf(jobId, segment);
        const replicas = waited.filter((r) => r.segment === segment).map((r) => ({ state: ReplicaState.Committed, leaseEnd: BigInt(r.leaseEnd) }));
        if (isClosable({ status: job.status === "cancelled" ? ChainJobStatus.Cancelled : ChainJobStatus.Open, params: job.params }, { ...seg, replicas }, BigInt(now))) closable.push(segment);
      }
      if (closable.length === 0) {
        ctx.backoff.failed(key, ctx.d.clock.now()); // look again later, not every tick
        continue;
      }
      for (const batch of chunks(closable, MAX_BATCH)) {
        await market.closeSegments(jobId, batch);
        ctx.d.metrics.count("closes", batch.length);
        ctx.log.info({ jobId: String(jobId), segments: batch, why: pastDeadline ? "past the job deadline" : job.status === "cancelled" ? "job cancelled" : "our commitment waited too long for its peers" }, "closed segments to release collateral");
      }
      ctx.backoff.succeeded(key);
      await ctx.syncQuietly();
    } catch (error) {
      ctx.failed(key, error, { jobId: String(jobId), segments: closable }, "closeSegments");
    }
  }
}
