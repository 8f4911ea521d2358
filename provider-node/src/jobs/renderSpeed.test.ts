import assert from "node:assert/strict";
import { test } from "node:test";
import { parseManifest, type JobParams } from "@tessellate/sdk";
import { filterJob, type NodeCapabilities } from "./jobFilter.ts";
import { DeferredJobs, RenderSpeed } from "./renderSpeed.ts";

const TOKEN = 10n ** 18n;
const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

// A job whose lease (30 s) is too short for the benchmark's estimate, but not for the node's real speed.
const manifest = parseManifest({
  version: 1,
  engine: { name: "builtin", version: "1.0.0" },
  scene: { cid: CID, entry: "scene.json", sizeBytes: 2_000 },
  output: { width: 200, height: 100, format: "png" },
  frames: { start: 1, end: 1 },
  settings: { samples: 8, seed: 1, maxBounces: 2 },
  segmentation: { tilesX: 2, tilesY: 1, framesPerSegment: 1 },
  verification: { mode: "exact" },
});
const params: JobParams = {
  manifestCid: CID,
  segmentCount: 2,
  redundancy: 2,
  quorum: 2,
  rewardPerReplica: 1n * TOKEN,
  collateralPerReplica: 2n * TOKEN,
  leaseDuration: 30,
  revealWindow: 60,
  deadline: 10_000n,
  minReputation: 0,
  maxFeeBps: 1_000,
};
const situation = { registered: true, reputation: 5000, freeStake: 100n * TOKEN, nowSeconds: 1_000 };

/** Benchmark 4: the job's segment is estimated at ~20 s, too long for its 30 s lease at × 2 + 5 s. */
function node(speedFactor?: number, benchmarkScore = 4): NodeCapabilities {
  return {
    installedEngines: [{ name: "builtin", version: "1.0.0" }],
    enabledEngines: ["builtin"],
    maxSceneBytes: 1_000_000,
    minRewardPerRenderSecondWei: 0n,
    minJobReputation: 0,
    benchmarkScore,
    commitMarginSeconds: 5,
    renderTimeSafetyFactor: 2,
    speedFactor,
  };
}

test("a lease too short for the estimated render is a deferral, not a final skip", () => {
  const decision = filterJob({ jobId: 1n, params, manifest }, node(), situation);
  assert.equal(decision.accept, false);
  if (decision.accept) return;
  assert.match(decision.reason, /lease of 30 s is too short for an estimated/);
  assert.equal(decision.final, false, "rests on an estimate");
  assert.equal(decision.estimated, true);
});

test("a price floor decision rests on the estimate too", () => {
  const decision = filterJob({ jobId: 1n, params: { ...params, leaseDuration: 3_600, rewardPerReplica: 1n }, manifest }, { ...node(), minRewardPerRenderSecondWei: TOKEN }, situation);
  assert.ok(!decision.accept && !decision.final && decision.estimated);
});

test("measured renders faster than the benchmark predicted turn the deferral into an acceptance", () => {
  const speed = new RenderSpeed();
  assert.equal(speed.factor, 1);
  assert.equal(filterJob({ jobId: 1n, params, manifest }, node(speed.factor), situation).accept, false);
  // The benchmark ran on a loaded machine: real renders take a fifth of the estimate.
  let moved = false;
  for (let i = 0; i < 3; i++) moved = speed.observe(10, 2) || moved;
  assert.equal(moved, true, "the factor moved: deferred jobs are worth re-checking");
  assert.ok(Math.abs(speed.factor - 0.2) < 1e-9);
  const decision = filterJob({ jobId: 1n, params, manifest }, node(speed.factor), situation);
  assert.equal(decision.accept, true);
});

test("the speed factor is the median of recent renders, robust to one outlier", () => {
  const speed = new RenderSpeed({ window: 5 });
  for (const measured of [5, 5, 5, 5]) speed.observe(10, measured);
  assert.equal(speed.observe(10, 1_000), false, "one very slow render (waited on IPFS) does not move it");
  assert.equal(speed.factor, 0.5);
  for (let i = 0; i < 5; i++) speed.observe(10, 20);
  assert.equal(speed.factor, 2, "a lasting change does");
  assert.equal(new RenderSpeed({ initialRatios: speed.recent }).factor, 2, "restored from persisted ratios");
});

test("a deferred job nobody else claims for a whole lease gets one trial, once", () => {
  const deferred = new DeferredJobs();
  const at = (nowMs: number, claimable = 2) => ({ nowMs, nowSeconds: 1_000 + nowMs / 1000, leaseSeconds: 30, deadlineSeconds: 10_000, claimable });
  assert.equal(deferred.trialDue(1n, at(0)), false, "not deferred yet");
  deferred.defer(1n, 0);
  deferred.defer(1n, 20_000); // re-deferring keeps the first time
  assert.equal(deferred.trialDue(1n, at(29_000)), false, "less than one lease");
  assert.equal(deferred.trialDue(1n, at(31_000, 0)), false, "others took every segment");
  assert.equal(deferred.trialDue(1n, { ...at(31_000), deadlineSeconds: 1_040 }), false, "no lease fits before the deadline");
  assert.equal(deferred.trialDue(1n, at(31_000)), true);
  deferred.markTrial(1n);
  assert.equal(deferred.isTrial(1n), true);
  assert.equal(deferred.trialDue(1n, at(90_000)), false, "one trial per job");
  assert.equal(deferred.isProven(1n), false);
  deferred.markProven(2n);
  assert.equal(deferred.isProven(2n), false, "only a job that had a trial can be proven");
  deferred.markProven(1n);
  assert.equal(deferred.isProven(1n), true, "its trial finished in time");
  deferred.clear(2n);
  deferred.clear(1n);
  assert.equal(deferred.isDeferred(1n), false);
});
