/**
 * The segment plan: a pure function of the manifest that maps a segment index to the frames and
 * the tile rectangle it covers, so nobody stores a segment list (the contract only knows the
 * count). Requesters, providers and the compositor all call the same functions.
 *
 * Order: segment `i` belongs to frame group `g = floor(i / (tilesX·tilesY))` and tile
 * `t = i mod (tilesX·tilesY)`, with `tileX = t mod tilesX`, `tileY = floor(t / tilesX)`.
 * Tile edges are `floor(k·W / tilesX)` computed in exact integer arithmetic, origin top-left,
 * so the tiles of one frame cover every pixel exactly once even when the sizes do not divide.
 */
import { FatalError } from "./errors.ts";
import type { Manifest } from "./manifest.ts";

/** The parts of a manifest the plan depends on. */
export type SegmentPlanInput = Pick<Manifest, "output" | "frames" | "segmentation">;

/** A pixel rectangle, origin top-left, `x + width` and `y + height` exclusive. */
export interface TileRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What one segment renders. */
export interface Segment {
  index: number;
  /** Frame numbers of the segment, ascending, consecutive. */
  frames: number[];
  tile: TileRect;
  /** `tileY · tilesX + tileX`. */
  tileIndex: number;
  tileX: number;
  tileY: number;
}

/** Number of frames in the manifest's inclusive frame range. */
export function frameCount(manifest: SegmentPlanInput): number {
  return manifest.frames.end - manifest.frames.start + 1;
}

/** Number of tiles per frame (`tilesX · tilesY`). */
export function tileCount(manifest: SegmentPlanInput): number {
  return manifest.segmentation.tilesX * manifest.segmentation.tilesY;
}

/** Number of frame groups: `ceil(frameCount / framesPerSegment)`. */
export function frameGroupCount(manifest: SegmentPlanInput): number {
  return ceilDiv(frameCount(manifest), manifest.segmentation.framesPerSegment);
}

/** Number of segments: `tilesX · tilesY · ceil(frameCount / framesPerSegment)`. */
export function segmentCount(manifest: SegmentPlanInput): number {
  return tileCount(manifest) * frameGroupCount(manifest);
}

/**
 * The frames and tile of segment `index`.
 * @throws FatalError `SEGMENT_OUT_OF_RANGE` when `index` is not an integer in `[0, segmentCount)`.
 */
export function segmentAt(manifest: SegmentPlanInput, index: number): Segment {
  const count = segmentCount(manifest);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new FatalError(
      "SEGMENT_OUT_OF_RANGE",
      `segment index ${index} is out of range — this job has ${count} segments, numbered 0 to ${count - 1}`,
    );
  }
  const tiles = tileCount(manifest);
  const group = floorDiv(index, tiles);
  const tileIndex = index - group * tiles;
  const { tilesX } = manifest.segmentation;
  const tileX = tileIndex % tilesX;
  const tileY = floorDiv(tileIndex, tilesX);
  return { index, frames: framesOfGroup(manifest, group), tile: tileRect(manifest, tileX, tileY), tileIndex, tileX, tileY };
}

/** Frame numbers of frame group `group` (ascending; the last group may be shorter). */
export function framesOfGroup(manifest: SegmentPlanInput, group: number): number[] {
  const { framesPerSegment } = manifest.segmentation;
  const first = manifest.frames.start + group * framesPerSegment;
  const last = Math.min(manifest.frames.end, first + framesPerSegment - 1);
  const frames: number[] = [];
  for (let frame = first; frame <= last; frame++) frames.push(frame);
  return frames;
}

/**
 * The frame group that holds `frame`.
 * @throws FatalError `FRAME_OUT_OF_RANGE` when the frame is outside the manifest's range.
 */
export function frameGroupOf(manifest: SegmentPlanInput, frame: number): number {
  const { start, end } = manifest.frames;
  if (!Number.isSafeInteger(frame) || frame < start || frame > end) {
    throw new FatalError("FRAME_OUT_OF_RANGE", `frame ${frame} is outside this job's frame range ${start}..${end} — use a frame in that range`);
  }
  return floorDiv(frame - start, manifest.segmentation.framesPerSegment);
}

/** Indices of the segments that make up `frame`, in tile order (`tileIndex` 0, 1, …). */
export function segmentIndicesOfFrame(manifest: SegmentPlanInput, frame: number): number[] {
  const tiles = tileCount(manifest);
  const first = frameGroupOf(manifest, frame) * tiles;
  return Array.from({ length: tiles }, (_, t) => first + t);
}

/** The pixel rectangle of tile (`tileX`, `tileY`). */
export function tileRect(manifest: SegmentPlanInput, tileX: number, tileY: number): TileRect {
  const { width, height } = manifest.output;
  const { tilesX, tilesY } = manifest.segmentation;
  const x = floorDiv(tileX * width, tilesX);
  const y = floorDiv(tileY * height, tilesY);
  return { x, y, width: floorDiv((tileX + 1) * width, tilesX) - x, height: floorDiv((tileY + 1) * height, tilesY) - y };
}

/** `floor(a / b)` for non-negative safe integers, exact (no floating-point division). */
function floorDiv(a: number, b: number): number {
  return (a - (a % b)) / b;
}

function ceilDiv(a: number, b: number): number {
  return floorDiv(a + b - 1, b);
}
