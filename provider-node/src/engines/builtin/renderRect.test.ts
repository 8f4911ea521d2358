import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { resolveFrame } from "./animate.ts";
import { compileScene } from "./compile.ts";
import { FrameRenderer, type RenderSettings } from "./renderRect.ts";
import { parseScene } from "./scene.ts";

const SAMPLE = path.resolve(import.meta.dirname, "../../../../scenes/builtin-sample/scene.json");
const REFERENCE = path.join(import.meta.dirname, "reference.json");

async function renderer(file: string, width: number, height: number, frame: number, settings: RenderSettings): Promise<FrameRenderer> {
  const spec = parseScene(JSON.parse(await readFile(file, "utf8")));
  return new FrameRenderer(compileScene(resolveFrame(spec, frame), width, height, frame), settings, frame);
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

describe("frame renderer", () => {
  it("renders any tile with exactly the bytes of that region of the full frame (property)", async () => {
    const W = 24;
    const H = 18;
    const r = await renderer(SAMPLE, W, H, 3, { samples: 2, seed: 9, maxBounces: 2 });
    const full = r.renderRect({ x: 0, y: 0, width: W, height: H });
    const rect = fc
      .record({ x: fc.integer({ min: 0, max: W - 1 }), y: fc.integer({ min: 0, max: H - 1 }) })
      .chain(({ x, y }) =>
        fc.record({ x: fc.constant(x), y: fc.constant(y), width: fc.integer({ min: 1, max: W - x }), height: fc.integer({ min: 1, max: H - y }) }),
      );
    fc.assert(
      fc.property(rect, (tile) => {
        const bytes = r.renderRect(tile);
        for (let row = 0; row < tile.height; row++) {
          const start = ((tile.y + row) * W + tile.x) * 4;
          assert.deepEqual(
            bytes.subarray(row * tile.width * 4, (row + 1) * tile.width * 4),
            full.subarray(start, start + tile.width * 4),
          );
        }
      }),
      { numRuns: 40, seed: 1 },
    );
  });

  /**
   * Pinned pixel digests of BUILTIN_VERSION. If one of these changes, pixel output changed: bump
   * BUILTIN_VERSION in index.ts and update the digests, never one without the other.
   */
  it("reproduces the pinned pixel digests of this engine version", async () => {
    const reference = await renderer(REFERENCE, 32, 24, 1, { samples: 8, seed: 1, maxBounces: 4 });
    const sample = await renderer(SAMPLE, 32, 24, 5, { samples: 8, seed: 2024, maxBounces: 4 });
    assert.deepEqual(
      {
        reference: sha256(reference.renderRect({ x: 0, y: 0, width: 32, height: 24 })),
        sample: sha256(sample.renderRect({ x: 0, y: 0, width: 32, height: 24 })),
      },
      PINNED,
    );
  });
});

const PINNED = {
  reference: "9db062451638e9fd67403d33f64e2e28c91d1df4f5ef1afbd0511a7fce8d0962",
  sample: "4b743243bc2b4b20e54334b3022da1acac80095f3d76addd22fd6e430c8b78e7",
};
