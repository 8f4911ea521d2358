/**
 * Rendering: starts renders of claimed replicas (recoveries first) up to the concurrency limit,
 * watches each against its lease, digests and uploads the result, and settles recoveries of
 * results lost with the state file against the on-chain commitment.
 */
import { join } from "node:path";
import { rm } from "node:fs/promises";
import { isAddressEqual, type Hex } from "viem";
import { commitmentOf, segmentAt } from "@tessellate/sdk";
import { FatalError, RetryableError } from "@tessellate/sdk/errors";
import { AbandonReason, ReplicaState as ChainReplicaState } from "@tessellate/sdk/protocol";
import type { Logger } from "../ports.ts";
import type { ReplicaRow } from "../state/stateStore.ts";
import { fields, META_OVERRUNS, problemLine, RenderAbort, round2, WorkerContext, type InFlight } from "./context.ts";
import { abandonReasonOf, describeRenderFailure } from "./renderFailure.ts";
import { cheapCheat, renderSegment, type RenderSegmentInput } from "./renderSegment.ts";
import { TileGroup, type TileGroupMember } from "./tileGroup.ts";
import { replicaSalt } from "./replicaSalt.ts";
import { manifestOf, recordDecision } from "./claim.ts";
import { recordMeasuredRender } from "./measuredRenders.ts";

export function startRenders(ctx: WorkerContext, now: number): void {
  const { store, config } = ctx.d;
  if (ctx.stopping.signal.aborted) return;
  // Recoveries first: their commitment is on-chain and waits for them.
  const recovering = store.listReplicas({ states: ["recovering"] }).sort((a, b) => a.id - b.id);
  const claimed = store.listReplicas({ states: ["claimed"] }).sort((a, b) => a.leaseEnd - b.leaseEnd);
  const starting: Array<{ row: ReplicaRow; flight: InFlight }> = [];
  for (const row of [...recovering, ...claimed]) {
    if (ctx.inFlight.size >= config.limits.maxConcurrentSegments) break;
    if (ctx.inFlight.has(row.id) || ctx.toAbandon.has(row.id)) continue;
    if (row.state === "claimed" && (now > row.leaseEnd || store.getJob(row.jobId)?.status === "cancelled")) continue;
    if (!ctx.ready(`render:${row.id}`)) continue;
    const controller = new AbortController();
    const state = row.state === "recovering" ? "recovering" : "rendering";
    const flight: InFlight = { rowId: row.id, state, controller, startedAt: ctx.d.clock.now(), fraction: 0, done: Promise.resolve() };
    ctx.inFlight.set(row.id, flight);
    starting.push({ row, flight });
  }
  const groups = tileGroupsOf(ctx, starting.map((s) => s.row));
  for (const { row, flight } of starting) {
    flight.done = render(ctx, row, flight, groups.get(row.id)?.member(row.id)).finally(async () => {
      ctx.inFlight.delete(row.id);
      // The watcher may have polled slowly during the render (ChainWatcher.pollSlowly): catch up
      // before the next tick decides (a direct reveal needs every other slot's commit).
      if (!ctx.stopping.signal.aborted) await ctx.syncQuietly();
      ctx.wake();
    });
  }
}

/**
 * The claimed replicas starting now that render together (worker/tileGroup.ts): those of one job
 * with the same frames, when the job's engine can render several tiles in one process and the
 * renders are honest (a testing.cheat that renders differently renders alone). Recoveries render
 * alone. Rows not in a group of two or more are not in the map.
 */
export function tileGroupsOf(ctx: WorkerContext, rows: readonly ReplicaRow[]): Map<number, TileGroup> {
  const byKey = new Map<string, { jobId: bigint; ids: number[] }>();
  if (cheapCheat(ctx.d.config.testing.cheat) !== "") return new Map();
  for (const row of rows) {
    if (row.state !== "claimed") continue;
    const manifest = ctx.d.store.getJob(row.jobId)?.manifest;
    if (!manifest || !ctx.d.engines.get(manifest.engine.name)?.renderTiles) continue;
    let frames: number[];
    try {
      frames = segmentAt(manifest, row.segment).frames;
    } catch {
      continue; // its own render reports the problem
    }
    const key = `${row.jobId}:${frames[0]}-${frames.at(-1)}`;
    byKey.set(key, { jobId: row.jobId, ids: [...(byKey.get(key)?.ids ?? []), row.id] });
  }
  const groups = new Map<number, TileGroup>();
  for (const { jobId, ids } of byKey.values()) {
    if (ids.length < 2) continue;
    const group = new TileGroup(ids, ctx.log.child({ jobId: String(jobId) }));
    for (const id of ids) groups.set(id, group);
  }
  return groups;
}

