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
 */
import { join } from "node:path";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { formatUnits, isAddressEqual, parseUnits, type Address, type Hex } from "viem";
import {
  commitmentOf,
  decodeManifest,
  estimateJob,
  segmentAt,
  type Manifest,
  type Storage,
} from "@tessellate/sdk";
import { contractErrorOf, type ContractError, type ContractErrorName } from "@tessellate/sdk/contractErrors";
import { FatalError, RetryableError, TessellateError } from "@tessellate/sdk/errors";
import { CHAIN_UNREACHABLE } from "../chain/rpcHealth.ts";
import { isWorkHour, type ProviderConfig } from "../config/config.ts";
import type { EngineInfo } from "../engines/engine.ts";
import type { EngineRegistry } from "../engines/registry.ts";
import { filterJob, type NodeCapabilities } from "../jobs/jobFilter.ts";
import { DeferredJobs, RenderSpeed } from "../jobs/renderSpeed.ts";
import type { Metrics } from "../metrics.ts";
import { isClosable, jobMarketConstants, JobStatus as ChainJobStatus, keeperFee, ReplicaState as ChainReplicaState } from "@tessellate/sdk/protocol";
import type { Clock, Logger, MarketPort } from "../ports.ts";
import type { ProjectionEffects } from "../state/projection.ts";
import type { JobRow, ReplicaRow, StateStore } from "../state/stateStore.ts";
import { BackoffSchedule, backoffDelay } from "./backoff.ts";
import { describeRenderFailure } from "./renderFailure.ts";
import { renderSegment } from "./renderSegment.ts";
import { replicaSalt } from "./replicaSalt.ts";
import { SceneCache } from "./sceneCache.ts";

/** Largest manifest accepted (a manifest is a small JSON document). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
/** Entries per contract batch (JobMarket.MAX_BATCH). */
const MAX_BATCH = jobMarketConstants.MAX_BATCH;
/** Gas assumed for `expire`: a base plus this much per slot (a rough upper bound, to compare with the keeper fee). */
export const EXPIRE_GAS = { base: 80_000n, perSlot: 60_000n };
/** Longest a rendered replica waits for renders of the same job to share its commit transaction. */
export const COMMIT_BATCH_WAIT_MS = 30_000;

export interface WorkerDeps {
  market: MarketPort;
  store: StateStore;
  storage: Storage;
  engines: EngineRegistry;
  /** Engines detected at start-up (name + exact version). */
  installedEngines: EngineInfo[];
  /** Catches the state file up with the chain; returns what changed. */
  sync: () => Promise<ProjectionEffects>;
  clock: Clock;
  log: Logger;
  config: ProviderConfig;
  metrics: Metrics;
  benchmarkScore: number;
  /** Secret the commitment salts are derived from (worker/replicaSalt.ts). */
  saltSecret: Hex;
  /** Retry delays (default: base 4 × polling interval, max 60 s). */
  backoff?: { baseMs: number; maxMs: number };
}

type AbortKind = "lease" | "cancelled" | "shutdown" | "settled";

