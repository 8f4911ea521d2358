/**
 * Renders one segment: every frame of the segment's tile, through the engine's `render()`, into a
 * result folder with one PNG per frame named `resultFileName(frame)` — exactly what the compositor
 * reads — and computes the segment's pixel digest over those PNGs in frame order, and in tolerant
 * jobs its fingerprint (sdk/src/fingerprint.ts) over the same decoded frames. The pixels are those
 * the engine adapter wrote (RenderRequest.onImage: it decodes and re-encodes every output), not
 * decoded from the files again, up to {@link KEPT_PIXEL_BYTES} per engine call (beyond, and for
 * engines that do not report them, the files are decoded); hashed with node:crypto's SHA-256.
 */
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createPixelDigest, decodePng, encodePng, fingerprint, resultFileName, type Fingerprint, type Manifest, type PixelDigest, type RgbaImage, type Segment } from "@tessellate/sdk";
import { FatalError } from "@tessellate/sdk/errors";
import { nodeSha256 } from "@tessellate/sdk/nodeSha256";
import { nodeZlib } from "@tessellate/sdk/nodeZlib";
import type { CheatMode } from "../config/config.ts";
import type { Engine, Rect, RenderLimits, RenderRequest } from "../engines/engine.ts";

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
  /** TEST ONLY (testing.cheat): render cheaply on purpose, as a cheater would. */
  cheat?: CheatMode | "";
}

export interface RenderedSegment {
  digest: PixelDigest;
  /** The fingerprint of the result (computed in tolerant jobs only). */
  fingerprint?: Fingerprint;
  files: string[];
  seconds: number;
  /**
   * The engine call that rendered it, shared by the tiles rendered together (one object for all of
   * them): its processes, wall seconds and tiles; absent for a test-only cheap render.
   */
  call?: EngineCallInfo;
}

/** One engine call of a render: what the worker learns an engine's launch cost from (jobs/launchCost.ts). */
export interface EngineCallInfo {
  processes: number;
  seconds: number;
  tiles: number;
}

export async function renderSegment(input: RenderSegmentInput): Promise<RenderedSegment> {
  const { engine, manifest, segment, outDir } = input;
  const now = input.now ?? Date.now;
  const started = now();
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  const count = segment.frames.length;
  const written = new WrittenImages();
  const common = {
    sceneDir: input.sceneDir,
    entry: manifest.scene.entry,
    width: manifest.output.width,
    height: manifest.output.height,
    rect: segment.tile,
    frames: manifest.frames,
    settings: manifest.settings as Record<string, unknown>,
    signal: input.signal,
    onImage: written.keep,
  };
  // Several frames in one engine process when the engine can (one start-up, one scene load).
  const cheap = cheapCheat(input.cheat);
  if (engine.renderFrames && count > 1 && !cheap) {
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
    const request: RenderRequest = {
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
      onImage: written.keep,
      onProgress: (fraction) => input.onProgress?.((i + Math.min(1, Math.max(0, fraction))) / count),
    };
    if (cheap) await renderCheaply(engine, request, cheap);
    else await engine.render(request);
    files.push(outPath);
    input.onProgress?.((i + 1) / count);
  }
  const seconds = (now() - started) / 1000;
  // One process for the frames when renderFrames took them, else one per frame.
  const call = cheap ? undefined : { processes: engine.renderFrames && count > 1 ? 1 : count, seconds, tiles: 1 };
  return { ...(await digestSegment(input, files, seconds, written)), ...(call ? { call } : {}) };
}

/**
 * The test-only cheat that changes what is rendered (testing.cheat), or "" for an honest render:
 * swapped-result renders honestly, its cheat comes after the render (digestSegment).
 */
export function cheapCheat(cheat: RenderSegmentInput["cheat"]): CheatMode | "" {
  return cheat === "swapped-result" || cheat === undefined ? "" : cheat;
}

/**
 * Several segments of one job with the same frames and different tiles (or any frames, where the
 * engine renders each tile's own: `tilesOfSeveralFrameRanges`), rendered in one engine call (`engine.renderTiles`: one process where the engine can) with the threads all of them were
 * granted (or `threads`: those of the render slots the group takes), each into its own result
 * folder with its own digest, exactly as `renderSegment` of each would give. The time is shared
 * out by the tiles' areas.
 */