/**
 * Renders one replica, on its own or, given `together`, with the other tiles of its group
 * (worker/tileGroup.ts); everything else (transitions, lease watchdog, upload, failure handling)
 * is the replica's own either way.
 */
export async function render(ctx: WorkerContext, row: ReplicaRow, flight: InFlight, together?: TileGroupMember): Promise<void> {
  const { store, config, engines, storage, metrics, clock } = ctx.d;
  const log = ctx.log.child(fields(row));
  const recovering = flight.state === "recovering";
  let current: ReplicaRow;
  try {
    current = recovering ? row : store.transition(row.id, "rendering");
  } catch (error) {
    together?.leave();
    log.warn({ err: (error as Error).message }, "replica changed before its render started");
    return;
  }
  // A render must finish (with upload and commit) before the lease ends; a recovery before the
  // reveal window closes, or the job deadline while the window is not open yet.
  const deadlineSeconds = () => (recovering ? revealDeadlineOf(ctx, row) : row.leaseEnd) - config.limits.commitMarginSeconds;
  const msLeft = () => (deadlineSeconds() - ctx.chainNowEstimate()) * 1000;
  // The lease watchdog: checks chain time (estimated) at least once a second.
  const leaseTimer = setInterval(() => {
    if (msLeft() > 0) return;
    const why = recovering ? `the reveal deadline ${revealDeadlineOf(ctx, row)} is too close to recover the result` : `the lease ends at ${row.leaseEnd}: no time left to finish, upload and commit`;
    flight.controller.abort(new RenderAbort("lease", why));
  }, Math.min(1_000, Math.max(10, ctx.d.market.pollingIntervalMs)));
  const outDir = join(config.dataDir, "results", `job-${row.jobId}`, `segment-${row.segment}-replica-${row.replica}-${row.id}`);
  let releaseScene: (() => void) | undefined;
  try {
    const manifest = await manifestOf(ctx, row.jobId);
    const engine = engines.get(manifest.engine.name);
    if (!engine) throw new FatalError("ENGINE_MISSING", `engine ${manifest.engine.name} is not registered`);
    const segment = segmentAt(manifest, row.segment);
    log.info({ frames: segment.frames, tile: segment.tile, ...(together ? { withOtherTiles: true } : {}) }, recovering ? "rendering again to recover a result lost with the state file" : "rendering");
    releaseScene = ctx.scenes.use(manifest.scene.cid); // not evicted while this render reads it
    const sceneDir = await retrying(ctx, () => ctx.scenes.ensure(manifest.scene.cid, { maxBytes: config.limits.maxSceneBytes, signal: flight.controller.signal }), flight.controller.signal);
    flight.engineStartedAt = clock.now();
    const input: RenderSegmentInput = {
      engine,
      manifest,
      segment,
      sceneDir,
      outDir,
      limits: { threads: config.limits.cpuThreads, memoryBytes: config.limits.memoryBytes, timeoutMs: config.limits.renderTimeoutSeconds * 1000 },
      deadlineMs: clock.now() + msLeft(),
      now: () => clock.now(),
      signal: flight.controller.signal,
      onProgress: (fraction) => (flight.fraction = fraction),
      corrupt: config.testing.corruptDigests,
      cheat: config.testing.cheat,
    };
    const rendered = await (together ? together.render(input) : renderSegment(input));
    const resultCid = await retrying(ctx, () => storage.addFolder(outDir, { signal: flight.controller.signal }), flight.controller.signal);
    flight.controller.signal.throwIfAborted();
    const salt = replicaSalt(ctx.d.saltSecret, row);
    if (recovering) {
      await finishRecovery(ctx, row, { digest: rendered.digest, fingerprint: rendered.fingerprint ?? null, salt, resultCid, seconds: rendered.seconds }, log);
      return;
    }
    current = store.getReplica(row.id)!;
    if (current.state !== "rendering") return; // settled on-chain meanwhile (e.g. released)
    // Digest, fingerprint, salt and result CID are on disk before any commitment is sent.
    store.transition(row.id, "rendered", { digest: rendered.digest, fingerprint: rendered.fingerprint ?? null, salt, resultCid, renderSeconds: rendered.seconds, lastError: null });
    metrics.observeRender(rendered.seconds);
    observeSpeed(ctx, row, rendered.seconds);
    if (ctx.deferred.hasOverrun(row.jobId)) {
      ctx.deferred.markProven(row.jobId);
      if (!ctx.deferred.hasOverrun(row.jobId)) store.setMeta(META_OVERRUNS, JSON.stringify(ctx.deferred.overrunRecords()));
    } else ctx.deferred.markProven(row.jobId);
    ctx.backoff.succeeded(`render:${row.id}`);
    log.info(
      {
        seconds: Math.round(rendered.seconds * 100) / 100,
        digest: rendered.digest,
        resultCid,
        ...(rendered.fingerprint === undefined ? {} : { fingerprint: `${rendered.fingerprint.slice(0, 18)}…` }),
        ...(config.testing.corruptDigests ? { testingCorruptDigest: true } : {}),
        ...(config.testing.cheat ? { testingCheat: config.testing.cheat } : {}),
      },
      "rendered",
    );
    // The result lives on IPFS now; the local copy is removed below.
  } catch (caught) {
    const reason = flight.controller.signal.aborted ? flight.controller.signal.reason : caught;
    current = store.isOpen ? (store.getReplica(row.id) ?? current) : current;
    if (!store.isOpen || current.state !== flight.state) return;
    if (recovering) {
      recoveryFailed(ctx, row, reason, log);
      return;
    }
    if (reason instanceof RenderAbort) {
      if (reason.kind === "shutdown") {
        store.transition(row.id, "claimed", { lastError: "interrupted by shutdown" }, "shutdown");
        log.info({}, "render interrupted by shutdown; it will start again after a restart if its lease allows");
      } else if (reason.kind !== "settled") {
        ctx.toAbandon.set(row.id, { reason: reason.kind === "lease" ? AbandonReason.TooLittleTime : AbandonReason.Unspecified, message: reason.message });
        if (reason.kind === "lease" && flight.engineStartedAt !== undefined) {
          // Measured, not estimated: the engine ran until the lease margin. Claiming again would
          // burn the same time and forfeit again, so the job is re-tried only once something
          // measured changed (renders got faster, or the load at this overrun fell): DeferredJobs.
          const ranSeconds = Math.round((clock.now() - flight.engineStartedAt) / 1000);
          const verdict = ctx.deferred.overran(row.jobId, { nowMs: clock.now(), speedFactor: ctx.speed.factor, loadPerCore: ctx.loadPerCore() });
          store.setMeta(META_OVERRUNS, JSON.stringify(ctx.deferred.overrunRecords()));
          const job = store.getJob(row.jobId);
          if (job) recordDecision(ctx, job, "skipped", `a render of segment ${row.segment} ran ${ranSeconds} s without finishing inside the lease of ${job.params.leaseDuration} s (${verdict.reason})`, verdict.final);
        }
      }
      return;
    }
    metrics.count("renderFailures");
    const message = describeRenderFailure(reason, config.limits.memoryBytes);
    if (reason instanceof FatalError) {
      // The scene (or its size, or our limits) is the problem: give the claim back, never let it
      // expire, and do not claim this job again.
      log.error({ err: message, code: reason.code }, "the segment cannot be rendered; giving it back");
      store.recordAttempt(row.id, message);
      ctx.toAbandon.set(row.id, { reason: abandonReasonOf(reason), message: `cannot render: ${message}` });
      const job = store.getJob(row.jobId);
      if (job) recordDecision(ctx, job, "skipped", `its scene cannot be rendered here: ${problemLine(message)}`, true);
    } else {
      // Unexpected or retryable (IPFS down past the retries): render again later while the lease allows.
      const delay = ctx.backoff.failed(`render:${row.id}`, clock.now());
      store.recordAttempt(row.id, message);
      store.transition(row.id, "claimed", {}, `render failed (${message}); retrying in ${delay} ms`);
      log.warn({ err: message, retryInMs: delay }, "render failed; will retry");
    }
  } finally {
    together?.leave();
    releaseScene?.();
    clearInterval(leaseTimer);
    await rm(outDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Retries a RetryableError (storage hiccups) with backoff until it succeeds or `signal` aborts. */
export async function retrying<T>(ctx: WorkerContext, action: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof RetryableError) || signal.aborted) throw error;
      const delay = Math.min(30_000, Math.max(100, ctx.d.market.pollingIntervalMs * 4) * 2 ** Math.min(attempt, 8));
      ctx.log.warn({ err: error.message, retryInMs: delay }, "storage not available; retrying");
      await ctx.d.clock.sleep(delay, signal);
      signal.throwIfAborted();
    }
  }
}

