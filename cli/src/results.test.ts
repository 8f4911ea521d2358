import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { resultFileName, type AcceptedSegment } from "@tessellate/sdk/resultFiles";
import { parseManifest, type Manifest } from "@tessellate/sdk/manifest";
import { pngDigest } from "@tessellate/sdk/pixelDigest";
import { encodePng } from "@tessellate/sdk/png";
import { segmentAt, segmentCount } from "@tessellate/sdk/segmentPlan";
import { MemoryStorage } from "@tessellate/sdk/testing/memoryStorage";
import { compositeAvailable, verifyAcceptedSegment } from "./results.ts";

const manifest: Manifest = parseManifest({
  version: 1,
  engine: { name: "builtin", version: "1.0.0" },
  scene: { cid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", entry: "scene.json", sizeBytes: 10 },
  output: { width: 6, height: 4, format: "png" },
  frames: { start: 1, end: 3 },
  settings: { samples: 1, seed: 1, maxBounces: 0 },
  segmentation: { tilesX: 2, tilesY: 1, framesPerSegment: 1 },
  verification: { mode: "exact" },
});

async function store(storage: MemoryStorage, segment: number, options: { width?: number; shade?: number } = {}): Promise<AcceptedSegment> {
  const { tile, frames } = segmentAt(manifest, segment);
  const width = options.width ?? tile.width;
  const files = new Map<string, Uint8Array>();
  for (const frame of frames) {
    const data = new Uint8Array(width * tile.height * 4).fill(options.shade ?? segment * 20 + frame);
    files.set(resultFileName(frame), encodePng({ width, height: tile.height, data }));
  }
  const resultCid = await storage.addEntries(files);
  return { resultCid, digest: pngDigest([...files.values()]) };
}

describe("accepted results", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "tessellate-results-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("re-checks one segment against its digest", async () => {
    const storage = new MemoryStorage();
    const good = await store(storage, 0);
    assert.equal((await verifyAcceptedSegment(manifest, 0, good, storage)).ok, true);
    const other = await store(storage, 0, { shade: 99 });
    const lie = await verifyAcceptedSegment(manifest, 0, { ...other, digest: good.digest }, storage);
    assert.equal(lie.ok, false);
    assert.match(lie.problem!, /have digest 0x[0-9a-f]{64}, not the revealed/);
    const wrongSize = await store(storage, 0, { width: 5 });
    assert.match((await verifyAcceptedSegment(manifest, 0, wrongSize, storage)).problem!, /is 5×4 pixels, but the tile is 3×4/);
    storage.forget(good.resultCid);
    assert.match((await verifyAcceptedSegment(manifest, 0, good, storage, undefined, 0)).problem!, /no provider found/);
  });

  it("composites the complete frames and names the missing and the corrupt segments", async () => {
    const storage = new MemoryStorage();
    assert.equal(segmentCount(manifest), 6);
    const accepted = new Map<number, AcceptedSegment>();
    for (const i of [0, 1, 3, 4, 5]) accepted.set(i, await store(storage, i)); // segment 2 (frame 2) missing
    const corrupt = await store(storage, 5, { shade: 7 });
    accepted.set(5, { ...corrupt, digest: accepted.get(5)!.digest }); // frame 3's right tile lies
    const steps: number[] = [];
    const report = await compositeAvailable({ manifest, storage, accepted, outDir: dir, reasonOf: () => "failed", onProgress: (d) => steps.push(d) });
    assert.deepEqual(report.frames.map((f) => f.frame), [1]);
    assert.equal(report.totalFrames, 3);
    assert.deepEqual(report.missing.map((m) => [m.segment, m.frames, m.reason]), [[2, [2], "failed"]]);
    assert.equal(report.failed.length, 1);
    assert.deepEqual(report.failed[0].frames, [3]);
    assert.deepEqual(report.failed[0].badSegments.map((b) => b.segment), [5]);
    assert.ok(existsSync(join(dir, "frame-000001.png")));
    assert.ok(!existsSync(join(dir, "frame-000002.png")));
    assert.ok(!existsSync(join(dir, "frame-000003.png")));
    assert.equal(steps.at(-1), 6, "progress reaches every tile");
  });
});
