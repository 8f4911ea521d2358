import assert from "node:assert/strict";
import { test } from "node:test";
import { nodeSha256 } from "./nodeSha256.ts";
import { nodeZlib } from "./nodeZlib.ts";
import { createPixelDigest, pixelDigest, pngDigest } from "./pixelDigest.ts";
import { encodePng, type RgbaImage } from "./png.ts";

function gradient(width: number, height: number, seed: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 6) + seed * 13) & 0xff;
  return { width, height, data };
}

test("node:crypto's SHA-256 and @noble/hashes' give the same pixel digest, for one frame and several", () => {
  const frames = [gradient(97, 61, 1), gradient(1, 1, 2), gradient(320, 240, 3)];
  for (const images of [frames.slice(0, 1), frames]) {
    assert.equal(pixelDigest(images, { sha256: nodeSha256 }), pixelDigest(images));
  }
  const pngs = frames.map((image) => encodePng(image, { zlib: nodeZlib }));
  assert.equal(pngDigest(pngs, { zlib: nodeZlib, sha256: nodeSha256 }), pngDigest(pngs));
  // Incrementally, frame by frame, as the provider digests a segment.
  const one = createPixelDigest(1, { sha256: nodeSha256 });
  one.add({ width: 1, height: 1, data: new Uint8Array([1, 2, 3, 255]) });
  assert.equal(one.digest(), pixelDigest([{ width: 1, height: 1, data: new Uint8Array([1, 2, 3, 255]) }]));
});

test("node:crypto's SHA-256 hashes the announced frame count like the default (a frame too many is refused)", () => {
  const digester = createPixelDigest(1, { sha256: nodeSha256 });
  digester.add(gradient(2, 2, 0));
  assert.throws(() => digester.add(gradient(2, 2, 0)), /more than the 1 announced frames/);
});
