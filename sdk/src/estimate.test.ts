import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ENGINE_COST_TABLE, estimateJob, samplesOf } from "./estimate.ts";
import { parseManifest, type Manifest } from "./manifest.ts";

function manifest(overrides: Record<string, unknown> = {}): Manifest {
  return parseManifest({
    version: 1,
    engine: { name: "builtin", version: "1.0.0" },
    scene: { cid: "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", entry: "scene.json", sizeBytes: 100 },
    output: { width: 100, height: 100, format: "png" },
    frames: { start: 0, end: 9 },
    settings: { samples: 10, seed: 1, maxBounces: 2 },
    segmentation: { tilesX: 2, tilesY: 2, framesPerSegment: 2 },
    verification: { mode: "exact" },
    ...overrides,
  });
}

describe("estimateJob", () => {
  it("follows pixels × samples × frames / (score × 1000) for the built-in engine", () => {
    const estimate = estimateJob({ manifest: manifest(), benchmarkScore: 1, redundancy: 3, pricePerRenderSecond: 2n });
    // a 50×50 tile × 10 samples × 2 frames = 50 000 samples → 50 s at 1 000 samples/s
    assert.deepEqual(estimate, {
      segments: 20,
      samplesPerPixel: 10,
      secondsPerSegment: 50,
      renderSecondsPerReplica: 1000,
      totalRenderSeconds: 3000,
      suggestedRewardPerReplica: 100n,
      totalReward: 6000n,
      isEstimate: true,
    });
  });

  it("uses the largest tile when tiles are uneven, and gives the price a reward implies", () => {
    const m = manifest({ output: { width: 101, height: 99, format: "png" }, segmentation: { tilesX: 2, tilesY: 2, framesPerSegment: 4 } });
    const estimate = estimateJob({ manifest: m, benchmarkScore: 2, redundancy: 2, rewardPerReplica: 1000n });
    assert.equal(estimate.secondsPerSegment, (51 * 50 * 10 * 4) / 2000);
    assert.equal(estimate.segments, 12);
    assert.equal(estimate.totalReward, 24_000n);
    assert.equal(estimate.impliedPricePerRenderSecond, 1000n * 1000n / BigInt(Math.ceil(estimate.secondsPerSegment * 1000)));
    assert.equal(estimate.suggestedRewardPerReplica, undefined);
  });

  it("adds the engine's cost factor and start-up time", () => {
    const m = manifest({ engine: { name: "blender", version: "4.2.3" }, settings: { samples: 10, seed: 1 } });
    const { costFactor, startupSeconds } = ENGINE_COST_TABLE.blender;
    const estimate = estimateJob({ manifest: m, benchmarkScore: 1, redundancy: 1 });
    assert.equal(estimate.secondsPerSegment, startupSeconds + 50 * costFactor);
    assert.equal(estimate.renderSecondsPerReplica, 20 * startupSeconds + 1000 * costFactor);
  });

  it("counts POV-Ray anti-aliasing as 3×3 supersampling", () => {
    const pov = (antialias: boolean) =>
      manifest({ engine: { name: "povray", version: "3.7.0.10" }, settings: { antialias }, verification: { mode: antialias ? "tolerant" : "exact" } });
    assert.equal(samplesOf(pov(false)), 1);
    assert.equal(samplesOf(pov(true)), 9);
  });

  it("names the bad argument", () => {
    assert.throws(() => estimateJob({ manifest: manifest(), benchmarkScore: 0, redundancy: 1 }), { code: "ESTIMATE_INVALID", message: /benchmarkScore/ });
    assert.throws(() => estimateJob({ manifest: manifest(), benchmarkScore: 1, redundancy: 1.5 }), { code: "ESTIMATE_INVALID", message: /redundancy/ });
    assert.throws(() => estimateJob({ manifest: manifest(), benchmarkScore: 1, redundancy: 1, pricePerRenderSecond: -1n }), { message: /pricePerRenderSecond/ });
  });
});
