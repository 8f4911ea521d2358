/**
 * A rough cost estimate for a job, to help a requester choose a reward before posting it.
 *
 * THIS IS AN ESTIMATE, NOT A QUOTE. Render time depends on the scene far more than on anything
 * the manifest says (geometry, lights, materials, volumes, bounce depth), and the per-engine
 * factors below are rough rules of thumb, not measurements. Use it to get the order of
 * magnitude of a reward, then adjust by what providers actually claim.
 *
 * Model: render seconds of one segment =
 *   `startupSeconds + tilePixels × samplesPerPixel × framesPerSegment × costFactor / (benchmarkScore × 1000)`
 * where `benchmarkScore` is the provider's benchmark in thousands of samples per second on the
 * built-in engine (the score a provider profile advertises).
 */
import { FatalError } from "./errors.ts";
import { isEngineManifest, type EngineName, type Manifest } from "./manifest.ts";
import { frameCount, segmentCount } from "./segmentPlan.ts";

/**
 * Rough relative cost of one sample per pixel per engine, against the built-in engine, and a rough
 * fixed start-up time per segment (process start, scene load, BVH build). Rules of thumb only:
 * - `builtin`: the reference (factor 1), no start-up (runs in-process);
 * - `povray`: cheaper per ray on simple scenes but parses the scene each run (factor 2, 1 s);
 * - `blender`: Cycles path tracing with full shading is much heavier per sample, and start-up
 *   loads the .blend and builds the BVH (factor 8, 5 s).
 */
export const ENGINE_COST_TABLE: Readonly<Record<EngineName, { costFactor: number; startupSeconds: number }>> = {
  builtin: { costFactor: 1, startupSeconds: 0 },
  povray: { costFactor: 2, startupSeconds: 1 },
  blender: { costFactor: 8, startupSeconds: 5 },
};

/** Arguments of {@link estimateJob}. */
export interface EstimateJobOptions {
  manifest: Manifest;
  /** Provider benchmark score: thousands of samples per second on the built-in engine (> 0). */
  benchmarkScore: number;
  /** Replicas per segment (integer ≥ 1). */
  redundancy: number;
  /** Reward per replica the requester has in mind, in token base units; gives the total cost and implied price. */
  rewardPerReplica?: bigint;
  /** Price per render-second in token base units; gives a suggested reward per replica. */
  pricePerRenderSecond?: bigint;
}

/** Result of {@link estimateJob}. Every number is an estimate. */
export interface JobEstimate {
  segments: number;
  /** Samples per pixel assumed for the engine settings. */
  samplesPerPixel: number;
  /** Estimated render seconds of the largest segment (largest tile, full frame group) on one provider. */
  secondsPerSegment: number;
  /** Estimated render seconds to render every segment once. */
  renderSecondsPerReplica: number;
  /** Estimated render seconds over all replicas (`renderSecondsPerReplica × redundancy`). */
  totalRenderSeconds: number;
  /** `ceil(secondsPerSegment × pricePerRenderSecond)`, when a price was given. */
  suggestedRewardPerReplica?: bigint;
  /** `segments × redundancy × reward` (the given reward, else the suggested one); fees not included. */
  totalReward?: bigint;
  /** Reward per render-second the given `rewardPerReplica` amounts to (base units, rounded down). */
  impliedPricePerRenderSecond?: bigint;
  /** Always true: a reminder that these numbers are rough. */
  isEstimate: true;
}

/**
 * Estimates render time and reward for a job. See the module comment: an order of magnitude, not a quote.
 * @throws FatalError `ESTIMATE_INVALID` naming the bad argument.
 */
export function estimateJob(options: EstimateJobOptions): JobEstimate {
  const { manifest, benchmarkScore, redundancy, rewardPerReplica, pricePerRenderSecond } = options;
  if (!Number.isFinite(benchmarkScore) || benchmarkScore <= 0) {
    throw new FatalError("ESTIMATE_INVALID", `benchmarkScore ${benchmarkScore} must be a positive number — use the score from a provider profile (thousands of samples per second)`);
  }
  if (!Number.isSafeInteger(redundancy) || redundancy < 1) {
    throw new FatalError("ESTIMATE_INVALID", `redundancy ${redundancy} must be an integer ≥ 1 — use the replicas per segment the job will ask for (e.g. 3)`);
  }
  for (const [name, value] of [["rewardPerReplica", rewardPerReplica], ["pricePerRenderSecond", pricePerRenderSecond]] as const) {
    if (value !== undefined && value < 0n) throw new FatalError("ESTIMATE_INVALID", `${name} ${value} must not be negative — use token base units`);
  }

  const { costFactor, startupSeconds } = ENGINE_COST_TABLE[manifest.engine.name];
  const samplesPerPixel = samplesOf(manifest);
  const { width, height } = manifest.output;
  const { tilesX, tilesY, framesPerSegment } = manifest.segmentation;
  const segments = segmentCount(manifest);
  const frames = frameCount(manifest);
  const secondsFor = (pixelFrames: number) => (pixelFrames * samplesPerPixel * costFactor) / (benchmarkScore * 1000);

  const largestTilePixels = Math.ceil(width / tilesX) * Math.ceil(height / tilesY);
  const secondsPerSegment = startupSeconds + secondsFor(largestTilePixels * Math.min(framesPerSegment, frames));
  const renderSecondsPerReplica = segments * startupSeconds + secondsFor(width * height * frames);
  const totalRenderSeconds = renderSecondsPerReplica * redundancy;

  const estimate: JobEstimate = { segments, samplesPerPixel, secondsPerSegment, renderSecondsPerReplica, totalRenderSeconds, isEstimate: true };
  const replicas = BigInt(segments) * BigInt(redundancy);
  if (pricePerRenderSecond !== undefined) {
    const millis = BigInt(Math.ceil(secondsPerSegment * 1000));
    estimate.suggestedRewardPerReplica = (millis * pricePerRenderSecond + 999n) / 1000n;
  }
  const reward = rewardPerReplica ?? estimate.suggestedRewardPerReplica;
  if (reward !== undefined) estimate.totalReward = replicas * reward;
  if (rewardPerReplica !== undefined) {
    const millis = BigInt(Math.max(1, Math.ceil(secondsPerSegment * 1000)));
    estimate.impliedPricePerRenderSecond = (rewardPerReplica * 1000n) / millis;
  }
  return estimate;
}

/**
 * Samples per pixel the engine settings amount to (rough): the `samples` setting for builtin and
 * Blender; for POV-Ray 1 without anti-aliasing and 9 with it (a 3×3 supersampling worst case).
 */
export function samplesOf(manifest: Manifest): number {
  if (isEngineManifest(manifest, "povray")) return manifest.settings.antialias ? 9 : 1;
  if (isEngineManifest(manifest, "builtin") || isEngineManifest(manifest, "blender")) return manifest.settings.samples;
  throw new FatalError("ESTIMATE_INVALID", `engine ${(manifest as Manifest).engine.name} has no cost model — use builtin, povray or blender`);
}
