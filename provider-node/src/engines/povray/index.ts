/**
 * POV-Ray 3.7 adapter (Debian package `povray`).
 *
 * - Frames: the job's whole frame range is the animation (`+KFI/+KFF`, clock from
 *   `initialClock` to `finalClock`) and only the requested frame is rendered (`+SF/+EF`), so a
 *   frame's clock is the same whichever segment renders it. A one-frame job renders at
 *   `initialClock` (`+K`), because POV-Ray computes a NaN clock when `+KFI` equals `+KFF`.
 * - Tiles: a partial render (`+SC/+EC/+SR/+ER`, 1-based, inclusive) still writes a full-size
 *   image, black outside the region, so the rectangle is cropped out of it. With anti-aliasing
 *   off every pixel is computed on its own, and tiles compose into exactly the full frame.
 * - Several tiles of one job (`renderTiles`): POV-Ray renders one region per run, so their
 *   bounding rectangle is rendered once and each tile cropped from it when it is at most
 *   BOUNDING_AREA_FACTOR times the tiles' area; else each tile gets its own run. Tiles of
 *   different frame ranges (`tilesOfSeveralFrameRanges`) share a run over all their frames on the
 *   same condition in pixels × frames (`povrayFrameRuns`).
 * - POV-Ray reads an end column/row of exactly `1` as the fraction 1.0 (the whole width), so a
 *   one-pixel-wide region at the left or top edge is rendered two pixels wide and cropped.
 * - Cyclic animations (`cyclic`, an .ini's `Cyclic_Animation=on`) pass `+KC`: POV-Ray then
 *   divides the clock range by the frame count instead of the frame count - 1.
 * - Settings: `{ antialias, initialClock, finalClock, quality, cyclic?, seed? }`; `seed` is declared to
 *   the scene as `TessellateSeed` (`Declare=TessellateSeed=<seed>`) for its `seed()` calls.
 *   Scenes that use `crand` are only deterministic with one thread.
 * - A failure names POV-Ray's own error lines (`Parse Error: Cannot open include file x.inc`),
 *   wherever they were printed, not its last line (`Render failed`): see engineDiagnostics.ts.
 * - The scene runs in the sandbox with the scene folder read-only and cwd = the private work
 *   dir, where the image is written; the scene folder is on the include path (`+L`).
 */
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FatalError } from "@tessellate/sdk/errors";
import { commandOutput, findEngineOutput, findEngineOutputs, reportProgress, resolveSceneEntry, sandboxLimitsOf } from "../../sandbox/engineFiles.ts";
import { runSandboxed, withWorkDir, type SandboxLogger, type SandboxOptions, type SandboxRequest, type SandboxRunner } from "../../sandbox/sandbox.ts";
import { assertRectInside, boundingRect, cropPngFile, cropPngFileInto } from "../crop.ts";
import type { BenchmarkResult, Engine, EngineInfo, Rect, RenderFramesRequest, RenderLimits, RenderRequest, RenderTilesRequest, RenderTilesResult } from "../engine.ts";
import { povrayDiagnostics } from "../engineDiagnostics.ts";

export interface PovraySettings {
  /** Adaptive anti-aliasing (`+A`, no jitter). Off in exact verification: tiles then compose exactly. */
  antialias: boolean;
  /** Clock of the job's first frame. */
  initialClock: number;
  /** Clock of the job's last frame. */
  finalClock: number;
  /** Cyclic animation (`+KC`): the clock stops one frame short of `finalClock`. */
  cyclic?: boolean;
  /** Render quality `+Q`, 0 (colours only) to 11 (everything). */
  quality: number;
  /** Declared to the scene as `TessellateSeed`. */
  seed?: number;
}

export interface PovrayEngineOptions {
  /** The POV-Ray executable; `povray` on the sandbox's PATH by default. */
  binary?: string;
  /** Substitute for `runSandboxed` (tests). */
  runner?: SandboxRunner;
  logger?: SandboxLogger;
  /** The node's sandbox settings (isolation, where work folders go). */
  sandbox?: SandboxOptions;
}

const BENCHMARK_SCENE = fileURLToPath(new URL("./benchmark.pov", import.meta.url));
const BENCHMARK_SIZE = { width: 320, height: 240 };
const OUTPUT_BASENAME = "render";