class RenderAbort extends Error {
  readonly kind: AbortKind;
  constructor(kind: AbortKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

interface InFlight {
  rowId: number;
  /** The row's state while this render runs ("recovering": re-rendering a result lost with the state file). */
  state: "rendering" | "recovering";
  controller: AbortController;
  done: Promise<void>;
  startedAt: number;
  fraction: number;
  /** Set once the scene is on disk and the engine was started (a lease that runs out after it is the scene's doing). */
  engineStartedAt?: number;
}

export interface ReplicaProgress {
  id: number;
  jobId: string;
  segment: number;
  replica: number;
  fraction: number;
  startedAt: number;
}

export class Worker {
  private readonly d: WorkerDeps;
  private readonly log: Logger;
  private readonly me: Address;
  private readonly scenes: SceneCache;
  private readonly backoff: BackoffSchedule<string>;
  private readonly inFlight = new Map<number, InFlight>();
  /** Rows whose abandon must be (re)sent, with the reason. */
  private readonly toAbandon = new Map<number, string>();
  /** Jobs where the last claim found nothing to claim, until a slot reopens (or a minute passes). */
  private readonly exhausted = new Map<bigint, number>();
  private readonly fetchingManifests = new Map<bigint, Promise<void>>();
  /** Scenes fetched before a job's first claim (a missing or unreadable scene is skipped, never claimed). */
  private readonly fetchingScenes = new Map<bigint, Promise<void>>();
  /** Measured ÷ estimated render time, applied to every estimate. */
  private readonly speed: RenderSpeed;
  /** Jobs skipped on an estimate alone: re-checked every tick, tried once when nobody else takes them. */
  private readonly deferred = new DeferredJobs();
  /** Own reputation and free stake, read at most once a second (or after a change). */
  private situation: { registered: boolean; reputation: number; freeStake: bigint; at: number } | undefined;
  /** Rows whose direct reveal failed: they commit first. */
  private readonly noDirectReveal = new Set<number>();
  private loop: Promise<void> | undefined;
  private stopping = new AbortController();
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private skewSeconds = 0;
  private lastWithdrawCheck = 0;
  private tickRunning: Promise<void> | undefined;
  /** Claims no new work while true (POST /pause). */
  paused = false;
  /** Last error of a whole tick, for /health. */
  lastTickError: string | undefined;
  ticks = 0;

  constructor(deps: WorkerDeps) {
    this.d = deps;
    this.log = deps.log.child({ part: "worker" });
    this.me = deps.market.account;
    this.scenes = new SceneCache(deps.storage, join(deps.config.dataDir, "scenes"), { maxBytes: deps.config.limits.sceneCacheBytes, log: this.log });
    this.backoff = new BackoffSchedule(deps.backoff ?? { baseMs: Math.max(100, deps.market.pollingIntervalMs * 4), maxMs: 60_000 });
    this.paused = deps.store.getMeta("paused") === "true";
    this.speed = new RenderSpeed({ initialRatios: parseRatios(deps.store.getMeta("renderSpeedRatios")) });
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
      if (this.inFlight.has(row.id) || this.toAbandon.has(row.id)) continue;
      store.transition(row.id, "claimed", {}, "render interrupted; rendering again");
      this.log.info(fields(row), "render was interrupted (restart); rendering again");
    }
    for (const row of store.listReplicas({ states: ["committing", "revealing"] })) {
      const onChain = await market.replicaOf(row.jobId, row.segment, row.replica);
      const next = this.resolveUnknown(row, onChain, "recovery");
      this.log.info({ ...fields(row), was: row.state, now: next.state }, "recovered a transaction whose outcome was unknown");
    }
  }

  /**
   * Moves a row whose commit or reveal may or may not have landed to where `replicaOf` says the
   * slot is. Returns the row as it is now.
   */
  private resolveUnknown(row: ReplicaRow, onChain: { provider: Address; state: number; leaseEnd: bigint }, why: string, fatal?: { error: unknown; single: boolean }): ReplicaRow {
    const { store } = this.d;
    const ours = isAddressEqual(onChain.provider, this.me) && Number(onChain.leaseEnd) === row.leaseEnd;
    const message = fatal ? (fatal.error as Error).message : undefined;
    const attempt = fatal ? { attempts: row.attempts + 1, lastError: message } : {};
    const gone = () => store.transition(row.id, "failed", { lastError: `the slot is no longer held on-chain${message ? ` (${message})` : ""}` }, why);
    if (row.state === "committing") {
      if (ours && onChain.state === ChainReplicaState.Committed) return store.transition(row.id, "committed", {}, `${why}: replicaOf says the commit landed`);
      if (ours && onChain.state === ChainReplicaState.Claimed) {
        if (fatal?.single && fatal.error instanceof FatalError) return store.transition(row.id, "failed", { lastError: message }, `${why}: commit rejected`);
        return store.transition(row.id, "rendered", attempt, `${why}: replicaOf says the commit did not land`);
      }
      return gone();
    }
    // revealing
    if (ours && onChain.state === ChainReplicaState.Revealed) return store.transition(row.id, "revealed", {}, `${why}: replicaOf says the reveal landed`);
    // A closed window or one not open yet: stay committed; the window may (re)open.
    if (ours && onChain.state === ChainReplicaState.Committed) return store.transition(row.id, "committed", attempt, `${why}: replicaOf says the reveal did not land`);
    if (ours && onChain.state === ChainReplicaState.Claimed && row.commitment === null) {
      this.noDirectReveal.add(row.id); // commit first next time
      return store.transition(row.id, "rendered", attempt, `${why}: replicaOf says the direct reveal did not land`);
    }
    return gone();
  }

  start(): void {
    if (this.loop) return;
    this.stopping = new AbortController();
    this.loop = this.run(this.stopping.signal);
  }

  /**
   * Stops claiming, lets in-flight renders finish for up to `graceMs` (then interrupts them; they
   * are rendered again after a restart if their lease allows), and waits for the loop to end.
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    this.stopping.abort();
    this.wake();
    await this.loop;
    this.loop = undefined;
    const grace = options.graceMs ?? 0;
    if (this.inFlight.size > 0 && grace > 0) {
      await Promise.race([Promise.all([...this.inFlight.values()].map((f) => f.done)), this.d.clock.sleep(grace)]);
    }
    for (const flight of this.inFlight.values()) flight.controller.abort(new RenderAbort("shutdown", "the node is shutting down"));
    await Promise.all([...this.inFlight.values()].map((f) => f.done));
    await Promise.allSettled([...this.fetchingManifests.values(), ...this.fetchingScenes.values()]);
  }

  /** Runs the next tick now instead of at the next polling interval. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Called by the watcher with what the last events changed. */
  onEffects(effects: ProjectionEffects): void {
    for (const jobId of effects.reopenedJobs) this.exhausted.delete(jobId);
    if (effects.earningsChanged || effects.changedReplicas.size > 0) this.situation = undefined;
    for (const id of effects.changedReplicas) {
      const flight = this.inFlight.get(id);
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
    return [...this.inFlight.values()].map((f) => {
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
        delay = backoffDelay(failures - 1, this.backoff.baseMs, this.backoff.maxMs);
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
    const next = this.backoff.nextReadyAt(now);
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
    await this.commitRendered(now);
    await this.revealCommitted(now);
    await this.giveBack(now);
    this.startRenders(now);
    if (!this.stopping.signal.aborted) await this.claimWork(now);
    await this.keep(now);
    await this.withdrawEarnings();
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

  private ready(key: string): boolean {
    return this.backoff.ready(key, this.d.clock.now());
  }

  private failed(key: string, error: unknown, context: Record<string, unknown>, what: string): void {
    const delay = this.backoff.failed(key, this.d.clock.now());
    const revert = contractErrorOf(error);
    const race = revert && BENIGN_RACES.has(revert.name) ? revert.name : undefined;
    if (race) {
      // Another node expired, closed or settled it first: nothing was lost, nothing to fix.
      this.log.info({ ...context, reason: race }, `${what}: another node was first (${race}); nothing to do`);
      return;
    }
    this.d.metrics.count("txFailures");
    const message = (error as Error).message;
    // An unreachable RPC is reported once by chain/rpcHealth.ts, not by every call that hit it.
    const level = (error as TessellateError).code === CHAIN_UNREACHABLE ? "debug" : error instanceof RetryableError ? "warn" : "error";
    this.log[level]({ ...context, err: message, code: (error as TessellateError).code, ...(revert ? { revert: revert.name } : {}), retryInMs: delay, attempt: this.backoff.attempts(key) }, `${what} failed`);
  }

  // ------------------------------------------------------------------------------ commit

  private async commitRendered(now: number): Promise<void> {
    const { store } = this.d;
    for (const [jobId, rows] of groupByJob(store.listReplicas({ states: ["rendered"] }))) {
      const key = `commit:${jobId}`;
      if (!this.ready(key) || store.getJob(jobId)?.status === "cancelled") continue; // cancelled: given back instead
      if (this.holdForBatch(jobId, rows, now)) continue;
      const live: ReplicaRow[] = [];
      for (const row of rows) {
        if (now > row.leaseEnd) {
          store.transition(row.id, "failed", { lastError: `lease ended at ${row.leaseEnd} before the commit` }, "lease passed");
          this.log.error(fields(row), "lease ended before the commit could be sent; the replica will be expired");
        } else live.push(row);
      }
      // The last replica of a segment to seal reveals directly (one transaction fewer).
      const direct = live.filter((row) => !this.noDirectReveal.has(row.id) && this.othersSealed(row));
      for (const batch of chunks(direct, MAX_BATCH)) {
        const revealing = store.transaction(() => batch.map((row) => store.transition(row.id, "revealing", {}, "direct reveal: every other slot of the segment is committed")));
        if ((await this.sendReveal(jobId, revealing)) === "ok") this.backoff.succeeded(key);
      }
      const toCommit = live.filter((row) => !direct.includes(row));
      for (const batch of chunks(toCommit, MAX_BATCH)) {
        const committing = store.transaction(() =>
          batch.map((row) => store.transition(row.id, "committing", { commitment: commitmentOf(row.digest!, row.salt!, this.me, jobId, row.segment) })),
        );
        const outcome = await this.sendCommit(jobId, committing);
        if (outcome === "ok") this.backoff.succeeded(key);
        else if (outcome === "fatal" && committing.length > 1) {
          // One entry spoils the batch: send the still-uncommitted ones one by one to find it.
          for (const row of committing) {
            if (store.getReplica(row.id)!.state !== "rendered") continue;
            await this.sendCommit(jobId, [store.transition(row.id, "committing", {})], true);
          }
        }
      }
    }
  }

  /** Whether every other slot of the row's segment is committed or revealed (projection). */
  private othersSealed(row: ReplicaRow): boolean {
    const { store } = this.d;
    const slots = store.getSegment(row.jobId, row.segment).slots ?? store.getJob(row.jobId)?.params.redundancy ?? 0;
    if (slots < 1) return false;
    const sealed = store.slotsOf(row.jobId, row.segment).filter((s) => s.replica !== row.replica && (s.state === "committed" || s.state === "revealed"));
    return sealed.length === slots - 1;
  }

  /**
   * Whether to wait for renders of the same job still in flight, so that one commit carries them
   * all (one base cost per batch): for at most COMMIT_BATCH_WAIT_MS, and never close to a lease end.
   */
  private holdForBatch(jobId: bigint, rows: ReplicaRow[], now: number): boolean {
    const rendering = [...this.inFlight.values()].some((f) => this.d.store.getReplica(f.rowId)?.jobId === jobId);
    if (!rendering) return false;
    const oldest = Math.min(...rows.map((r) => r.updatedAt));
    const earliestLease = Math.min(...rows.map((r) => r.leaseEnd));
    return this.d.clock.now() - oldest < COMMIT_BATCH_WAIT_MS && now < earliestLease - 3 * this.d.config.limits.commitMarginSeconds;
  }

  /** Sends one commit batch; on failure puts every row where the chain says it is. */
  private async sendCommit(jobId: bigint, rows: ReplicaRow[], single = false): Promise<"ok" | "fatal" | "retry"> {
    const { market, store } = this.d;
    try {
      await market.commit(
        jobId,
        rows.map((r) => ({ segment: r.segment, replica: r.replica, commitment: r.commitment! })),
      );
      this.d.metrics.count("commits", rows.length);
      this.log.info({ jobId: String(jobId), segments: rows.map((r) => r.segment), replicas: rows.length }, "committed");
      await this.syncQuietly();
      return "ok";
    } catch (error) {
      this.failed(`commit:${jobId}`, error, { jobId: String(jobId), segments: rows.map((r) => r.segment) }, "commit");
      await this.syncQuietly();
      for (const row of rows) {
        const current = store.getReplica(row.id)!;
        if (current.state !== "committing") continue;
        await this.reconcile(current, error, single);
      }
      return error instanceof FatalError ? "fatal" : "retry";
    }
  }

  // ------------------------------------------------------------------------------ reveal

  private async revealCommitted(now: number): Promise<void> {
    const { store } = this.d;
    for (const [jobId, rows] of groupByJob(store.listReplicas({ states: ["committed"] }))) {
      const key = `reveal:${jobId}`;
      if (!this.ready(key)) continue;
      const open = rows.filter((row) => {
        const seg = store.getSegment(jobId, row.segment);
        return seg.revealDeadline > 0 && now <= seg.revealDeadline;
      });
      for (const batch of chunks(open, MAX_BATCH)) {
        const revealing = store.transaction(() => batch.map((row) => store.transition(row.id, "revealing")));
        const outcome = await this.sendReveal(jobId, revealing);
        if (outcome === "ok") this.backoff.succeeded(key);
        else if (outcome === "fatal" && revealing.length > 1) {
          for (const row of revealing) {
            if (store.getReplica(row.id)!.state !== "committed") continue;
            await this.sendReveal(jobId, [store.transition(row.id, "revealing")], true);
          }
        }
      }
    }
  }

  private async sendReveal(jobId: bigint, rows: ReplicaRow[], single = false): Promise<"ok" | "fatal" | "retry"> {
    const { market, store } = this.d;
    try {
      await market.reveal(
        jobId,
        rows.map((r) => ({ segment: r.segment, replica: r.replica, digest: r.digest!, salt: r.salt!, resultCid: r.resultCid! })),
      );
      this.d.metrics.count("reveals", rows.length);
      this.log.info({ jobId: String(jobId), segments: rows.map((r) => r.segment), replicas: rows.length }, "revealed");
      await this.syncQuietly();
      return "ok";
    } catch (error) {
      this.failed(`reveal:${jobId}`, error, { jobId: String(jobId), segments: rows.map((r) => r.segment) }, "reveal");
      await this.syncQuietly();
      for (const row of rows) {
        const current = store.getReplica(row.id)!;
        if (current.state !== "revealing") continue;
        await this.reconcile(current, error, single);
      }
      return error instanceof FatalError ? "fatal" : "retry";
    }
  }

  /**
   * A commit or reveal failed (or its outcome is unknown): asks `replicaOf` where the slot really
   * is and moves the row there. When the chain still waits for exactly what failed and the error
   * was fatal for this one replica alone, the replica is given up.
   */
  private async reconcile(row: ReplicaRow, error: unknown, single: boolean): Promise<void> {
    const { store, market } = this.d;
    let onChain;
    try {
      onChain = await market.replicaOf(row.jobId, row.segment, row.replica);
    } catch {
      // Cannot tell now: assume it did not land; a duplicate send is rejected harmlessly.
      const back = row.state === "committing" || row.commitment === null ? "rendered" : "committed";
      if (back === "rendered" && row.state === "revealing") this.noDirectReveal.add(row.id);
      store.transition(row.id, back, { lastError: (error as Error).message }, "outcome unknown");
      return;
    }
    this.resolveUnknown(row, onChain, "after a failed send", { error, single });
  }

  // ------------------------------------------------------------------------------ give back

  private async giveBack(now: number): Promise<void> {
    const { store, config } = this.d;
    // Uncommitted claims of cancelled jobs, and claims waiting to render whose lease is too short now.
    for (const job of store.listJobs({ status: "cancelled" })) {
      for (const row of store.listReplicas({ jobId: job.jobId, states: ["claimed", "rendering", "rendered"] })) {
        const flight = this.inFlight.get(row.id);
        if (flight) flight.controller.abort(new RenderAbort("cancelled", "the requester cancelled the job"));
        else if (!this.toAbandon.has(row.id)) this.toAbandon.set(row.id, "the requester cancelled the job");
      }
    }
    for (const row of store.listReplicas({ states: ["claimed"] })) {
      if (this.inFlight.has(row.id) || this.toAbandon.has(row.id) || this.deferred.isTrial(row.jobId)) continue;
      const seconds = this.estimateSeconds(row);
      if (seconds !== undefined && now + seconds * config.limits.renderTimeSafetyFactor > row.leaseEnd - config.limits.commitMarginSeconds) {
        this.toAbandon.set(row.id, `the render (~${Math.ceil(seconds)} s) cannot finish before the lease ends at ${row.leaseEnd}`);
      }
    }
    const byJob = new Map<bigint, { row: ReplicaRow; reason: string }[]>();
    for (const [id, reason] of this.toAbandon) {
      const row = store.getReplica(id);
      if (!row || !["claimed", "rendering", "rendered"].includes(row.state) || this.inFlight.has(id)) {
        if (!row || !["claimed", "rendering", "rendered"].includes(row.state)) this.toAbandon.delete(id);
        continue;
      }
      byJob.set(row.jobId, [...(byJob.get(row.jobId) ?? []), { row, reason }]);
    }
    for (const [jobId, entries] of byJob) {
      const key = `abandon:${jobId}`;
      if (!this.ready(key)) continue;
      for (const batch of chunks(entries, MAX_BATCH)) await this.sendAbandon(jobId, batch, now);
    }
    await this.closeSegments(now);
  }

  private async sendAbandon(jobId: bigint, entries: { row: ReplicaRow; reason: string }[], now: number): Promise<void> {
    const { store, market } = this.d;
    const live = entries.filter(({ row }) => {
      if (now <= row.leaseEnd) return true;
      store.transition(row.id, "failed", { lastError: `could not give it back before the lease ended: ${entries[0].reason}` }, "lease passed");
      this.toAbandon.delete(row.id);
      return false;
    });
    if (live.length === 0) return;
    try {
      await market.abandon(jobId, live.map(({ row }) => ({ segment: row.segment, replica: row.replica })));
      this.d.metrics.count("abandons", live.length);
      for (const { row, reason } of live) {
        this.toAbandon.delete(row.id);
        this.log.warn({ ...fields(row), reason }, "abandoned replica");
      }
      this.backoff.succeeded(`abandon:${jobId}`);
      await this.syncQuietly();
      // The event settles the row; record the reason on it as well.
      for (const { row, reason } of live) {
        const current = store.getReplica(row.id)!;
        if (current.state !== "abandoned") store.transition(row.id, "abandoned", { lastError: reason }, "abandon sent");
        else store.recordAttempt(row.id, reason);
      }
    } catch (error) {
      this.failed(`abandon:${jobId}`, error, { jobId: String(jobId), segments: live.map(({ row }) => row.segment) }, "abandon");
      if (error instanceof FatalError) {
        await this.syncQuietly();
        for (const { row } of live) {
          const current = store.getReplica(row.id)!;
          this.toAbandon.delete(row.id);
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
  private async closeSegments(now: number): Promise<void> {
    const { store, market } = this.d;
    const waiting = store.listReplicas({ states: ["committed", "recovering", "revealed"] });
    for (const [jobId, rows] of groupByJob(waiting)) {
      const job = store.getJob(jobId);
      if (!job) continue;
      const pastDeadline = now > Number(job.params.deadline);
      if (job.status !== "cancelled" && !pastDeadline) continue;
      const key = `close:${jobId}`;
      if (!this.ready(key)) continue;
      const closable: number[] = [];
      try {
        for (const segment of new Set(rows.map((r) => r.segment))) {
          const seg = await market.segmentOf(jobId, segment);
          if (isClosable({ status: job.status === "cancelled" ? ChainJobStatus.Cancelled : ChainJobStatus.Open, params: job.params }, seg, BigInt(now))) closable.push(segment);
        }
        if (closable.length === 0) {
          this.backoff.failed(key, this.d.clock.now()); // look again later, not every tick
          continue;
        }
        for (const batch of chunks(closable, MAX_BATCH)) {
          await market.closeSegments(jobId, batch);
          this.d.metrics.count("closes", batch.length);
          this.log.info({ jobId: String(jobId), segments: batch, why: pastDeadline ? "past the job deadline" : "job cancelled" }, "closed segments to release collateral");
        }
        this.backoff.succeeded(key);
        await this.syncQuietly();
      } catch (error) {
        this.failed(key, error, { jobId: String(jobId), segments: closable }, "closeSegments");
      }
    }
  }

  // ------------------------------------------------------------------------------ render

  private startRenders(now: number): void {
    const { store, config } = this.d;
    if (this.stopping.signal.aborted) return;
    // Recoveries first: their commitment is on-chain and waits for them.
    const recovering = store.listReplicas({ states: ["recovering"] }).sort((a, b) => a.id - b.id);
    const claimed = store.listReplicas({ states: ["claimed"] }).sort((a, b) => a.leaseEnd - b.leaseEnd);
    for (const row of [...recovering, ...claimed]) {
      if (this.inFlight.size >= config.limits.maxConcurrentSegments) break;
      if (this.inFlight.has(row.id) || this.toAbandon.has(row.id)) continue;
      if (row.state === "claimed" && (now > row.leaseEnd || store.getJob(row.jobId)?.status === "cancelled")) continue;
      if (!this.ready(`render:${row.id}`)) continue;
      const controller = new AbortController();
      const state = row.state === "recovering" ? "recovering" : "rendering";
      const flight: InFlight = { rowId: row.id, state, controller, startedAt: this.d.clock.now(), fraction: 0, done: Promise.resolve() };
      this.inFlight.set(row.id, flight);
      flight.done = this.render(row, flight).finally(() => {
        this.inFlight.delete(row.id);
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
      this.deferred.markProven(row.jobId);
      this.backoff.succeeded(`render:${row.id}`);
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
          this.toAbandon.set(row.id, reason.message);
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
        this.toAbandon.set(row.id, `cannot render: ${message}`);
        const job = store.getJob(row.jobId);
        if (job) this.recordDecision(job, "skipped", `its scene cannot be rendered here: ${problemLine(message)}`, true);
      } else {
        // Unexpected or retryable (IPFS down past the retries): render again later while the lease allows.
        const delay = this.backoff.failed(`render:${row.id}`, clock.now());
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
    const seg = this.d.store.getSegment(row.jobId, row.segment);
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
    this.backoff.succeeded(`render:${row.id}`);
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
    const delay = this.backoff.failed(`render:${row.id}`, clock.now());
    store.recordAttempt(row.id, message);
    log.warn({ err: message, retryInMs: delay }, "recovery render failed; will retry");
  }

  /** Estimated seconds of the row's render: from the benchmark, times the measured speed factor unless `raw`. */
  private estimateSeconds(row: ReplicaRow, raw = false): number | undefined {
    const job = this.d.store.getJob(row.jobId);
    if (!job?.manifest) return undefined;
    try {
      const seconds = estimateJob({ manifest: job.manifest, benchmarkScore: this.d.benchmarkScore, redundancy: job.params.redundancy }).secondsPerSegment;
      return raw ? seconds : seconds * this.speed.factor;
    } catch {
      return undefined;
    }
  }

  /** Feeds a finished render's time to the speed estimate; deferred jobs are re-checked when it moves. */
  private observeSpeed(row: ReplicaRow, seconds: number): void {
    const estimated = this.estimateSeconds(row, true);
    if (estimated === undefined) return;
    const before = this.speed.factor;
    if (!this.speed.observe(estimated, seconds)) return;
    this.d.store.setMeta("renderSpeedRatios", JSON.stringify(this.speed.recent));
    this.log.info({ factor: round2(this.speed.factor), was: round2(before), estimatedSeconds: round2(estimated), measuredSeconds: round2(seconds) }, "renders take a different time than the benchmark predicts; re-checking deferred jobs");
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
      const open = store.claimableSegments(job.jobId, this.me, fresh.params.redundancy, fresh.params.segmentCount);
      // Nothing left to claim and already decided: no need to ask the chain about stake again.
      if (open === 0 && fresh.decision !== "pending") continue;
      let current: { registered: boolean; reputation: number; freeStake: bigint };
      try {
        current = await readSituation();
      } catch (error) {
        this.failed("situation", error, {}, "reading stake and reputation");
        return;
      }
      const decision = filterJob(
        { jobId: fresh.jobId, params: fresh.params, manifest: fresh.manifest, cancelled: fresh.status === "cancelled" },
        this.capabilities(),
        { ...current, nowSeconds: now },
      );
      // A trial render of this job that finished in time outweighs the estimate.
      const accept = decision.accept || (decision.estimated === true && this.deferred.isProven(job.jobId));
      let trial = false;
      if (decision.accept) this.deferred.clear(job.jobId);
      else if (decision.estimated && !accept) {
        this.deferred.defer(job.jobId, this.d.clock.now());
        trial = this.deferred.trialDue(job.jobId, { nowMs: this.d.clock.now(), nowSeconds: now, leaseSeconds: fresh.params.leaseDuration, deadlineSeconds: Number(fresh.params.deadline), claimable: open });
      }
      if (!decision.accept && !accept && !trial) {
        this.recordDecision(fresh, "skipped", `${decision.reason}${decision.estimated ? " (deferred: re-checked as measured renders refine the estimate)" : ""}`, decision.final);
        continue;
      }
      // The scene must be here (fetched and readable) before the first claim.
      if (!(await this.sceneReady(fresh))) continue;
      if (!trial) this.recordDecision(fresh, "accepted", null, false);
      if (!canClaim) continue;

      const exhaustedAt = this.exhausted.get(job.jobId);
      if (exhaustedAt !== undefined && this.d.clock.now() - exhaustedAt < 60_000) continue;
      const key = `claim:${job.jobId}`;
      if (!this.ready(key)) continue;
      const free = config.limits.maxConcurrentSegments - busy();
      const affordable = Number(current.freeStake / fresh.params.collateralPerReplica);
      const count = Math.min(free, affordable, MAX_BATCH, open, trial ? 1 : MAX_BATCH);
      if (count <= 0) continue;
      try {
        await market.claim(job.jobId, count);
        if (trial) {
          // Counted only once the claim is on-chain (a paused node or a failed claim has not tried).
          this.deferred.markTrial(job.jobId);
          this.log.info({ jobId: String(job.jobId), estimate: decision.accept ? undefined : decision.reason }, `trying one segment of job ${job.jobId} despite the estimate: nobody else claimed it for a whole lease`);
        }
        this.exhausted.delete(job.jobId);
        this.backoff.succeeded(key);
        await this.syncQuietly();
        const claimed = store.listReplicas({ jobId: job.jobId, states: ["claimed"] }).length;
        this.d.metrics.count("claims", 1);
        this.log.info({ jobId: String(job.jobId), asked: count, holding: claimed }, "claimed");
        this.situation = undefined; // stake changed
        this.startRenders(now);
      } catch (error) {
        switch (contractErrorOf(error)?.name) {
          case "JobMarketNothingToClaim":
            this.exhausted.set(job.jobId, this.d.clock.now());
            this.log.debug({ jobId: String(job.jobId) }, "nothing left to claim in this job for now");
            break;
          case "JobMarketClaimWindowClosed":
          case "JobMarketJobNotOpen":
            this.recordDecision(fresh, "skipped", `the contract refused claims: ${(error as Error).message}`, true);
            break;
          default:
            this.failed(key, error, { jobId: String(job.jobId), count }, "claim");
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
      speedFactor: this.speed.factor,
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
    if (!this.ready(key)) return false;
    const run = (async () => {
      try {
        await this.scenes.ensure(cid, { maxBytes: this.d.config.limits.maxSceneBytes, signal: this.stopping.signal });
        this.backoff.succeeded(key);
      } catch (error) {
        if (!this.d.store.isOpen || this.stopping.signal.aborted) return;
        const current = this.d.store.getJob(job.jobId);
        if (error instanceof FatalError && current) {
          this.recordDecision(current, "skipped", `its scene ${cid} cannot be fetched: ${problemLine((error as Error).message)}`, true);
        } else {
          const delay = this.backoff.failed(key, this.d.clock.now());
          if (this.backoff.attempts(key) === 1 || this.backoff.attempts(key) % 10 === 0) {
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
    if (!this.ready(key)) return;
    const run = (async () => {
      try {
        const bytes = await this.d.storage.cat(job.params.manifestCid, { maxBytes: MAX_MANIFEST_BYTES, signal: this.stopping.signal });
        const manifest = decodeManifest(bytes);
        if (!this.d.store.isOpen) return;
        this.d.store.setJobManifest(job.jobId, manifest);
        this.backoff.succeeded(key);
      } catch (error) {
        if (!this.d.store.isOpen || this.stopping.signal.aborted) return;
        if (error instanceof FatalError) {
          const problem = (error as Error).message;
          const current = this.d.store.getJob(job.jobId)!;
          this.recordDecision(current, "skipped", `its manifest ${job.params.manifestCid} is unusable: ${problemLine(problem)}`, true);
        } else {
          const delay = this.backoff.failed(key, this.d.clock.now());
          if (this.backoff.attempts(key) === 1 || this.backoff.attempts(key) % 10 === 0) {
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

  private async keep(now: number): Promise<void> {
    const { config, store, market } = this.d;
    if (!config.keeper.enabled) return;
    const slots = store.expirableSlots(now, this.me);
    if (slots.length === 0) return;
    const byJob = new Map<bigint, typeof slots>();
    for (const slot of slots) byJob.set(slot.jobId, [...(byJob.get(slot.jobId) ?? []), slot]);
    for (const [jobId, jobSlots] of byJob) {
      const key = `expire:${jobId}`;
      if (!this.ready(key)) continue;
      const job = store.getJob(jobId);
      if (!job) continue;
      for (const batch of chunks(jobSlots, MAX_BATCH)) {
        try {
          const fee = keeperFee(job.params.collateralPerReplica, batch.length);
          const gas = (EXPIRE_GAS.base + EXPIRE_GAS.perSlot * BigInt(batch.length)) * (await market.gasPrice());
          const feeInNative = (fee * parseUnits("1", 18)) / config.keeper.tokensPerNative;
          if (feeInNative <= gas) {
            this.backoff.failed(key, this.d.clock.now());
            this.log.debug({ jobId: String(jobId), slots: batch.length, fee: fee.toString(), gas: gas.toString() }, "expiring would cost more gas than the keeper fee; leaving it");
            continue;
          }
          await market.expire(jobId, batch.map((s) => ({ segment: s.segment, replica: s.replica })));
          this.d.metrics.count("expires", batch.length);
          this.log.info({ jobId: String(jobId), slots: batch.map((s) => `${s.segment}/${s.replica}`), providers: [...new Set(batch.map((s) => s.provider))], reasons: [...new Set(batch.map((s) => s.reason))], keeperFee: formatUnits(fee, 18) }, "expired stale replicas of other providers");
          this.backoff.succeeded(key);
          await this.syncQuietly();
        } catch (error) {
          this.failed(key, error, { jobId: String(jobId), slots: batch.length }, "expire");
          await this.syncQuietly();
        }
      }
    }
  }

  private async withdrawEarnings(): Promise<void> {
    const { market, config, clock } = this.d;
    if (clock.now() - this.lastWithdrawCheck < Math.max(1_000, market.pollingIntervalMs * 10) || !this.ready("withdraw")) return;
    this.lastWithdrawCheck = clock.now();
    try {
      const balance = await market.marketBalanceOf(this.me);
      if (balance === 0n || balance < config.withdrawThreshold) return;
      await market.withdraw();
      this.d.metrics.count("withdrawals");
      this.backoff.succeeded("withdraw");
      await this.syncQuietly();
    } catch (error) {
      this.failed("withdraw", error, {}, "withdraw");
    }
  }

  private async syncQuietly(): Promise<void> {
    try {
      const effects = await this.d.sync();
      for (const jobId of effects.reopenedJobs) this.exhausted.delete(jobId);
    } catch (error) {
      this.log.debug({ err: (error as Error).message }, "sync after a transaction failed; the watcher will catch up");
    }
  }
}

/**
 * Reverts that only say someone else acted first (keepers racing to expire one slot, to close one
 * segment): logged at info, not as failures.
 */
const BENIGN_RACES: ReadonlySet<ContractError["name"]> = new Set<ContractErrorName>(["JobMarketNotExpirable", "JobMarketSegmentNotClosable", "JobMarketNothingToWithdraw"]);

function fields(row: ReplicaRow): Record<string, unknown> {
  return { jobId: String(row.jobId), segment: row.segment, replica: row.replica };
}

function groupByJob(rows: ReplicaRow[]): Map<bigint, ReplicaRow[]> {
  const map = new Map<bigint, ReplicaRow[]>();
  for (const row of [...rows].sort((a, b) => a.id - b.id)) map.set(row.jobId, [...(map.get(row.jobId) ?? []), row]);
  return map;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function parseRatios(text: string | undefined): number[] {
  try {
    const parsed: unknown = text ? JSON.parse(text) : [];
    return Array.isArray(parsed) ? parsed.filter((n): n is number => typeof n === "number" && Number.isFinite(n) && n > 0) : [];
  } catch {
    return [];
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

function problemLine(message: string): string {
  const lines = message.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.length > 1 ? lines[1] : (lines[0] ?? message);
}
