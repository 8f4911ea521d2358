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

// A render of job 1 ran past its 30 s lease at t = 0; the job's deadline is far.
const after = (nowMs: number, now: { speedFactor: number; loadPerCore: number }, claimable = 2) => ({
  nowMs,
  nowSeconds: 1_000 + nowMs / 1000,
  leaseSeconds: 30,
  deadlineSeconds: 10_000,
  claimable,
  ...now,
});

test("an overrun measured under load is re-tried once the load has fallen, a lease later", () => {
  const deferred = new DeferredJobs();
  deferred.defer(1n, 0);
  deferred.markTrial(1n);
  // Load average 10 on 2 cores (as when the end-to-end test failed) during the trial.
  const verdict = deferred.overran(1n, { nowMs: 0, speedFactor: 1, loadPerCore: 5 });
  assert.equal(verdict.final, false, "one measurement on a loaded machine is not final");
  assert.match(verdict.reason, /measured at load 5 per core, speed factor 1; re-tried \(1 of 1 re-trials left\) once the speed factor from other renders falls to 0\.75 or below \(25 % faster\) or the load falls below 1\.5 per core/);
  assert.equal(deferred.hasOverrun(1n), true);
  assert.equal(deferred.retrialReason(1n, after(10_000, { speedFactor: 1, loadPerCore: 0.2 })), undefined, "not within a lease of the overrun");
  assert.equal(deferred.retrialReason(1n, after(40_000, { speedFactor: 1, loadPerCore: 4.5 })), undefined, "still loaded (by less than a quarter less)");
  assert.equal(deferred.retrialReason(1n, after(40_000, { speedFactor: 1, loadPerCore: 0.2 }, 0)), undefined, "others took every segment");
  assert.equal(deferred.retrialReason(1n, { ...after(40_000, { speedFactor: 1, loadPerCore: 0.2 }), deadlineSeconds: 1_050 }), undefined, "no lease fits before the deadline");
  assert.match(deferred.retrialReason(1n, after(40_000, { speedFactor: 1, loadPerCore: 3.5 })) ?? "", /loaded during the overrun \(load 5 per core, now 3\.5\)/, "the load fell by more than a quarter");
  assert.match(deferred.retrialReason(1n, after(40_000, { speedFactor: 1, loadPerCore: 0.4 })) ?? "", /loaded during the overrun/);
  deferred.markTrial(1n);
  assert.equal(deferred.retrialReason(1n, after(50_000, { speedFactor: 1, loadPerCore: 0.4 })), undefined, "the re-trial is in flight");
  // The re-trial finishes in time: the job is proven, the overrun forgotten.
  deferred.markProven(1n);
  assert.equal(deferred.isProven(1n), true);
  assert.equal(deferred.hasOverrun(1n), false);
});

test("an overrun on an idle machine with an unchanged speed factor is final in effect: never re-tried", () => {
  const deferred = new DeferredJobs();
  deferred.markTrial(1n);
  const verdict = deferred.overran(1n, { nowMs: 0, speedFactor: 1.2, loadPerCore: 0.3 });
  assert.equal(verdict.final, false, "a re-trial is left, but only on a measured change");
  assert.match(verdict.reason, /load 0\.3 per core, speed factor 1\.2; re-tried \(1 of 1 re-trials left\) once the speed factor from other renders falls to 0\.9 or below \(25 % faster\)$/);
  assert.doesNotMatch(verdict.reason, /load falls/, "the load is not what would change it");
  for (const nowMs of [31_000, 60_000, 600_000]) {
    assert.equal(deferred.retrialReason(1n, after(nowMs, { speedFactor: 1.2, loadPerCore: 0.3 })), undefined);
    assert.equal(deferred.retrialReason(1n, after(nowMs, { speedFactor: 1.0, loadPerCore: 0.1 })), undefined, "17 % faster is not a clear margin");
  }
  // The loaded path needs load at the overrun: falling from idle to idler changes nothing.
  assert.equal(deferred.retrialReason(1n, after(60_000, { speedFactor: 1.2, loadPerCore: 0 })), undefined);
});