export function createPovrayEngine(options: PovrayEngineOptions = {}): Engine {
  const binary = options.binary ?? "povray";
  const runner = options.runner ?? runSandboxed;

  /** Renders into `workDir` and returns POV-Ray's own trace time in seconds, when it printed one. */
  async function renderIn(workDir: string, request: RenderRequest, settings: PovraySettings): Promise<number | undefined> {
    let traceSeconds: number | undefined;
    const diagnostics = povrayDiagnostics(request.sceneDir);
    const result = await runner({
      command: binary,
      args: povrayArguments(request, settings, join(workDir, `${OUTPUT_BASENAME}.png`)),
      workDir,
      ...sandboxLimitsOf(request, options.logger, options.sandbox),
      ...povrayConfiguration(request.sceneDir, workDir),
      diagnostics,
      onLine: (line) => {
        const trace = /Trace Time:.*\(([\d.]+) seconds\)/.exec(line);
        if (trace) traceSeconds = Number(trace[1]);
        const progress = /Rendered (\d+) of (\d+) pixels/.exec(line);
        if (progress) reportProgress(request, progress[1], progress[2]);
      },
    });
    const written = await findEngineOutput(workDir, OUTPUT_BASENAME, "povray", result.stderrTail.split("\n"), diagnostics);
    // POV-Ray keeps the full frame size for a partial render: crop the rectangle out of it.
    await cropPngFile(written, { width: request.width, height: request.height }, request.rect, request.outPath, request.onImage);
    request.onProgress?.(1);
    return traceSeconds;
  }

  /**
   * Renders frames `first`–`last` of `request.rect` in one POV-Ray run (`+SF/+EF`) and crops each
   * of `crops` (rectangles inside it, in frame coordinates) out of every frame.
   */
  async function renderRegionIn(
    workDir: string,
    request: Omit<RenderFramesRequest, "outPathOf">,
    settings: PovraySettings,
    crops: ReadonlyArray<{ rect: Rect; outPathOf(frame: number): string; first?: number; last?: number }>,
  ): Promise<void> {
    const diagnostics = povrayDiagnostics(request.sceneDir);
    const count = request.last - request.first + 1;
    let done = 0;
    const asFirst: RenderRequest = { ...request, frame: request.first, outPath: "" };
    const result = await runner({
      command: binary,
      args: povrayArguments(asFirst, settings, join(workDir, `${OUTPUT_BASENAME}.png`), request.last),
      workDir,
      ...sandboxLimitsOf(asFirst, options.logger, options.sandbox),
      ...povrayConfiguration(request.sceneDir, workDir),
      diagnostics,
      onLine: (line) => {
        const progress = /Rendered (\d+) of (\d+) pixels/.exec(line);
        if (!progress) return;
        const fraction = Number(progress[1]) / Math.max(1, Number(progress[2]));
        request.onProgress?.(Math.min(1, (done + fraction) / count));
        if (fraction >= 1) done++;
      },
    });
    const lastLines = result.stderrTail.split("\n");
    // One frame of a one-frame job is written without a frame number in its name.
    const written =
      count === 1
        ? new Map([[request.first, await findEngineOutput(workDir, OUTPUT_BASENAME, "povray", lastLines, diagnostics)]])
        : await findEngineOutputs(workDir, OUTPUT_BASENAME, "povray", request, lastLines, diagnostics);
    for (let frame = request.first; frame <= request.last; frame++) {
      // POV-Ray keeps the full frame size for a partial render: crop the rectangles out of it.
      // A crop with its own frames (a tile of another segment's frame range) takes only those.
      const own = crops.filter((crop) => (crop.first ?? request.first) <= frame && frame <= (crop.last ?? request.last));
      await cropPngFileInto(written.get(frame)!, { width: request.width, height: request.height }, own.map((crop) => ({ rect: crop.rect, outPath: crop.outPathOf(frame) })), request.onImage);
    }
    request.onProgress?.(1);
  }

  return {
    name: "povray",
    launchSeconds: POVRAY_LAUNCH_SECONDS,
    tilesOfSeveralFrameRanges: true,

    async renderFrames(request: RenderFramesRequest): Promise<void> {
      const settings = parsePovraySettings(request.settings);
      await withWorkDir("povray", (workDir) => renderRegionIn(workDir, request, settings, [request]), options.sandbox?.workRoot);
    },

    /**
     * POV-Ray renders one region per run: the tiles' bounding rectangle is rendered once and each
     * tile cropped out of it when it is at most BOUNDING_AREA_FACTOR times the tiles' area (a
     * scene parse and start-up saved per tile outweigh the extra pixels); else one run per tile.
     * Without anti-aliasing every pixel is computed on its own, so a tile's pixels are the same
     * whichever region it was rendered in. Tiles of different frame ranges (each tile's own
     * `first`–`last`: tilesOfSeveralFrameRanges) render in one run over the frames of all of
     * them when that box of pixels × frames is at most BOUNDING_AREA_FACTOR times theirs
     * (povrayFrameRuns); else each frame range as above, one after the other. A frame's pixels
     * do not depend on the run's frame range either: the clock spans the job's frames (+KFI/+KFF).
     */
    async renderTiles(request: RenderTilesRequest): Promise<RenderTilesResult> {
      const settings = parsePovraySettings(request.settings);
      for (const tile of request.tiles) assertRectInside(tile.rect, request.width, request.height);
      const tiles = request.tiles.map((tile) => ({ ...tile, first: tile.first ?? request.first, last: tile.last ?? request.last }));
      const runs = povrayFrameRuns(tiles);
      for (const [k, run] of runs.entries()) {
        const crops = run.tiles.map((i) => tiles[i]!);
        const onProgress = request.onProgress && ((fraction: number) => request.onProgress!((k + fraction) / runs.length));
        await withWorkDir("povray", (workDir) => renderRegionIn(workDir, { ...request, rect: run.rect, first: run.first, last: run.last, onProgress }, settings, crops), options.sandbox?.workRoot);
      }
      request.onProgress?.(1);
      return { processes: runs.length };
    },

    async detect(): Promise<EngineInfo | null> {
      const output = await commandOutput(binary, ["--version"]);
      const version = output === null ? undefined : /^POV-Ray (\S+)/m.exec(output)?.[1];
      return version === undefined ? null : { name: "povray", version };
    },

    async render(request: RenderRequest): Promise<void> {
      const settings = parsePovraySettings(request.settings);
      await withWorkDir("povray", (workDir) => renderIn(workDir, request, settings), options.sandbox?.workRoot);
    },

    async benchmark(limits: RenderLimits): Promise<BenchmarkResult> {
      const { width, height } = BENCHMARK_SIZE;
      const settings: PovraySettings = { antialias: false, initialClock: 0, finalClock: 0, quality: 9 };
      return withWorkDir("povray-bench", async (workDir) => {
        const started = performance.now();
        const reference: RenderRequest = {
          sceneDir: dirname(BENCHMARK_SCENE),
          entry: basename(BENCHMARK_SCENE),
          width,
          height,
          rect: { x: 0, y: 0, width, height },
          frame: 0,
          frames: { start: 0, end: 0 },
          settings: { ...settings },
          outPath: join(workDir, "benchmark-result.png"),
          limits,
        };
        const traceSeconds = await renderIn(workDir, reference, settings);
        const seconds = (performance.now() - started) / 1000;
        // POV-Ray's start-up (~0.5 s) would swamp the trace time of a small scene: score the
        // trace time POV-Ray reports, falling back to the wall clock.
        const traced = traceSeconds !== undefined && traceSeconds > 0 ? traceSeconds : seconds;
        return { score: (width * height) / traced / 1000, seconds };
      }, options.sandbox?.workRoot);
    },
  };
}

