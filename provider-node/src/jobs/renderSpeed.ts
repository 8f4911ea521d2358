/**
 * How fast this node really renders, compared with what the benchmark predicts. A benchmark taken
 * once, on a machine that was busy at that moment, can be several times too slow (or too fast);
 * skipping jobs for good on it leaves jobs nobody finishes. Every finished render records
 * measured ÷ estimated seconds; the median of the last few is the factor the job filter multiplies
 * its estimates by. Decisions that rest on an estimate are therefore never final: they are
 * re-checked as the factor moves ({@link DeferredJobs}).
 */

import { availableParallelism, loadavg } from "node:os";

/** Ratios outside this range are clamped (a cached scene, a render that waited on IPFS). */
const MIN_RATIO = 0.05;
const MAX_RATIO = 20;

export class RenderSpeed {
  private readonly ratios: number[] = [];
  private readonly window: number;
  private current = 1;

  constructor(options: { window?: number; initialRatios?: readonly number[] } = {}) {
    this.window = options.window ?? 9;
    for (const ratio of options.initialRatios ?? []) this.push(ratio);
    this.current = this.median();
  }

  /** Measured ÷ estimated, as the median of the recent renders (1 before any was measured). */
  get factor(): number {
    return this.current;
  }

  /** The recent ratios (to persist across restarts). */
  get recent(): readonly number[] {
    return this.ratios;
  }

  /**
   * Records one finished render: `estimatedSeconds` as the filter predicted it at factor 1, and how
   * long it took. Returns true when the factor moved by more than 10 % (worth re-checking deferred jobs).
   */
  observe(estimatedSeconds: number, measuredSeconds: number): boolean {
    if (!(estimatedSeconds > 0) || !(measuredSeconds >= 0)) return false;
    this.push(measuredSeconds / estimatedSeconds);
    const before = this.current;
    this.current = this.median();
    return Math.abs(this.current - before) > 0.1 * before;
  }

  private push(ratio: number): void {
    this.ratios.push(Math.min(MAX_RATIO, Math.max(MIN_RATIO, ratio)));
    if (this.ratios.length > this.window) this.ratios.shift();
  }

  private median(): number {
    if (this.ratios.length === 0) return 1;
    const sorted = [...this.ratios].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }
}

/**
 * Jobs skipped on a speed estimate alone ("the lease is too short for an estimated 11 s render",
 * "the reward is below the price floor for ~11 s"). They stay candidates: the filter re-checks them
 * every tick with the current {@link RenderSpeed} factor. And when such a job has had segments
 * nobody claimed for longer than one lease since it was deferred — so no other node is finishing
 * it — this node tries one segment anyway: the render's real duration settles the question. A
 * trial that finishes in time proves the job fits (measured on the job itself, not estimated), so
 * the node takes the job's other segments too.
 *
 * A render that runs past the lease is one measurement, perhaps taken on a loaded machine, and a
 * second try costs a forfeit (abandoning forfeits up to half the collateral, pro rata the lease
 * elapsed). So an overrun is recorded with the speed factor and the load per core at that moment
 * ({@link DeferredJobs.overran}), and the job is re-tried (one segment) only when something
 * measured has changed since: the speed factor from other renders fell by at least a quarter
 * ({@link RETRIAL_SPEEDUP}), or the machine was loaded during the overrun ({@link LOADED_PER_CORE})
 * and the load has fallen since. At most `maxRetrials` re-trials per job (default 1); after the
 * last one, the skip is final.
 */
export class DeferredJobs {
  private readonly since = new Map<bigint, number>();
  private readonly trials = new Set<bigint>();
  private readonly proven = new Set<bigint>();
  private readonly overruns = new Map<bigint, OverrunRecord & { retrying: boolean }>();
  readonly maxRetrials: number;

  constructor(options: { maxRetrials?: number; overruns?: Readonly<Record<string, OverrunRecord>> } = {}) {
    this.maxRetrials = options.maxRetrials ?? 1;
    for (const [id, record] of Object.entries(options.overruns ?? {})) {
      try {
        if (isOverrunRecord(record)) this.overruns.set(BigInt(id), { ...record, retrying: false });
      } catch {
        // not a job id: ignored
      }
    }
  }

  /** Notes that `jobId` is deferred at `nowMs` (the first time counts); returns since when. */
  defer(jobId: bigint, nowMs: number): number {
    const first = this.since.get(jobId);
    if (first !== undefined) return first;
    this.since.set(jobId, nowMs);
    return nowMs;
  }

  /** The estimate accepts the job now (or it ended): it is no longer deferred. */
  clear(jobId: bigint): void {
    this.since.delete(jobId);
  }

  isDeferred(jobId: bigint): boolean {
    return this.since.has(jobId);
  }

  /**
   * Whether to claim one segment of a deferred job despite its estimate: deferred for more than one
   * lease while `claimable` segments stayed open for anyone, a lease still fits before the
   * deadline, and no trial of this job was made before.
   */
  trialDue(jobId: bigint, job: { nowMs: number; nowSeconds: number; leaseSeconds: number; deadlineSeconds: number; claimable: number }): boolean {
    const since = this.since.get(jobId);
    if (since === undefined || this.trials.has(jobId) || this.proven.has(jobId) || job.claimable <= 0) return false;
    if (job.nowSeconds + job.leaseSeconds > job.deadlineSeconds) return false;
    return job.nowMs - since >= job.leaseSeconds * 1000;
  }

  /** A (re-)trial of this job was claimed. A re-trial after an overrun counts against the cap. */
  markTrial(jobId: bigint): void {
    this.trials.add(jobId);
    const overrun = this.overruns.get(jobId);
    if (overrun && !overrun.retrying) {
      overrun.retrials += 1;
      overrun.retrying = true;
    }
  }

