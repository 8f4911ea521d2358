import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { FatalError } from "./errors.ts";
import {
  frameGroupOf,
  segmentAt,
  segmentCount,
  segmentIndicesOfFrame,
  tileRect,
  type SegmentPlanInput,
} from "./segmentPlan.ts";

function plan(width: number, height: number, tilesX: number, tilesY: number, start: number, end: number, framesPerSegment: number): SegmentPlanInput {
  return { output: { width, height, format: "png" }, frames: { start, end }, segmentation: { tilesX, tilesY, framesPerSegment } };
}

/** A random plan whose sizes usually do not divide evenly. */
const planArbitrary = fc
  .record({
    width: fc.integer({ min: 1, max: 300 }),
    height: fc.integer({ min: 1, max: 300 }),
    tilesX: fc.integer({ min: 1, max: 64 }),
    tilesY: fc.integer({ min: 1, max: 64 }),
    start: fc.integer({ min: 0, max: 10_000 }),
    length: fc.integer({ min: 1, max: 60 }),
    framesPerSegment: fc.integer({ min: 1, max: 25 }),
  })
  .map(({ width, height, tilesX, tilesY, start, length, framesPerSegment }) =>
    plan(width, height, Math.min(tilesX, width), Math.min(tilesY, height), start, start + length - 1, framesPerSegment),
  );

describe("segment plan", () => {
  it("maps indices in frame-group-major, row-major tile order", () => {
    const p = plan(10, 7, 3, 2, 5, 9, 2); // frames 5..9 → groups [5,6] [7,8] [9]; tiles x: 0,3,6,10  y: 0,3,7
    assert.equal(segmentCount(p), 3 * 2 * 3);
    assert.deepEqual(segmentAt(p, 0), { index: 0, frames: [5, 6], tile: { x: 0, y: 0, width: 3, height: 3 }, tileIndex: 0, tileX: 0, tileY: 0 });
    assert.deepEqual(segmentAt(p, 5), { index: 5, frames: [5, 6], tile: { x: 6, y: 3, width: 4, height: 4 }, tileIndex: 5, tileX: 2, tileY: 1 });
    assert.deepEqual(segmentAt(p, 7), { index: 7, frames: [7, 8], tile: { x: 3, y: 0, width: 3, height: 3 }, tileIndex: 1, tileX: 1, tileY: 0 });
    assert.deepEqual(segmentAt(p, 17).frames, [9]);
    assert.deepEqual(segmentIndicesOfFrame(p, 8), [6, 7, 8, 9, 10, 11]);
  });

  it("rejects out-of-range indices and frames with a FatalError", () => {
    const p = plan(10, 10, 2, 2, 0, 3, 1);
    for (const bad of [-1, 16, 1.5, Number.NaN]) {
      assert.throws(() => segmentAt(p, bad), (e) => e instanceof FatalError && e.code === "SEGMENT_OUT_OF_RANGE" && /0 to 15/.test(e.message));
    }
    assert.throws(() => frameGroupOf(p, 4), { code: "FRAME_OUT_OF_RANGE" });
  });

  it("tiles of one frame cover every pixel exactly once (property)", () => {
    fc.assert(
      fc.property(planArbitrary, (p) => {
        const { width, height } = p.output;
        const covered = new Uint8Array(width * height);
        const tiles = p.segmentation.tilesX * p.segmentation.tilesY;
        for (let i = 0; i < tiles; i++) {
          const { tile } = segmentAt(p, i);
          assert.ok(tile.width >= 1 && tile.height >= 1);
          for (let y = tile.y; y < tile.y + tile.height; y++) {
            for (let x = tile.x; x < tile.x + tile.width; x++) covered[y * width + x]++;
          }
        }
        assert.ok(covered.every((c) => c === 1));
      }),
      { numRuns: 200 },
    );
  });

  it("every frame belongs to exactly one frame group, and the count matches (property)", () => {
    fc.assert(
      fc.property(planArbitrary, (p) => {
        const count = segmentCount(p);
        const tiles = p.segmentation.tilesX * p.segmentation.tilesY;
        assert.equal(count % tiles, 0);
        const seen = new Map<number, number>();
        for (let index = 0; index < count; index += tiles) {
          const { frames } = segmentAt(p, index);
          assert.ok(frames.length >= 1 && frames.length <= p.segmentation.framesPerSegment);
          frames.forEach((f, k) => k === 0 || assert.equal(f, frames[k - 1] + 1));
          for (const f of frames) seen.set(f, (seen.get(f) ?? 0) + 1);
          // all tiles of a group share its frames
          assert.deepEqual(segmentAt(p, index + tiles - 1).frames, frames);
        }
        assert.equal(seen.size, p.frames.end - p.frames.start + 1);
        for (let f = p.frames.start; f <= p.frames.end; f++) {
          assert.equal(seen.get(f), 1);
          const indices = segmentIndicesOfFrame(p, f);
          assert.equal(indices.length, tiles);
          for (const i of indices) assert.ok(segmentAt(p, i).frames.includes(f));
        }
        assert.throws(() => segmentAt(p, count), { code: "SEGMENT_OUT_OF_RANGE" });
      }),
      { numRuns: 200 },
    );
  });

  it("computes tile edges exactly at the largest sizes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16384 }), fc.integer({ min: 1, max: 64 }), (size, tiles) => {
        const n = Math.min(tiles, size);
        const p = plan(size, size, n, n, 0, 0, 1);
        for (let k = 0; k < n; k++) {
          const rect = tileRect(p, k, k);
          assert.equal(BigInt(rect.x), (BigInt(k) * BigInt(size)) / BigInt(n));
          assert.equal(BigInt(rect.x + rect.width), (BigInt(k + 1) * BigInt(size)) / BigInt(n));
        }
      }),
      { numRuns: 100 },
    );
  });
});
