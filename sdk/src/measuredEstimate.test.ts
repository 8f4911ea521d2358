import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { estimateJob } from "./estimate.ts";
import { parseManifest } from "./manifest.ts";
import { measuredEstimate } from "./measuredEstimate.ts";
import { PROFILE_VERSION, parseProviderProfile, type MeasuredRenders, type ProviderProfile } from "./profile.ts";

const manifest = parseManifest({
  version: 1,
  engine: { name: "povray", version: "3.7.0.10" },
  scene: { cid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", entry: "a.pov", sizeBytes: 10 },
  output: { width: 320, height: 240, format: "png" },
  frames: { start: 1, end: 1 },
  segmentation: { tilesX: 2, tilesY: 2, framesPerSegment: 1 },
  settings: {},
  verification: { mode: "exact" },
});

const profile = (measuredRenders?: MeasuredRenders[]): ProviderProfile => ({
  version: PROFILE_VERSION,
  address: "0x00000000000000000000000000000000000000a1",
  engines: [{ name: "povray", version: "3.7.0.10", score: 1, seconds: 1 }],
  benchmarkScore: 100,
  hardware: { cpus: 1, cpuModel: "t", memoryBytes: 1 },
  limits: { maxConcurrentSegments: 1, cpuThreads: 1, memoryBytes: 1, maxSceneBytes: 1, workHours: "0-24" },
  pricing: { minRewardPerRenderSecondWei: "0" },
  ...(measuredRenders ? { measuredRenders } : {}),
  updatedAt: "2026-01-01T00:00:00.000Z",
});

describe("measuredEstimate: estimates from the providers' measured render times", () => {
  it("is undefined when no provider published measured renders of the engine", () => {
    assert.equal(measuredEstimate(manifest, 2, [profile(), profile([{ engine: "blender", version: "4.2", benchmarkScore: 100, ratios: [2] }])]), undefined);
  });

  it("scales the benchmark estimate by the median provider's median ratio and says how far off each was on past renders", () => {
    const a = profile([{ engine: "povray", version: "3.7.0.10", benchmarkScore: 100, ratios: [8, 10, 12] }]);
    const b = profile([{ engine: "povray", version: "3.7.0.10", benchmarkScore: 50, ratios: [4, 4, 4] }]);
    const c = profile([{ engine: "povray", version: "3.7.0.10", benchmarkScore: 100, ratios: [20, 20, 20] }]);
    const m = measuredEstimate(manifest, 2, [a, b, c])!;
    const base100 = estimateJob({ manifest, benchmarkScore: 100, redundancy: 2 }).secondsPerSegment;
    const base50 = estimateJob({ manifest, benchmarkScore: 50, redundancy: 2 }).secondsPerSegment;
    const predicted = [base100 * 10, base50 * 4, base100 * 20].sort((x, y) => x - y);
    assert.equal(m.estimate.secondsPerSegment, predicted[1]);
    assert.equal(m.providers, 3);
    assert.equal(m.renders, 9);
    // Each render against its own provider's median: a's 8 and 12 miss by 1.25 and 1.2, all others by 1.
    assert.equal(m.calibratedError.median, 1);
    assert.ok(Math.abs(m.calibratedError.p90 - 1.21) < 0.05, String(m.calibratedError.p90));
    assert.equal(m.benchmarkError.median, 10);
  });

  it("prefers renders of the job's engine version, and a published profile round-trips through the parser", () => {
    const old = profile([{ engine: "povray", version: "3.6", benchmarkScore: 100, ratios: [100] }]);
    const same = profile([{ engine: "povray", version: "3.7.0.10", benchmarkScore: 100, ratios: [2] }]);
    const m = measuredEstimate(manifest, 1, [old, same])!;
    assert.equal(m.providers, 1);
    assert.equal(m.benchmarkError.median, 2);
    const parsed = parseProviderProfile(new TextEncoder().encode(JSON.stringify(same)));
    assert.deepEqual(parsed.measuredRenders, same.measuredRenders);
    assert.throws(() => parseProviderProfile(new TextEncoder().encode(JSON.stringify({ ...same, measuredRenders: [{ engine: "povray", version: "1", benchmarkScore: 0, ratios: [1] }] }))), /PROFILE_INVALID|benchmarkScore/);
  });
});
