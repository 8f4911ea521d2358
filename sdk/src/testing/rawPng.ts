/**
 * A small PNG writer independent of the sdk's encoder, so tests can produce every colour type,
 * bit depth, palette, tRNS, interlacing and ancillary chunk (pngjs only writes 8/16-bit
 * non-palette files): the sdk's pixel-digest tests and the dApp's browser test (the same files
 * decoded in Chromium) use it. Node only (node:zlib).
 */
import { crc32, deflateSync } from "node:zlib";

export interface RawPng {
  width: number;
  height: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA. */
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** Samples per pixel, row-major (palette: one index per pixel). */
  samples: number[];
  palette?: Array<[number, number, number]>;
  /** tRNS: palette alphas, or the transparent grey / RGB sample(s). */
  trns?: number[];
  interlace?: boolean;
  text?: Record<string, string>;
  time?: [number, number, number, number, number, number];
  /** Split the compressed data over IDAT chunks of this many bytes. */
  idatSize?: number;
}

/** Samples per pixel of each colour type. */
function channelsOf(colorType: RawPng["colorType"]): number {
  return colorType === 2 ? 3 : colorType === 4 ? 2 : colorType === 6 ? 4 : 1;
}

/**
 * Adam7 as the PNG specification draws it: the pass (1–7) in which each pixel of every 8×8 block
 * is sent. Written from the specification's figure, not from the decoder's table, so a wrong
 * table in the decoder cannot agree with this writer.
 */
const ADAM7_FIGURE = ["16462646", "77777777", "56565656", "77777777", "36463646", "77777777", "56565656", "77777777"];

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const body = Buffer.concat([head.subarray(4), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0, 0);
  return Buffer.concat([head.subarray(0, 4), body, crc]);
}

export function writeRawPng(png: RawPng): Uint8Array {
  const channels = channelsOf(png.colorType);
  const bits = png.bitDepth;
  const rows: Buffer[] = [];
  const passOf = (x: number, y: number) => (png.interlace ? Number(ADAM7_FIGURE[y % 8]![x % 8]) : 1);
  for (let pass = 1; pass <= (png.interlace ? 7 : 1); pass++) {
    for (let y = 0; y < png.height; y++) {
      // This pass's pixels of row y, left to right (a pass sends the same columns in each of its rows).
      const xs: number[] = [];
      for (let x = 0; x < png.width; x++) if (passOf(x, y) === pass) xs.push(x);
      if (xs.length === 0) continue;
      const row = Buffer.alloc(1 + Math.ceil((xs.length * channels * bits) / 8)); // filter byte 0 (None)
      for (const [i, x] of xs.entries()) {
        for (let c = 0; c < channels; c++) {
          const v = png.samples[(y * png.width + x) * channels + c];
          const k = i * channels + c;
          if (bits === 16) row.writeUInt16BE(v, 1 + k * 2);
          else if (bits === 8) row[1 + k] = v;
          else {
            const bitPos = k * bits;
            row[1 + (bitPos >> 3)] |= v << (8 - bits - (bitPos & 7));
          }
        }
      }
      rows.push(row);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(png.width, 0);
  ihdr.writeUInt32BE(png.height, 4);
  ihdr[8] = bits;
  ihdr[9] = png.colorType;
  ihdr[12] = png.interlace ? 1 : 0;
  const out: Buffer[] = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr)];
  for (const [key, value] of Object.entries(png.text ?? {})) out.push(chunk("tEXt", Buffer.from(`${key}\0${value}`, "latin1")));
  if (png.time) {
    const t = Buffer.alloc(7);
    t.writeUInt16BE(png.time[0], 0);
    png.time.slice(1).forEach((v, i) => (t[2 + i] = v));
    out.push(chunk("tIME", t));
  }
  if (png.palette) out.push(chunk("PLTE", Buffer.from(png.palette.flat())));
  if (png.trns) {
    if (png.colorType === 3) out.push(chunk("tRNS", Buffer.from(png.trns)));
    else {
      const t = Buffer.alloc(png.trns.length * 2);
      png.trns.forEach((v, i) => t.writeUInt16BE(v, i * 2));
      out.push(chunk("tRNS", t));
    }
  }
  const data = deflateSync(Buffer.concat(rows));
  const size = png.idatSize ?? data.length;
  for (let i = 0; i < data.length; i += size) out.push(chunk("IDAT", data.subarray(i, i + size)));
  out.push(chunk("IEND", new Uint8Array(0)));
  return new Uint8Array(Buffer.concat(out));
}
