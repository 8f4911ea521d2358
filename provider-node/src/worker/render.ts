/**
 * Rendering: starts renders of claimed replicas (recoveries first) up to the concurrency limit,
 * watches each against its lease, digests and uploads the result, and settles recoveries of
 * results lost with the state file against the on-chain commitment.
 */
import { join } from "node:path";
import { rm } from "node:fs/promises";
import { isAddressEqual, type Hex } from "viem";
import { commitmentOf, roundDigest, segmentAt } from "@tessellate/sdk";
import { FatalError, RetryableError } from "@tessellate/sdk/errors";
import { AbandonReason, ReplicaState as ChainReplicaState } from "@tessellate/sdk/protocol";
import type { Logger } from "../ports.ts";
import type { ReplicaRow } from "../state/stateStore.ts";
import { fields, META_LAUNCH_CALLS, META_OVERRUNS, problemLine, RenderAbort, round2, WorkerContext, type InFlight, type RenderSlots } from "./context.ts";
import { abandonReasonOf, describeRenderFailure } from "./renderFailure.ts";
import { cheapCheat, renderSegment, type EngineCallInfo, type RenderSegmentInput } from "./renderSegment.ts";
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
  let free = config.limits.maxConcurrentSegments - slotsInUse(ctx);
  if (free <= 0) return;
  const waiting = [...recovering, ...claimed].filter(
    (row) =>
      !ctx.inFlight.has(row.id) &&
      !ctx.toAbandon.has(row.id) &&
      !(row.state === "claimed" && (now > row.leaseEnd || store.getJob(row.jobId)?.status === "cancelled")) &&
      ctx.ready(`render:${row.id}`),
  );
  const started = new Set<number>();
  for (const row of waiting) {
    if (free <= 0) break;
    if (started.has(row.id)) continue;
    const tiles = renderedWith(ctx, row, waiting.filter((r) => !started.has(r.id)), free);
    const slots: RenderSlots = { count: Math.min(free, tiles.length) };
    free -= slots.count;
    const group = tiles.length > 1 ? new TileGroup(tiles.map((t) => t.id), ctx.log.child({ jobId: String(row.jobId) }), renderSegment, slots.count * config.limits.cpuThreads) : undefined;
    for (const tile of tiles) {
      started.add(tile.id);
      launch(ctx, tile, slots, group?.member(tile.id));
    }
  }
}

/** Starts the background render of one replica in the given slots. */
function launch(ctx: WorkerContext, row: ReplicaRow, slots: RenderSlots, together: TileGroupMember | undefined): void {
  const controller = new AbortController();
  const state = row.state === "recovering" ? "recovering" : "rendering";
  const flight: InFlight = { rowId: row.id, state, controller, startedAt: ctx.d.clock.now(), fraction: 0, done: Promise.resolve(), slots };
  ctx.inFlight.set(row.id, flight);
  flight.done = render(ctx, row, flight, together).finally(async () => {
    ctx.inFlight.delete(row.id);
    // The watcher may have polled slowly during the render (ChainWatcher.pollSlowly): catch up
    // before the next tick decides (a direct reveal needs every other slot's commit).
    if (!ctx.stopping.signal.aborted) await ctx.syncQuietly();
    ctx.wake();
  });
}

/** Render slots taken by the renders in flight (the tiles of one engine call share theirs). */
export function slotsInUse(ctx: WorkerContext): number {
  const taken = new Set([...ctx.inFlight.values()].map((f) => f.slots));
  return [...taken].reduce((sum, slots) => sum + slots.count, 0);
}

/**
 * A claimed replica that waits for a render slot while every slot is taken: the end of a render
 * wakes the worker for it, no chain event or tick would start it sooner.
 */
export function waitsForRenderSlot(ctx: WorkerContext, row: ReplicaRow): boolean {
  return row.state === "claimed" && !ctx.inFlight.has(row.id) && !ctx.toAbandon.has(row.id) && slotsInUse(ctx) >= ctx.d.config.limits.maxConcurrentSegments;
}

/**
 * Tiles of the job one render slot holds, when the job's engine renders several tiles in one
 * process (and renders honestly: a testing.cheat renders alone), else 1:
 *   k = clamp(ceil(launch ÷ (LAUNCH_SHARE × tile)), limits.tilesPerRender, limits.maxTilesPerRender)
 * where launch is what one engine process adds to a slot (start-up, scene load) and tile what one
 * tile's own pixels take: the fewest tiles whose render makes one launch at most LAUNCH_SHARE of
 * the group's time (a tile whose pixels cost nothing measurable: the cap). Both come from this
 * node's own engine calls once it made one with the engine (jobs/launchCost.ts: launch and pixel
 * factor fitted over calls of different sizes, tile = pixel factor × the benchmark's estimate of
 * the tile's pixels); before that, launch is the engine's constant (Engine.launchSeconds) and tile
 * the node's estimate of one tile (benchmark estimate × measured speed factor) less it. Engines
 * without a launch cost take limits.tilesPerRender. Then bounded by the lease: k × estimated
 * render × safety factor + commit margin ≤ lease (a group takes about the sum of its tiles' render
 * times). Claims count a held replica of the job as 1/k of a slot (claim.ts).
 */
