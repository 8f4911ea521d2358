/**
 * PNG decoding to RGBA8 and encoding from RGBA8, in plain TypeScript over fflate's zlib, so it
 * runs the same in Node and in a browser (no Buffer, no node:zlib).
 *
 * Decoding accepts every standard PNG: bit depths 1, 2, 4, 8 and 16; grey, grey+alpha, RGB,
 * RGBA and palette; with or without `tRNS`; interlaced (Adam7) or not; the compressed data split
 * over any number of IDAT chunks. Samples are converted to 8 bits with exact integer arithmetic
 * (16-bit `v` → `floor((v·255 + 32767) / 65535)`), ancillary chunks (text, time, gamma, colour
 * profiles) are ignored, so the same stored pixels always decode to the same bytes whatever wrote
 * the file. Every chunk's CRC is checked.
 *
 * Hand-written because pngjs, used before, needs Node's Buffer and zlib; the format parts are
 * small (chunks and CRCs, the five row filters, Adam7, sample scaling) and pixelDigest.test.ts
 * covers every colour type, bit depth, tRNS and interlaced case; the compression is fflate's.
 */
import { unzlibSync, zlibSync } from "fflate";
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
  /** Inflates the image data instead of fflate (the node entry's {@link ZlibCodec} `nodeZlib` is several times faster). */
  zlib?: Pick<ZlibCodec, "inflate">;
}

/**
 * zlib for the PNG codec, where the platform has a faster one than fflate (node:zlib, see the
 * sdk's node entry). Any valid zlib stream decodes to the same pixels, so the codec never changes
 * a digest; encoded bytes may differ from fflate's.
 */
export interface ZlibCodec {
  deflate(data: Uint8Array, level: number): Uint8Array;
  /** Inflates to at most `expectedBytes` bytes (more is an error: a PNG says how much it holds). */
  inflate(data: Uint8Array, expectedBytes: number): Uint8Array;
}

/** Options of {@link encodePng}. */
export interface EncodePngOptions {
  /** zlib level 0..9 (default 6). Lower is faster and larger; pixels are the same. */
  deflateLevel?: number;
  /** Deflates the filtered rows instead of fflate (see {@link ZlibCodec}). */
  zlib?: Pick<ZlibCodec, "deflate">;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const DEFAULT_MAX_PIXELS = 16_384 * 16_384;
/** Samples per pixel of each colour type: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
const CHANNELS: Readonly<Record<number, number>> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Readonly<Record<number, readonly number[]>> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** Adam7 passes: x0, y0, dx, dy. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

function invalid(problem: string, cause?: unknown): FatalError {
  return new FatalError("PNG_INVALID", `PNG cannot be decoded (${problem}) — the file is corrupt or truncated`, cause === undefined ? undefined : { cause });
}

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

interface Header {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlaced: boolean;
}

interface Chunks {
  header: Header;
  /** The IDAT payloads, in order. */
  idat: Uint8Array[];
  palette?: Uint8Array;
  trns?: Uint8Array;
}

