/**
 * Compositing to disk: the core's {@link compositeToSink} (compositeCore.ts: fetch, digest check,
 * stitch) with a sink that writes `outDir/frame-NNNNNN.png`. The frames of one group are written
 * as `*.partial` files and renamed only once every tile of the group matched its digest; on any
 * error they are removed, so a file named `frame-NNNNNN.png` in `outDir` is always verified.
 * Node-only (writes to disk): exported by `@tessellate/sdk/node`.
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { compositeToSink, type CompositeToSinkOptions } from "./compositeCore.ts";
import type { SegmentPlanInput } from "./segmentPlan.ts";
import { resultFileName, type AcceptedSegment } from "./resultFiles.ts";
import type { Storage } from "./storage.ts";

/** Arguments of {@link compositeFrames}. */
export interface CompositeOptions {
  /** The job's manifest (only output size, frames and segmentation are read). */
  manifest: SegmentPlanInput;
  /** Only `cat` is used. */
  storage: Pick<Storage, "cat">;
  /** Segment index → accepted result; every segment of the job must be present. */
  accepted: ReadonlyMap<number, AcceptedSegment>;
  /** Folder for the frames (created if missing). */
  outDir: string;
  /** Called after each tile with (tiles done, tiles in total). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** zlib level of the written frames (default 6). */
  deflateLevel?: number;
  /** Called when another agreeing replica's result stands in for a segment's accepted one (see compositeToSink). */
  onFallback?: CompositeToSinkOptions["onFallback"];
  /** How long to wait for an accepted result to appear on IPFS (see compositeToSink). */
  publishWaitMs?: number;
}

/** One written frame. */
export interface CompositedFrame {
  frame: number;
  path: string;
}

/**
 * Composites every frame of the job from the accepted tiles into `outDir`.
 * @throws as {@link compositeToSink}.
 */
export async function compositeFrames(options: CompositeOptions): Promise<{ frames: CompositedFrame[] }> {
  const { outDir } = options;
  const pathOf = (frame: number) => join(outDir, resultFileName(frame));
  let made = false;
  const frames = await compositeToSink({
    ...options,
    sink: {
      async write(frame, png) {
        if (!made) {
          await mkdir(outDir, { recursive: true });
          made = true;
        }
        await writeFile(`${pathOf(frame)}.partial`, png);
      },
      async commit(list) {
        for (const frame of list) await rename(`${pathOf(frame)}.partial`, pathOf(frame));
      },
      async discard(list) {
        await Promise.all(list.map((frame) => rm(`${pathOf(frame)}.partial`, { force: true })));
      },
    },
  });
  return { frames: frames.map((frame) => ({ frame, path: pathOf(frame) })) };
}