export async function renderSegmentsTogether(inputs: readonly RenderSegmentInput[], threads?: number): Promise<RenderedSegment[]> {
  const [first] = inputs;
  const { engine, manifest } = first!;
  if (!engine.renderTiles) throw new FatalError("RENDER_REQUEST_INVALID", `the ${engine.name} engine cannot render several tiles in one process`);
  const sameRender = (m: Manifest) => JSON.stringify([m.engine, m.scene, m.output, m.frames, m.settings]);
  const anyFrames = engine.tilesOfSeveralFrameRanges === true;
  for (const input of inputs) {
    if (input.engine !== engine || sameRender(input.manifest) !== sameRender(manifest) || (!anyFrames && input.segment.frames.join() !== first!.segment.frames.join()) || cheapCheat(input.cheat) !== "") {
      throw new FatalError("RENDER_REQUEST_INVALID", "only segments of one job with the same frames (any frames, where the engine renders each tile's own), rendered honestly, can be rendered together");
    }
  }
  const firstFrame = Math.min(...inputs.map((input) => input.segment.frames[0]!));
  const lastFrame = Math.max(...inputs.map((input) => input.segment.frames.at(-1)!));
  const frames = [firstFrame, lastFrame];
  const frameCount = inputs.reduce((sum, input) => sum + input.segment.frames.length, 0);
  const now = first!.now ?? Date.now;
  const started = now();
  for (const { outDir } of inputs) {
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
  }
  const deadlines = inputs.map((input) => input.deadlineMs ?? Infinity);
  const left = Math.min(...deadlines) - now();
  if (left <= 0) throw new FatalError("RENDER_TIMEOUT", `no time left before the lease ends to render frames ${frames[0]}–${frames.at(-1)}`);
  const signals = inputs.map((input) => input.signal).filter((signal): signal is AbortSignal => signal !== undefined);
  const written = new WrittenImages();
  const done = await engine.renderTiles({
    sceneDir: first!.sceneDir,
    entry: manifest.scene.entry,
    width: manifest.output.width,
    height: manifest.output.height,
    frames: manifest.frames,
    settings: manifest.settings as Record<string, unknown>,
    first: firstFrame,
    last: lastFrame,
    tiles: inputs.map((input) => ({
      rect: input.segment.tile,
      outPathOf: (frame: number) => join(input.outDir, resultFileName(frame)),
      ...(anyFrames ? { first: input.segment.frames[0]!, last: input.segment.frames.at(-1)! } : {}),
    })),
    limits: {
      threads: threads ?? inputs.reduce((sum, input) => sum + input.limits.threads, 0),
      memoryBytes: first!.limits.memoryBytes,
      timeoutMs: Math.max(1, Math.min(first!.limits.timeoutMs * frameCount, left)),
    },
    signal: signals.length === 0 ? undefined : AbortSignal.any(signals),
    onImage: written.keep,
    onProgress: (fraction) => {
      for (const input of inputs) input.onProgress?.(Math.min(1, Math.max(0, fraction)));
    },
  });
  const seconds = (now() - started) / 1000;
  const call: EngineCallInfo = { processes: done?.processes ?? 1, seconds, tiles: inputs.length };
  const area = (input: RenderSegmentInput) => input.segment.tile.width * input.segment.tile.height;
  const totalArea = inputs.reduce((sum, input) => sum + area(input), 0);
  const results: RenderedSegment[] = [];
  for (const input of inputs) {
    input.onProgress?.(1);
    const files = input.segment.frames.map((frame) => join(input.outDir, resultFileName(frame)));
    results.push({ ...(await digestSegment(input, files, (seconds * area(input)) / totalArea, written)), call });
  }
  return results;
}

/**
 * Pixels of the PNGs an engine call wrote, by path (RenderRequest.onImage), up to
 * KEPT_PIXEL_BYTES in all: what the digest hashes without decoding the files again.
 */
class WrittenImages {
  private readonly images = new Map<string, RgbaImage>();
  private bytes = 0;
  readonly keep = (outPath: string, image: RgbaImage): void => {
    if (this.bytes + image.data.byteLength > KEPT_PIXEL_BYTES) return;
    this.bytes += image.data.byteLength;
    this.images.set(outPath, image);
  };
  /** The pixels written to `path`, or those decoded from the file. */
  async read(path: string): Promise<RgbaImage> {
    return this.images.get(path) ?? decodePng(new Uint8Array(await readFile(path)), { zlib: nodeZlib });
  }
}

/** Decoded pixels an engine call's digests reuse at most (a 30-frame 320×240 segment holds 9 MB); beyond, files are decoded again. */
export const KEPT_PIXEL_BYTES = 64 * 1024 * 1024;

