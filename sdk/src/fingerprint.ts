/**
 * The tolerant fingerprint: what replicas of a segment compare in tolerant verification mode,
 * where honest renders from different processors may differ in a few pixels (Cycles picks its
 * kernel from the CPU) while a cheaper render differs almost everywhere.
 *
 * Definition (version 1), over the segment's frames, all of one size W × H:
 * - Each frame is cut into a grid of {@link FINGERPRINT_GRID} × {@link FINGERPRINT_GRID} blocks;
 *   block (bx, by) covers columns `floor(bx·W/16) ≤ x < floor((bx+1)·W/16)` and rows
 *   `floor(by·H/16) ≤ y < floor((by+1)·H/16)` (a block is empty when W or H is under 16).
 * - Block k = by·16 + bx of the fingerprint covers block k of every frame. Its byte is
 *   `flat << 7 | (keccak256(bytes) [0] & 0x7f)` where `bytes` is the tag `"TESSELLATE-FP-V1"`,
 *   then for each frame in order the block's RGBA8 pixels row by row (straight alpha, as decoded
 *   by the sdk's PNG decoder), and `flat` is 1 when, in every frame, all the block's pixels equal
 *   its first pixel (an empty block is flat).
 * - The fingerprint is the 256 bytes of blocks 0..255.
 *
 * Agreement of two fingerprints under a tolerance of `toleranceBps` (parts of 10,000): blocks
 * whose bytes are equal and flat in both are left out (a flat area is right whatever the sample
 * count, so counting it would let a cheap render of a mostly empty frame pass); of the `n` blocks
 * left, `d` have different bytes; they agree when `d · 10,000 ≤ n · toleranceBps`. Two
 * fingerprints with nothing left to compare agree.
 *
 * A 7-bit block hash lets a differing block look equal with probability 1/128: the measured
 * margins (scripts/benchFingerprint.ts) are far wider than that.
 */
import { keccak256 } from "viem";
import { FatalError } from "./errors.ts";
import type { RgbaImage } from "./png.ts";

/**
 * The tolerance a tolerant job gets when its requester names none (manifest
 * `verification.toleranceBps`, `job submit --tolerance`, the dApp's New job form): 25 % of the
 * compared blocks may differ. It accepts the worst honest cross-CPU difference measured (3.3 %)
 * with a 7× margin and rejects every cheaper render measured (≥ 95 %) with a 3.8× margin
 * (docs/tolerant.md).
 */
export const DEFAULT_TOLERANCE_BPS = 2_500;

/** Blocks per side of the grid. */
export const FINGERPRINT_GRID = 16;
/** Bytes of a fingerprint: one per block. */
export const FINGERPRINT_BYTES = FINGERPRINT_GRID * FINGERPRINT_GRID;
/** ASCII tag hashed first into every block; changes if the definition ever changes. */
export const FINGERPRINT_TAG = "TESSELLATE-FP-V1";
/** Bit of a block's byte set when the block is flat (one colour in every frame). */
export const FLAT_BLOCK_BIT = 0x80;

const TAG_BYTES = new TextEncoder().encode(FINGERPRINT_TAG);

/** A fingerprint: `0x` followed by 512 lowercase hex digits (256 bytes). */
export type Fingerprint = `0x${string}`;

/**
 * Fingerprint of a segment's decoded frames, in the segment's frame order.
 * @throws FatalError `FINGERPRINT_FRAMES` when there are no frames or their sizes differ.
 */
