/**
 * Estimates from measured history. Providers publish, per engine, how long their recent renders
 * took against the sdk's benchmark estimate (`measuredRenders` in their profiles: measured ÷
 * estimated seconds per render). A requester's estimate for a new job is then the benchmark
 * estimate each such provider would make, times that provider's median ratio; the job's figure is
 * the median over those providers. How good this was on past jobs is measured the same way: each
 * past render against its provider's median ratio (how far off the calibrated estimate would have
 * been), and against the plain benchmark estimate (how far off the uncalibrated one was).
 * Browser-safe.
 */
import { estimateJob, type JobEstimate } from "./estimate.ts";
import type { Manifest } from "./manifest.ts";
import type { ProviderProfile } from "./profile.ts";

export interface MeasuredEstimate {
  estimate: JobEstimate;
  /** Providers whose measured renders of the engine were used. */
  providers: number;
  /** Past renders they measured. */
  renders: number;
  /** Over those renders, the factor (≥ 1) by which the calibrated estimate missed: median and 90th percentile. */
  calibratedError: { median: number; p90: number };
  /** The same for the plain benchmark estimate (what the estimate would be without history). */
  benchmarkError: { median: number; p90: number };
}

const median = (values: readonly number[]) => quantile(values, 0.5);
function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}
/** How far off a ratio is, as a factor ≥ 1 (×2 too slow and ×2 too fast count the same). */
const missFactor = (ratio: number) => (ratio >= 1 ? ratio : 1 / ratio);

/**
 * The estimate for `manifest` from the providers' measured renders of its engine (any version;
 * the same version preferred when some provider measured it), or undefined when none published any.
 */
export function measuredEstimate(manifest: Manifest, redundancy: number, profiles: readonly ProviderProfile[], rewardPerReplica?: bigint): MeasuredEstimate | undefined {
  const engine = manifest.engine.name;
  const all = profiles.flatMap((p) => (p.measuredRenders ?? []).filter((m) => m.engine === engine && m.ratios.length > 0 && m.benchmarkScore > 0));
  const sameVersion = all.filter((m) => m.version === manifest.engine.version);
  const used = sameVersion.length > 0 ? sameVersion : all;
  if (used.length === 0) return undefined;
  const perProvider = used
    .map((m) => {
      const factor = median(m.ratios);
      return { m, factor, estimate: estimateJob({ manifest, benchmarkScore: m.benchmarkScore, redundancy, rewardPerReplica }) };
    })
    .sort((a, b) => a.estimate.secondsPerSegment * a.factor - b.estimate.secondsPerSegment * b.factor);
  // The median provider (the lower middle of an even count); its figures, scaled by its own factor.
  const mid = perProvider[Math.floor((perProvider.length - 1) / 2)]!;
  const scale = (e: JobEstimate, f: number): JobEstimate => ({
    ...e,
    secondsPerSegment: e.secondsPerSegment * f,
    renderSecondsPerReplica: e.renderSecondsPerReplica * f,
    totalRenderSeconds: e.totalRenderSeconds * f,
  });
  const calibrated = perProvider.flatMap(({ m, factor }) => m.ratios.map((r) => missFactor(r / factor)));
  const benchmark = perProvider.flatMap(({ m }) => m.ratios.map(missFactor));
  return {
    estimate: scale(mid.estimate, mid.factor),
    providers: perProvider.length,
    renders: calibrated.length,
    calibratedError: { median: median(calibrated), p90: quantile(calibrated, 0.9) },
    benchmarkError: { median: median(benchmark), p90: quantile(benchmark, 0.9) },
  };
}
