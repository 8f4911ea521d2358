/**
 * A segment of several frames is rendered in one engine process (the real POV-Ray), with the
 * same digest as rendering it frame by frame; a tolerant segment's fingerprint, and the test-only
 * cheap renders (testing.cheat) with the real builtin engine.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodePng, DEFAULT_TOLERANCE_BPS, fingerprint, fingerprintsAgree, parseManifest, pngDigest, segmentAt } from "@tessellate/sdk";
import { CHEAT_MODES } from "../config/config.ts";
import { BUILTIN_VERSION, createBuiltinEngine } from "../engines/builtin/index.ts";
import { createPovrayEngine } from "../engines/povray/index.ts";
import { fixturePath, testLimits } from "../engines/fixtures/engineTesting.ts";
import { runSandboxed, type SandboxRunner } from "../sandbox/sandbox.ts";
import type { Engine } from "../engines/engine.ts";
import { renderSegment, renderSegmentsTogether } from "./renderSegment.ts";

const manifest = parseManifest({
  version: 1,
  engine: { name: "povray", version: "3.7.0.10" },
  scene: { cid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", entry: "scene.pov", sizeBytes: 200 },
  output: { width: 32, height: 24, format: "png" },
  frames: { start: 1, end: 6 },
  settings: { antialias: false, initialClock: 0, finalClock: 1, quality: 9 },
  segmentation: { tilesX: 2, tilesY: 1, framesPerSegment: 3 },
  verification: { mode: "exact" },
});

test("a segment of 3 frames is one POV-Ray process, with the digest of rendering frame by frame", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-segment-"));
  try {
    let launches = 0;
    const counting: SandboxRunner = (request) => {
      launches++;
      return runSandboxed(request);
    };
    const engine = createPovrayEngine({ runner: counting });
    const segment = segmentAt(manifest, 3); // frames 4–6 of the right tile
    assert.deepEqual(segment.frames, [4, 5, 6]);
    const input = { manifest, segment, sceneDir: fixturePath("povray", "scene"), limits: testLimits };
    const together = await renderSegment({ ...input, engine, outDir: join(dir, "together") });
    assert.equal(launches, 1, "one engine process for the segment");
    const frameByFrame: Engine = { ...engine, renderFrames: undefined };
    const alone = await renderSegment({ ...input, engine: frameByFrame, outDir: join(dir, "alone") });
    assert.equal(launches, 4, "frame by frame: one process per frame");
    assert.equal(together.digest, alone.digest);
    assert.equal(together.files.length, 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the digest of the pixels POV-Ray's adapter wrote (not decoded again) is the digest of the files, alone, frame by frame and tiles together", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-segment-"));
  try {
    const engine = createPovrayEngine();
    let reported = 0;
    const counting: Engine = {
      ...engine,
      render: (r) => engine.render({ ...r, onImage: (path, image) => (reported++, r.onImage?.(path, image)) }),
      renderFrames: (r) => engine.renderFrames!({ ...r, onImage: (path, image) => (reported++, r.onImage?.(path, image)) }),
      renderTiles: (r) => engine.renderTiles!({ ...r, onImage: (path, image) => (reported++, r.onImage?.(path, image)) }),
    };
    const silent: Engine = { ...engine, render: (r) => engine.render({ ...r, onImage: undefined }), renderFrames: (r) => engine.renderFrames!({ ...r, onImage: undefined }) };
    const common = { manifest, sceneDir: fixturePath("povray", "scene"), limits: testLimits };
    const fileDigest = async (files: string[]) => pngDigest(await Promise.all(files.map(async (f) => new Uint8Array(await readFile(f)))));
    const frames = await renderSegment({ ...common, segment: segmentAt(manifest, 3), engine: counting, outDir: join(dir, "frames") });
    assert.equal(reported, 3, "the adapter reported the 3 frames it wrote");
    assert.equal(frames.digest, await fileDigest(frames.files));
    const decoded = await renderSegment({ ...common, segment: segmentAt(manifest, 3), engine: silent, outDir: join(dir, "decoded") });
    assert.equal(decoded.digest, frames.digest, "an engine that reports nothing: the files decoded, the same digest");
    const oneByOne = await renderSegment({ ...common, segment: segmentAt(manifest, 3), engine: { ...counting, renderFrames: undefined }, outDir: join(dir, "one-by-one") });
    assert.equal(oneByOne.digest, frames.digest);
    const together = await renderSegmentsTogether([0, 1].map((index) => ({ ...common, segment: segmentAt(manifest, index), engine: counting, outDir: join(dir, `together-${index}`) })));
    for (const result of together) assert.equal(result.digest, await fileDigest(result.files));
    assert.equal(together[0]!.call, together[1]!.call, "one engine call, shared by the tiles");
    assert.equal(together[0]!.call!.tiles, 2);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a tolerant segment gets the fingerprint of its result; each test-only cheap render differs beyond the default tolerance, and swapped-result publishes other pixels under the honest fingerprint", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-segment-"));
  try {
    const tolerant = parseManifest({
      version: 1,
      engine: { name: "builtin", version: BUILTIN_VERSION },
      scene: { cid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", entry: "scene.json", sizeBytes: 200 },
      output: { width: 64, height: 48, format: "png" },
      frames: { start: 1, end: 2 },
      settings: { samples: 8, seed: 3, maxBounces: 3 },
      segmentation: { tilesX: 2, tilesY: 1, framesPerSegment: 1 },
      verification: { mode: "tolerant" },
    });
    const segment = segmentAt(tolerant, 1); // frame 1, the right tile (x from 32)
    const input = { manifest: tolerant, segment, engine: createBuiltinEngine(), sceneDir: join(import.meta.dirname, "../../../scenes/builtin-sample"), limits: testLimits };
    const honest = await renderSegment({ ...input, outDir: join(dir, "honest") });
    assert.ok(honest.fingerprint, "a tolerant segment has a fingerprint");
    assert.equal(honest.fingerprint, fingerprint([decodePng(new Uint8Array(await readFile(honest.files[0]!)))]));
    const again = await renderSegment({ ...input, outDir: join(dir, "again") });
    assert.ok(fingerprintsAgree(honest.fingerprint, again.fingerprint!, DEFAULT_TOLERANCE_BPS));
    for (const cheat of CHEAT_MODES.filter((mode) => mode !== "swapped-result")) {
      const cheap = await renderSegment({ ...input, outDir: join(dir, cheat), cheat });
      const { width, height } = decodePng(new Uint8Array(await readFile(cheap.files[0]!)));
      assert.deepEqual([width, height], [segment.tile.width, segment.tile.height], `${cheat}: a tile of the right size`);
      assert.equal(fingerprintsAgree(honest.fingerprint, cheap.fingerprint!, DEFAULT_TOLERANCE_BPS), false, `${cheat}: differs beyond the default tolerance`);
    }
    // swapped-result keeps the honest fingerprint but publishes, and digests, another image.
    const swapped = await renderSegment({ ...input, outDir: join(dir, "swapped-result"), cheat: "swapped-result" });
    assert.equal(swapped.fingerprint, honest.fingerprint, "swapped-result: the honest fingerprint");
    assert.notEqual(swapped.digest, honest.digest, "swapped-result: the digest of another image");
    const published = decodePng(new Uint8Array(await readFile(swapped.files[0]!)));
    assert.notEqual(fingerprint([published]), honest.fingerprint, "swapped-result: the published pixels do not have the revealed fingerprint");
    assert.equal(pngDigest([new Uint8Array(await readFile(swapped.files[0]!))]), swapped.digest, "swapped-result: its digest is the published image's");
    const exact = await renderSegment({ ...input, manifest: { ...tolerant, verification: { mode: "exact" } }, outDir: join(dir, "exact") });
    assert.equal(exact.fingerprint, undefined, "exact segments get none");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