test("speed measured on other renders improved by a quarter: exactly one re-trial, then the skip is final", () => {
  const speed = new RenderSpeed();
  for (let i = 0; i < 5; i++) speed.observe(10, 10); // factor 1
  const deferred = new DeferredJobs();
  deferred.markTrial(1n);
  deferred.overran(1n, { nowMs: 0, speedFactor: speed.factor, loadPerCore: 0.2 });
  assert.equal(deferred.retrialReason(1n, after(40_000, { speedFactor: speed.factor, loadPerCore: 0.2 })), undefined);
  // Other jobs' renders come in faster (real RenderSpeed median): factor 1 → 0.7.
  for (let i = 0; i < 5; i++) speed.observe(10, 7);
  assert.ok(Math.abs(speed.factor - 0.7) < 1e-9);
  assert.match(deferred.retrialReason(1n, after(40_000, { speedFactor: speed.factor, loadPerCore: 0.2 })) ?? "", /renders got faster since the overrun \(speed factor 1 → 0\.7\)/);
  deferred.markTrial(1n);
  // The re-trial runs past the lease too: no re-trial left, the skip is final.
  const second = deferred.overran(1n, { nowMs: 100_000, speedFactor: speed.factor, loadPerCore: 0.2 });
  assert.equal(second.final, true);
  assert.match(second.reason, /no re-trial left \(1 of 1 made\)/);
  for (let i = 0; i < 9; i++) speed.observe(10, 1); // far faster still
  assert.equal(deferred.retrialReason(1n, after(200_000, { speedFactor: speed.factor, loadPerCore: 5 })), undefined, "never more than the cap");
});

test("never more re-trials than the cap, each measured against the latest overrun, and the count survives a restart", () => {
  const deferred = new DeferredJobs({ maxRetrials: 2 });
  deferred.markTrial(1n);
  assert.equal(deferred.overran(1n, { nowMs: 0, speedFactor: 1, loadPerCore: 3 }).final, false);
  assert.ok(deferred.retrialReason(1n, after(31_000, { speedFactor: 1, loadPerCore: 0.5 })));
  deferred.markTrial(1n);
  deferred.markTrial(1n); // the same re-trial counted once
  assert.equal(deferred.overran(1n, { nowMs: 40_000, speedFactor: 1, loadPerCore: 0.5 }).final, false, "one of two re-trials left");
  assert.equal(deferred.retrialReason(1n, after(80_000, { speedFactor: 0.8, loadPerCore: 0.1 })), undefined, "20 % faster than at the latest overrun is not enough");
  // Restarted: the records come back from the state file.
  const restarted = new DeferredJobs({ maxRetrials: 2, overruns: JSON.parse(JSON.stringify(deferred.overrunRecords())) });
  assert.deepEqual(restarted.overrunRecords(), { "1": { atMs: 40_000, speedFactor: 1, loadPerCore: 0.5, retrials: 1 } });
  assert.ok(restarted.retrialReason(1n, after(80_000, { speedFactor: 0.75, loadPerCore: 0.1 })));
  restarted.markTrial(1n);
  const last = restarted.overran(1n, { nowMs: 120_000, speedFactor: 0.75, loadPerCore: 4 });
  assert.equal(last.final, true, "two re-trials made");
  assert.equal(restarted.retrialReason(1n, after(300_000, { speedFactor: 0.1, loadPerCore: 0 })), undefined, "not even under load at the overrun and a far faster node");
  assert.deepEqual(new DeferredJobs({ overruns: { x: { atMs: 0, speedFactor: 1, loadPerCore: 1, retrials: 0 }, "2": { atMs: "no" } as never } }).overrunRecords(), {}, "malformed records are dropped");
});