/**
 * Tiles whose bounding rectangle is at most this many times their summed area are rendered in
 * one POV-Ray run (the rectangle, cropped per tile); else each tile in its own run.
 */
export const BOUNDING_AREA_FACTOR = 1.25;

/**
 * Seconds one POV-Ray run adds to a render slot (Engine.launchSeconds): 0.60–0.68 s of wall time
 * for a 1-pixel render of a one-sphere scene through this adapter (bubblewrap sandbox included),
 * measured on the project's 2-core machine (2026-12-04, POV-Ray 3.7), of which ~0.00 CPU-s: its
 * front end sleeps in 50–100 ms polls. A real scene adds its parse on top (woodbox: 0.2 CPU-s).
 */
export const POVRAY_LAUNCH_SECONDS = 0.65;

/** The POV-Ray runs that render `tiles`: each run's region and the indices of the tiles cropped from it. */
export function povrayTileRuns(tiles: readonly Rect[]): Array<{ rect: Rect; tiles: number[] }> {
  const area = (rect: Rect) => rect.width * rect.height;
  const bounds = boundingRect(tiles);
  const tilesArea = tiles.reduce((sum, tile) => sum + area(tile), 0);
  if (area(bounds) <= BOUNDING_AREA_FACTOR * tilesArea) return [{ rect: bounds, tiles: tiles.map((_, i) => i) }];
  return tiles.map((rect, i) => ({ rect, tiles: [i] }));
}

