import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { compositeFrames } from "./composite.ts";
import { maxTilePngBytes, resultFileName, verifyAcceptedSegment, type AcceptedSegment } from "./resultFiles.ts";
import { FatalError, RetryableError, TessellateError } from "./errors.ts";
import { fingerprint } from "./fingerprint.ts";
import { pngDigest } from "./pixelDigest.ts";
import { decodePng, encodePng, type RgbaImage } from "./png.ts";
import { segmentAt, segmentCount, type SegmentPlanInput } from "./segmentPlan.ts";
import { MemoryStorage } from "./testing/memoryStorage.ts";

function plan(width: number, height: number, tilesX: number, tilesY: number, start: number, end: number, framesPerSegment: number): SegmentPlanInput {
  return { output: { width, height, format: "png" }, frames: { start, end }, segmentation: { tilesX, tilesY, framesPerSegment } };
}

/** The full "rendered" frame: every pixel differs, and depends on the frame number. */
function fullFrame(width: number, height: number, frame: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([(x * 7 + frame) & 255, (y * 13 + frame * 3) & 255, (x * y + frame) & 255, (200 + x + y) & 255], (y * width + x) * 4);
  }
  return { width, height, data };
}

function crop(image: RgbaImage, rect: { x: number; y: number; width: number; height: number }): RgbaImage {
  const data = new Uint8Array(rect.width * rect.height * 4);
  for (let row = 0; row < rect.height; row++) {
    const from = ((rect.y + row) * image.width + rect.x) * 4;
    data.set(image.data.subarray(from, from + rect.width * 4), row * rect.width * 4);
  }
  return { width: rect.width, height: rect.height, data };
}

/** Renders every segment like a provider would: one folder per segment, one PNG per frame. */
async function renderJob(
  storage: MemoryStorage,
  p: SegmentPlanInput,
  tamper?: (index: number, frame: number, tile: RgbaImage) => RgbaImage,
): Promise<Map<number, AcceptedSegment>> {
  const accepted = new Map<number, AcceptedSegment>();
  for (let index = 0; index < segmentCount(p); index++) {
    const segment = segmentAt(p, index);
    const honest = segment.frames.map((frame) => encodePng(crop(fullFrame(p.output.width, p.output.height, frame), segment.tile)));
    const served = segment.frames.map((frame, k) =>
      tamper ? encodePng(tamper(index, frame, crop(fullFrame(p.output.width, p.output.height, frame), segment.tile))) : honest[k],
    );
    const resultCid = await storage.addEntries(Object.fromEntries(segment.frames.map((frame, k) => [resultFileName(frame), served[k]])));
    accepted.set(index, { digest: pngDigest(honest), resultCid });
  }
  return accepted;
}

/**
 * The V8 garbage collector, exposed at run time (no --expose-gc flag needed on the command line),
 * with array buffers swept synchronously so `arrayBuffers` counts only what is still referenced.
 * The flags stay set for the rest of this test file's process, which is harmless.
 */
