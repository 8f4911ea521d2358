import assert from "node:assert/strict";
import { test } from "node:test";
import { nodeZlib } from "./nodeZlib.ts";
import { pngDigest } from "./pixelDigest.ts";
import { decodePng, encodePng, type RgbaImage } from "./png.ts";

function gradient(width: number, height: number): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 6)) & 0xff;
  return { width, height, data };
}

test("node:zlib and fflate encode and decode to the same pixels and the same digest", () => {
  const image = gradient(97, 61);
  const viaFflate = encodePng(image);
  const viaNode = encodePng(image, { zlib: nodeZlib });
  for (const bytes of [viaFflate, viaNode]) {
    assert.deepEqual(decodePng(bytes).data, image.data);
    assert.deepEqual(decodePng(bytes, { zlib: nodeZlib }).data, image.data);
  }
  assert.equal(pngDigest([viaNode], { zlib: nodeZlib }), pngDigest([viaFflate]));
});

test("node:zlib refuses image data that inflates to more than the PNG declares", () => {
  const png = encodePng(gradient(16, 16), { zlib: nodeZlib });
  const big = nodeZlib.deflate(new Uint8Array(16 * 65 * 4), 6);
  assert.throws(() => nodeZlib.inflate(big, 16 * 65));
  assert.equal(decodePng(png, { zlib: nodeZlib }).width, 16);
});