/**
 * POV-Ray runs for tiles with their own frame ranges: all of them in one run of their bounding
 * rectangle over all their frames when that is at most BOUNDING_AREA_FACTOR times their own
 * pixels × frames (a claim of consecutive one-frame segments spans a few frames, mostly whole);
 * else per frame range (in frame order) by {@link povrayTileRuns}.
 */
export function povrayFrameRuns(tiles: ReadonlyArray<{ rect: Rect; first: number; last: number }>): Array<{ rect: Rect; first: number; last: number; tiles: number[] }> {
  const volume = (rect: Rect, first: number, last: number) => rect.width * rect.height * (last - first + 1);
  const first = Math.min(...tiles.map((t) => t.first));
  const last = Math.max(...tiles.map((t) => t.last));
  const bounds = boundingRect(tiles.map((t) => t.rect));
  const own = tiles.reduce((sum, t) => sum + volume(t.rect, t.first, t.last), 0);
  if (volume(bounds, first, last) <= BOUNDING_AREA_FACTOR * own) return [{ rect: bounds, first, last, tiles: tiles.map((_, i) => i) }];
  const ranges = new Map<string, number[]>();
  for (const [i, t] of tiles.entries()) ranges.set(`${t.first}-${t.last}`, [...(ranges.get(`${t.first}-${t.last}`) ?? []), i]);
  const byFrame = [...ranges.values()].sort((a, b) => tiles[a[0]!]!.first - tiles[b[0]!]!.first || tiles[a[0]!]!.last - tiles[b[0]!]!.last);
  return byFrame.flatMap((members) => {
    const { first: from, last: to } = tiles[members[0]!]!;
    return povrayTileRuns(members.map((i) => tiles[i]!.rect)).map((run) => ({ rect: run.rect, first: from, last: to, tiles: run.tiles.map((j) => members[j]!) }));
  });
}

/** Debian's POV-Ray reads its system configuration from here (`POVCONFDIR`). */
const POVRAY_CONF_DIR = "/etc/povray/3.7";
/** POV-Ray's own include files and INI folder (`POVLIBDIR`). */
const POVRAY_LIBRARY_DIR = "/usr/share/povray-3.7";

/**
 * What the sandbox gives POV-Ray besides the scene: its system INI file (library paths), and a
 * povray.conf written for this run, placed where POV-Ray reads its *system* configuration (a
 * user one in $HOME may not set a weaker security level than that): file I/O restricted to
 * reading the scene folder and POV-Ray's include files and writing the work folder, shell-outs
 * forbidden. The host's own /etc/povray/3.7/povray.conf is not shown to POV-Ray.
 *
 * Measured with Debian's POV-Ray 3.7.0.10: this build does not enforce these paths on `#fopen`,
 * `#include`, `file_exists()` or the output file, so the file system the sandbox shows POV-Ray
 * is what keeps the host out of reach; the configuration is kept as a second line should a
 * POV-Ray build enforce it.
 */
export function povrayConfiguration(sceneDir: string, workDir: string): Pick<SandboxRequest, "readOnlyDirs" | "files"> {
  const ini = join(POVRAY_CONF_DIR, "povray.ini");
  const conf = [
    "; Written by Tessellate for one render; see provider-node/src/engines/povray/index.ts.",
    "[File I/O Security]",
    "restricted",
    "[Shellout Security]",
    "forbidden",
    "[Permitted Paths]",
    `read* = "${POVRAY_LIBRARY_DIR}"`,
    `read* = "${sceneDir}"`,
    `read+write* = "${workDir}"`,
    "",
  ].join("\n");
  return {
    readOnlyDirs: [sceneDir, ...(existsSync(ini) ? [ini] : [])],
    files: [{ path: join(POVRAY_CONF_DIR, "povray.conf"), content: conf }],
  };
}

