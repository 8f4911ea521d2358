/**
 * PNG helpers shared by the engine adapters: engines that write more than the requested
 * rectangle (POV-Ray's partial render keeps the full frame size) are cropped here, and every
 * adapter's output is re-encoded as a plain 8-bit RGBA PNG with no metadata, so that what the
 * worker digests and uploads does not depend on which engine wrote it. Decoding and encoding
 * are the sdk's (`@tessellate/sdk/png`), the same the pixel digest uses, with node:zlib instead of
 * fflate (several times faster; the pixels are the same).
 */
import { readFile, writeFile } from "node:fs/promises";
import { FatalError } from "@tessellate/sdk/errors";
import { nodeZlib } from "@tessellate/sdk/nodeZlib";
import { decodePng, encodePng, type RgbaImage } from "@tessellate/sdk/png";
import type { Rect } from "./engine.ts";

export type { RgbaImage };

/** Decodes any PNG (palette, grey, RGB, 16-bit…) to 8-bit RGBA, exactly as the pixel digest does. */
export async function readPngRgba(path: string): Promise<RgbaImage> {
  return decodePng(await readFile(path), { zlib: nodeZlib });
}

/**
 * Deflate level of the PNGs the engines' output is re-encoded as (what the node digests, uploads
 * and the requester downloads): zlib's fastest. Measured on a 160×120 Cycles frame (camera2's
 * tiles have that size): 1.3 ms of CPU to encode at level 1, 3.7–3.9 ms at the default 6, for a
 * file 8 % larger (29.2 kB against 27.1 kB); the pixels, and so the digest, are the same at any level.
 */
export const RESULT_DEFLATE_LEVEL = 1;

/** Encodes 8-bit RGBA pixels as a PNG without metadata chunks. */
export async function writePngRgba(path: string, image: RgbaImage): Promise<void> {
  await writeFile(path, encodePng(image, { zlib: nodeZlib, deflateLevel: RESULT_DEFLATE_LEVEL }));
}

/** Copies `rect` out of `image`. */
export function cropRgba(image: RgbaImage, rect: Rect): RgbaImage {
  assertRectInside(rect, image.width, image.height);
  const data = new Uint8Array(rect.width * rect.height * 4);
  const rowBytes = rect.width * 4;
  for (let row = 0; row < rect.height; row++) {
    const from = ((rect.y + row) * image.width + rect.x) * 4;
    data.set(image.data.subarray(from, from + rowBytes), row * rowBytes);
  }
  return { width: rect.width, height: rect.height, data };
}

/**
 * Reads the PNG an engine wrote, checks it has the size the engine was asked for, crops `rect`
 * out of it and writes the result to `outPath` as plain RGBA8.
 */
export async function cropPngFile(
  sourcePath: string,
  expected: { width: number; height: number },
  rect: Rect,
  outPath: string,
  onImage?: (outPath: string, image: RgbaImage) => void,
): Promise<void> {
  await cropPngFileInto(sourcePath, expected, [{ rect, outPath }], onImage);
}

/**
 * As {@link cropPngFile}, for several rectangles of one image (decoded once). `onImage` gets each
 * crop's pixels once its file is written (RenderRequest.onImage: the worker digests them as they
 * are instead of decoding the file again).
 */
export async function cropPngFileInto(
  sourcePath: string,
  expected: { width: number; height: number },
  crops: ReadonlyArray<{ rect: Rect; outPath: string }>,
  onImage?: (outPath: string, image: RgbaImage) => void,
): Promise<void> {
  const image = await readPngRgba(sourcePath);
  if (image.width !== expected.width || image.height !== expected.height) {
    throw new FatalError(
      "ENGINE_OUTPUT_INVALID",
      `the engine wrote a ${image.width}×${image.height} image where ${expected.width}×${expected.height} was asked for`,
    );
  }
  for (const { rect, outPath } of crops) {
    const crop = cropRgba(image, rect);
    await writePngRgba(outPath, crop);
    onImage?.(outPath, crop);
  }
}

/** The smallest rectangle holding every one of `rects` (at least one). */
export function boundingRect(rects: readonly Rect[]): Rect {
  if (rects.length === 0) throw new FatalError("RENDER_REQUEST_INVALID", "no rectangle to bound");
  const x = Math.min(...rects.map((r) => r.x));
  const y = Math.min(...rects.map((r) => r.y));
  const right = Math.max(...rects.map((r) => r.x + r.width));
  const bottom = Math.max(...rects.map((r) => r.y + r.height));
  return { x, y, width: right - x, height: bottom - y };
}

/** Throws unless `rect` is a non-empty integer rectangle inside a `width` × `height` frame. */
export function assertRectInside(rect: Rect, width: number, height: number): void {
  const integers = [rect.x, rect.y, rect.width, rect.height, width, height].every(Number.isSafeInteger);
  if (
    !integers ||
    rect.x < 0 ||
    rect.y < 0 ||
    rect.width < 1 ||
    rect.height < 1 ||
    rect.x + rect.width > width ||
    rect.y + rect.height > height
  ) {
    throw new FatalError(
      "RENDER_REQUEST_INVALID",
      `the rectangle ${JSON.stringify(rect)} is not a non-empty integer rectangle inside the ${width}×${height} frame`,
    );
  }
}
