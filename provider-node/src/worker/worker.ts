/**
 * The worker loop: turns the local state (projected from chain events by the watcher) into
 * actions. Each tick, in this order:
 *   1. commit rendered replicas (one batch per job; the salt was saved with the digest);
 *   2. reveal committed replicas whose segment's reveal window is open (one batch per job), and
 *      add accepted replicas' result folders to IPFS (until then only their CID is known: publish.ts);
 *   3. give back what cannot be finished: uncommitted claims of cancelled jobs, claims whose lease
 *      would run out; close partial segments of cancelled jobs and stuck segments past a deadline;
 *   4. start renders of claimed replicas (in limits.maxConcurrentSegments render slots; tiles of
 *      one job and frame range started together render in one engine process: tileGroup.ts);
 *   5. evaluate new jobs with the filter (manifests fetched in the background) and claim
 *      (one batch per job, up to the free render slots — a slot holds up to
 *      limits.tilesPerRender tiles of a job, up to limits.maxTilesPerRender where the engine's
 *      launch dominates a tile's render, as its lease leaves room: render.ts tilesPerSlot — and free stake) unless paused;
 *   6. keeper: expire other providers' missed leases and reveal windows when the fee beats gas;
 *      draw the audit of audited segments it holds a replica of once they reached quorum;
 *   7. withdraw earnings above the threshold.
 * Renders run in the background and wake the loop when done; the watcher wakes it on new events;
 * otherwise it ticks once per polling interval. Failures back off per item (exponentially for
 * RetryableErrors), so nothing busy-loops. Every state change goes through the state store's
 * `transition`; every chain action is followed by a watcher sync, so the projection of the
 * transaction's events is the one record of what happened.
 *
 * Steps 1–2 live in seal.ts, 3 in giveBack.ts, 4 in render.ts, 5 in claim.ts, 6–7 in keeper.ts,
 * all functions of the shared WorkerContext (context.ts); this file keeps the loop.
 */
import { type Address } from "viem";
import { TessellateError } from "@tessellate/sdk/errors";
import { protocolNow } from "@tessellate/sdk/protocol";
import { CHAIN_UNREACHABLE } from "../chain/rpcHealth.ts";
import type { Logger } from "../ports.ts";
import type { ProjectionEffects } from "../state/projection.ts";
import { ACTIVE_STATES, type ReplicaState } from "../state/replicaStateMachine.ts";
import { backoffDelay } from "./backoff.ts";
import { fields, RenderAbort, WorkerContext, type WorkerDeps } from "./context.ts";
import { claimWork } from "./claim.ts";
import { giveBack } from "./giveBack.ts";
import { slotsInUse, startRenders, waitsForRenderSlot } from "./render.ts";
import { drawAudits, keep, withdrawEarnings } from "./keeper.ts";
import { publishMeasuredRenders } from "./measuredRenders.ts";
import { publishAccepted } from "./publish.ts";
import { commitRendered, resolveUnknown, revealCommitted } from "./seal.ts";

export type { WorkerDeps } from "./context.ts";

/** Tick interval of a node that holds no work (see Worker.nextDelay). */
export const IDLE_TICK_MS = 1_000;

/** Replica states in which the next step is the worker's own, not an event's (see Worker.nextDelay). */
const WORKER_DRIVEN_STATES: readonly ReplicaState[] = ["claimed", "rendering", "recovering", "rendered", "committing", "revealing"];

export interface ReplicaProgress {
  id: number;
  jobId: string;
  segment: number;
  replica: number;
  fraction: number;
  startedAt: number;
}

/**
 * The loop: lifecycle, waking, the tick's order, chain time and recovery after a restart. Each
 * part of a tick is a function of the shared {@link WorkerContext}: claim.ts, render.ts, seal.ts,
 * giveBack.ts, keeper.ts.
 */
export class Worker {
  private readonly ctx: WorkerContext;
  private readonly d: WorkerDeps;
  private readonly log: Logger;
  private readonly me: Address;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private tickRunning: Promise<void> | undefined;
  /** Last error of a whole tick, for /health. */
  lastTickError: string | undefined;
  ticks = 0;

  constructor(deps: WorkerDeps) {
    this.d = deps;
    this.log = deps.log.child({ part: "worker" });
    this.ctx = new WorkerContext(deps, this.log);
    this.ctx.wake = () => this.wake();
    this.me = deps.market.account;
    this.ctx.paused = deps.store.getMeta("paused") === "true";
  }