function readChunks(bytes: Uint8Array): Chunks {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: Header | undefined;
  const idat: Uint8Array[] = [];
  let palette: Uint8Array | undefined;
  let trns: Uint8Array | undefined;
  let pos = 8;
  for (;;) {
    if (pos + 12 > bytes.length) throw invalid("the file ends before its IEND chunk");
    const length = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]);
    if (pos + 12 + length > bytes.length) throw invalid(`the ${type} chunk runs past the end of the file`);
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if (crc32(bytes.subarray(pos + 4, pos + 8 + length)) !== view.getUint32(pos + 8 + length)) throw invalid(`CRC mismatch in the ${type} chunk`);
    pos += 12 + length;
    if (type === "IHDR") {
      if (length !== 13) throw invalid("IHDR is not 13 bytes");
      const d = new DataView(data.buffer, data.byteOffset, 13);
      header = { width: d.getUint32(0), height: d.getUint32(4), depth: data[8], colorType: data[9], interlaced: data[12] === 1 };
      if (data[10] !== 0 || data[11] !== 0 || data[12] > 1) throw invalid("unknown compression, filter or interlace method");
      if (!(DEPTHS[header.colorType] ?? []).includes(header.depth)) throw invalid(`bit depth ${header.depth} with colour type ${header.colorType}`);
    } else if (!header) {
      throw invalid("the first chunk is not IHDR");
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "PLTE") {
      palette = data;
    } else if (type === "tRNS") {
      trns = data;
    } else if (type === "IEND") {
      break;
    } else if ((bytes[pos - 12 - length + 4] & 0x20) === 0) {
      throw invalid(`unknown critical chunk ${type}`);
    }
  }
  if (!header) throw invalid("no IHDR chunk");
  if (idat.length === 0) throw invalid("no IDAT chunk");
  if (header.colorType === 3 && (!palette || palette.length % 3 !== 0 || palette.length === 0)) throw invalid("a palette image without a valid PLTE chunk");
  return { header, idat, palette, trns };
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
  const { header, idat, palette, trns } = readChunks(bytes);
  if (width < 1 || height < 1) throw invalid(`size ${width}×${height}`);
  const channels = CHANNELS[header.colorType];
  const bitsPerPixel = channels * header.depth;
  const passes = header.interlaced ? ADAM7 : ([[0, 0, 1, 1]] as const);
  const sizes = passes.map(([x0, y0, dx, dy]) => {
    const w = width > x0 ? Math.ceil((width - x0) / dx) : 0;
    const h = height > y0 ? Math.ceil((height - y0) / dy) : 0;
    return { w, h, rowBytes: w === 0 ? 0 : Math.ceil((w * bitsPerPixel) / 8) };
  });
  const expected = sizes.reduce((sum, s) => sum + (s.w === 0 ? 0 : s.h * (1 + s.rowBytes)), 0);

  let compressed: Uint8Array;
  if (idat.length === 1) compressed = idat[0];
  else {
    compressed = new Uint8Array(idat.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of idat) {
      compressed.set(c, at);
      at += c.length;
    }
  }
  let raw: Uint8Array;
  try {
    raw = options.zlib ? options.zlib.inflate(compressed, expected) : unzlibSync(compressed, { out: new Uint8Array(expected) });
  } catch (error) {
    throw invalid(`the image data does not inflate: ${(error as Error).message}`, error);
  }
  if (raw.length < expected) throw invalid(`the image data holds ${raw.length} of ${expected} bytes`);

  const out = new Uint8Array(width * height * 4);
  const bpp = Math.max(1, bitsPerPixel >> 3); // bytes per complete pixel, for filters
  const sampleAt = sampleReader(header.depth);
  const table = header.colorType === 3 || header.depth === 8 ? undefined : scaleTable(header.depth);
  const scale = (v: number) => (table ? table[v] : v);
  const transparent = trnsColour(header, trns);
  const paletteAlpha = header.colorType === 3 ? paletteAlphas(palette!, trns) : undefined;

  let offset = 0;
  for (const [p, [x0, y0, dx, dy]] of passes.entries()) {
    const { w, h, rowBytes } = sizes[p];
    if (w === 0 || h === 0) continue;
    let prev = new Uint8Array(rowBytes);
    let row = new Uint8Array(rowBytes);
    for (let r = 0; r < h; r++) {
      const filter = raw[offset];
      row.set(raw.subarray(offset + 1, offset + 1 + rowBytes));
      offset += 1 + rowBytes;
      unfilter(filter, row, prev, bpp);
      const y = y0 + r * dy;
      if (header.colorType === 6 && header.depth === 8 && dx === 1) {
        out.set(row, y * width * 4); // RGBA8, a whole row: the samples are the pixels
        [prev, row] = [row, prev];
        continue;
      }
      for (let i = 0; i < w; i++) {
        const o = (y * width + x0 + i * dx) * 4;
        const k = i * channels;
        switch (header.colorType) {
          case 0: {
            const v = sampleAt(row, k);
            const g = scale(v);
            out[o] = out[o + 1] = out[o + 2] = g;
            out[o + 3] = transparent && v === transparent[0] ? 0 : 255;
            break;
          }
          case 2: {
            const rv = sampleAt(row, k);
            const gv = sampleAt(row, k + 1);
            const bv = sampleAt(row, k + 2);
            out[o] = scale(rv);
            out[o + 1] = scale(gv);
            out[o + 2] = scale(bv);
            out[o + 3] = transparent && rv === transparent[0] && gv === transparent[1] && bv === transparent[2] ? 0 : 255;
            break;
          }
          case 3: {
            const index = sampleAt(row, k);
            if (index * 3 + 2 >= palette!.length) throw invalid(`palette index ${index} outside the ${palette!.length / 3}-colour palette`);
            out[o] = palette![index * 3];
            out[o + 1] = palette![index * 3 + 1];
            out[o + 2] = palette![index * 3 + 2];
            out[o + 3] = paletteAlpha![index];
            break;
          }
          case 4: {
            const g = scale(sampleAt(row, k));
            out[o] = out[o + 1] = out[o + 2] = g;
            out[o + 3] = scale(sampleAt(row, k + 1));
            break;
          }
          default: {
            out[o] = scale(sampleAt(row, k));
            out[o + 1] = scale(sampleAt(row, k + 1));
            out[o + 2] = scale(sampleAt(row, k + 2));
            out[o + 3] = scale(sampleAt(row, k + 3));
          }
        }
      }
      [prev, row] = [row, prev];
    }
  }
  return { width, height, data: out };
}

