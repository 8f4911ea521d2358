/**
 * The worker loop: turns the local state (projected from chain events by the watcher) into
 * actions. Each tick, in this order:
 *   1. commit rendered replicas (one batch per job; the salt was saved with the digest);
 *   2. reveal committed replicas whose segment's reveal window is open (one batch per job);
 *   3. give back what cannot be finished: uncommitted claims of cancelled jobs, claims whose lease
 *      would run out; close partial segments of cancelled jobs and stuck segments past a deadline;
 *   4. start renders of claimed replicas (up to limits.maxConcurrentSegments);
 *   5. evaluate new jobs with the filter (manifests fetched in the background) and claim
 *      (one batch per job, up to the free concurrency and free stake) unless paused;
 *   6. keeper: expire other providers' missed leases and reveal windows when the fee beats gas;
 *   7. withdraw earnings above the threshold.
 * Renders run in the background and wake the loop when done; the watcher wakes it on new events;
 * otherwise it ticks once per polling interval. Failures back off per item (exponentially for
 * RetryableErrors), so nothing busy-loops. Every state change goes through the state store's
 * `transition`; every chain action is followed by a watcher sync, so the projection of the
 * transaction's events is the one record of what happened.
 *
 * Steps 1–2 live in seal.ts, 3 in giveBack.ts, 6–7 in keeper.ts, all functions of the shared
 * WorkerContext (context.ts); this file keeps the loop, claiming and rendering.
 */
import { join } from "node:path";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { formatUnits, isAddressEqual, type Address, type Hex } from "viem";
import { commitmentOf, decodeManifest, segmentAt, type Manifest } from "@tessellate/sdk";
import { contractErrorOf } from "@tessellate/sdk/contractErrors";
import { FatalError, RetryableError, TessellateError } from "@tessellate/sdk/errors";
import { CHAIN_UNREACHABLE } from "../chain/rpcHealth.ts";
import { isWorkHour } from "../config/config.ts";
import { filterJob, type NodeCapabilities } from "../jobs/jobFilter.ts";
import { ReplicaState as ChainReplicaState } from "@tessellate/sdk/protocol";
import type { Logger } from "../ports.ts";
import type { ProjectionEffects } from "../state/projection.ts";
import type { JobRow, ReplicaRow } from "../state/stateStore.ts";
import { backoffDelay } from "./backoff.ts";
import { fields, MAX_BATCH, RenderAbort, WorkerContext, type InFlight, type WorkerDeps } from "./context.ts";
import { giveBack } from "./giveBack.ts";
import { keep, withdrawEarnings } from "./keeper.ts";
import { commitRendered, resolveUnknown, revealCommitted } from "./seal.ts";
import { describeRenderFailure } from "./renderFailure.ts";
import { renderSegment } from "./renderSegment.ts";
import { replicaSalt } from "./replicaSalt.ts";
import { SceneCache } from "./sceneCache.ts";

/** Largest manifest accepted (a manifest is a small JSON document). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

export type { WorkerDeps } from "./context.ts";

export interface ReplicaProgress {
  id: number;
  jobId: string;
  segment: number;
  replica: number;
  fraction: number;
  startedAt: number;
}

/**
 * The loop and the two parts that own long-running work: claiming (filter, manifests, scenes,
 * claims) and rendering. Committing and revealing (seal.ts), giving back (giveBack.ts) and the
 * keeper (keeper.ts) are functions of the shared {@link WorkerContext}.
 */
export class Worker {
  private readonly ctx: WorkerContext;
  private readonly d: WorkerDeps;
  private readonly log: Logger;
  private readonly me: Address;
  private readonly scenes: SceneCache;
  private readonly fetchingManifests = new Map<bigint, Promise<void>>();
  /** Scenes fetched before a job's first claim (a missing or unreadable scene is skipped, never claimed). */
  private readonly fetchingScenes = new Map<bigint, Promise<void>>();
  /** Own reputation and free stake, read at most once a second (or after a change). */
  private situation: { registered: boolean; reputation: number; freeStake: bigint; at: number } | undefined;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private skewSeconds = 0;
  private tickRunning: Promise<void> | undefined;
  /** Claims no new work while true (POST /pause). */
  paused = false;
  /** Last error of a whole tick, for /health. */
  lastTickError: string | undefined;
  ticks = 0;