  /** Claims no new work while true (POST /pause). */
  get paused(): boolean {
    return this.ctx.paused;
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
    await Promise.allSettled([...this.ctx.fetchingManifests.values(), ...this.ctx.fetchingScenes.values()]);
  }

  /** Runs the next tick now instead of at the next polling interval. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Called by the watcher with what the last events changed. */
  onEffects(effects: ProjectionEffects): void {
    for (const jobId of effects.reopenedJobs) this.ctx.exhausted.delete(jobId);
    if (effects.earningsChanged || effects.changedReplicas.size > 0) this.ctx.situation = undefined;
    for (const id of effects.changedReplicas) {
      const flight = this.ctx.inFlight.get(id);
      const row = this.d.store.getReplica(id);
      if (flight && row && row.state !== flight.state) flight.controller.abort(new RenderAbort("settled", `the replica became ${row.state} on-chain`));
    }
    this.wake();
  }

  setPaused(paused: boolean): void {
    this.ctx.paused = paused;
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

  /**
   * True while every replica the node holds is being rendered or waits for a render slot, and it
   * may start no more renders (every render slot is taken), with no manifest or scene being
   * fetched: no chain event could make it act before a render ends, except abort a render whose
   * replica was settled (or give back a waiting tile of a cancelled job, a second later).
   */
  onlyRendering(): boolean {
    const { inFlight, fetchingManifests, fetchingScenes } = this.ctx;
    if (inFlight.size === 0 || slotsInUse(this.ctx) < this.d.config.limits.maxConcurrentSegments) return false;
    if (fetchingManifests.size > 0 || fetchingScenes.size > 0) return false;
    return this.d.store.listReplicas({ states: ACTIVE_STATES }).every((row) => inFlight.has(row.id) || waitsForRenderSlot(this.ctx, row));
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

  /**
   * Until the next tick: the polling interval while a replica waits for the worker itself (claimed,
   * its render not started; rendered, its commit not sent; a render or recovery to restart after a
   * restart) or a manifest or scene is being fetched, else IDLE_TICK_MS. Everything else wakes the
   * worker: a render in flight when it ends (and a claimed tile waiting for a taken render slot
   * with it), a replica waiting for other providers (committed,
   * revealed) through the watcher, which wakes it on every new block with events (a posted job, a
   * reopened slot, the last commit of a segment), so the slow tick only serves time-driven checks
   * (keeper expiries, deferred jobs, leases), which a second's delay does not hurt. Before, a node
   * ticked every polling interval (100 ms on loopback) for as long as it held any replica, through
   * every render. Measured with `npm run bench:idle` and `npm run bench:overhead`.
   */
  private nextDelay(): number {
    const polling = this.d.market.pollingIntervalMs;
    const holdsWork =
      this.ctx.fetchingManifests.size > 0 ||
      this.ctx.fetchingScenes.size > 0 ||
      this.d.store.listReplicas({ states: WORKER_DRIVEN_STATES }).some((row) => !this.ctx.inFlight.has(row.id) && !waitsForRenderSlot(this.ctx, row));
    const interval = holdsWork ? polling : Math.max(polling, IDLE_TICK_MS);
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
    await publishAccepted(this.ctx);
    await giveBack(this.ctx, now);
    startRenders(this.ctx, now);
    if (!this.ctx.stopping.signal.aborted) await claimWork(this.ctx, now);
    await keep(this.ctx, now);
    await drawAudits(this.ctx);
    await withdrawEarnings(this.ctx);
    await publishMeasuredRenders(this.ctx);
  }

  /** Chain time in seconds: the latest block's timestamp, or the wall clock when blocks are old. */
  private async chainNow(): Promise<number> {
    const wallMs = this.d.clock.now();
    const wall = Math.floor(wallMs / 1000);
    try {
      this.ctx.skewSeconds = Number(protocolNow(await this.d.market.latestTimestamp(), wallMs)) - wall;
    } catch (error) {
      this.log.debug({ err: (error as Error).message }, "could not read the latest block time; using the last known offset");
    }
    return wall + this.ctx.skewSeconds;
  }

  // ------------------------------------------------------------------------------ commit

  // ------------------------------------------------------------------------------ reveal

  // ------------------------------------------------------------------------------ give back

  // ------------------------------------------------------------------------------ render

  // ------------------------------------------------------------------------------ claim

  // ------------------------------------------------------------------------------ keeper, withdraw

}