/** Reads sample number `k` of a row at the given bit depth. */
function sampleReader(depth: number): (row: Uint8Array, k: number) => number {
  switch (depth) {
    case 8:
      return (row, k) => row[k];
    case 16:
      return (row, k) => (row[2 * k] << 8) | row[2 * k + 1];
    default: {
      const mask = (1 << depth) - 1;
      const perByte = 8 / depth;
      return (row, k) => (row[Math.floor(k / perByte)] >> (8 - depth - (k % perByte) * depth)) & mask;
    }
  }
}

/** The tRNS colour of a grey or RGB image, in raw samples at the file's depth. */
function trnsColour(header: Header, trns: Uint8Array | undefined): number[] | undefined {
  if (!trns || (header.colorType !== 0 && header.colorType !== 2)) return undefined;
  const n = header.colorType === 0 ? 1 : 3;
  if (trns.length < n * 2) return undefined;
  return Array.from({ length: n }, (_, i) => (trns[2 * i] << 8) | trns[2 * i + 1]);
}

function paletteAlphas(palette: Uint8Array, trns: Uint8Array | undefined): Uint8Array {
  const alphas = new Uint8Array(palette.length / 3).fill(255);
  if (trns) alphas.set(trns.subarray(0, alphas.length));
  return alphas;
}

/** Undoes a row's filter in place (`prev` is the previous row, already unfiltered, zeros for the first). */
function unfilter(filter: number, row: Uint8Array, prev: Uint8Array, bpp: number): void {
  const n = row.length;
  switch (filter) {
    case 0:
      return;
    case 1:
      for (let i = bpp; i < n; i++) row[i] = (row[i] + row[i - bpp]) & 0xff;
      return;
    case 2:
      for (let i = 0; i < n; i++) row[i] = (row[i] + prev[i]) & 0xff;
      return;
    case 3:
      for (let i = 0; i < n; i++) row[i] = (row[i] + (((i >= bpp ? row[i - bpp] : 0) + prev[i]) >> 1)) & 0xff;
      return;
    case 4:
      for (let i = 0; i < bpp && i < n; i++) row[i] = (row[i] + prev[i]) & 0xff; // paeth(0, b, 0) = b
      for (let i = bpp; i < n; i++) row[i] = (row[i] + paeth(row[i - bpp], prev[i], prev[i - bpp])) & 0xff;
      return;
    default:
      throw invalid(`unknown row filter ${filter}`);
  }
}

function paeth(a: number, b: number, c: number): number {
  // p = a + b - c; pa = |p - a| = |b - c|, pb = |a - c|, pc = |a + b - 2c|
  let pa = b - c;
  let pb = a - c;
  let pc = pa + pb;
  if (pa < 0) pa = -pa;
  if (pb < 0) pb = -pb;
  if (pc < 0) pc = -pc;
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Encodes 8-bit RGBA pixels as a PNG (RGBA, 8 bits, Paeth filter on every row, no ancillary chunks). */
export function encodePng(image: RgbaImage, options: EncodePngOptions = {}): Uint8Array {
  assertImage(image);
  const { width, height, data } = image;
  const stride = width * 4;
  const filtered = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    const at = y * (stride + 1) + 1;
    filtered[at - 1] = 4;
    const row = y * stride;
    if (y === 0) {
      // No row above: paeth(a, 0, 0) = a, the Sub filter.
      for (let i = 0; i < 4 && i < stride; i++) filtered[at + i] = data[i];
      for (let i = 4; i < stride; i++) filtered[at + i] = (data[i] - data[i - 4]) & 0xff;
      continue;
    }
    const up = row - stride;
    for (let i = 0; i < 4; i++) filtered[at + i] = (data[row + i] - data[up + i]) & 0xff; // paeth(0, b, 0) = b
    for (let i = 4; i < stride; i++) filtered[at + i] = (data[row + i] - paeth(data[row + i - 4], data[up + i], data[up + i - 4])) & 0xff;
  }
  const level = Math.max(0, Math.min(9, Math.round(options.deflateLevel ?? 6))) as 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
  const compressed = options.zlib ? options.zlib.deflate(filtered, level) : zlibSync(filtered, { level });
  const ihdr = new Uint8Array(13);
  const hv = new DataView(ihdr.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = 6;
  const parts = [new Uint8Array(PNG_SIGNATURE), chunk("IHDR", ihdr), chunk("IDAT", compressed), chunk("IEND", new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO 3309, as PNG uses it). */
function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
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
