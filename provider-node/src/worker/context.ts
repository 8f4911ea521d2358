/**
 * The one explicit context the worker's parts share: the node's dependencies, its account, the
 * per-item retry schedule, and the few pieces of mutable state more than one part reads (renders
 * in flight, claims to give back, replicas that must commit before revealing, exhausted jobs, the
 * render-speed estimate and deferred jobs). The parts are functions of it:
 * `seal.ts` (commit and reveal), `giveBack.ts` (abandon and close), `keeper.ts` (expire and
 * withdraw), `claim.ts` and `render.ts`; `worker.ts` owns the loop.
 */
import { join } from "node:path";
import { ENGINE_COST_TABLE, estimateJob } from "@tessellate/sdk";
import { contractErrorOf, type ContractError, type ContractErrorName } from "@tessellate/sdk/contractErrors";
import { RetryableError, TessellateError } from "@tessellate/sdk/errors";
import { jobMarketConstants, type AbandonReason } from "@tessellate/sdk/protocol";
import type { Storage } from "@tessellate/sdk";
import type { Address, Hex } from "viem";
import { CHAIN_UNREACHABLE } from "../chain/rpcHealth.ts";
import type { ProviderConfig } from "../config/config.ts";
import type { EngineInfo } from "../engines/engine.ts";
import type { EngineRegistry } from "../engines/registry.ts";
import { LaunchCosts, type EngineCall } from "../jobs/launchCost.ts";
import { DeferredJobs, RenderSpeed, systemLoadPerCore, type OverrunRecord } from "../jobs/renderSpeed.ts";
import type { Metrics } from "../metrics.ts";
import type { Clock, Logger, MarketPort } from "../ports.ts";
import type { ProjectionEffects } from "../state/projection.ts";
import type { ReplicaRow, StateStore } from "../state/stateStore.ts";
import { BackoffSchedule } from "./backoff.ts";
import { SceneCache } from "./sceneCache.ts";

/** Entries per contract batch (JobMarket.MAX_BATCH). */
export const MAX_BATCH = jobMarketConstants.MAX_BATCH;

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
  /** Load per core recorded with a lease overrun (default: os.loadavg ÷ cores). */
  loadPerCore?: () => number;
}

export type AbortKind = "lease" | "cancelled" | "shutdown" | "settled";

/** Why a slot is given back: the code and the words the requester sees. */
export interface GiveBack {
  reason: AbandonReason;
  message: string;
}

export class RenderAbort extends Error {
  readonly kind: AbortKind;
  constructor(kind: AbortKind, message: string) {
    super(message);
    this.kind = kind;
  }
}
export interface InFlight {
  rowId: number;
  /** The row's state while this render runs ("recovering": re-rendering a result lost with the state file). */
  state: "rendering" | "recovering";
  controller: AbortController;
  done: Promise<void>;
  startedAt: number;
  fraction: number;
  /** Set once the scene is on disk and the engine was started (a lease that runs out after it is the scene's doing). */
  engineStartedAt?: number;
  /** The render slots this render takes, shared by the tiles rendered with it in one engine call (render.ts). */
  slots: RenderSlots;
}

/** Render slots (limits.maxConcurrentSegments) one engine call takes; held until its last tile's render ends. */
export interface RenderSlots {
  readonly count: number;
}

export class WorkerContext {
  readonly d: WorkerDeps;
  readonly log: Logger;
  readonly me: Address;
  readonly backoff: BackoffSchedule<string>;
  readonly inFlight = new Map<number, InFlight>();
  /** Rows whose abandon must be (re)sent, with the reason. */
  /** Replicas to give back, each with the reason code and words published in `ReplicaAbandoned`. */
  readonly toAbandon = new Map<number, GiveBack>();
  /** Jobs where the last claim found nothing to claim, until a slot reopens (or a minute passes). */
  readonly exhausted = new Map<bigint, number>();
  /** When `resolveWaitingTickets` last looked (clock ms). */
  lastTicketCheck?: number;
  /** Measured ÷ estimated render time, applied to every estimate. */
  readonly speed: RenderSpeed;
  /** Jobs skipped on an estimate alone: re-checked every tick, tried once when nobody else takes them. */
  readonly deferred: DeferredJobs;
  /** What one engine process costs this node, learned from its engine calls (jobs/launchCost.ts). */
  readonly launchCosts: LaunchCosts;
  /** Engine calls already recorded in launchCosts (the tiles of one call share its object). */
  readonly observedCalls = new WeakSet<object>();
  /** 1-minute load average ÷ cores, recorded with a render that overran its lease. */
  readonly loadPerCore: () => number;
  /** Rows whose direct reveal failed: they commit first. */
  readonly noDirectReveal = new Set<number>();
  /** Aborted when the worker stops (a new one per start). */
  stopping = new AbortController();
  lastWithdrawCheck = 0;
  /** Scenes on disk, by CID. */
  readonly scenes: SceneCache;
  readonly fetchingManifests = new Map<bigint, Promise<void>>();
  /** Scenes fetched before a job's first claim (a missing or unreadable scene is skipped, never claimed). */
  readonly fetchingScenes = new Map<bigint, Promise<void>>();
  /** Own reputation and free stake, read at most once a second (or after a change). */
  situation: { registered: boolean; reputation: number; freeStake: bigint; at: number } | undefined;
  /** Claims no new work while true (POST /pause). */
  paused = false;
  /** Chain time minus wall time, from the latest block (seconds). */
  skewSeconds = 0;
  /** Runs the next tick now (set by the worker's loop). */
  wake: () => void = () => undefined;