/** Reveal deadline of the row's segment, or the job deadline while its reveal window is not open. */
export function revealDeadlineOf(ctx: WorkerContext, row: ReplicaRow): number {
  const seg = ctx.d.store.market.getSegment(row.jobId, row.segment);
  return seg.revealDeadline > 0 ? seg.revealDeadline : Number(ctx.d.store.getJob(row.jobId)?.params.deadline ?? 0);
}

/**
 * The recovered render opens the on-chain commitment (same digest, same derived salt): the row is
 * committed again, with everything the reveal needs. A mismatch (a salt that was random, from a
 * node before derived salts, or a render that differs) cannot be revealed: the row fails, loudly.
 */
export async function finishRecovery(
  ctx: WorkerContext,
  row: ReplicaRow,
  result: { digest: Hex; fingerprint: Hex | null; salt: Hex; resultCid: string; seconds: number },
  log: Logger,
): Promise<void> {
  const { store, market } = ctx.d;
  const onChain = await market.replicaOf(row.jobId, row.segment, row.replica);
  const commitment = commitmentOf(result.digest, result.salt, ctx.me, row.jobId, row.segment, result.fingerprint ?? undefined);
  const current = store.getReplica(row.id);
  if (!current || current.state !== "recovering") return; // settled on-chain meanwhile
  const ours = isAddressEqual(onChain.provider, ctx.me) && Number(onChain.leaseEnd) === row.leaseEnd && onChain.state === ChainReplicaState.Committed;
  if (!ours) return; // the projection catches up with whatever happened to the slot
  // The chain keeps the commitment's first 160 bits (its "seal").
  if (onChain.seal.toLowerCase() !== commitment.slice(0, 42).toLowerCase()) {
    const message = `the re-rendered result (digest ${result.digest}) does not open the on-chain commitment ${onChain.seal}: it was committed with another salt (a node version before derived salts) or another render`;
    store.transition(row.id, "failed", { digest: result.digest, fingerprint: result.fingerprint, resultCid: result.resultCid, lastError: message }, "recovery failed");
    log.error({ err: message }, "cannot recover the lost result; the replica will expire");
    return;
  }
  store.transition(row.id, "committed", { ...result, commitment, renderSeconds: result.seconds, lastError: null }, "recovered: the re-rendered result opens the on-chain commitment");
  ctx.backoff.succeeded(`render:${row.id}`);
  log.info({ digest: result.digest, resultCid: result.resultCid }, "recovered the result lost with the state file; it will be revealed");
}

