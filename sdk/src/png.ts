/**
 * PNG decoding to RGBA8 and encoding from RGBA8 (pngjs underneath).
 *
 * Decoding accepts every standard PNG: bit depths 1, 2, 4, 8 and 16; grey, grey+alpha, RGB,
 * RGBA and palette; with or without `tRNS`; interlaced or not. Samples are converted to 8 bits
 * with exact integer arithmetic (16-bit `v` → `floor((v·255 + 32767) / 65535)`), ancillary
 * chunks (text, time, gamma, colour profiles) are ignored, so the same stored pixels always
 * decode to the same bytes whatever wrote the file.
 */
import { PNG } from "pngjs";
import { FatalError } from "./errors.ts";

/** An 8-bit RGBA image, rows top to bottom, 4 bytes per pixel (straight, not premultiplied alpha). */
export interface RgbaImage {
  width: number;
  height: number;
  /** `width · height · 4` bytes. */
  data: Uint8Array;
}

/** Options of {@link decodePng}. */
export interface DecodePngOptions {
  /** Refuse images with more pixels than this before inflating anything (default 16384 × 16384). */
  maxPixels?: number;
}

/** Options of {@link encodePng}. */
export interface EncodePngOptions {
  /** zlib level 0..9 (default 6). Lower is faster and larger; pixels are the same. */
  deflateLevel?: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const DEFAULT_MAX_PIXELS = 16_384 * 16_384;

/**
 * Width and height from a PNG's header, without decoding it.
 * @throws FatalError `PNG_INVALID` when the bytes do not start with a PNG signature and IHDR chunk.
 */
export function readPngSize(bytes: Uint8Array): { width: number; height: number } {
  const isPng =
    bytes.length >= 24 &&
    PNG_SIGNATURE.every((b, i) => bytes[i] === b) &&
    String.fromCharCode(bytes[12], bytes[13], bytes[14], bytes[15]) === "IHDR";
  if (!isPng) throw new FatalError("PNG_INVALID", "not a PNG file (no PNG signature and IHDR header) — provide the PNG the engine wrote");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/**
 * Decodes a PNG to 8-bit RGBA.
 * @throws FatalError `PNG_INVALID` when the file is corrupt or unsupported, `PNG_TOO_LARGE` over `maxPixels`.
 */
export function decodePng(bytes: Uint8Array, options: DecodePngOptions = {}): RgbaImage {
  const { width, height } = readPngSize(bytes);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width * height > maxPixels) {
    throw new FatalError("PNG_TOO_LARGE", `PNG is ${width}×${height}, more than the ${maxPixels} pixels allowed — render a smaller image or tile`);
  }
  let png: ReturnType<typeof PNG.sync.read> & { depth?: number; colorType?: number; transColor?: number[] };
  try {
    // skipRescale: we scale samples ourselves with exact integer arithmetic.
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
  } catch (error) {
    throw new FatalError("PNG_INVALID", `PNG cannot be decoded (${(error as Error).message}) — the file is corrupt or truncated`, { cause: error });
  }
  return { width, height, data: toRgba8(png.data as unknown as ArrayLike<number>, width, height, png.depth ?? 8, png.colorType ?? 6, png.transColor) };
}

/** Encodes 8-bit RGBA pixels as a PNG (RGBA, 8 bits, no ancillary chunks). */
export function encodePng(image: RgbaImage, options: EncodePngOptions = {}): Uint8Array {
  assertImage(image);
  const data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  const bytes = PNG.sync.write(
    { width: image.width, height: image.height, data } as unknown as PNG,
    { colorType: 6, inputColorType: 6, bitDepth: 8, inputHasAlpha: true, deflateLevel: options.deflateLevel ?? 6, filterType: 4 },
  );
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Checks that `image` is a well-formed RGBA8 image.
 * @throws FatalError `IMAGE_INVALID` naming what is wrong.
 */
export function assertImage(image: RgbaImage): void {
  const { width, height, data } = image;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new FatalError("IMAGE_INVALID", `image size ${width}×${height} is not a positive integer size`);
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * 4) {
    throw new FatalError("IMAGE_INVALID", `image data has ${data?.length} bytes, expected ${width}×${height}×4 = ${width * height * 4} (RGBA8)`);
  }
}

/**
 * pngjs with `skipRescale` gives 4 samples per pixel at the file's bit depth (palette already
 * expanded to 8-bit RGBA; a `tRNS` colour match zeroed in all four samples). Scale to 8 bits and
 * restore the colour of `tRNS`-transparent pixels, which the PNG spec keeps (only alpha is 0).
 */
function toRgba8(samples: ArrayLike<number>, width: number, height: number, depth: number, colorType: number, transColor: number[] | undefined): Uint8Array {
  const n = width * height * 4;
  const isPalette = colorType === 3;
  const table = isPalette || depth === 8 ? undefined : scaleTable(depth);
  let out: Uint8Array;
  if (!table) {
    // Already 8-bit; pngjs allocated this buffer for us alone, so use it as is.
    out = samples instanceof Uint8Array ? new Uint8Array(samples.buffer, samples.byteOffset, n) : Uint8Array.from(samples);
  } else {
    out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = table[samples[i]];
  }
  const hasAlphaChannel = colorType === 4 || colorType === 6;
  if (transColor && !isPalette && !hasAlphaChannel) {
    const scale = (v: number) => (table ? table[v] : v);
    const [r, g, b] = transColor.length === 1 ? [transColor[0], transColor[0], transColor[0]] : transColor;
    const rgb = [scale(r), scale(g), scale(b)];
    // Without an alpha channel every pixel is opaque except those matching the tRNS colour.
    for (let i = 0; i < n; i += 4) {
      if (samples[i + 3] === 0) {
        out[i] = rgb[0];
        out[i + 1] = rgb[1];
        out[i + 2] = rgb[2];
      }
    }
  }
  return out;
}

const scaleTables = new Map<number, Uint8Array>();

/** Sample value at `depth` bits → 8 bits: `floor((v·255 + floor(max/2)) / max)`, exact for every depth. */
function scaleTable(depth: number): Uint8Array {
  let table = scaleTables.get(depth);
  if (!table) {
    const max = 2 ** depth - 1;
    table = new Uint8Array(max + 1);
    for (let v = 0; v <= max; v++) table[v] = Math.floor((v * 255 + (max >> 1)) / max);
    scaleTables.set(depth, table);
  }
  return table;
}
