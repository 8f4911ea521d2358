/**
 * Compositing, browser-safe: fetches the accepted tile of every segment, checks it against the
 * digest the quorum agreed on, and stitches the tiles of each frame into a PNG handed to a sink
 * (the node entry's `compositeFrames` writes them to disk; the dApp keeps them in memory).
 *
 * Memory stays bounded whatever the job size: one output frame buffer, one tile at a time, and one
 * running sha256 state per tile of the current frame group. A multi-frame segment's digest covers
 * all its frames, so the frames of one group are written to the sink and committed only once
 * every tile of the group matched its digest; on any error they are discarded, so a committed
 * frame is always verified.
 */
import { FatalError, RetryableError, TessellateError } from "./errors.ts";
import { createPixelDigest, isPixelDigest, type PixelDigester } from "./pixelDigest.ts";
import { isLinkOf } from "./protocol/digestChain.ts";
import { decodePng, encodePng, readPngSize } from "./png.ts";
import { frameGroupCount, framesOfGroup, segmentAt, segmentCount, tileCount, tileRect, type SegmentPlanInput } from "./segmentPlan.ts";
import { maxTilePngBytes, resolveAcceptedSegment, type AcceptedSegment, type SegmentCheck, resultFileName } from "./resultFiles.ts";
import type { Storage } from "./storage.ts";

/** Where composited frames go: written one by one, committed per frame group once its digests matched, discarded on an error. */
export interface FrameSink {
  write(frame: number, png: Uint8Array): Promise<void>;
  commit(frames: number[]): Promise<void>;
  discard(frames: number[]): Promise<void>;
}

/** Arguments of {@link compositeToSink}. */
export interface CompositeToSinkOptions {
  /** The job's manifest (only output size, frames and segmentation are read). */
  manifest: SegmentPlanInput;
  /** Only `cat` is used. */
  storage: Pick<Storage, "cat">;
  /** Segment index → accepted result; every segment of the job must be present. */
  accepted: ReadonlyMap<number, AcceptedSegment>;
  sink: FrameSink;
  /** Called after each tile with (tiles done, tiles in total). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** zlib level of the frames (default 6). */
  deflateLevel?: number;
  /**
   * Called when a segment's accepted result did not check out and another agreeing replica's
   * result is used instead (`used`), with the checks that failed before it.
   */
  onFallback?: (segment: number, used: AcceptedSegment, failed: SegmentCheck[]) => void;
  /** How long to wait for an accepted result to appear on IPFS (resultFiles.ts DEFAULT_PUBLISH_WAIT_MS). */
  publishWaitMs?: number;
}

/**
 * Composites every frame of the job from the accepted tiles into `sink`; resolves with the committed frame numbers.
 * @throws FatalError `COMPOSITE_MISSING_SEGMENT` naming the segments without an accepted result
 *   (checked before anything is fetched), `COMPOSITE_DIGEST_INVALID`, `COMPOSITE_DIGEST_MISMATCH`
 *   naming the segment and both digests, `COMPOSITE_TILE_SIZE` / `COMPOSITE_TILE_INVALID` naming
 *   the segment; storage errors keep their class (retryable or not) with the segment added.
 */
