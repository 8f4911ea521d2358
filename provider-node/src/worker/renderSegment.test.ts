/**
 * A segment of several frames is rendered in one engine process (the real POV-Ray), with the
 * same digest as rendering it frame by frame.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseManifest, segmentAt } from "@tessellate/sdk";
import { createPovrayEngine } from "../engines/povray/index.ts";
import { fixturePath, testLimits } from "../engines/fixtures/engineTesting.ts";
import { runSandboxed, type SandboxRunner } from "../sandbox/sandbox.ts";
import type { Engine } from "../engines/engine.ts";
import { renderSegment } from "./renderSegment.ts";

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
