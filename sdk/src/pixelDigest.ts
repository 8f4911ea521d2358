/**
 * The pixel digest: what redundant replicas of one segment must agree on. It is a sha256 over
 * the decoded pixels, never over the file, whose metadata (dates, software, compression) changes
 * from run to run.
 *
 * Bytes hashed (version 1):
 * ```
 * "TESSELLATE-RGBA8-V1"            19 ASCII bytes
 * frameCount                       uint32 big-endian
 * per frame, in the segment's frame order:
 *   width, height                  uint32 big-endian each
 *   RGBA8 pixels, row-major        width·height·4 bytes, straight alpha
 * ```
 * PNGs are decoded with {@link decodePng}, so 8- and 16-bit files, RGB and opaque RGBA,
 * palette and interlaced files holding the same pixels give the same digest. sha256 is
 * @noble/hashes' (the one under viem), so the digest is computed the same in Node and a browser;
 * Node callers may pass node:crypto's instead (`{ sha256: nodeSha256 }` from the sdk's node entry,
 * ~10× faster on a tile's pixels), which gives the same digest (a test asserts it).
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { FatalError } from "./errors.ts";
import { assertImage, decodePng, type DecodePngOptions, type RgbaImage } from "./png.ts";


/** ASCII tag at the start of every digested byte stream; changes if the format ever changes. */
export const PIXEL_DIGEST_TAG = "TESSELLATE-RGBA8-V1";
const TAG_BYTES = Uint8Array.from(PIXEL_DIGEST_TAG, (c) => c.charCodeAt(0));

/** A pixel digest: `0x` followed by 64 lowercase hex digits (32 bytes). */
export type PixelDigest = `0x${string}`;

/** Incremental digest over frames added one at a time (bounded memory for long segments). */
export interface PixelDigester {
  /** Adds the next frame. */
  add(image: RgbaImage): void;
  /** The digest; throws if fewer or more frames were added than announced. */
  digest(): PixelDigest;
}

/** An incremental SHA-256 (what {@link PixelDigestOptions.sha256} returns). */
export interface Sha256Hasher {
  update(bytes: Uint8Array): void;
  /** The 32-byte hash of everything updated. */
  digest(): Uint8Array;
}

export interface PixelDigestOptions {
  /** Starts a SHA-256; @noble/hashes' by default (browser-safe), node:crypto's in Node (`nodeSha256`). */
  sha256?: () => Sha256Hasher;
}

/**
 * Starts a digest of `frameCount` frames, to be added in order with `add`.
 * @throws FatalError `DIGEST_FRAME_COUNT` from `add`/`digest` when the number of frames differs.
 */
export function createPixelDigest(frameCount: number, options: PixelDigestOptions = {}): PixelDigester {
  if (!Number.isSafeInteger(frameCount) || frameCount < 1 || frameCount > 0xffffffff) {
    throw new FatalError("DIGEST_FRAME_COUNT", `a pixel digest covers 1 to 4294967295 frames, got ${frameCount}`);
  }
  const hash = (options.sha256 ?? sha256.create)();
  hash.update(TAG_BYTES);
  hash.update(uint32be(frameCount));
  let added = 0;
  let done = false;
  return {
    add(image) {
      if (done) throw new FatalError("DIGEST_FRAME_COUNT", "frame added after the digest was taken");
      if (added === frameCount) throw new FatalError("DIGEST_FRAME_COUNT", `more than the ${frameCount} announced frames added`);
      assertImage(image);
      hash.update(uint32be(image.width));
      hash.update(uint32be(image.height));
      hash.update(image.data);
      added++;
    },
    digest() {
      if (added !== frameCount) {
        throw new FatalError("DIGEST_FRAME_COUNT", `${added} of the ${frameCount} announced frames were added before taking the digest`);
      }
      done = true;
      return `0x${bytesToHex(hash.digest())}`;
    },
  };
}

/** Pixel digest of decoded frames, in order. */
export function pixelDigest(images: RgbaImage[], options?: PixelDigestOptions): PixelDigest {
  const digester = createPixelDigest(images.length, options);
  for (const image of images) digester.add(image);
  return digester.digest();
}

/** Pixel digest of PNG files (one per frame, in order), decoded one at a time. */
export function pngDigest(pngBytesList: Uint8Array[], options?: DecodePngOptions & PixelDigestOptions): PixelDigest {
  const digester = createPixelDigest(pngBytesList.length, options);
  for (const bytes of pngBytesList) digester.add(decodePng(bytes, options));
  return digester.digest();
}

/** True when `value` is a well-formed digest (`0x` + 64 hex digits, any case). */
export function isPixelDigest(value: unknown): value is PixelDigest {
  return typeof value === "string" && /^0x[0-9a-fA-F]{64}$/.test(value);
}

/** Compares two digests, ignoring hex case. */
export function sameDigest(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function uint32be(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value);
  return bytes;
}
