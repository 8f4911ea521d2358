import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { FatalError } from "./errors.ts";
import { createPixelDigest, isPixelDigest, pixelDigest, pngDigest } from "./pixelDigest.ts";
import { decodePng, encodePng, readPngSize, type RgbaImage } from "./png.ts";
import { writeRawPng, type RawPng } from "./testing/rawPng.ts";

/** The RGBA8 samples of an image as raw writer input for colour type 6. */
function rgba(image: RgbaImage): RawPng {
  return { width: image.width, height: image.height, colorType: 6, bitDepth: 8, samples: [...image.data] };
}

/** A 5×3 test image with distinct opaque colours (odd size, so interlace passes are uneven). */
function opaqueImage(): RgbaImage {
  const width = 5;
  const height = 3;
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) data.set([(i * 37) % 256, (i * 91 + 7) % 256, (i * 53 + 200) % 256, 255], i * 4);
  return { width, height, data };
}

function pixelsOf(image: RgbaImage, channels: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < image.width * image.height; i++) for (const c of channels) out.push(image.data[i * 4 + c]);
  return out;
}

describe("pixelDigest", () => {
  it("matches a hand-computed sha256 (known answer)", () => {
    // Expected values computed independently with Python's hashlib over
    // b"TESSELLATE-RGBA8-V1" + be32(frames) + (be32(w) + be32(h) + rgba) per frame.
    const frame1 = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 255, 0, 0, 255, 128]) };
    const frame2 = { width: 1, height: 1, data: new Uint8Array([1, 2, 3, 4]) };
    assert.equal(pixelDigest([frame1]), "0xcc1ad2039d12a828cf9de73c801cba875027992685d3c2ba0ff43a13451e3b40");
    assert.equal(pixelDigest([frame1, frame2]), "0x621f311bb35e8385f3a71c1b628f8efd4add9b74b20c057186e8d619fb15862d");
    assert.equal(pngDigest([encodePng(frame1), encodePng(frame2)]), pixelDigest([frame1, frame2]));
  });

  it("ignores metadata chunks, chunking and the encoder", () => {
    const image = opaqueImage();
    const plain = writeRawPng(rgba(image));
    const withMeta = writeRawPng({ ...rgba(image), text: { Software: "Blender 4.2", "Render time": "00:01.27" }, time: [2025, 1, 2, 3, 4, 5], idatSize: 7 });
    const otherMeta = writeRawPng({ ...rgba(image), text: { Software: "POV-Ray" }, time: [2026, 12, 31, 23, 59, 59] });
    assert.notDeepEqual(plain, withMeta);
    const expected = pixelDigest([image]);
    for (const file of [plain, withMeta, otherMeta, encodePng(image), encodePng(image, { deflateLevel: 0 })]) {
      assert.equal(pngDigest([file]), expected);
    }
  });

  it("gives the same digest for RGB and opaque RGBA, 8 and 16 bits, palette and interlaced files of the same pixels", () => {
    const image = opaqueImage();
    const rgb = pixelsOf(image, [0, 1, 2]);
    const expected = pixelDigest([image]);
    const palette: Array<[number, number, number]> = [];
    const indices = rgb.flatMap((_, i) => (i % 3 === 0 ? [palette.push([rgb[i], rgb[i + 1], rgb[i + 2]]) - 1] : []));
    const variants: RawPng[] = [
      { ...rgba(image), colorType: 2, samples: rgb },
      { ...rgba(image), colorType: 2, bitDepth: 16, samples: rgb.map((v) => v * 257) },
      { ...rgba(image), bitDepth: 16, samples: [...image.data].map((v) => v * 257) },
      { ...rgba(image), interlace: true },
      { ...rgba(image), colorType: 2, samples: rgb.map((v) => v * 257), interlace: true, bitDepth: 16 },
      { ...rgba(image), colorType: 3, samples: indices, palette },
      { ...rgba(image), colorType: 3, samples: indices, palette, interlace: true },
    ];
    for (const variant of variants) assert.equal(pngDigest([writeRawPng(variant)]), expected, JSON.stringify({ ...variant, samples: undefined }));
  });

  it("decodes grey at 1, 2, 4, 8 and 16 bits to the same pixels", () => {
    const width = 7;
    const height = 2;
    // levels 0..max of each depth, spread over the image
    for (const depth of [1, 2, 4, 8, 16] as const) {
      const max = 2 ** depth - 1;
      const samples = Array.from({ length: width * height }, (_, i) => (i * 5) % (max + 1));
      const grey = decodePng(writeRawPng({ width, height, colorType: 0, bitDepth: depth, samples }));
      const greyAlpha = decodePng(writeRawPng({ width, height, colorType: 4, bitDepth: depth === 16 ? 16 : 8, samples: samples.flatMap((v) => [depth === 16 ? v : Math.round((v * 255) / max), depth === 16 ? 65535 : 255]) }));
      for (let i = 0; i < width * height; i++) {
        const v8 = depth === 16 ? Math.floor((samples[i] * 255 + 32767) / 65535) : (samples[i] * 255) / max;
        assert.deepEqual([...grey.data.subarray(i * 4, i * 4 + 4)], [v8, v8, v8, 255], `depth ${depth} pixel ${i}`);
      }
      assert.deepEqual(greyAlpha.data, grey.data, `grey+alpha at depth ${depth}`);
    }
  });

  it("converts 16-bit samples with (v·255 + 32767) / 65535 rounded down", () => {
    const samples = [0, 128, 129, 257, 32767, 32768, 32896, 65278, 65406, 65407, 65535, 1000, 40000];
    const image = decodePng(writeRawPng({ width: samples.length, height: 1, colorType: 0, bitDepth: 16, samples }));
    const expected = samples.map((v) => Number((BigInt(v) * 255n + 32767n) / 65535n));
    assert.deepEqual(expected.slice(0, 11), [0, 0, 1, 1, 127, 128, 128, 254, 254, 255, 255]);
    assert.deepEqual(pixelsOf(image, [0]), expected);
  });

  it("applies tRNS: palette alpha, and the transparent grey/RGB colour with its colour kept", () => {
    const palette: Array<[number, number, number]> = [[10, 20, 30], [200, 100, 50]];
    const pal = decodePng(writeRawPng({ width: 2, height: 1, colorType: 3, bitDepth: 1, samples: [0, 1], palette, trns: [0] }));
    assert.deepEqual([...pal.data], [10, 20, 30, 0, 200, 100, 50, 255]);
    const rgb = decodePng(writeRawPng({ width: 2, height: 1, colorType: 2, bitDepth: 8, samples: [10, 20, 30, 200, 100, 50], trns: [10, 20, 30] }));
    assert.deepEqual([...rgb.data], [10, 20, 30, 0, 200, 100, 50, 255]);
    const rgb16 = decodePng(writeRawPng({ width: 2, height: 1, colorType: 2, bitDepth: 16, samples: [2570, 5140, 7710, 0, 0, 0], trns: [2570, 5140, 7710] }));
    assert.deepEqual([...rgb16.data], [10, 20, 30, 0, 0, 0, 0, 255]);
    const grey4 = decodePng(writeRawPng({ width: 3, height: 1, colorType: 0, bitDepth: 4, samples: [3, 4, 15], trns: [3] }));
    assert.deepEqual([...grey4.data], [51, 51, 51, 0, 68, 68, 68, 255, 255, 255, 255, 255]);
    // and the same pixels stored as RGBA give the same digest
    assert.equal(pixelDigest([rgb]), pngDigest([writeRawPng({ width: 2, height: 1, colorType: 6, bitDepth: 8, samples: [...rgb.data] })]));
  });

  it("changes when one pixel changes, with the frame order, and with the shape", () => {
    const image = opaqueImage();
    const changed = { ...image, data: image.data.slice() };
    changed.data[4 * 7 + 1] ^= 1;
    assert.notEqual(pixelDigest([changed]), pixelDigest([image]));
    const other = { width: 1, height: 1, data: new Uint8Array([9, 9, 9, 255]) };
    assert.notEqual(pixelDigest([image, other]), pixelDigest([other, image]));
    assert.notEqual(pixelDigest([image]), pixelDigest([image, image]));
    const bytes = new Uint8Array(16).fill(7);
    assert.notEqual(pixelDigest([{ width: 4, height: 1, data: bytes }]), pixelDigest([{ width: 2, height: 2, data: bytes }]));
  });

  it("round-trips random images through encodePng/decodePng and a digest over the raw writer (property)", () => {
    const imageArb = fc
      .record({ width: fc.integer({ min: 1, max: 12 }), height: fc.integer({ min: 1, max: 12 }), interlace: fc.boolean() })
      .chain(({ width, height, interlace }) =>
        fc.uint8Array({ minLength: width * height * 4, maxLength: width * height * 4 }).map((data) => ({ image: { width, height, data }, interlace })),
      );
    fc.assert(
      fc.property(imageArb, ({ image, interlace }) => {
        const decoded = decodePng(encodePng(image));
        assert.deepEqual(decoded, image);
        assert.equal(pngDigest([writeRawPng({ ...rgba(image), interlace })]), pixelDigest([image]));
      }),
      { numRuns: 100 },
    );
  });

  it("counts frames in the incremental digester", () => {
    const image = opaqueImage();
    const digester = createPixelDigest(2);
    digester.add(image);
    assert.throws(() => digester.digest(), { code: "DIGEST_FRAME_COUNT" });
    digester.add(image);
    assert.throws(() => digester.add(image), { code: "DIGEST_FRAME_COUNT" });
    assert.equal(digester.digest(), pixelDigest([image, image]));
    assert.ok(isPixelDigest(pixelDigest([image])));
    assert.throws(() => pixelDigest([]), { code: "DIGEST_FRAME_COUNT" });
    assert.throws(() => pixelDigest([{ width: 2, height: 2, data: new Uint8Array(15) }]), { code: "IMAGE_INVALID" });
  });

  it("rejects corrupt, truncated and oversized PNGs with a FatalError", () => {
    const file = encodePng(opaqueImage());
    assert.deepEqual(readPngSize(file), { width: 5, height: 3 });
    assert.throws(() => decodePng(new Uint8Array([1, 2, 3])), (e) => e instanceof FatalError && e.code === "PNG_INVALID");
    const corrupt = file.slice();
    corrupt[40] ^= 0xff; // inside IDAT: CRC mismatch
    assert.throws(() => decodePng(corrupt), { code: "PNG_INVALID" });
    assert.throws(() => decodePng(file.subarray(0, file.length - 20)), { code: "PNG_INVALID" });
    assert.throws(() => decodePng(file, { maxPixels: 14 }), { code: "PNG_TOO_LARGE" });
  });
});