export function tilesPerSlot(ctx: WorkerContext, jobId: bigint): number {
  const { config, store, engines } = ctx.d;
  const job = store.getJob(jobId);
  const engine = job?.manifest && engines.get(job.manifest.engine.name);
  if (!job?.manifest || !engine?.renderTiles || cheapCheat(config.testing.cheat) !== "") return 1;
  const seconds = ctx.estimateSeconds({ jobId });
  if (seconds === undefined) return 1;
  const { tilesPerRender, maxTilesPerRender } = config.limits;
  const most = Math.max(tilesPerRender, maxTilesPerRender);
  const { launch, own } = launchAndTile(ctx, jobId, engine.launchSeconds ?? 0, seconds);
  const wanted = launch <= 0 ? tilesPerRender : own <= 0 ? most : Math.ceil(launch / (LAUNCH_SHARE * own));
  const tiles = Math.min(most, Math.max(tilesPerRender, wanted));
  const room = seconds > 0 ? Math.floor((job.params.leaseDuration - config.limits.commitMarginSeconds) / (seconds * config.limits.renderTimeSafetyFactor)) : Infinity;
  return Math.max(1, Math.min(tiles, room));
}

/** Seconds one engine launch adds and one tile of the job takes on its own (see tilesPerSlot). */
function launchAndTile(ctx: WorkerContext, jobId: bigint, launchConstant: number, tileSeconds: number): { launch: number; own: number } {
  const manifest = ctx.d.store.getJob(jobId)?.manifest;
  const learned = launchConstant > 0 && manifest ? ctx.launchCosts.costOf(launchKeyOf(manifest.engine), launchConstant) : undefined;
  const pixels = learned ? ctx.pixelSecondsOf({ jobId }) : undefined;
  if (!learned || pixels === undefined) return { launch: launchConstant, own: tileSeconds - launchConstant };
  return { launch: learned.launchSeconds, own: learned.pixelFactor * pixels };
}

/** An engine's key in LaunchCosts: its name and exact version (another version may start differently). */
export function launchKeyOf(engine: { name: string; version: string }): string {
  return `${engine.name}@${engine.version}`;
}

/**
 * The largest share of a render slot's time one engine launch may take before the slot holds more
 * tiles of the job (tilesPerSlot): a twentieth, so that launches cost ~5 % on top of the render
 * where the cap allows (issue 12's target is 25 % for everything the market adds, the protocol's
 * steps included). Launch and tile are this node's own measurements (jobs/launchCost.ts): compared
 * with the wall time of one warm-up render instead (launch included, inflated by the machine's load:
 * 2.36 s for a Blender tile whose pixels take a few hundredths), the next job's first claim took 6–9
 * of its 16 tiles, the rest once those rendered: two Blender processes where one does.
 */
export const LAUNCH_SHARE = 0.05;

/** Tiles of a job the free render slots can take on: what they hold of it, less the replicas held (each 1/k of a slot of its own job). */
export function freeTiles(ctx: WorkerContext, jobId: bigint, held: readonly ReplicaRow[]): number {
  const perSlot = new Map<bigint, number>();
  const of = (id: bigint) => perSlot.get(id) ?? perSlot.set(id, tilesPerSlot(ctx, id)).get(id)!;
  const used = held.reduce((sum, row) => sum + 1 / of(row.jobId), 0);
  return Math.floor((ctx.d.config.limits.maxConcurrentSegments - used) * of(jobId) + 1e-9);
}

/**
 * The waiting replicas rendered in one engine call with `row` (worker/tileGroup.ts), `row` first:
 * claimed tiles of its job with the same frames (any frames, where the engine renders each tile's
 * own), as many as the free slots hold (tilesPerSlot each). A recovery, a job whose engine renders one tile per process, or a testing.cheat renders
 * alone.
 */
function renderedWith(ctx: WorkerContext, row: ReplicaRow, waiting: readonly ReplicaRow[], freeSlots: number): ReplicaRow[] {
  const key = groupKeyOf(ctx, row);
  if (key === undefined) return [row];
  const most = freeSlots * tilesPerSlot(ctx, row.jobId);
  return [row, ...waiting.filter((r) => r.id !== row.id && groupKeyOf(ctx, r) === key)].slice(0, most);
}