  /** Whether a trial of this job was claimed (its replicas are not given back on the estimate). */
  isTrial(jobId: bigint): boolean {
    return this.trials.has(jobId);
  }

  /** A trial render of the job finished inside its lease: the estimate no longer holds it back. */
  markProven(jobId: bigint): void {
    if (!this.trials.has(jobId)) return;
    this.proven.add(jobId);
    this.overruns.delete(jobId);
  }

  isProven(jobId: bigint): boolean {
    return this.proven.has(jobId);
  }

  /**
   * A render of `jobId` ran past its lease, measured at speed factor `speedFactor` and
   * `loadPerCore` (1-minute load average ÷ cores). Returns whether the skip is final (no re-trial
   * left) and a reason that says what would change it.
   */
  overran(jobId: bigint, measured: { nowMs: number; speedFactor: number; loadPerCore: number }): { final: boolean; reason: string } {
    this.proven.delete(jobId);
    const retrials = this.overruns.get(jobId)?.retrials ?? 0;
    this.overruns.set(jobId, { atMs: measured.nowMs, speedFactor: measured.speedFactor, loadPerCore: measured.loadPerCore, retrials, retrying: false });
    return { final: retrials >= this.maxRetrials, reason: this.overrunCondition(jobId)! };
  }

  /** Whether a render of this job ran past its lease (and no later one finished in time). */
  hasOverrun(jobId: bigint): boolean {
    return this.overruns.has(jobId);
  }

  /** What the last overrun was measured at and what would allow a re-trial (undefined: no overrun). */
  overrunCondition(jobId: bigint): string | undefined {
    const o = this.overruns.get(jobId);
    if (!o) return undefined;
    const at = `measured at load ${round2(o.loadPerCore)} per core, speed factor ${round2(o.speedFactor)}`;
    const left = this.maxRetrials - o.retrials;
    if (left <= 0) return `${at}; no re-trial left (${o.retrials} of ${this.maxRetrials} made)`;
    const faster = `the speed factor from other renders falls to ${round2(o.speedFactor * RETRIAL_SPEEDUP)} or below (25 % faster)`;
    const unloaded = o.loadPerCore >= LOADED_PER_CORE ? ` or the load falls below ${LOADED_PER_CORE} per core (or by a quarter)` : "";
    return `${at}; re-tried (${left} of ${this.maxRetrials} re-trials left) once ${faster}${unloaded}`;
  }

  /**
   * Why to re-try one segment of a job whose render ran past its lease, or undefined while nothing
   * measured has changed since: see {@link DeferredJobs}. Also needs a lease since the overrun with
   * segments still open to anyone, a lease that fits before the deadline, no re-trial in flight,
   * and a re-trial left.
   */
  retrialReason(
    jobId: bigint,
    job: { nowMs: number; nowSeconds: number; leaseSeconds: number; deadlineSeconds: number; claimable: number; speedFactor: number; loadPerCore: number },
  ): string | undefined {
    const o = this.overruns.get(jobId);
    if (!o || o.retrying || o.retrials >= this.maxRetrials || job.claimable <= 0) return undefined;
    if (job.nowSeconds + job.leaseSeconds > job.deadlineSeconds) return undefined;
    if (job.nowMs - o.atMs < job.leaseSeconds * 1000) return undefined;
    if (job.speedFactor <= o.speedFactor * RETRIAL_SPEEDUP) {
      return `renders got faster since the overrun (speed factor ${round2(o.speedFactor)} → ${round2(job.speedFactor)})`;
    }
    if (o.loadPerCore >= LOADED_PER_CORE && (job.loadPerCore < LOADED_PER_CORE || job.loadPerCore <= o.loadPerCore * LOAD_DROP)) {
      return `the machine was loaded during the overrun (load ${round2(o.loadPerCore)} per core, now ${round2(job.loadPerCore)})`;
    }
    return undefined;
  }

  /** The overrun records, to keep in the state file (the re-trial cap holds across restarts). */
  overrunRecords(): Record<string, OverrunRecord> {
    const out: Record<string, OverrunRecord> = {};
    for (const [id, { atMs, speedFactor, loadPerCore, retrials }] of this.overruns) out[String(id)] = { atMs, speedFactor, loadPerCore, retrials };
    return out;
  }
}

/** What a render that ran past its lease was measured at, and how many re-trials followed. */
export interface OverrunRecord {
  atMs: number;
  speedFactor: number;
  loadPerCore: number;
  retrials: number;
}

/** A re-trial on speed needs the factor at or below this fraction of the factor at the overrun (≥ 25 % faster). */
export const RETRIAL_SPEEDUP = 0.75;
/**
 * 1-minute load average per core at or above which an overrun counts as measured on a loaded
 * machine. Above 1, since the node's own render keeps up to every core busy by itself.
 */
export const LOADED_PER_CORE = 1.5;
/** A loaded overrun is re-tried once the load per core fell below LOADED_PER_CORE or to this fraction of it. */
export const LOAD_DROP = 0.75;

/** This machine's 1-minute load average ÷ its cores. */
export function systemLoadPerCore(): number {
  return loadavg()[0] / Math.max(1, availableParallelism());
}

function isOverrunRecord(value: unknown): value is OverrunRecord {
  const r = value as OverrunRecord;
  return typeof r === "object" && r !== null && [r.atMs, r.speedFactor, r.loadPerCore, r.retrials].every((n) => typeof n === "number" && Number.isFinite(n));
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
