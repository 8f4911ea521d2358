/**
 * How fast this node really renders, compared with what the benchmark predicts. A benchmark taken
 * once, on a machine that was busy at that moment, can be several times too slow (or too fast);
 * skipping jobs for good on it leaves jobs nobody finishes. Every finished render records
 * measured ÷ estimated seconds; the median of the last few is the factor the job filter multiplies
 * its estimates by. Decisions that rest on an estimate are therefore never final: they are
 * re-checked as the factor moves ({@link DeferredJobs}).
 */

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
 * the node takes the job's other segments too; one that runs past the lease skips the job for good,
 * with that measured reason.
 */
export class DeferredJobs {
  private readonly since = new Map<bigint, number>();
  private readonly trials = new Set<bigint>();
  private readonly proven = new Set<bigint>();

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

  markTrial(jobId: bigint): void {
    this.trials.add(jobId);
  }

  /** Whether a trial of this job was claimed (its replicas are not given back on the estimate). */
  isTrial(jobId: bigint): boolean {
    return this.trials.has(jobId);
  }

  /** A trial render of the job finished inside its lease: the estimate no longer holds it back. */
  markProven(jobId: bigint): void {
    if (this.trials.has(jobId)) this.proven.add(jobId);
  }

  isProven(jobId: bigint): boolean {
    return this.proven.has(jobId);
  }
}
