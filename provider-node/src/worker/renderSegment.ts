/**
 * Renders one segment: every frame of the segment's tile, through the engine's `render()`, into a
 * result folder with one PNG per frame named `resultFileName(frame)` — exactly what the compositor
 * reads — and computes the segment's pixel digest over those PNGs in frame order.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decodePng, encodePng, pngDigest, resultFileName, type Manifest, type PixelDigest, type Segment } from "@tessellate/sdk";
import { FatalError } from "@tessellate/sdk/errors";
import type { Engine, RenderLimits } from "../engines/engine.ts";

export interface RenderSegmentInput {
  engine: Engine;
  manifest: Manifest;
  segment: Segment;
  sceneDir: string;
  /** Result folder; emptied first. */
  outDir: string;
  /** Threads and memory for each frame; `timeoutMs` caps each frame. */
  limits: RenderLimits;
  /** Wall-clock time (ms) by which the whole segment must be done; frames get what is left. */
  deadlineMs?: number;
  now?: () => number;
  signal?: AbortSignal;
  /** Fraction of the segment done, in [0, 1]. */
  onProgress?: (fraction: number) => void;
  /** TEST ONLY (testing.corruptDigests): alter pixels before digesting, as a cheater would. */
  corrupt?: boolean;
}

export interface RenderedSegment {
  digest: PixelDigest;
  files: string[];
  seconds: number;
}

export async function renderSegment(input: RenderSegmentInput): Promise<RenderedSegment> {
  const { engine, manifest, segment, outDir } = input;
  const now = input.now ?? Date.now;
  const started = now();
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  const count = segment.frames.length;
  const common = {
    sceneDir: input.sceneDir,
    entry: manifest.scene.entry,
    width: manifest.output.width,
    height: manifest.output.height,
    rect: segment.tile,
    frames: manifest.frames,
    settings: manifest.settings as Record<string, unknown>,
    signal: input.signal,
  };
  // Several frames in one engine process when the engine can (one start-up, one scene load).
  if (engine.renderFrames && count > 1) {
    const left = input.deadlineMs === undefined ? Infinity : input.deadlineMs - now();
    if (left <= 0) throw new FatalError("RENDER_TIMEOUT", `no time left before the lease ends to render frames ${segment.frames[0]}–${segment.frames.at(-1)}`);
    await engine.renderFrames({
      ...common,
      first: segment.frames[0]!,
      last: segment.frames.at(-1)!,
      outPathOf: (frame) => join(outDir, resultFileName(frame)),
      limits: { ...input.limits, timeoutMs: Math.max(1, Math.min(input.limits.timeoutMs * count, left)) },
      onProgress: (fraction) => input.onProgress?.(Math.min(1, Math.max(0, fraction))),
    });
    files.push(...segment.frames.map((frame) => join(outDir, resultFileName(frame))));
    input.onProgress?.(1);
  }
  for (const [i, frame] of (files.length > 0 ? [] : segment.frames).entries()) {
    input.signal?.throwIfAborted();
    const left = input.deadlineMs === undefined ? Infinity : input.deadlineMs - now();
    if (left <= 0) throw new FatalError("RENDER_TIMEOUT", `no time left before the lease ends to render frame ${frame}`);
    const outPath = join(outDir, resultFileName(frame));
    await engine.render({
      sceneDir: input.sceneDir,
      entry: manifest.scene.entry,
      width: manifest.output.width,
      height: manifest.output.height,
      rect: segment.tile,
      frame,
      frames: manifest.frames,
      settings: manifest.settings as Record<string, unknown>,
      outPath,
      limits: { ...input.limits, timeoutMs: Math.max(1, Math.min(input.limits.timeoutMs, left)) },
      signal: input.signal,
      onProgress: (fraction) => input.onProgress?.((i + Math.min(1, Math.max(0, fraction))) / count),
    });
    files.push(outPath);
    input.onProgress?.((i + 1) / count);
  }
  const pngs: Uint8Array[] = [];
  for (const path of files) {
    let bytes: Uint8Array = new Uint8Array(await readFile(path));
    if (input.corrupt) {
      bytes = corruptPng(bytes);
      await writeFile(path, bytes);
    }
    pngs.push(bytes);
  }
  const digest = pngDigest(pngs);
  return { digest, files, seconds: (now() - started) / 1000 };
}

/** Inverts the colour of the first pixel: a different digest, as a lazy or cheating render would give. */
function corruptPng(bytes: Uint8Array): Uint8Array {
  const image = decodePng(bytes);
  for (let c = 0; c < 3; c++) image.data[c] = 255 - image.data[c];
  return encodePng(image);
}