export async function compositeToSink(options: CompositeToSinkOptions): Promise<number[]> {
  const { manifest, storage, accepted, sink, onProgress, signal } = options;
  checkAccepted(manifest, accepted);
  const { width, height } = manifest.output;
  const tiles = tileCount(manifest);
  const total = (manifest.frames.end - manifest.frames.start + 1) * tiles;
  let done = 0;
  const frameBuffer = new Uint8Array(width * height * 4);
  const { tilesX } = manifest.segmentation;
  const rects = Array.from({ length: tiles }, (_, t) => tileRect(manifest, t % tilesX, (t - (t % tilesX)) / tilesX));
  const committed: number[] = [];

  /** Picks the first of a segment's agreeing results that checks out; throws naming every failed check when none does. */
  const resolve = async (index: number): Promise<AcceptedSegment> => {
    const result = accepted.get(index)!;
    const { result: chosen, checks } = await resolveAcceptedSegment(manifest, index, result, storage, signal, options.publishWaitMs);
    if (!chosen) {
      const seg = segmentAt(manifest, index);
      throw new FatalError(
        "COMPOSITE_NO_VALID_RESULT",
        `segment ${index} (tile ${seg.tileX},${seg.tileY}, ${describeFrames(seg.frames)}): no agreeing replica's result checks out — ` +
          checks.map((c) => `${c.replica === undefined ? "" : `replica ${c.replica}: `}${c.problem}`).join("; "),
      );
    }
    if (chosen !== result) options.onFallback?.(index, chosen, checks.slice(0, -1));
    return chosen;
  };

  /** Composites one frame group from `results` (tile t → result) into the sink; discards its frames on any error. */
  const compositeGroup = async (frames: number[], results: AcceptedSegment[], group: number) => {
    const digesters: PixelDigester[] = Array.from({ length: tiles }, () => createPixelDigest(frames.length));
    const partials: number[] = [];
    try {
      for (const frame of frames) {
        for (let t = 0; t < tiles; t++) {
          signal?.throwIfAborted();
          const tile = rects[t];
          const image = await fetchTile(storage, group * tiles + t, results[t], frame, tile, signal);
          digesters[t].add(image);
          for (let row = 0; row < tile.height; row++) {
            const from = row * tile.width * 4;
            frameBuffer.set(image.data.subarray(from, from + tile.width * 4), ((tile.y + row) * width + tile.x) * 4);
          }
          onProgress?.(++done, total);
        }
        partials.push(frame); // listed before writing, so a failed write is cleaned up too
        await sink.write(frame, encodePng({ width, height, data: frameBuffer }, { deflateLevel: options.deflateLevel }));
      }
      for (let t = 0; t < tiles; t++) {
        const index = group * tiles + t;
        const expected = results[t].digest;
        const actual = digesters[t].digest();
        if (!isLinkOf(actual, expected as `0x${string}`)) {
          const seg = segmentAt(manifest, index);
          throw new FatalError(
            "COMPOSITE_DIGEST_MISMATCH",
            `segment ${index} (tile ${seg.tileX},${seg.tileY}, ${describeFrames(seg.frames)}): the pixels at ${results[t].resultCid} have digest ${actual}, ` +
              `but the accepted digest is ${expected.toLowerCase()} — this result is not what the quorum agreed on; do not use it, and fetch it again from another source if you can`,
          );
        }
      }
      await sink.commit(partials);
      committed.push(...partials);
    } catch (error) {
      await sink.discard(partials);
      throw error;
    }
  };

  for (let group = 0; group < frameGroupCount(manifest); group++) {
    const frames = framesOfGroup(manifest, group);
    const indices = Array.from({ length: tiles }, (_, t) => group * tiles + t);
    // A Tolerant result is checked against its fingerprint before it is used (its digest alone
    // binds nothing the contract compared); an Exact one is checked by its digest while compositing.
    const results: AcceptedSegment[] = [];
    for (const index of indices) {
      const result = accepted.get(index)!;
      results.push(result.fingerprint === undefined ? result : await resolve(index));
    }
    const before = done;
    try {
      await compositeGroup(frames, results, group);
    } catch (error) {
      signal?.throwIfAborted();
      // One agreeing replica's result failed: if others agreed, check every segment of the group
      // and composite it again from the results that check out.
      const fallbacks = indices.some((index) => (accepted.get(index)!.alternatives?.length ?? 0) > 0);
      if (!fallbacks || !(error instanceof TessellateError)) throw error;
      done = before;
      const resolved: AcceptedSegment[] = [];
      for (const index of indices) resolved.push(await resolve(index));
      await compositeGroup(frames, resolved, group);
    }
  }
  return committed;
}

function checkAccepted(manifest: SegmentPlanInput, accepted: ReadonlyMap<number, AcceptedSegment>): void {
  const count = segmentCount(manifest);
  const missing: number[] = [];
  for (let index = 0; index < count; index++) {
    const result = accepted.get(index);
    if (!result) {
      missing.push(index);
      continue;
    }
    if (!isPixelDigest(result.digest)) {
      throw new FatalError("COMPOSITE_DIGEST_INVALID", `segment ${index}: accepted digest "${result.digest}" is not 0x + 64 hex digits — pass the digest from the settlement event`);
    }
  }
  if (missing.length > 0) {
    const shown = missing.slice(0, 20).join(", ");
    const more = missing.length > 20 ? ` and ${missing.length - 20} more` : "";
    throw new FatalError(
      "COMPOSITE_MISSING_SEGMENT",
      `segment${missing.length === 1 ? "" : "s"} ${shown}${more} of ${count} ha${missing.length === 1 ? "s" : "ve"} no accepted result — wait until every segment has settled on-chain, then composite again`,
    );
  }
}

async function fetchTile(
  storage: Pick<Storage, "cat">,
  index: number,
  result: AcceptedSegment,
  frame: number,
  tile: { width: number; height: number },
  signal: AbortSignal | undefined,
) {
  const path = `${result.resultCid}/${resultFileName(frame)}`;
  let bytes: Uint8Array;
  try {
    bytes = await storage.cat(path, { maxBytes: maxTilePngBytes(tile.width, tile.height), signal });
  } catch (error) {
    if (error instanceof TessellateError) {
      const ErrorClass = error instanceof RetryableError ? RetryableError : FatalError;
      throw new ErrorClass(error.code, `segment ${index}, frame ${frame} (${path}): ${error.message}`, { cause: error });
    }
    throw error;
  }
  let size: { width: number; height: number };
  try {
    size = readPngSize(bytes);
  } catch (error) {
    throw new FatalError("COMPOSITE_TILE_INVALID", `segment ${index}, frame ${frame} (${path}) is not a PNG — the result folder is malformed`, { cause: error });
  }
  if (size.width !== tile.width || size.height !== tile.height) {
    throw new FatalError(
      "COMPOSITE_TILE_SIZE",
      `segment ${index}, frame ${frame} (${path}) is ${size.width}×${size.height} pixels, but its tile is ${tile.width}×${tile.height} — the result does not belong to this tile`,
    );
  }
  try {
    return decodePng(bytes);
  } catch (error) {
    throw new FatalError("COMPOSITE_TILE_INVALID", `segment ${index}, frame ${frame} (${path}) cannot be decoded: ${(error as Error).message}`, { cause: error });
  }
}

function describeFrames(frames: number[]): string {
  return frames.length === 1 ? `frame ${frames[0]}` : `frames ${frames[0]}..${frames[frames.length - 1]}`;
}
