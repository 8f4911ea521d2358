import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { makeCamera, primaryRay, tanHalfAngleDegrees } from "./camera.ts";
import type { MutableVec } from "./sampling.ts";

describe("camera", () => {
  it("converts a field of view in degrees without Math.tan, to within 1e-15", () => {
    assert.ok(Math.abs(tanHalfAngleDegrees(90) - 1) < 1e-15);
    assert.ok(Math.abs(tanHalfAngleDegrees(60) - 1 / Math.sqrt(3)) < 1e-15);
    assert.ok(Math.abs(tanHalfAngleDegrees(120) - Math.sqrt(3)) < 1e-14);
    assert.ok(Math.abs(tanHalfAngleDegrees(179) - 114.58865012930961) < 1e-9);
  });

  it("aims the centre ray at lookAt and the corners by the field of view", () => {
    const camera = makeCamera({ position: [0, 0, 5], lookAt: [0, 0, 0], up: [0, 1, 0], tanHalfFov: 1 }, 200, 100);
    const dir: MutableVec = { x: 0, y: 0, z: 0 };
    primaryRay(camera, 100, 50, dir);
    assert.deepEqual([dir.x, dir.y, dir.z], [0, 0, -1]);
    primaryRay(camera, 200, 0, dir); // top-right corner: x = tan·aspect = 2, y = tan = 1
    const len = Math.sqrt(6);
    assert.ok(Math.abs(dir.x - 2 / len) < 1e-15 && Math.abs(dir.y - 1 / len) < 1e-15 && Math.abs(dir.z + 1 / len) < 1e-15);
  });
});