/** Job and frame range (job alone for engines with tilesOfSeveralFrameRanges) of a claimed tile that can render with others, or undefined. */
function groupKeyOf(ctx: WorkerContext, row: ReplicaRow): string | undefined {
  if (row.state !== "claimed" || cheapCheat(ctx.d.config.testing.cheat) !== "") return undefined;
  const manifest = ctx.d.store.getJob(row.jobId)?.manifest;
  const engine = manifest && ctx.d.engines.get(manifest.engine.name);
  if (!manifest || !engine?.renderTiles) return undefined;
  try {
    const frames = segmentAt(manifest, row.segment).frames;
    // An engine that renders each tile's own frames (Blender) takes the job's tiles of any frames at once.
    return engine.tilesOfSeveralFrameRanges ? `${row.jobId}` : `${row.jobId}:${frames[0]}-${frames.at(-1)}`;
  } catch {
    return undefined; // its own render reports the problem
  }
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
    // Not flushed to the disk (rederivable): a power cut that rolls it back leaves the replica
    // claimed, which is what recovery makes of a replica left rendering anyway (Worker.recover).
    current = recovering ? row : store.transaction(() => store.transition(row.id, "rendering"), { rederivable: true });
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
  const outDir = resultDirOf(config.dataDir, row);
  let releaseScene: (() => void) | undefined;
  // A rendered result stays on disk until it is published once accepted (publish.ts).
  let keepResult = false;
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
    // Exact jobs reveal the link of the segment's blind round; the fold's round holds from claim to reveal.
    const digest = roundDigest(rendered.digest, store.market.roundOf(row.jobId, row.segment));
    // Only the CID: the folder is added once the replica is accepted (publish.ts), so no replica
    // that takes a slot later can download it and hash it (blind rounds, issue 10 property 2).
    const resultCid = await retrying(ctx, () => storage.addFolder(outDir, { onlyHash: true, signal: flight.controller.signal }), flight.controller.signal);
    flight.controller.signal.throwIfAborted();
    const salt = replicaSalt(ctx.d.saltSecret, row);
    if (recovering) {
      keepResult = true;
      await finishRecovery(ctx, row, { digest, fingerprint: rendered.fingerprint ?? null, salt, resultCid, seconds: rendered.seconds }, log);
      return;
    }
    current = store.getReplica(row.id)!;
    if (current.state !== "rendering") return; // settled on-chain meanwhile (e.g. released)
    // Digest, fingerprint, salt and result CID are on disk before any commitment is sent: the
    // commit (or direct reveal) moves the row to committing (revealing) in a flushed transaction
    // first (seal.ts), which flushes this one too. So this one is not flushed itself (rederivable:
    // a power cut that rolls it back leaves the replica rendering or claimed, rendered again
    // after the restart, with the same derived salt), and the render's measurements (measured
    // renders, speed ratios, overruns) go in the same commit. Profiled (bench:overhead, camera2 ×
    // 120 tiles): the flushed writes per rendered tile were ~2 ms of the provider's CPU each.
    store.transaction(() => {
      store.transition(row.id, "rendered", { digest, fingerprint: rendered.fingerprint ?? null, salt, resultCid, renderSeconds: rendered.seconds, lastError: null });
      keepResult = true;
      metrics.observeRender(rendered.seconds);
      observeSpeed(ctx, row, rendered.seconds);
      observeLaunch(ctx, row, rendered.call);
      if (ctx.deferred.hasOverrun(row.jobId)) {
        ctx.deferred.markProven(row.jobId);
        if (!ctx.deferred.hasOverrun(row.jobId)) store.setMeta(META_OVERRUNS, JSON.stringify(ctx.deferred.overrunRecords()));
      } else ctx.deferred.markProven(row.jobId);
    }, { rederivable: true });
    ctx.backoff.succeeded(`render:${row.id}`);
    log.info(
      {
        seconds: Math.round(rendered.seconds * 100) / 100,
        digest,
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
    if (!keepResult) await rm(outDir, { recursive: true, force: true }).catch(() => undefined);
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
/** Where a replica's result folder is written (and kept until it is published, see publish.ts). */
export function resultDirOf(dataDir: string, row: Pick<ReplicaRow, "id" | "jobId" | "segment" | "replica">): string {
  return join(dataDir, "results", `job-${row.jobId}`, `segment-${row.segment}-replica-${row.replica}-${row.id}`);
}

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

/**
 * Feeds a finished engine call (once for the tiles rendered together) to the node's launch costs
 * (jobs/launchCost.ts), for engines that start a process per render (Engine.launchSeconds).
 */
export function observeLaunch(ctx: WorkerContext, row: ReplicaRow, call: EngineCallInfo | undefined): void {
  if (!call || ctx.observedCalls.has(call)) return;
  ctx.observedCalls.add(call);
  const manifest = ctx.d.store.getJob(row.jobId)?.manifest;
  const engine = manifest && ctx.d.engines.get(manifest.engine.name);
  const pixels = ctx.pixelSecondsOf(row);
  if (!manifest || !engine?.launchSeconds || pixels === undefined) return;
  const key = launchKeyOf(manifest.engine);
  if (!ctx.launchCosts.observe(key, { processes: call.processes, pixelSeconds: pixels * call.tiles, seconds: call.seconds })) return;
  ctx.d.store.setMeta(META_LAUNCH_CALLS, JSON.stringify(ctx.launchCosts.records()));
  const cost = ctx.launchCosts.costOf(key, engine.launchSeconds);
  if (cost) ctx.log.debug({ engine: key, processes: call.processes, tiles: call.tiles, seconds: round2(call.seconds), launchSeconds: round2(cost.launchSeconds), pixelFactor: round2(cost.pixelFactor), basis: cost.basis }, "engine launch cost");
}
