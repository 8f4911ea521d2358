/**
 * Accepted results: checking one segment's result against its accepted pixel digest, and
 * compositing whatever frames can be completed — frame group by frame group, so one missing or
 * corrupt segment costs only its own frames, and is named, never silently skipped.
 */
import { compositeFrames, type CompositedFrame } from "@tessellate/sdk/node";
import { verifyAcceptedSegment, type AcceptedSegment, type SegmentCheck } from "@tessellate/sdk/resultFiles";
import type { Manifest } from "@tessellate/sdk/manifest";
import { frameGroupCount, framesOfGroup, segmentAt, tileCount, type SegmentPlanInput } from "@tessellate/sdk/segmentPlan";
import type { Storage } from "@tessellate/sdk/storage";
import { describeFrames } from "./format.ts";

export { firstResultThatChecksOut, verifyAcceptedSegment, type SegmentCheck } from "@tessellate/sdk/resultFiles";

/** A segment without an accepted result. */
export interface MissingSegment {
  segment: number;
  frames: number[];
  tile: { x: number; y: number; width: number; height: number };
  /** Why: "failed", "closed", "open" … as the caller knows it. */
  reason: string;
}

/** A frame group whose frames could not be written although every segment was accepted. */
export interface FailedGroup {
  frames: number[];
  message: string;
  /** The segments of the group whose result does not check out. */
  badSegments: SegmentCheck[];
}

export interface CompositeReport {
  /** Frames written (verified) to the output folder. */
  frames: CompositedFrame[];
  /** Frames of the job in total. */
  totalFrames: number;
  missing: MissingSegment[];
  failed: FailedGroup[];
  /**
   * Segments composited from another agreeing replica's result because the accepted replica's did
   * not check out (its CID resolved to nothing or to other pixels, or, Tolerant, to pixels of
   * another fingerprint): the replica used and why each earlier one was refused.
   */
  fallbacks: { segment: number; replica?: number; refused: SegmentCheck[] }[];
}

/**
 * Composites every frame group whose segments are all accepted; names the segments that are
 * missing (with `reasonOf`) and the groups that failed their digest check.
 */
export async function compositeAvailable(options: {
  manifest: Manifest;
  storage: Pick<Storage, "cat">;
  accepted: ReadonlyMap<number, AcceptedSegment>;
  outDir: string;
  reasonOf?: (segment: number) => string;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}): Promise<CompositeReport> {
  const { manifest, storage, accepted, outDir, signal } = options;
  const tiles = tileCount(manifest);
  const groups = frameGroupCount(manifest);
  const totalFrames = manifest.frames.end - manifest.frames.start + 1;
  const totalTiles = totalFrames * tiles;
  const report: CompositeReport = { frames: [], totalFrames, missing: [], failed: [], fallbacks: [] };
  let done = 0;

  for (let group = 0; group < groups; group++) {
    const frames = framesOfGroup(manifest, group);
    const indices = Array.from({ length: tiles }, (_, t) => group * tiles + t);
    const absent = indices.filter((i) => !accepted.has(i));
    if (absent.length > 0) {
      for (const i of absent) {
        const seg = segmentAt(manifest, i);
        report.missing.push({ segment: i, frames: seg.frames, tile: seg.tile, reason: options.reasonOf?.(i) ?? "not accepted" });
      }
      done += frames.length * tiles;
      options.onProgress?.(done, totalTiles);
      continue;
    }
    // The group as a job of its own: same size and tiling, only this group's frames.
    const sub: SegmentPlanInput = { output: manifest.output, segmentation: manifest.segmentation, frames: { start: frames[0], end: frames[frames.length - 1] } };
    const subAccepted = new Map(indices.map((i, t) => [t, accepted.get(i)!]));
    const before = done;
    try {
      const result = await compositeFrames({
        manifest: sub,
        storage,
        accepted: subAccepted,
        outDir,
        signal,
        onProgress: (d) => options.onProgress?.(before + d, totalTiles),
        onFallback: (t, used, refused) => report.fallbacks.push({ segment: indices[t]!, ...(used.replica === undefined ? {} : { replica: used.replica }), refused: refused.map((c) => ({ ...c, segment: indices[t]! })) }),
      });
      report.frames.push(...result.frames);
    } catch (error) {
      signal?.throwIfAborted();
      const checks = await Promise.all(indices.map((i) => verifyAcceptedSegment(manifest, i, accepted.get(i)!, storage, signal, 0)));
      report.failed.push({
        frames,
        message: `${describeFrames(frames)} could not be composited: ${(error as Error).message}`,
        badSegments: checks.filter((c) => !c.ok),
      });
    }
    done = before + frames.length * tiles;
    options.onProgress?.(done, totalTiles);
  }
  return report;
}
