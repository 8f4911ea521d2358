import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodePng, pngDigest } from "@tessellate/sdk";
import { assertRectInside, cropPngFile, cropPngFileInto, cropRgba, readPngRgba, RESULT_DEFLATE_LEVEL, writePngRgba, type RgbaImage } from "./crop.ts";

/** A 4×3 image whose pixel (x, y) is RGBA (x, y, x + y, 255). */
function gradient(): RgbaImage {
  const width = 4;
  const height = 3;
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([x, y, x + y, 255], (y * width + x) * 4);
  }
  return { width, height, data };
}

test("cropRgba copies exactly the rectangle, rows from the top", () => {
  const tile = cropRgba(gradient(), { x: 1, y: 1, width: 2, height: 2 });
  assert.equal(tile.width, 2);
  assert.equal(tile.height, 2);
  assert.deepEqual([...tile.data], [1, 1, 2, 255, 2, 1, 3, 255, 1, 2, 3, 255, 2, 2, 4, 255]);
});

test("a PNG round-trips through write and read, and cropPngFile checks the engine's size", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-crop-"));
  try {
    await writePngRgba(join(dir, "full.png"), gradient());
    assert.deepEqual(await readPngRgba(join(dir, "full.png")), gradient());
    await cropPngFile(join(dir, "full.png"), { width: 4, height: 3 }, { x: 3, y: 2, width: 1, height: 1 }, join(dir, "tile.png"));
    assert.deepEqual([...(await readPngRgba(join(dir, "tile.png"))).data], [3, 2, 5, 255]);
    await assert.rejects(
      cropPngFile(join(dir, "full.png"), { width: 8, height: 6 }, { x: 0, y: 0, width: 1, height: 1 }, join(dir, "bad.png")),
      { code: "ENGINE_OUTPUT_INVALID" },
    );
    assert.ok((await readFile(join(dir, "tile.png"))).subarray(1, 4).equals(Buffer.from("PNG")));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("cropPngFileInto reports each crop's pixels, exactly the file's, written at the fast deflate level with the digest of the default level", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-crop-"));
  try {
    await writePngRgba(join(dir, "full.png"), gradient());
    const reported = new Map<string, RgbaImage>();
    const crops = [{ rect: { x: 0, y: 0, width: 2, height: 3 }, outPath: join(dir, "a.png") }, { rect: { x: 2, y: 1, width: 2, height: 2 }, outPath: join(dir, "b.png") }];
    await cropPngFileInto(join(dir, "full.png"), { width: 4, height: 3 }, crops, (path, image) => reported.set(path, image));
    assert.deepEqual([...reported.keys()], crops.map((c) => c.outPath));
    for (const { rect, outPath } of crops) {
      const file = await readPngRgba(outPath);
      assert.deepEqual(reported.get(outPath), file);
      assert.deepEqual(file, cropRgba(gradient(), rect));
      assert.equal(pngDigest([new Uint8Array(await readFile(outPath))]), pngDigest([encodePng(file)]), "level 1 or 6: the same digest");
    }
    assert.equal(RESULT_DEFLATE_LEVEL, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("assertRectInside refuses empty, fractional and overflowing rectangles", () => {
  assert.doesNotThrow(() => assertRectInside({ x: 0, y: 0, width: 4, height: 3 }, 4, 3));
  for (const rect of [
    { x: 0, y: 0, width: 0, height: 3 },
    { x: 0.5, y: 0, width: 1, height: 1 },
    { x: 3, y: 0, width: 2, height: 1 },
    { x: -1, y: 0, width: 1, height: 1 },
  ]) {
    assert.throws(() => assertRectInside(rect, 4, 3), { code: "RENDER_REQUEST_INVALID" });
  }
});