function exposeGc(): () => void {
  setFlagsFromString("--expose-gc");
  setFlagsFromString("--no-concurrent-array-buffer-sweeping");
  return runInNewContext("gc") as () => void;
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-composite-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("resultFileName", () => {
  it("zero-pads the frame number to 6 digits", () => {
    assert.equal(resultFileName(0), "frame-000000.png");
    assert.equal(resultFileName(42), "frame-000042.png");
    assert.equal(resultFileName(1_234_567), "frame-1234567.png");
    assert.throws(() => resultFileName(-1), FatalError);
  });

  it("allows a fetch limit above any honest tile PNG", () => {
    assert.ok(maxTilePngBytes(960, 540) > 960 * 540 * 8);
  });
});

describe("compositeFrames", () => {
  it("recombines tiles that do not divide the frame evenly into the exact original frames", async () => {
    const p = plan(37, 23, 3, 2, 3, 7, 2); // groups [3,4] [5,6] [7]
    const storage = new MemoryStorage();
    const accepted = await renderJob(storage, p);
    await withTempDir(async (outDir) => {
      const progress: Array<[number, number]> = [];
      const { frames } = await compositeFrames({ manifest: p, storage, accepted, outDir, onProgress: (done, total) => progress.push([done, total]) });
      assert.deepEqual(frames.map((f) => f.frame), [3, 4, 5, 6, 7]);
      for (const { frame, path } of frames) {
        assert.equal(path, join(outDir, resultFileName(frame)));
        assert.deepEqual(decodePng(new Uint8Array(await readFile(path))), fullFrame(37, 23, frame));
      }
      assert.equal(progress.length, 5 * 6);
      assert.deepEqual(progress.at(-1), [30, 30]);
      assert.ok(progress.every(([done], i) => done === i + 1));
      assert.deepEqual((await readdir(outDir)).sort(), frames.map((f) => resultFileName(f.frame)));
    });
  });

  it("names the segment and both digests when a tile does not match its accepted digest, and keeps no unverified frame", async () => {
    const p = plan(20, 10, 2, 2, 0, 3, 2); // groups [0,1] [2,3]; segment 6 = group 1, tile (0,1)
    const storage = new MemoryStorage();
    const accepted = await renderJob(storage, p, (index, frame, tile) => {
      if (index !== 6 || frame !== 3) return tile;
      const data = tile.data.slice();
      data[0] ^= 0x01;
      return { ...tile, data };
    });
    await withTempDir(async (outDir) => {
      await assert.rejects(compositeFrames({ manifest: p, storage, accepted, outDir }), (error) => {
        assert.ok(error instanceof FatalError);
        assert.equal(error.code, "COMPOSITE_DIGEST_MISMATCH");
        assert.match(error.message, /^segment 6 \(tile 0,1, frames 2\.\.3\)/);
        assert.ok(error.message.includes(accepted.get(6)!.digest));
        assert.match(error.message, /have digest 0x[0-9a-f]{64}, but the accepted digest is 0x[0-9a-f]{64}/);
        return true;
      });
      // group 0 was verified and stays; group 1 (frames 2, 3) left nothing behind
      assert.deepEqual((await readdir(outDir)).sort(), [resultFileName(0), resultFileName(1)]);
    });
  });

  it("falls back to another agreeing replica's result when the accepted one points at nothing or at other pixels", async () => {
    const p = plan(20, 10, 2, 1, 0, 1, 2); // one group [0,1], two tiles
    const storage = new MemoryStorage();
    const honest = await renderJob(storage, p);
    // Exact: every agreeing replica revealed the same digest. Segment 0's accepted replica points
    // its CID at another image, segment 1's at a folder that does not exist; their peers' honest
    // results are the alternatives.
    const other = await renderJob(storage, p, (_index, frame, tile) => ({ ...tile, data: tile.data.map((v) => (v + frame + 1) & 255) }));
    const missingCid = "bafkreinothingherexxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    const bogus = { digest: honest.get(1)!.digest, resultCid: missingCid };
    const accepted = new Map<number, AcceptedSegment>([
      [0, { digest: honest.get(0)!.digest, resultCid: other.get(0)!.resultCid, replica: 0, alternatives: [{ ...honest.get(0)!, replica: 1 }] }],
      [1, { ...bogus, replica: 0, alternatives: [{ ...honest.get(1)!, replica: 1 }] }],
    ]);
    await withTempDir(async (outDir) => {
      const fallbacks: Array<[number, number | undefined, number]> = [];
      const { frames } = await compositeFrames({ manifest: p, storage, accepted, outDir, onFallback: (segment, used, failed) => fallbacks.push([segment, used.replica, failed.length]) });
      assert.deepEqual(frames.map((f) => f.frame), [0, 1]);
      for (const { frame, path } of frames) assert.deepEqual(decodePng(new Uint8Array(await readFile(path))), fullFrame(20, 10, frame));
      assert.deepEqual(fallbacks, [[0, 1, 1], [1, 1, 1]]);
    });
    // Without alternatives the same failure is an error naming the segment.
    const alone = new Map(honest);
    alone.set(1, bogus);
    await withTempDir(async (outDir) => {
      await assert.rejects(compositeFrames({ manifest: p, storage, accepted: alone, outDir }), (error) => error instanceof TessellateError && /segment 1/.test(error.message));
    });
  });

  it("checks a Tolerant result's fingerprint before using it, and uses an agreeing replica whose pixels have their fingerprint", async () => {
    const p = plan(32, 32, 1, 1, 0, 0, 1);
    const storage = new MemoryStorage();
    const honest = await renderJob(storage, p);
    const honestPixels = [decodePng(encodePng(fullFrame(32, 32, 0)))];
    // A replica that revealed the honest fingerprint but published (and digested) another image.
    const otherImage = { ...fullFrame(32, 32, 0), data: fullFrame(32, 32, 0).data.map((v) => 255 - v) };
    const otherCid = await storage.addEntries({ [resultFileName(0)]: encodePng(otherImage) });
    const liar: AcceptedSegment = { digest: pngDigest([encodePng(otherImage)]), resultCid: otherCid, fingerprint: fingerprint(honestPixels), replica: 0 };
    const good: AcceptedSegment = { ...honest.get(0)!, fingerprint: fingerprint(honestPixels), replica: 1 };
    const check = await verifyAcceptedSegment(p, 0, liar, storage);
    assert.equal(check.ok, false);
    assert.match(check.problem!, /do not have the fingerprint the replica revealed/);
    assert.equal((await verifyAcceptedSegment(p, 0, good, storage)).ok, true);
    await withTempDir(async (outDir) => {
      const used: Array<number | undefined> = [];
      const { frames } = await compositeFrames({ manifest: p, storage, accepted: new Map([[0, { ...liar, alternatives: [good] }]]), outDir, onFallback: (_s, result) => used.push(result.replica) });
      assert.deepEqual(used, [1]);
      assert.deepEqual(decodePng(new Uint8Array(await readFile(frames[0]!.path))), fullFrame(32, 32, 0));
      // Exact checks alone (digest of its own pixels) would have composited the other image.
      await assert.rejects(compositeFrames({ manifest: p, storage, accepted: new Map([[0, liar]]), outDir }), (error) => error instanceof FatalError && error.code === "COMPOSITE_NO_VALID_RESULT" && /replica 0: .*fingerprint/.test(error.message));
    });
  });

  it("names the missing segments before fetching anything", async () => {
    const p = plan(8, 8, 2, 2, 0, 1, 1);
    const storage = new MemoryStorage();
    const accepted = await renderJob(storage, p);
    accepted.delete(5);
    accepted.delete(2);
    await withTempDir(async (outDir) => {
      await assert.rejects(compositeFrames({ manifest: p, storage, accepted, outDir }), (error) => {
        assert.ok(error instanceof FatalError);
        assert.equal(error.code, "COMPOSITE_MISSING_SEGMENT");
        assert.match(error.message, /^segments 2, 5 of 8 have no accepted result — /);
        return true;
      });
    });
    assert.equal(storage.stats.cat, 0);
  });

  it("names the segment whose tile has the wrong size", async () => {
    const p = plan(9, 9, 3, 3, 0, 0, 1);
    const storage = new MemoryStorage();
    const accepted = await renderJob(storage, p);
    const wrong = encodePng({ width: 4, height: 3, data: new Uint8Array(48) });
    accepted.set(4, { digest: pngDigest([wrong]), resultCid: await storage.addEntries({ [resultFileName(0)]: wrong }) });
    await withTempDir(async (outDir) => {
      await assert.rejects(compositeFrames({ manifest: p, storage, accepted, outDir }), {
        code: "COMPOSITE_TILE_SIZE",
        message: /^segment 4, frame 0 \(.+\) is 4×3 pixels, but its tile is 3×3/,
      });
    });
  });

  it("keeps a storage error retryable and adds the segment to it", async () => {
    const p = plan(8, 8, 2, 1, 0, 0, 1);
    const storage = new MemoryStorage();
    const accepted = await renderJob(storage, p);
    storage.forget(accepted.get(1)!.resultCid);
    await withTempDir(async (outDir) => {
      // Waits up to publishWaitMs for the result to be published, then gives up.
      await assert.rejects(compositeFrames({ manifest: p, storage, accepted, outDir, publishWaitMs: 300 }), (error) => {
        assert.ok(error instanceof RetryableError);
        assert.equal(error.code, "STORAGE_UNAVAILABLE");
        assert.match(error.message, /^segment 1, frame 0 /);
        return true;
      });
    });
  });

  it("composites a 3840×2160 frame of 4×4 tiles in bounded memory", async () => {
    const width = 3840;
    const height = 2160;
    const p = plan(width, height, 4, 4, 0, 0, 1);
    const storage = new MemoryStorage();
    const accepted = new Map<number, AcceptedSegment>();
    // Synthetic tiles: a flat colour per tile (cheap to encode) with a marker pixel at the tile's corner.
    for (let index = 0; index < 16; index++) {
      const { tile } = segmentAt(p, index);
      const data = new Uint8Array(tile.width * tile.height * 4);
      for (let i = 0; i < data.length; i += 4) data.set([index * 16, 255 - index * 16, 77, 255], i);
      data.set([1, 2, 3, 4], 0);
      const png = encodePng({ width: tile.width, height: tile.height, data }, { deflateLevel: 1 });
      accepted.set(index, { digest: pngDigest([png]), resultCid: await storage.addEntries({ [resultFileName(0)]: png }) });
    }
    await withTempDir(async (outDir) => {
      const gc = exposeGc();
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve)); // let freed backing stores be released
      }
      const baseline = process.memoryUsage().arrayBuffers;
      let peak = 0;
      const { frames } = await compositeFrames({
        manifest: p,
        storage,
        accepted,
        outDir,
        deflateLevel: 1,
        onProgress: () => {
          gc(); // measure what is still referenced, not garbage the collector has not reached yet
          peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
        },
      });
      const frameBytes = width * height * 4;
      const tileBytes = frameBytes / 16;
      // Live after each tile: the output frame buffer and the tile just decoded (plus slack).
      // Holding every decoded tile of the frame would need 2 × frameBytes.
      assert.ok(peak < frameBytes + 3 * tileBytes, `array buffers grew by ${(peak / 2 ** 20).toFixed(1)} MiB`);
      const out = decodePng(new Uint8Array(await readFile(frames[0].path)));
      for (let index = 0; index < 16; index++) {
        const { tile } = segmentAt(p, index);
        const corner = (tile.y * width + tile.x) * 4;
        assert.deepEqual([...out.data.subarray(corner, corner + 4)], [1, 2, 3, 4]);
        const inside = ((tile.y + 1) * width + tile.x + 1) * 4;
        assert.deepEqual([...out.data.subarray(inside, inside + 4)], [index * 16, 255 - index * 16, 77, 255]);
      }
    });
  });
});