/**
 * The POV-Ray command line for one segment; `outputPath` is where POV-Ray writes its image (with
 * the frame number added to its name in an animation). Frames `request.frame` to `last` are
 * rendered (one by default).
 */
export function povrayArguments(request: RenderRequest, settings: PovraySettings, outputPath: string, last = request.frame): string[] {
  const { rect, width, height, frame, frames } = request;
  assertRectInside(rect, width, height);
  for (const f of [frame, last]) {
    if (!Number.isSafeInteger(f) || f < frames.start || f > frames.end) {
      throw new FatalError("RENDER_REQUEST_INVALID", `frame ${f} is outside the job's frames ${frames.start}–${frames.end}`);
    }
  }
  if (last < frame) throw new FatalError("RENDER_REQUEST_INVALID", `the last frame ${last} comes before the first ${frame}`);
  const args = [
    "-D", // no display window
    "-P", // no pause at the end
    `+I${resolveSceneEntry(request.sceneDir, request.entry)}`,
    `+O${outputPath}`,
    "+FN8",
    "-UA", // no alpha channel: the background is part of the image
    `+W${width}`,
    `+H${height}`,
    ...region("C", rect.x, rect.width, width),
    ...region("R", rect.y, rect.height, height),
    `+L${request.sceneDir}`,
    `+WT${request.limits.threads}`,
    `+Q${settings.quality}`,
    settings.antialias ? "+A" : "-A",
    "-J", // no anti-aliasing jitter
  ];
  if (frames.start === frames.end) {
    args.push(`+K${settings.initialClock}`);
  } else {
    args.push(
      `+KFI${frames.start}`,
      `+KFF${frames.end}`,
      `+KI${settings.initialClock}`,
      `+KF${settings.finalClock}`,
      settings.cyclic === true ? "+KC" : "-KC",
      `+SF${frame}`,
      `+EF${last}`,
    );
  }
  if (settings.seed !== undefined) args.push(`Declare=TessellateSeed=${settings.seed}`);
  return args;
}

/**
 * `+S<axis>` and `+E<axis>` for a 0-based `start` and `size` along an axis of `extent` pixels.
 * POV-Ray counts from 1, inclusive, and reads an end of exactly 1 as "100 %", so such a region
 * is widened to 2 pixels (the crop removes the extra one).
 */
function region(axis: "C" | "R", start: number, size: number, extent: number): string[] {
  const first = start + 1;
  let last = start + size;
  if (last === 1 && extent >= 2) last = 2;
  return [`+S${axis}${first}`, `+E${axis}${last}`];
}

/** Checks the manifest's POV-Ray settings and fills in defaults. */
export function parsePovraySettings(settings: Record<string, unknown>): PovraySettings {
  const invalid = (message: string) => new FatalError("SETTINGS_INVALID", `povray settings: ${message}`);
  const antialias = settings.antialias ?? false;
  const initialClock = settings.initialClock ?? 0;
  const finalClock = settings.finalClock ?? 1;
  const quality = settings.quality ?? 9;
  const seed = settings.seed;
  const cyclic = settings.cyclic;
  if (cyclic !== undefined && typeof cyclic !== "boolean") throw invalid("cyclic must be true or false");
  if (typeof antialias !== "boolean") throw invalid("antialias must be true or false");
  if (typeof initialClock !== "number" || !Number.isFinite(initialClock)) throw invalid("initialClock must be a number");
  if (typeof finalClock !== "number" || !Number.isFinite(finalClock)) throw invalid("finalClock must be a number");
  if (typeof quality !== "number" || !Number.isInteger(quality) || quality < 0 || quality > 11) {
    throw invalid("quality must be an integer from 0 to 11");
  }
  if (seed !== undefined && (typeof seed !== "number" || !Number.isSafeInteger(seed))) throw invalid("seed must be an integer");
  return { antialias, initialClock, finalClock, quality, ...(cyclic === undefined ? {} : { cyclic }), ...(seed === undefined ? {} : { seed }) };
}
