import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isAnimated, resolveFrame, valueAt } from "./animate.ts";
import { parseScene } from "./scene.ts";

describe("keyframe animation", () => {
  const keys = [
    { frame: 1, value: 10 },
    { frame: 5, value: 20 },
    { frame: 9, value: 0 },
  ];

  it("holds the first and last values outside the keyframes", () => {
    assert.equal(valueAt(keys, -3), 10);
    assert.equal(valueAt(keys, 1), 10);
    assert.equal(valueAt(keys, 9), 0);
    assert.equal(valueAt(keys, 100), 0);
  });

  it("interpolates linearly between keyframes, hitting keys exactly", () => {
    assert.equal(valueAt(keys, 3), 15);
    assert.equal(valueAt(keys, 5), 20);
    assert.equal(valueAt(keys, 7), 10);
    assert.deepEqual(
      valueAt(
        [
          { frame: 0, value: [0, 2, 4] },
          { frame: 4, value: [4, 2, 0] },
        ],
        1,
      ),
      [1, 2, 3],
    );
  });

  it("resolves every track of a scene, nested or whole-vector", () => {
    const spec = parseScene({
      version: 1,
      camera: {
        position: { keyframes: [{ frame: 1, value: [0, 0, 5] }, { frame: 3, value: [2, 0, 5] }] },
        lookAt: [0, { keyframes: [{ frame: 1, value: 0 }, { frame: 3, value: 1 }] }, 0],
        tanHalfFov: 0.5,
      },
      lights: [{ type: "point", position: [0, 3, 0], intensity: { keyframes: [{ frame: 1, value: 1 }, { frame: 3, value: 3 }] } }],
    });
    assert.ok(isAnimated(spec));
    const scene = resolveFrame(spec, 2);
    assert.deepEqual(scene.camera.position, [1, 0, 5]);
    assert.deepEqual(scene.camera.lookAt, [0, 0.5, 0]);
    assert.equal(scene.lights[0].intensity, 2);
    assert.equal(isAnimated(parseScene({ version: 1, camera: { position: [0, 0, 1], lookAt: [0, 0, 0], tanHalfFov: 1 } })), false);
  });
});