/**
 * The segment's digest (and tolerant fingerprint) over its rendered frames, in frame order: the
 * pixels the engine wrote (`written`), else decoded from the PNGs. The test-only corruptions and
 * swaps rewrite the files and digest what they wrote.
 */
async function digestSegment(input: RenderSegmentInput, files: string[], seconds: number, written = new WrittenImages()): Promise<RenderedSegment> {
  const { manifest } = input;
  const digester = createPixelDigest(files.length, { sha256: nodeSha256 });
  const tolerant = manifest.verification.mode === "tolerant";
  const frames: RgbaImage[] = [];
  for (const path of files) {
    let image = await written.read(path);
    if (input.corrupt) {
      const bytes = corruptPng(encodePng(image, { zlib: nodeZlib }));
      await writeFile(path, bytes);
      image = decodePng(bytes, { zlib: nodeZlib });
    }
    if (tolerant) frames.push(image);
    if (input.cheat === "swapped-result") {
      // TEST ONLY: keep the honest fingerprint, publish another image and reveal its digest.
      const bytes = invertPng(encodePng(image, { zlib: nodeZlib }));
      await writeFile(path, bytes);
      image = decodePng(bytes, { zlib: nodeZlib });
    }
    digester.add(image);
  }
  return { digest: digester.digest(), ...(tolerant ? { fingerprint: fingerprint(frames) } : {}), files, seconds };
}

/**
 * TEST ONLY: what a cheater renders instead of the segment — fewer samples (12 % less work),
 * another seed, the neighbouring frame, or the tile at half resolution scaled up to full size.
 */
async function renderCheaply(engine: Engine, request: RenderRequest, cheat: CheatMode): Promise<void> {
  const settings = { ...request.settings };
  if (cheat === "fewer-samples") settings.samples = Math.max(1, Math.floor(Number(settings.samples) * 0.875));
  if (cheat === "another-seed") settings.seed = Number(settings.seed ?? 0) + 1;
  if (cheat === "neighbouring-frame") {
    const frame = request.frame + 1;
    await engine.render({ ...request, settings, frame, frames: { start: request.frames.start, end: Math.max(request.frames.end, frame) } });
    return;
  }
  if (cheat !== "half-resolution") {
    await engine.render({ ...request, settings });
    return;
  }
  // Half resolution: the tile's pixels at half the frame size, each pixel repeated 2×2.
  const { rect } = request;
  const width = Math.max(1, Math.ceil(request.width / 2));
  const height = Math.max(1, Math.ceil(request.height / 2));
  const x0 = Math.floor(rect.x / 2);
  const y0 = Math.floor(rect.y / 2);
  const half: Rect = { x: x0, y: y0, width: Math.min(width, Math.ceil((rect.x + rect.width) / 2)) - x0, height: Math.min(height, Math.ceil((rect.y + rect.height) / 2)) - y0 };
  const halfPath = `${request.outPath}.half.png`;
  await engine.render({ ...request, settings, width, height, rect: half, outPath: halfPath });
  const small = decodePng(new Uint8Array(await readFile(halfPath)));
  await rm(halfPath, { force: true });
  const data = new Uint8Array(rect.width * rect.height * 4);
  for (let y = 0; y < rect.height; y++) {
    for (let x = 0; x < rect.width; x++) {
      const sx = Math.min(small.width - 1, Math.floor((rect.x + x) / 2) - x0);
      const sy = Math.min(small.height - 1, Math.floor((rect.y + y) / 2) - y0);
      data.set(small.data.subarray((sy * small.width + sx) * 4, (sy * small.width + sx) * 4 + 4), (y * rect.width + x) * 4);
    }
  }
  await writeFile(request.outPath, encodePng({ width: rect.width, height: rect.height, data }));
}

/** Inverts the colour of every pixel: another image of the same size. */
function invertPng(bytes: Uint8Array): Uint8Array {
  const image = decodePng(bytes);
  for (let i = 0; i < image.data.length; i += 4) for (let c = 0; c < 3; c++) image.data[i + c] = 255 - image.data[i + c]!;
  return encodePng(image);
}

/** Inverts the colour of the first pixel: a different digest, as a lazy or cheating render would give. */
function corruptPng(bytes: Uint8Array): Uint8Array {
  const image = decodePng(bytes);
  for (let c = 0; c < 3; c++) image.data[c] = 255 - image.data[c];
  return encodePng(image);
}