export function fingerprint(frames: RgbaImage[]): Fingerprint {
  const first = frames[0];
  if (first === undefined) throw new FatalError("FINGERPRINT_FRAMES", "a fingerprint covers at least one frame, got none");
  const { width, height } = first;
  for (const [index, frame] of frames.entries()) {
    if (frame.width !== width || frame.height !== height || frame.data.length !== width * height * 4) {
      throw new FatalError(
        "FINGERPRINT_FRAMES",
        `frame ${index} is ${frame.width}x${frame.height} (${frame.data.length} bytes); every frame of a segment must be ${width}x${height} RGBA8`,
      );
    }
  }
  const out = new Uint8Array(FINGERPRINT_BYTES);
  for (let by = 0; by < FINGERPRINT_GRID; by++) {
    const y0 = Math.floor((by * height) / FINGERPRINT_GRID);
    const y1 = Math.floor(((by + 1) * height) / FINGERPRINT_GRID);
    for (let bx = 0; bx < FINGERPRINT_GRID; bx++) {
      const x0 = Math.floor((bx * width) / FINGERPRINT_GRID);
      const x1 = Math.floor(((bx + 1) * width) / FINGERPRINT_GRID);
      const rowBytes = (x1 - x0) * 4;
      const bytes = new Uint8Array(TAG_BYTES.length + frames.length * rowBytes * (y1 - y0));
      bytes.set(TAG_BYTES, 0);
      let offset = TAG_BYTES.length;
      let flat = true;
      for (const frame of frames) {
        const firstPixel = (y0 * width + x0) * 4;
        for (let y = y0; y < y1; y++) {
          const row = frame.data.subarray((y * width + x0) * 4, (y * width + x1) * 4);
          if (flat) flat = isOneColour(row, frame.data, firstPixel);
          bytes.set(row, offset);
          offset += rowBytes;
        }
      }
      const hash = Number.parseInt(keccak256(bytes).slice(2, 4), 16) & 0x7f;
      out[by * FINGERPRINT_GRID + bx] = (flat ? FLAT_BLOCK_BIT : 0) | hash;
    }
  }
  return toHex(out);
}

function isOneColour(row: Uint8Array, data: Uint8Array, pixel: number): boolean {
  for (let i = 0; i < row.length; i += 4) {
    if (row[i] !== data[pixel] || row[i + 1] !== data[pixel + 1] || row[i + 2] !== data[pixel + 2] || row[i + 3] !== data[pixel + 3]) {
      return false;
    }
  }
  return true;
}

/** How two fingerprints compare: blocks compared (flat-and-equal ones left out) and blocks that differ. */
export interface FingerprintComparison {
  compared: number;
  differing: number;
}

/**
 * Compares two fingerprints block by block (see the module's definition).
 * @throws FatalError `FINGERPRINT_INVALID` when either is not 256 bytes of hex.
 */
export function compareFingerprints(a: Fingerprint, b: Fingerprint): FingerprintComparison {
  const x = fromHex(a, "first");
  const y = fromHex(b, "second");
  let compared = 0;
  let differing = 0;
  for (let k = 0; k < FINGERPRINT_BYTES; k++) {
    if (x[k] === y[k] && (x[k]! & FLAT_BLOCK_BIT) !== 0) continue;
    compared++;
    if (x[k] !== y[k]) differing++;
  }
  return { compared, differing };
}

/** Whether two fingerprints agree under `toleranceBps` (parts of 10,000 of the compared blocks that may differ). */
export function fingerprintsAgree(a: Fingerprint, b: Fingerprint, toleranceBps: number): boolean {
  if (!Number.isInteger(toleranceBps) || toleranceBps < 0 || toleranceBps > 10_000) {
    throw new FatalError("FINGERPRINT_TOLERANCE", `a tolerance is 0 to 10000 parts of 10,000, got ${toleranceBps}`);
  }
  const { compared, differing } = compareFingerprints(a, b);
  return differing * 10_000 <= compared * toleranceBps;
}

function toHex(bytes: Uint8Array): Fingerprint {
  let hex = "0x";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex as Fingerprint;
}

function fromHex(value: string, which: string): Uint8Array {
  if (!/^0x[0-9a-fA-F]*$/.test(value) || value.length !== 2 + 2 * FINGERPRINT_BYTES) {
    throw new FatalError(
      "FINGERPRINT_INVALID",
      `the ${which} fingerprint must be 0x and ${2 * FINGERPRINT_BYTES} hex digits (${FINGERPRINT_BYTES} bytes), got ${value.length - 2} characters`,
    );
  }
  const bytes = new Uint8Array(FINGERPRINT_BYTES);
  for (let k = 0; k < FINGERPRINT_BYTES; k++) bytes[k] = Number.parseInt(value.slice(2 + 2 * k, 4 + 2 * k), 16);
  return bytes;
}