  constructor(deps: WorkerDeps) {
    this.d = deps;
    this.log = deps.log.child({ part: "worker" });
    this.ctx = new WorkerContext(deps, this.log);
    this.ctx.wake = () => this.wake();
    this.me = deps.market.account;
    this.scenes = new SceneCache(deps.storage, join(deps.config.dataDir, "scenes"), { maxBytes: deps.config.limits.sceneCacheBytes, log: this.log });
    this.paused = deps.store.getMeta("paused") === "true";
  }

  // ------------------------------------------------------------------------------ lifecycle

  /**
   * Puts rows in order that no task is working on — after a restart or a crash, or after a
   * reconciliation that could not reach the chain: renders that were interrupted are rendered
   * again; commits and reveals that may or may not have landed are checked on-chain with
   * `replicaOf`. Runs at the start of every tick (the watcher has caught up by then).
   */
  async recover(): Promise<void> {
    const { store, market } = this.d;
    for (const row of store.listReplicas({ states: ["rendering"] })) {
      if (this.ctx.inFlight.has(row.id) || this.ctx.toAbandon.has(row.id)) continue;
      store.transition(row.id, "claimed", {}, "render interrupted; rendering again");
      this.log.info(fields(row), "render was interrupted (restart); rendering again");
    }
    for (const row of store.listReplicas({ states: ["committing", "revealing"] })) {
      const onChain = await market.replicaOf(row.jobId, row.segment, row.replica);
      const next = resolveUnknown(this.ctx, row, onChain, "recovery");
      this.log.info({ ...fields(row), was: row.state, now: next.state }, "recovered a transaction whose outcome was unknown");
    }
  }

  start(): void {
    if (this.loop) return;
    this.ctx.stopping = new AbortController();
    this.loop = this.run(this.ctx.stopping.signal);
  }

  /**
   * Stops claiming, lets in-flight renders finish for up to `graceMs` (then interrupts them; they
   * are rendered again after a restart if their lease allows), and waits for the loop to end.
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    this.ctx.stopping.abort();
    this.wake();
    await this.loop;
    this.loop = undefined;
    const grace = options.graceMs ?? 0;
    if (this.ctx.inFlight.size > 0 && grace > 0) {
      await Promise.race([Promise.all([...this.ctx.inFlight.values()].map((f) => f.done)), this.d.clock.sleep(grace)]);
    }
    for (const flight of this.ctx.inFlight.values()) flight.controller.abort(new RenderAbort("shutdown", "the node is shutting down"));
    await Promise.all([...this.ctx.inFlight.values()].map((f) => f.done));
    await Promise.allSettled([...this.fetchingManifests.values(), ...this.fetchingScenes.values()]);
  }

  /** Runs the next tick now instead of at the next polling interval. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Called by the watcher with what the last events changed. */
  onEffects(effects: ProjectionEffects): void {
    for (const jobId of effects.reopenedJobs) this.ctx.exhausted.delete(jobId);
    if (effects.earningsChanged || effects.changedReplicas.size > 0) this.situation = undefined;
    for (const id of effects.changedReplicas) {
      const flight = this.ctx.inFlight.get(id);
      const row = this.d.store.getReplica(id);
      if (flight && row && row.state !== flight.state) flight.controller.abort(new RenderAbort("settled", `the replica became ${row.state} on-chain`));
    }
    this.wake();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.d.store.setMeta("paused", String(paused));
    this.log.info({ paused }, paused ? "paused: no new claims; work in flight continues" : "resumed: claiming again");
    this.wake();
  }

  /** Renders in progress. */
  progress(): ReplicaProgress[] {
    return [...this.ctx.inFlight.values()].map((f) => {
      const row = this.d.store.getReplica(f.rowId);
      return { id: f.rowId, jobId: String(row?.jobId), segment: row?.segment ?? -1, replica: row?.replica ?? -1, fraction: f.fraction, startedAt: f.startedAt };
    });
  }