export function recoveryFailed(ctx: WorkerContext, row: ReplicaRow, reason: unknown, log: Logger): void {
  const { store, clock } = ctx.d;
  const message = (reason as Error).message;
  if (reason instanceof RenderAbort && reason.kind === "settled") return;
  if (reason instanceof RenderAbort && reason.kind === "shutdown") {
    log.info({}, "recovery interrupted by shutdown; it starts again after a restart");
    return;
  }
  if (reason instanceof FatalError || (reason instanceof RenderAbort && reason.kind === "lease")) {
    store.transition(row.id, "failed", { lastError: `cannot recover the lost result: ${message}` }, "recovery failed");
    log.error({ err: message }, "cannot recover the result lost with the state file; the replica will expire");
    return;
  }
  const delay = ctx.backoff.failed(`render:${row.id}`, clock.now());
  store.recordAttempt(row.id, message);
  log.warn({ err: message, retryInMs: delay }, "recovery render failed; will retry");
}

/** Feeds a finished render's time to the speed estimate; deferred jobs are re-checked when it moves. */
export function observeSpeed(ctx: WorkerContext, row: ReplicaRow, seconds: number): void {
  const estimated = ctx.estimateSeconds(row, true);
  if (estimated === undefined) return;
  const manifest = ctx.d.store.getJob(row.jobId)?.manifest;
  if (manifest && estimated > 0) recordMeasuredRender(ctx, manifest.engine.name, manifest.engine.version, seconds / estimated);
  const before = ctx.speed.factor;
  if (!ctx.speed.observe(estimated, seconds)) return;
  ctx.d.store.setMeta("renderSpeedRatios", JSON.stringify(ctx.speed.recent));
  ctx.log.info({ factor: round2(ctx.speed.factor), was: round2(before), estimatedSeconds: round2(estimated), measuredSeconds: round2(seconds) }, "renders take a different time than the benchmark predicts; re-checking deferred jobs");
  ctx.wake();
}
