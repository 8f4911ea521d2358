import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import { FatalError } from "../../../../sdk/src/errors.ts";
import { parseScene } from "./scene.ts";

const SAMPLE = path.resolve(import.meta.dirname, "../../../../scenes/builtin-sample/scene.json");

const minimal = () => ({ version: 1, camera: { position: [0, 1, 5], lookAt: [0, 0, 0], tanHalfFov: 0.5 } });

/** The message of the SCENE_INVALID error that `json` provokes. */
function problems(json: unknown): string {
  try {
    parseScene(json);
  } catch (error) {
    assert.ok(error instanceof FatalError);
    assert.equal(error.code, "SCENE_INVALID");
    return error.message;
  }
  assert.fail("the scene was accepted");
}

describe("scene format", () => {
  it("accepts the shipped sample and reference scenes", async () => {
    parseScene(JSON.parse(await readFile(SAMPLE, "utf8")));
    parseScene(JSON.parse(await readFile(path.join(import.meta.dirname, "reference.json"), "utf8")));
  });

  it("accepts the example of SCENE_FORMAT.md", async () => {
    const doc = await readFile(path.join(import.meta.dirname, "SCENE_FORMAT.md"), "utf8");
    const example = /## Example\s+```json\n([\s\S]*?)```/.exec(doc);
    assert.ok(example, "SCENE_FORMAT.md has no ## Example json block");
    parseScene(JSON.parse(example[1]));
  });

  it("fills defaults for a minimal scene", () => {
    const scene = parseScene(minimal());
    assert.deepEqual(scene.background, [0, 0, 0]);
    assert.equal(scene.exposure, 1);
    assert.equal(scene.toneMapping, "clamp");
    assert.deepEqual(scene.objects, []);
    assert.deepEqual(scene.camera.up, [0, 1, 0]);
  });

  it("names the JSON path and the fix of each problem", () => {
    const message = problems({
      ...minimal(),
      objects: [
        { type: "sphere", center: [0, 0], radius: 1, material: "nope" },
        { type: "cube", center: [0, 0, 0] },
        { type: "mesh", vertices: [[0, 0, 0], [1, 0, 0], [0, 1, 0]], indices: [[0, 1, 3]], material: { color: [1, 1, 1] } },
      ],
      lights: [{ type: "point", position: [0, 1, 0], intensity: -2, colour: [1, 1, 1] }],
    });
    assert.match(message, /objects\[0\]\.center: must be \[x, y, z\]/);
    assert.match(message, /objects\[1\]\.type: must have "type": "sphere", "plane", "box" or "mesh"/);
    assert.match(message, /objects\[2\]\.indices\[0\]\[2\]: vertex index 3 is out of range/);
    assert.match(message, /lights\[0\]: unknown key "colour"/);
    assert.match(message, /lights\[0\]\.intensity: must be 0 or more/);
  });

  it("reports an unknown material by path once the shapes are valid", () => {
    const message = problems({ ...minimal(), objects: [{ type: "sphere", center: [0, 0, 0], radius: 1, material: "nope" }] });
    assert.match(message, /objects\[0\]\.material: unknown material "nope"/);
  });

  it("says which fields are required", () => {
    assert.match(problems({ version: 1 }), /camera: is required/);
    assert.match(problems({ ...minimal(), version: 2 }), /version: must be 1/);
    assert.match(problems({ version: 1, camera: { position: [0, 0, 1], lookAt: [0, 0, 0] } }), /camera: give exactly one of "tanHalfFov"/);
  });

  it("validates keyframe tracks: values, integer frames, increasing order", () => {
    const camera = (position: unknown) => ({ version: 1, camera: { position, lookAt: [0, 0, 0], tanHalfFov: 0.5 } });
    assert.match(
      problems(camera({ keyframes: [{ frame: 1, value: [0, 0, 1] }, { frame: 1, value: [0, 0, 2] }] })),
      /camera\.position\.keyframes\[1\]\.frame: keyframe frames must increase strictly/,
    );
    assert.match(problems(camera({ keyframes: [{ frame: 1.5, value: [0, 0, 1] }] })), /keyframes\[0\]\.frame: must be an integer frame number/);
    assert.match(problems(camera({ keyframes: [] })), /camera\.position\.keyframes: needs at least one keyframe/);
    assert.match(
      problems({ ...minimal(), objects: [{ type: "sphere", center: [0, 0, 0], radius: { keyframes: [{ frame: 1, value: 0 }] }, material: {} }] }),
      /objects\[0\]\.radius\.keyframes\[0\]\.value: must be greater than 0/,
    );
    // A single component of a vector may be keyframed on its own.
    parseScene(camera([0, { keyframes: [{ frame: 1, value: 0 }, { frame: 9, value: 2 }] }, 4]));
  });
});