  /** Runs one tick (serialized with the loop's); for tests and the loop itself. */
  tick(): Promise<void> {
    if (this.tickRunning) return this.tickRunning.then(() => this.tick());
    this.tickRunning = this.tickOnce().finally(() => (this.tickRunning = undefined));
    return this.tickRunning;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      let delay: number;
      try {
        await this.tick();
        this.lastTickError = undefined;
        failures = 0;
        delay = this.nextDelay();
      } catch (error) {
        this.lastTickError = (error as Error).message;
        failures++;
        delay = backoffDelay(failures - 1, this.ctx.backoff.baseMs, this.ctx.backoff.maxMs);
        const unreachable = (error as TessellateError).code === CHAIN_UNREACHABLE;
        if (!unreachable && (failures === 1 || failures % 10 === 0)) this.log.warn({ err: this.lastTickError, failures, retryInMs: delay }, "worker tick failed");
        this.woken = false; // a failing tick is not retried early
      }
      if (signal.aborted) break;
      await this.idle(delay, signal);
    }
  }

  private nextDelay(): number {
    const interval = this.d.market.pollingIntervalMs;
    const now = this.d.clock.now();
    const next = this.ctx.backoff.nextReadyAt(now);
    return next === undefined ? interval : Math.max(1, Math.min(interval, next - now));
  }

  private async idle(ms: number, signal: AbortSignal): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    const wake = new AbortController();
    const onAbort = () => wake.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.wakeUp = () => wake.abort();
    await this.d.clock.sleep(ms, wake.signal);
    signal.removeEventListener("abort", onAbort);
    this.wakeUp = undefined;
    this.woken = false;
  }

  // ------------------------------------------------------------------------------ the tick

  private async tickOnce(): Promise<void> {
    if (!this.d.store.isOpen) return;
    this.ticks++;
    const now = await this.chainNow();
    await this.recover();
    await commitRendered(this.ctx, now);
    await revealCommitted(this.ctx, now);
    await giveBack(this.ctx, now);
    this.startRenders(now);
    if (!this.ctx.stopping.signal.aborted) await this.claimWork(now);
    await keep(this.ctx, now);
    await withdrawEarnings(this.ctx);
  }

  /** Chain time in seconds: the latest block's timestamp, or the wall clock when blocks are old. */
  private async chainNow(): Promise<number> {
    const wall = Math.floor(this.d.clock.now() / 1000);
    try {
      const latest = Number(await this.d.market.latestTimestamp());
      this.skewSeconds = Math.max(0, latest - wall);
    } catch (error) {
      this.log.debug({ err: (error as Error).message }, "could not read the latest block time; using the last known offset");
    }
    return wall + this.skewSeconds;
  }

  /** Chain time estimate without a request (for render watchdogs). */
  private chainNowEstimate(): number {
    return Math.floor(this.d.clock.now() / 1000) + this.skewSeconds;
  }

  // ------------------------------------------------------------------------------ commit

  // ------------------------------------------------------------------------------ reveal

  // ------------------------------------------------------------------------------ give back

  // ------------------------------------------------------------------------------ render

  private startRenders(now: number): void {
    const { store, config } = this.d;
    if (this.ctx.stopping.signal.aborted) return;
    // Recoveries first: their commitment is on-chain and waits for them.
    const recovering = store.listReplicas({ states: ["recovering"] }).sort((a, b) => a.id - b.id);
    const claimed = store.listReplicas({ states: ["claimed"] }).sort((a, b) => a.leaseEnd - b.leaseEnd);
    for (const row of [...recovering, ...claimed]) {
      if (this.ctx.inFlight.size >= config.limits.maxConcurrentSegments) break;
      if (this.ctx.inFlight.has(row.id) || this.ctx.toAbandon.has(row.id)) continue;
      if (row.state === "claimed" && (now > row.leaseEnd || store.getJob(row.jobId)?.status === "cancelled")) continue;
      if (!this.ctx.ready(`render:${row.id}`)) continue;
      const controller = new AbortController();
      const state = row.state === "recovering" ? "recovering" : "rendering";
      const flight: InFlight = { rowId: row.id, state, controller, startedAt: this.d.clock.now(), fraction: 0, done: Promise.resolve() };
      this.ctx.inFlight.set(row.id, flight);
      flight.done = this.render(row, flight).finally(() => {
        this.ctx.inFlight.delete(row.id);
        this.wake();
      });
    }
  }

  private async render(row: ReplicaRow, flight: InFlight): Promise<void> {
    const { store, config, engines, storage, metrics, clock } = this.d;
    const log = this.log.child(fields(row));
    const recovering = flight.state === "recovering";
    let current: ReplicaRow;
    try {
      current = recovering ? row : store.transition(row.id, "rendering");
    } catch (error) {
      log.warn({ err: (error as Error).message }, "replica changed before its render started");
      return;
    }
    // A render must finish (with upload and commit) before the lease ends; a recovery before the
    // reveal window closes, or the job deadline while the window is not open yet.
    const deadlineSeconds = () => (recovering ? this.revealDeadlineOf(row) : row.leaseEnd) - config.limits.commitMarginSeconds;
    const msLeft = () => (deadlineSeconds() - this.chainNowEstimate()) * 1000;
    // The lease watchdog: checks chain time (estimated) at least once a second.
    const leaseTimer = setInterval(() => {
      if (msLeft() > 0) return;
      const why = recovering ? `the reveal deadline ${this.revealDeadlineOf(row)} is too close to recover the result` : `the lease ends at ${row.leaseEnd}: no time left to finish, upload and commit`;
      flight.controller.abort(new RenderAbort("lease", why));
    }, Math.min(1_000, Math.max(10, this.d.market.pollingIntervalMs)));
    const outDir = join(config.dataDir, "results", `job-${row.jobId}`, `segment-${row.segment}-replica-${row.replica}-${row.id}`);
    let releaseScene: (() => void) | undefined;
    try {
      const manifest = await this.manifestOf(row.jobId);
      const engine = engines.get(manifest.engine.name);
      if (!engine) throw new FatalError("ENGINE_MISSING", `engine ${manifest.engine.name} is not registered`);
      const segment = segmentAt(manifest, row.segment);
      log.info({ frames: segment.frames, tile: segment.tile }, recovering ? "rendering again to recover a result lost with the state file" : "rendering");
      releaseScene = this.scenes.use(manifest.scene.cid); // not evicted while this render reads it
      const sceneDir = await this.retrying(() => this.scenes.ensure(manifest.scene.cid, { maxBytes: config.limits.maxSceneBytes, signal: flight.controller.signal }), flight.controller.signal);
      flight.engineStartedAt = clock.now();
      const rendered = await renderSegment({
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
      });
      const resultCid = await this.retrying(() => storage.addFolder(outDir, { signal: flight.controller.signal }), flight.controller.signal);
      flight.controller.signal.throwIfAborted();
      const salt = replicaSalt(this.d.saltSecret, row);
      if (recovering) {
        await this.finishRecovery(row, { digest: rendered.digest, salt, resultCid, seconds: rendered.seconds }, log);
        return;
      }
      current = store.getReplica(row.id)!;
      if (current.state !== "rendering") return; // settled on-chain meanwhile (e.g. released)
      // Digest, salt and result CID are on disk before any commitment is sent.
      store.transition(row.id, "rendered", { digest: rendered.digest, salt, resultCid, renderSeconds: rendered.seconds, lastError: null });
      metrics.observeRender(rendered.seconds);
      this.observeSpeed(row, rendered.seconds);
      this.ctx.deferred.markProven(row.jobId);
      this.ctx.backoff.succeeded(`render:${row.id}`);
      log.info({ seconds: Math.round(rendered.seconds * 100) / 100, digest: rendered.digest, resultCid, ...(config.testing.corruptDigests ? { testingCorruptDigest: true } : {}) }, "rendered");
      // The result lives on IPFS now; the local copy is removed below.
    } catch (caught) {
      const reason = flight.controller.signal.aborted ? flight.controller.signal.reason : caught;
      current = store.isOpen ? (store.getReplica(row.id) ?? current) : current;
      if (!store.isOpen || current.state !== flight.state) return;
      if (recovering) {
        this.recoveryFailed(row, reason, log);
        return;
      }
      if (reason instanceof RenderAbort) {
        if (reason.kind === "shutdown") {
          store.transition(row.id, "claimed", { lastError: "interrupted by shutdown" }, "shutdown");
          log.info({}, "render interrupted by shutdown; it will start again after a restart if its lease allows");
        } else if (reason.kind !== "settled") {
          this.ctx.toAbandon.set(row.id, reason.message);
          if (reason.kind === "lease" && flight.engineStartedAt !== undefined) {
            // Measured, not estimated: the engine ran until the lease margin. Claiming again would
            // burn the same time and give the slot back again, until the deadline.
            const ranSeconds = Math.round((clock.now() - flight.engineStartedAt) / 1000);
            const job = store.getJob(row.jobId);
            if (job) this.recordDecision(job, "skipped", `a render of segment ${row.segment} ran ${ranSeconds} s without finishing inside the lease of ${job.params.leaseDuration} s`, true);
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
        this.ctx.toAbandon.set(row.id, `cannot render: ${message}`);
        const job = store.getJob(row.jobId);
        if (job) this.recordDecision(job, "skipped", `its scene cannot be rendered here: ${problemLine(message)}`, true);
      } else {
        // Unexpected or retryable (IPFS down past the retries): render again later while the lease allows.
        const delay = this.ctx.backoff.failed(`render:${row.id}`, clock.now());
        store.recordAttempt(row.id, message);
        store.transition(row.id, "claimed", {}, `render failed (${message}); retrying in ${delay} ms`);
        log.warn({ err: message, retryInMs: delay }, "render failed; will retry");
      }
    } finally {
      releaseScene?.();
      clearInterval(leaseTimer);
      await rm(outDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** Retries a RetryableError (storage hiccups) with backoff until it succeeds or `signal` aborts. */
  private async retrying<T>(action: () => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await action();
      } catch (error) {
        if (!(error instanceof RetryableError) || signal.aborted) throw error;
        const delay = Math.min(30_000, Math.max(100, this.d.market.pollingIntervalMs * 4) * 2 ** Math.min(attempt, 8));
        this.log.warn({ err: error.message, retryInMs: delay }, "storage not available; retrying");
        await this.d.clock.sleep(delay, signal);
        signal.throwIfAborted();
      }
    }
  }

  /** Reveal deadline of the row's segment, or the job deadline while its reveal window is not open. */
  private revealDeadlineOf(row: ReplicaRow): number {
    const seg = this.d.store.market.getSegment(row.jobId, row.segment);
    return seg.revealDeadline > 0 ? seg.revealDeadline : Number(this.d.store.getJob(row.jobId)?.params.deadline ?? 0);
  }

  /**
   * The recovered render opens the on-chain commitment (same digest, same derived salt): the row is
   * committed again, with everything the reveal needs. A mismatch (a salt that was random, from a
   * node before derived salts, or a render that differs) cannot be revealed: the row fails, loudly.
   */
  private async finishRecovery(row: ReplicaRow, result: { digest: Hex; salt: Hex; resultCid: string; seconds: number }, log: Logger): Promise<void> {
    const { store, market } = this.d;
    const onChain = await market.replicaOf(row.jobId, row.segment, row.replica);
    const commitment = commitmentOf(result.digest, result.salt, this.me, row.jobId, row.segment);
    const current = store.getReplica(row.id);
    if (!current || current.state !== "recovering") return; // settled on-chain meanwhile
    const ours = isAddressEqual(onChain.provider, this.me) && Number(onChain.leaseEnd) === row.leaseEnd && onChain.state === ChainReplicaState.Committed;
    if (!ours) return; // the projection catches up with whatever happened to the slot
    // The chain keeps the commitment's first 160 bits (its "seal").
    if (onChain.seal.toLowerCase() !== commitment.slice(0, 42).toLowerCase()) {
      const message = `the re-rendered result (digest ${result.digest}) does not open the on-chain commitment ${onChain.seal}: it was committed with another salt (a node version before derived salts) or another render`;
      store.transition(row.id, "failed", { digest: result.digest, resultCid: result.resultCid, lastError: message }, "recovery failed");
      log.error({ err: message }, "cannot recover the lost result; the replica will expire");
      return;
    }
    store.transition(row.id, "committed", { ...result, commitment, renderSeconds: result.seconds, lastError: null }, "recovered: the re-rendered result opens the on-chain commitment");
    this.ctx.backoff.succeeded(`render:${row.id}`);
    log.info({ digest: result.digest, resultCid: result.resultCid }, "recovered the result lost with the state file; it will be revealed");
  }

  private recoveryFailed(row: ReplicaRow, reason: unknown, log: Logger): void {
    const { store, clock } = this.d;
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
    const delay = this.ctx.backoff.failed(`render:${row.id}`, clock.now());
    store.recordAttempt(row.id, message);
    log.warn({ err: message, retryInMs: delay }, "recovery render failed; will retry");
  }

  /** Feeds a finished render's time to the speed estimate; deferred jobs are re-checked when it moves. */
  private observeSpeed(row: ReplicaRow, seconds: number): void {
    const estimated = this.ctx.estimateSeconds(row, true);
    if (estimated === undefined) return;
    const before = this.ctx.speed.factor;
    if (!this.ctx.speed.observe(estimated, seconds)) return;
    this.d.store.setMeta("renderSpeedRatios", JSON.stringify(this.ctx.speed.recent));
    this.log.info({ factor: round2(this.ctx.speed.factor), was: round2(before), estimatedSeconds: round2(estimated), measuredSeconds: round2(seconds) }, "renders take a different time than the benchmark predicts; re-checking deferred jobs");
    this.wake();
  }

  private async manifestOf(jobId: bigint): Promise<Manifest> {
    const job = this.d.store.getJob(jobId);
    if (job?.manifest) return job.manifest;
    if (!job) throw new FatalError("JOB_UNKNOWN", `job ${jobId} is not in the state file`);
    const manifest = decodeManifest(await this.d.storage.cat(job.params.manifestCid, { maxBytes: MAX_MANIFEST_BYTES }));
    this.d.store.setJobManifest(jobId, manifest);
    return manifest;
  }

  // ------------------------------------------------------------------------------ claim

  private async claimWork(now: number): Promise<void> {
    const { store, config, market } = this.d;
    const candidates = store.listJobs({ status: "open" }).filter((job) => !(job.decision === "skipped" && job.final));
    if (candidates.length === 0) return;
    for (const job of candidates) {
      if (job.manifest) continue;
      if (now + job.params.leaseDuration > Number(job.params.deadline)) {
        this.recordDecision(job, "skipped", `its claim window closed (deadline ${job.params.deadline}, lease ${job.params.leaseDuration} s)`, true);
      } else this.fetchManifest(job);
    }

    const readSituation = async () => {
      const fresh = this.situation && this.d.clock.now() - this.situation.at < Math.max(1_000, market.pollingIntervalMs * 10);
      if (!fresh) {
        const [provider, freeStake] = await Promise.all([market.providerOf(this.me), market.freeStake(this.me)]);
        this.situation = { registered: provider.registered, reputation: provider.registered ? provider.score : 0, freeStake, at: this.d.clock.now() };
      }
      return this.situation!;
    };
    const busy = () => store.listReplicas({ states: ["claimed", "rendering", "recovering", "rendered", "committing"] }).length;
    const canClaim = !this.paused && isWorkHour(config.limits.workHours, new Date(this.d.clock.now()));

    for (const job of candidates) {
      const fresh = store.getJob(job.jobId)!;
      if (!fresh.manifest) continue; // still being fetched
      const open = store.market.claimableSegments(job.jobId, this.me, fresh.params.redundancy, fresh.params.segmentCount);
      // Nothing left to claim and already decided: no need to ask the chain about stake again.
      if (open === 0 && fresh.decision !== "pending") continue;
      let current: { registered: boolean; reputation: number; freeStake: bigint };
      try {
        current = await readSituation();
      } catch (error) {
        this.ctx.failed("situation", error, {}, "reading stake and reputation");
        return;
      }
      const decision = filterJob(
        { jobId: fresh.jobId, params: fresh.params, manifest: fresh.manifest, cancelled: fresh.status === "cancelled" },
        this.capabilities(),
        { ...current, nowSeconds: now },
      );
      // A trial render of this job that finished in time outweighs the estimate.
      const accept = decision.accept || (decision.estimated === true && this.ctx.deferred.isProven(job.jobId));
      let trial = false;
      if (decision.accept) this.ctx.deferred.clear(job.jobId);
      else if (decision.estimated && !accept) {
        this.ctx.deferred.defer(job.jobId, this.d.clock.now());
        trial = this.ctx.deferred.trialDue(job.jobId, { nowMs: this.d.clock.now(), nowSeconds: now, leaseSeconds: fresh.params.leaseDuration, deadlineSeconds: Number(fresh.params.deadline), claimable: open });
      }
      if (!decision.accept && !accept && !trial) {
        this.recordDecision(fresh, "skipped", `${decision.reason}${decision.estimated ? " (deferred: re-checked as measured renders refine the estimate)" : ""}`, decision.final);
        continue;
      }
      // The scene must be here (fetched and readable) before the first claim.
      if (!(await this.sceneReady(fresh))) continue;
      if (!trial) this.recordDecision(fresh, "accepted", null, false);
      if (!canClaim) continue;

      const exhaustedAt = this.ctx.exhausted.get(job.jobId);
      if (exhaustedAt !== undefined && this.d.clock.now() - exhaustedAt < 60_000) continue;
      const key = `claim:${job.jobId}`;
      if (!this.ctx.ready(key)) continue;
      const free = config.limits.maxConcurrentSegments - busy();
      const affordable = Number(current.freeStake / fresh.params.collateralPerReplica);
      const count = Math.min(free, affordable, MAX_BATCH, open, trial ? 1 : MAX_BATCH);
      if (count <= 0) continue;
      try {
        await market.claim(job.jobId, count);
        if (trial) {
          // Counted only once the claim is on-chain (a paused node or a failed claim has not tried).
          this.ctx.deferred.markTrial(job.jobId);
          this.log.info({ jobId: String(job.jobId), estimate: decision.accept ? undefined : decision.reason }, `trying one segment of job ${job.jobId} despite the estimate: nobody else claimed it for a whole lease`);
        }
        this.ctx.exhausted.delete(job.jobId);
        this.ctx.backoff.succeeded(key);
        await this.ctx.syncQuietly();
        const claimed = store.listReplicas({ jobId: job.jobId, states: ["claimed"] }).length;
        this.d.metrics.count("claims", 1);
        this.log.info({ jobId: String(job.jobId), asked: count, holding: claimed }, "claimed");
        this.situation = undefined; // stake changed
        this.startRenders(now);
      } catch (error) {
        switch (contractErrorOf(error)?.name) {
          case "JobMarketNothingToClaim":
            this.ctx.exhausted.set(job.jobId, this.d.clock.now());
            this.log.debug({ jobId: String(job.jobId) }, "nothing left to claim in this job for now");
            break;
          case "JobMarketClaimWindowClosed":
          case "JobMarketJobNotOpen":
            this.recordDecision(fresh, "skipped", `the contract refused claims: ${(error as Error).message}`, true);
            break;
          default:
            this.ctx.failed(key, error, { jobId: String(job.jobId), count }, "claim");
        }
      }
    }
  }

  private capabilities(): NodeCapabilities {
    const { config } = this.d;
    return {
      installedEngines: this.d.installedEngines,
      enabledEngines: config.engines,
      maxSceneBytes: config.limits.maxSceneBytes,
      minRewardPerRenderSecondWei: config.pricing.minRewardPerRenderSecondWei,
      minJobReputation: config.minJobReputation,
      benchmarkScore: this.d.benchmarkScore,
      speedFactor: this.ctx.speed.factor,
      commitMarginSeconds: config.limits.commitMarginSeconds,
      renderTimeSafetyFactor: config.limits.renderTimeSafetyFactor,
    };
  }

  private recordDecision(job: JobRow, decision: "accepted" | "skipped", reason: string | null, final: boolean): void {
    // A final skip stands: a decision computed from an older read of the job never overwrites it.
    const stored = this.d.store.getJob(job.jobId);
    if (stored?.decision === "skipped" && stored.final) return;
    if (!this.d.store.setJobDecision(job.jobId, decision, reason, final)) return;
    if (decision === "skipped") this.log.info({ jobId: String(job.jobId), reason, final }, `skipping job ${job.jobId}: ${reason}`);
    else this.log.info({ jobId: String(job.jobId), engine: job.manifest?.engine.name, reward: formatUnits(job.params.rewardPerReplica, 18) }, `accepting job ${job.jobId}`);
  }

  /**
   * Whether the job's scene is in the scene cache with its entry file. Fetches it in the background
   * the first time; a scene that is missing from IPFS, too large or has no entry file skips the job
   * for good, before anything was claimed.
   */
  private async sceneReady(job: JobRow): Promise<boolean> {
    const manifest = job.manifest!;
    const { cid, entry } = manifest.scene;
    if (this.scenes.has(cid)) {
      if (existsSync(join(this.scenes.dir, cid, entry))) return true;
      this.recordDecision(job, "skipped", `its scene ${cid} has no entry file ${entry}`, true);
      return false;
    }
    if (this.fetchingScenes.has(job.jobId)) return false;
    const key = `scene:${job.jobId}`;
    if (!this.ctx.ready(key)) return false;
    const run = (async () => {
      try {
        await this.scenes.ensure(cid, { maxBytes: this.d.config.limits.maxSceneBytes, signal: this.ctx.stopping.signal });
        this.ctx.backoff.succeeded(key);
      } catch (error) {
        if (!this.d.store.isOpen || this.ctx.stopping.signal.aborted) return;
        const current = this.d.store.getJob(job.jobId);
        if (error instanceof FatalError && current) {
          this.recordDecision(current, "skipped", `its scene ${cid} cannot be fetched: ${problemLine((error as Error).message)}`, true);
        } else {
          const delay = this.ctx.backoff.failed(key, this.d.clock.now());
          if (this.ctx.backoff.attempts(key) === 1 || this.ctx.backoff.attempts(key) % 10 === 0) {
            this.log.warn({ jobId: String(job.jobId), sceneCid: cid, err: (error as Error).message, retryInMs: delay }, "cannot fetch the job's scene yet; not claiming until it is here");
          }
        }
      } finally {
        this.fetchingScenes.delete(job.jobId);
        this.wake();
      }
    })();
    this.fetchingScenes.set(job.jobId, run);
    return false;
  }

  /** Fetches and validates a job's manifest in the background; a bad one skips the job for good. */
  private fetchManifest(job: JobRow): void {
    if (this.fetchingManifests.has(job.jobId)) return;
    const key = `manifest:${job.jobId}`;
    if (!this.ctx.ready(key)) return;
    const run = (async () => {
      try {
        const bytes = await this.d.storage.cat(job.params.manifestCid, { maxBytes: MAX_MANIFEST_BYTES, signal: this.ctx.stopping.signal });
        const manifest = decodeManifest(bytes);
        if (!this.d.store.isOpen) return;
        this.d.store.setJobManifest(job.jobId, manifest);
        this.ctx.backoff.succeeded(key);
      } catch (error) {
        if (!this.d.store.isOpen || this.ctx.stopping.signal.aborted) return;
        if (error instanceof FatalError) {
          const problem = (error as Error).message;
          const current = this.d.store.getJob(job.jobId)!;
          this.recordDecision(current, "skipped", `its manifest ${job.params.manifestCid} is unusable: ${problemLine(problem)}`, true);
        } else {
          const delay = this.ctx.backoff.failed(key, this.d.clock.now());
          if (this.ctx.backoff.attempts(key) === 1 || this.ctx.backoff.attempts(key) % 10 === 0) {
            this.log.warn({ jobId: String(job.jobId), manifestCid: job.params.manifestCid, err: (error as Error).message, retryInMs: delay }, "cannot fetch the job's manifest yet");
          }
        }
      } finally {
        this.fetchingManifests.delete(job.jobId);
        this.wake();
      }
    })();
    this.fetchingManifests.set(job.jobId, run);
  }

  // ------------------------------------------------------------------------------ keeper, withdraw

}




function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function problemLine(message: string): string {
  const lines = message.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.length > 1 ? lines[1] : (lines[0] ?? message);
}
