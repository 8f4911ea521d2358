/**
 * The one interface every render engine implements. Engines know nothing of manifests or
 * segment indices: the worker maps (manifest, segment) to a `RenderRequest` through the sdk's
 * segment plan, so an engine only renders one rectangle of one frame into a PNG.
 */
import type { RgbaImage } from "@tessellate/sdk/png";

/** A pixel rectangle, origin at the top-left of the frame. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface EngineInfo {
  /** Registry name: `builtin`, `povray`, `blender`. */
  name: string;
  /** Exact version string, compared verbatim with the manifest's `engine.version`. */
  version: string;
}

export interface RenderRequest {
  /** Folder holding the scene and everything it includes; treated as read-only. */
  sceneDir: string;
  /** Entry file, relative to `sceneDir`. */
  entry: string;
  /** Full frame size in pixels. */
  width: number;
  height: number;
  /** The region to render; the output PNG is exactly `rect.width × rect.height`. */
  rect: Rect;
  /** Frame to render, and the job's whole frame range (for engines whose clock spans it). */
  frame: number;
  frames: { start: number; end: number };
  /** Engine-specific settings, already validated by the sdk manifest schema for this engine. */
  settings: Record<string, unknown>;
  /** Where to write the PNG. */
  outPath: string;
  /** Resource limits granted by the provider. */
  limits: RenderLimits;
  signal?: AbortSignal;
  /** Called with a fraction in [0, 1] as work advances. */
  onProgress?: (fraction: number) => void;
  /**
   * Called with the pixels of each PNG the engine wrote, once it is on disk (engines that decode
   * and re-encode their output: crop.ts), so the worker digests them without decoding the file
   * again. The pixels are exactly the file's; engines that do not call it are decoded instead.
   */
  onImage?: (outPath: string, image: RgbaImage) => void;
}

/**
 * Several consecutive frames of one rectangle in one engine process (a segment of several
 * frames): the engine starts, loads the scene and sets up once instead of once per frame.
 */
export interface RenderFramesRequest extends Omit<RenderRequest, "frame" | "outPath"> {
  /** The frames to render, consecutive, first to last (inside `frames`). */
  first: number;
  last: number;
  /** Where each frame's PNG goes. */
  outPathOf(frame: number): string;
}

/**
 * Several tiles (rectangles) of the same frames of one scene in one engine process: the engine
 * starts and loads the scene once for all of them. Every tile's PNGs have exactly the pixels
 * `render` gives that tile and frame alone.
 */
export interface RenderTilesRequest extends Omit<RenderFramesRequest, "rect" | "outPathOf"> {
  /**
   * The tiles, each with where its frames' PNGs go; at least two, not overlapping when they share
   * frames. A tile's own `first`–`last` (inside the request's) is honoured only by engines with
   * `tilesOfSeveralFrameRanges`; without them every tile renders the request's frames.
   */
  tiles: Array<{ rect: Rect; outPathOf(frame: number): string; first?: number; last?: number }>;
}

/** What `renderTiles` did: the engine processes it ran (the worker learns a launch's cost from it: jobs/launchCost.ts); 1 when it says nothing. */
export interface RenderTilesResult {
  processes: number;
}

export interface RenderLimits {
  threads: number;
  /** Address-space limit for the engine process, in bytes. */
  memoryBytes: number;
  /** Wall-clock limit in milliseconds. */
  timeoutMs: number;
}

export interface BenchmarkResult {
  /** Higher is faster: reference-scene pixel samples per second, divided by 1000. */
  score: number;
  seconds: number;
  /** The CPU kernel class the engine reported rendering with (Blender: "AVX2", "SSE4.1", …), when it says. */
  cpuKernel?: string;
}

export interface Engine {
  readonly name: string;
  /** The installed engine and its exact version, or null when it is not installed. */
  detect(): Promise<EngineInfo | null>;
  /** Renders `request.rect` of `request.frame` into `request.outPath` (PNG). */
  render(request: RenderRequest): Promise<void>;
  /**
   * Optional: renders frames `first`–`last` of `request.rect` in one engine process, with the
   * same pixels as `render` of each frame. Engines without it render frame by frame.
   */
  renderFrames?(request: RenderFramesRequest): Promise<void>;
  /**
   * Optional: renders frames `first`–`last` of several tiles in as few engine processes as the
   * engine can (one when it can), with the same pixels as `render` of each tile and frame. The
   * worker uses it for the tiles of one job it holds at once; engines without it get one
   * `render`/`renderFrames` call per tile.
   */
  renderTiles?(request: RenderTilesRequest): Promise<RenderTilesResult | void>;
  /** True when `renderTiles` renders each tile's own frame range (tiles of different frames in one process). */
  readonly tilesOfSeveralFrameRanges?: boolean;
  /**
   * Seconds one engine process adds to a render slot's time beyond its tiles' own pixels (start-up,
   * scene load), for engines that start a process per render. The worker holds more tiles of a job
   * in one process when this dominates a tile's estimated render (worker/render.ts tilesPerSlot).
   */
  readonly launchSeconds?: number;
  /** Renders a fixed reference scene and reports a speed score. */
  benchmark(limits: RenderLimits): Promise<BenchmarkResult>;
}