  constructor(deps: WorkerDeps, log: Logger) {
    this.d = deps;
    this.log = log;
    this.me = deps.market.account;
    this.backoff = new BackoffSchedule(deps.backoff ?? { baseMs: Math.max(100, deps.market.pollingIntervalMs * 4), maxMs: 60_000 });
    this.speed = new RenderSpeed({ initialRatios: parseRatios(deps.store.getMeta("renderSpeedRatios")) });
    this.loadPerCore = deps.loadPerCore ?? systemLoadPerCore;
    this.deferred = new DeferredJobs({ overruns: parseOverruns(deps.store.getMeta(META_OVERRUNS)) });
    this.launchCosts = new LaunchCosts(parseLaunchCalls(deps.store.getMeta(META_LAUNCH_CALLS)));
    this.scenes = new SceneCache(deps.storage, join(deps.config.dataDir, "scenes"), { maxBytes: deps.config.limits.sceneCacheBytes, log });
  }

  /** Chain time estimate without a request (for render watchdogs). */
  chainNowEstimate(): number {
    return Math.floor(this.d.clock.now() / 1000) + this.skewSeconds;
  }

  ready(key: string): boolean {
    return this.backoff.ready(key, this.d.clock.now());
  }

  failed(key: string, error: unknown, context: Record<string, unknown>, what: string): void {
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

  async syncQuietly(): Promise<void> {
    try {
      const effects = await this.d.sync();
      for (const jobId of effects.reopenedJobs) this.exhausted.delete(jobId);
    } catch (error) {
      this.log.debug({ err: (error as Error).message }, "sync after a transaction failed; the watcher will catch up");
    }
  }

  /** Estimated seconds of the row's render: from the benchmark, times the measured speed factor unless `raw`. */
  estimateSeconds(row: Pick<ReplicaRow, "jobId">, raw = false): number | undefined {
    const job = this.d.store.getJob(row.jobId);
    if (!job?.manifest) return undefined;
    try {
      const seconds = estimateJob({ manifest: job.manifest, benchmarkScore: this.d.benchmarkScore, redundancy: job.params.redundancy }).secondsPerSegment;
      return raw ? seconds : seconds * this.speed.factor;
    } catch {
      return undefined;
    }
  }

  /**
   * The benchmark's estimate of the pixels of one segment of the row's job, in seconds: the sdk's
   * estimate less its per-segment start-up guess (ENGINE_COST_TABLE), which this node measures
   * itself (launchCosts).
   */
  pixelSecondsOf(row: Pick<ReplicaRow, "jobId">): number | undefined {
    const job = this.d.store.getJob(row.jobId);
    const raw = this.estimateSeconds(row, true);
    if (!job?.manifest || raw === undefined) return undefined;
    return Math.max(0, raw - ENGINE_COST_TABLE[job.manifest.engine.name].startupSeconds);
  }
}

/**
 * Reverts that only say someone else acted first (keepers racing to expire one slot, to close one
 * segment): logged at info, not as failures.
 */
export const BENIGN_RACES: ReadonlySet<ContractError["name"]> = new Set<ContractErrorName>(["JobMarketNotExpirable", "JobMarketSegmentNotClosable", "JobMarketNothingToWithdraw"]);

export function fields(row: ReplicaRow): Record<string, unknown> {
  return { jobId: String(row.jobId), segment: row.segment, replica: row.replica };
}

export function groupByJob(rows: ReplicaRow[]): Map<bigint, ReplicaRow[]> {
  const map = new Map<bigint, ReplicaRow[]>();
  for (const row of [...rows].sort((a, b) => a.id - b.id)) map.set(row.jobId, [...(map.get(row.jobId) ?? []), row]);
  return map;
}

export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** State-file key of the lease overruns ({@link DeferredJobs.overrunRecords}). */
export const META_OVERRUNS = "leaseOverruns";
/** State-file key of the recorded engine calls ({@link LaunchCosts.records}). */
export const META_LAUNCH_CALLS = "engineLaunchCalls";

function parseLaunchCalls(text: string | undefined): Record<string, EngineCall[]> {
  try {
    const parsed: unknown = text ? JSON.parse(text) : {};
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, EngineCall[]>) : {};
  } catch {
    return {};
  }
}

function parseOverruns(text: string | undefined): Record<string, OverrunRecord> {
  try {
    const parsed: unknown = text ? JSON.parse(text) : {};
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, OverrunRecord>) : {};
  } catch {
    return {};
  }
}

function parseRatios(text: string | undefined): number[] {
  try {
    const parsed: unknown = text ? JSON.parse(text) : [];
    return Array.isArray(parsed) ? parsed.filter((n): n is number => typeof n === "number" && Number.isFinite(n) && n > 0) : [];
  } catch {
    return [];
  }
}

export function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

export function problemLine(message: string): string {
  const lines = message.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.length > 1 ? lines[1] : (lines[0] ?? message);
}
