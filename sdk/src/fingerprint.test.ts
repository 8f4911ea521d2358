import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { keccak256 } from "viem";
import {
  compareFingerprints,
  fingerprint,
  FINGERPRINT_BYTES,
  FLAT_BLOCK_BIT,
  fingerprintsAgree,
  type Fingerprint,
} from "./fingerprint.ts";
import type { RgbaImage } from "./png.ts";

function image(width: number, height: number, pixel: (x: number, y: number) => [number, number, number, number]): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 4);
  return { width, height, data };
}

const noisy = (x: number, y: number): [number, number, number, number] => [(x * 7 + y * 13) & 255, (x * y) & 255, (x + 3 * y) & 255, 255];
const bytesOf = (fp: Fingerprint) => Array.from({ length: FINGERPRINT_BYTES }, (_, k) => Number.parseInt(fp.slice(2 + 2 * k, 4 + 2 * k), 16));

describe("tolerant fingerprint", () => {
  it("is 256 bytes, deterministic, and pinned for a known image", () => {
    const fp = fingerprint([image(64, 48, noisy)]);
    assert.equal(fp.length, 2 + 2 * FINGERPRINT_BYTES);
    assert.equal(fingerprint([image(64, 48, noisy)]), fp);
    // Pinned: the fingerprint is part of the protocol; a change here breaks every tolerant job.
    assert.equal(fp.slice(0, 18), "0x41192641473a0d06");
    // Block 0 re-derived from the definition: 4 x 3 pixels, tag then rows, low 7 bits of keccak's first byte.
    const rows: number[] = [];
    for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) rows.push(...noisy(x, y));
    const hashed = keccak256(new Uint8Array([...new TextEncoder().encode("TESSELLATE-FP-V1"), ...rows]));
    assert.equal(bytesOf(fp)[0], Number.parseInt(hashed.slice(2, 4), 16) & 0x7f);
  });

  it("a one-pixel change alters exactly the block that holds the pixel", () => {
    const a = image(64, 48, noisy);
    const b = image(64, 48, (x, y) => (x === 37 && y === 20 ? [0, 0, 0, 255] : noisy(x, y)));
    const x = bytesOf(fingerprint([a]));
    const y = bytesOf(fingerprint([b]));
    const changed = x.flatMap((v, k) => (v === y[k] ? [] : [k]));
    // 64 px / 16 = 4 px per block column, 48 / 16 = 3 rows: pixel (37, 20) is in block (9, 6).
    assert.deepEqual(changed, [6 * 16 + 9]);
  });

  it("marks one-colour blocks flat and leaves equal flat blocks out of the comparison", () => {
    // A frame that is one colour except an object in the top-left block: a "cheap render" that
    // differs only in the object must not pass by the 255 empty blocks it got right for free.
    const background = (): [number, number, number, number] => [20, 30, 40, 255];
    const honest = image(160, 160, (x, y) => (x < 10 && y < 10 ? noisy(x, y) : background()));
    const cheap = image(160, 160, (x, y) => (x < 10 && y < 10 ? noisy(x + 1, y) : background()));
    const fpHonest = fingerprint([honest]);
    assert.equal(bytesOf(fpHonest)[0]! & FLAT_BLOCK_BIT, 0);
    assert.ok(bytesOf(fpHonest).slice(1).every((v) => (v & FLAT_BLOCK_BIT) !== 0));
    assert.deepEqual(compareFingerprints(fpHonest, fingerprint([cheap])), { compared: 1, differing: 1 });
    assert.equal(fingerprintsAgree(fpHonest, fingerprint([cheap]), 5_000), false);
  });

  it("two flat blocks of different colours differ", () => {
    const red = fingerprint([image(32, 32, () => [255, 0, 0, 255])]);
    const blue = fingerprint([image(32, 32, () => [0, 0, 255, 255])]);
    const c = compareFingerprints(red, blue);
    // 1/128 of the blocks may collide by chance; these do not.
    assert.equal(c.compared, 256);
    assert.ok(c.differing >= 250);
  });

  it("agrees exactly at the tolerance and not one block past it", () => {
    const base = bytesOf(fingerprint([image(64, 64, noisy)]));
    const withChanged = (n: number) =>
      `0x${base.map((v, k) => (k < n ? v ^ 1 : v).toString(16).padStart(2, "0")).join("")}` as Fingerprint;
    const reference = withChanged(0);
    // 256 compared blocks, tolerance 10 % = 25.6 blocks: 25 agree, 26 do not.
    assert.equal(fingerprintsAgree(reference, withChanged(25), 1_000), true);
    assert.equal(fingerprintsAgree(reference, withChanged(26), 1_000), false);
    // 64 of 256 is exactly 25 %.
    assert.equal(fingerprintsAgree(reference, withChanged(64), 2_500), true);
    assert.equal(fingerprintsAgree(reference, withChanged(65), 2_500), false);
    assert.equal(fingerprintsAgree(reference, reference, 0), true);
    assert.equal(fingerprintsAgree(reference, withChanged(1), 0), false);
  });

  it("covers every frame of a segment: a change in a later frame changes the block", () => {
    const a = image(32, 32, noisy);
    const b = image(32, 32, (x, y) => (x === 0 && y === 0 ? [1, 2, 3, 4] : noisy(x, y)));
    assert.notEqual(fingerprint([a, a]), fingerprint([a, b]));
    assert.deepEqual(compareFingerprints(fingerprint([a, a]), fingerprint([a, b])), { compared: 256, differing: 1 });
  });

  it("handles frames smaller than the grid (empty blocks are flat and equal)", () => {
    const tiny = fingerprint([image(5, 3, noisy)]);
    const c = compareFingerprints(tiny, fingerprint([image(5, 3, noisy)]));
    assert.equal(c.differing, 0);
    assert.ok(c.compared <= 15);
  });

  it("refuses frames of different sizes, no frames, malformed fingerprints and tolerances", () => {
    assert.throws(() => fingerprint([]), /at least one frame/);
    assert.throws(() => fingerprint([image(4, 4, noisy), image(4, 5, noisy)]), /frame 1 is 4x5/);
    const good = fingerprint([image(8, 8, noisy)]);
    assert.throws(() => compareFingerprints(good, "0x1234" as Fingerprint), /second fingerprint must be 0x and 512 hex digits/);
    assert.throws(() => compareFingerprints(`0x${"zz".repeat(256)}` as Fingerprint, good), /first fingerprint/);
    assert.throws(() => fingerprintsAgree(good, good, 10_001), /0 to 10000/);
    assert.throws(() => fingerprintsAgree(good, good, 1.5), /0 to 10000/);
  });
});
