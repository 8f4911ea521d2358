import assert from "node:assert/strict";
import { test } from "node:test";
import { fitLaunchCost, LAUNCH_WINDOW, LaunchCosts } from "./launchCost.ts";

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);

test("calls of different sizes separate the launch from the pixels: a warm-up tile and a group of 16", () => {
  // 1.0 s per process, 0.5 × the benchmark's pixel estimate.
  const cost = fitLaunchCost([
    { processes: 1, pixelSeconds: 0.1, seconds: 1.05 },
    { processes: 1, pixelSeconds: 1.6, seconds: 1.8 },
  ], 0.2);
  assert.equal(cost.basis, "fit");
  close(cost.launchSeconds, 1.0, "launch");
  close(cost.pixelFactor, 0.5, "pixel factor");
});

test("processes count: one call of four one-process frames and one of a single process", () => {
  const cost = fitLaunchCost([
    { processes: 4, pixelSeconds: 2, seconds: 4 * 0.6 + 2 * 0.25 },
    { processes: 1, pixelSeconds: 2, seconds: 0.6 + 2 * 0.25 },
  ], 5);
  assert.equal(cost.basis, "fit");
  close(cost.launchSeconds, 0.6, "launch");
  close(cost.pixelFactor, 0.25, "pixel factor");
});

test("one call (or calls of one size) is shared out in the proportion the engine's launch constant and the benchmark predict", () => {
  // A warm-up tile: the prior says 0.5 s launch + 0.01 s of pixels; it took 2.04 s on a busy machine (4 ×).
  const cost = fitLaunchCost([{ processes: 1, pixelSeconds: 0.01, seconds: 2.04 }], 0.5);
  assert.equal(cost.basis, "prior");
  close(cost.launchSeconds, 2, "launch");
  close(cost.pixelFactor, 4, "pixel factor");
  const same = fitLaunchCost([
    { processes: 1, pixelSeconds: 0.01, seconds: 2.04 },
    { processes: 1, pixelSeconds: 0.01, seconds: 1.02 },
  ], 0.5);
  assert.equal(same.basis, "prior", "two calls of one size do not separate the two");
  close(same.pixelFactor, 3, "pixel factor of both");
});

test("a fit outside the physical range keeps both costs non-negative", () => {
  // The bigger call was faster (a load spike during the small one): no negative pixel cost.
  const slower = fitLaunchCost([
    { processes: 1, pixelSeconds: 0.1, seconds: 3 },
    { processes: 1, pixelSeconds: 2, seconds: 1 },
  ], 0.5);
  assert.ok(slower.pixelFactor > 0 && slower.pixelFactor <= 1e-3 && slower.launchSeconds > 0, JSON.stringify(slower));
  // No launch at all: the pixels explain everything.
  const noLaunch = fitLaunchCost([
    { processes: 1, pixelSeconds: 1, seconds: 0.5 },
    { processes: 1, pixelSeconds: 4, seconds: 3 },
  ], 0.5);
  assert.equal(noLaunch.launchSeconds, 0);
  assert.ok(noLaunch.pixelFactor > 0);
});

test("LaunchCosts keeps the last calls per engine and version, and comes back from its records", () => {
  const costs = new LaunchCosts();
  assert.equal(costs.costOf("blender@3.4.1", 0.5), undefined, "nothing before a call");
  assert.equal(costs.observe("blender@3.4.1", { processes: 1, pixelSeconds: 0, seconds: 0 }), false, "a call of no time is not a measurement");
  for (let i = 0; i < LAUNCH_WINDOW + 3; i++) costs.observe("blender@3.4.1", { processes: 1, pixelSeconds: 0.1 * (i + 1), seconds: 1 + 0.05 * (i + 1) });
  costs.observe("povray@3.7.0.10", { processes: 1, pixelSeconds: 1, seconds: 1.5 });
  const records = costs.records();
  assert.equal(records["blender@3.4.1"]!.length, LAUNCH_WINDOW);
  const again = new LaunchCosts(JSON.parse(JSON.stringify(records)));
  const cost = again.costOf("blender@3.4.1", 0.5)!;
  assert.equal(cost.basis, "fit");
  close(cost.launchSeconds, 1, "launch");
  close(cost.pixelFactor, 0.5, "pixel factor");
  assert.equal(again.costOf("povray@3.7.0.10", 0.65)!.basis, "prior");
  assert.equal(new LaunchCosts({ x: [{ processes: 0, pixelSeconds: 1, seconds: 1 }] as never }).costOf("x", 1), undefined, "invalid records are dropped");
});
