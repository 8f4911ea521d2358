/**
 * Blender adapter (Debian package `blender`), Cycles on the CPU.
 *
 * Every render runs
 *   blender -b -Y --factory-startup <scene.blend> [-S <scene>] --python-exit-code 1
 *           --python renderSegment.py -f <frame> -- <json>
 * - `-Y` (`--disable-autoexec`): Python embedded in the .blend file (registered text blocks,
 *   Python drivers) never runs. Scripts named with `--python` on the command line still run,
 *   so our own `renderSegment.py` (shipped next to this file) applies the settings.
 * - `--factory-startup`: no user preferences or add-ons of the machine change the result.
 * - `renderSegment.py` pins Cycles to the CPU with a fixed thread count, samples and seed, no
 *   time limit, adaptive sampling and denoising as the settings say (off by default); sets the
 *   full frame size at 100 % and the rectangle as a render border cropped to itself; and writes
 *   an 8-bit RGBA PNG into the private work dir.
 * - Only Cycles scenes: a file set to Eevee or Workbench (which need OpenGL, absent on a headless
 *   provider) is refused with `tessellate: the scene renders with BLENDER_EEVEE …`, never
 *   rendered with Cycles in its place.
 * - Settings: `{ samples, seed, adaptiveSampling, denoise, camera?, scene? }`.
 * - Several tiles of one job (`renderTiles`): one Blender process, no `-f`/`-a`; the script sets
 *   each tile's border and frame range in turn and renders its frames (an animation render of
 *   the range, as `-s -e -a` does), so Blender's start-up and the scene's load are paid once, not
 *   per tile; the tiles may have different frame ranges (`tilesOfSeveralFrameRanges`).
 *
 * - Cycles' CPU kernel variables (`CYCLES_CPU_NO_AVX2`, `CYCLES_CPU_NO_AVX`, …; see cpuKernel.ts)
 *   set in the node's environment are passed into Blender's (nothing else of it is), and the
 *   benchmark runs with `--debug-cycles` to read which kernel Blender uses ("Using AVX2 CPU
 *   kernels."), which the provider profile records.
 *
 * Cycles with a fixed seed, no adaptive sampling and no denoiser gives the same pixels on
 * every run and for every thread count on one machine. Blender's dithering (noise added when
 * the image is quantized to 8 bits, whose pattern depends on the pixel's place in the rendered
 * border) made a tile differ by up to 2/255 from the same region of the full frame; the script
 * sets `render.dither_intensity = 0`, so tiles compose into exactly the full frame.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BLENDER_EXTERNAL_FILES_MODULE } from "@tessellate/sdk/blenderScene";
import { FatalError } from "@tessellate/sdk/errors";
import { commandOutput, findEngineOutput, findEngineOutputs, reportProgress, resolveSceneEntry, sandboxLimitsOf } from "../../sandbox/engineFiles.ts";
import { runSandboxed, withWorkDir, type SandboxLogger, type SandboxOptions, type SandboxRunner } from "../../sandbox/sandbox.ts";
import { assertRectInside, cropPngFile } from "../crop.ts";
import type { BenchmarkResult, Engine, EngineInfo, RenderFramesRequest, RenderLimits, RenderRequest, RenderTilesRequest, RenderTilesResult } from "../engine.ts";
import { blenderDiagnostics } from "../engineDiagnostics.ts";
import { cyclesKernelEnv, cyclesKernelFromLogLine } from "./cpuKernel.ts";

export interface BlenderSettings {
  /** Cycles samples per pixel. */
  samples: number;
  /** Cycles seed (never animated). */
  seed: number;
  /** Cycles' adaptive sampling; off in exact verification. */
  adaptiveSampling: boolean;
  /** Cycles' denoiser; off in exact mode. */
  denoise: boolean;
  /** Object name of the camera to render through; the scene's active camera by default. */
  camera?: string;
  /** Scene to render, for files holding several; the file's active scene by default. */
  scene?: string;
}

export interface BlenderEngineOptions {
  /** The Blender executable; `blender` on the sandbox's PATH by default. */
  binary?: string;
  /** Substitute for `runSandboxed` (tests). */
  runner?: SandboxRunner;
  logger?: SandboxLogger;
  /** The node's sandbox settings (isolation, where work folders go). */
  sandbox?: SandboxOptions;
  /**
   * Cycles' kernel variables for Blender's environment; by default those set in the node's own
   * environment (`cyclesKernelEnv(process.env)`).
   */
  cyclesEnv?: Record<string, string>;
}

const RENDER_SCRIPT = fileURLToPath(new URL("./renderSegment.py", import.meta.url));
const BENCHMARK_SCRIPT = fileURLToPath(new URL("./benchmarkScene.py", import.meta.url));
const BENCHMARK = { width: 160, height: 120, samples: 16 };
const OUTPUT_PREFIX = "render_";
/**
 * Seconds one Blender process adds to a render slot (Engine.launchSeconds): 0.48–0.53 s of wall
 * time, 0.45–0.47 CPU-s (start-up, loading the adapter's test scene, Cycles' scene sync) for a
 * 1-pixel, 1-sample render through this adapter in its bubblewrap sandbox, measured on the
 * project's 2-core machine (2026-12-04, Blender 3.4.1).
 */
export const BLENDER_LAUNCH_SECONDS = 0.5;

export function createBlenderEngine(options: BlenderEngineOptions = {}): Engine {
  const binary = options.binary ?? "blender";
  const runner = options.runner ?? runSandboxed;
  const env = options.cyclesEnv ?? cyclesKernelEnv(process.env);

  /**
   * Renders into `workDir`; returns Blender's own render time in seconds when it printed one and,
   * with `debugCycles`, the CPU kernel it reported using.
   */
  async function renderIn(
    workDir: string,
    request: RenderRequest,
    settings: BlenderSettings,
    debugCycles = false,
  ): Promise<{ renderSeconds?: number; cpuKernel?: string }> {
    let renderSeconds: number | undefined;
    let cpuKernel: string | undefined;
    const diagnostics = blenderDiagnostics();
    const args = blenderArguments(request, settings, join(workDir, OUTPUT_PREFIX));
    const result = await runner({
      command: binary,
      args: debugCycles ? ["--debug-cycles", ...args] : args,
      env,
      workDir,
      ...sandboxLimitsOf(request, options.logger, options.sandbox),
      // The scene, the script that applies the settings (shipped next to this file) and the
      // sdk's list of the scene's external files, which the script checks before rendering.
      readOnlyDirs: [request.sceneDir, RENDER_SCRIPT, BLENDER_EXTERNAL_FILES_MODULE],
      diagnostics,
      onLine: (line) => {
        const progress = /\| Sample (\d+)\/(\d+)/.exec(line) ?? /Rendered (\d+)\/(\d+) Tiles/.exec(line);
        if (progress) reportProgress(request, progress[1], progress[2]);
        const time = /^ Time: (\d+):([\d.]+) \(Saving: (\d+):([\d.]+)\)/.exec(line);
        if (time) renderSeconds = Number(time[1]) * 60 + Number(time[2]) - (Number(time[3]) * 60 + Number(time[4]));
        cpuKernel ??= debugCycles ? cyclesKernelFromLogLine(line) : undefined;
      },
    });
    const lastLines = [...result.stdoutTail.split("\n"), ...result.stderrTail.split("\n")].filter((line) => line !== "");
    const written = await findEngineOutput(workDir, OUTPUT_PREFIX, "blender", lastLines, diagnostics);
    const { width, height } = request.rect;
    await cropPngFile(written, { width, height }, { x: 0, y: 0, width, height }, request.outPath, request.onImage);
    request.onProgress?.(1);
    return { renderSeconds, cpuKernel };
  }

  /** Renders frames `first`–`last` in one Blender run (`-s -e -a`), each written as its own PNG. */
  async function renderFramesIn(workDir: string, request: RenderFramesRequest, settings: BlenderSettings): Promise<void> {
    const diagnostics = blenderDiagnostics();
    const count = request.last - request.first + 1;
    const asFirst: RenderRequest = { ...request, frame: request.first, outPath: "" };
    const result = await runner({
      command: binary,
      args: blenderArguments(asFirst, settings, join(workDir, OUTPUT_PREFIX), request.last),
      env,
      workDir,
      ...sandboxLimitsOf(asFirst, options.logger, options.sandbox),
      readOnlyDirs: [request.sceneDir, RENDER_SCRIPT, BLENDER_EXTERNAL_FILES_MODULE],
      diagnostics,
      onLine: (line) => {
        const progress = /^Fra:(\d+) .*\| Sample (\d+)\/(\d+)/.exec(line);
        if (progress) request.onProgress?.(Math.min(1, (Number(progress[1]) - request.first + Number(progress[2]) / Math.max(1, Number(progress[3]))) / count));
      },
    });
    const lastLines = [...result.stdoutTail.split("\n"), ...result.stderrTail.split("\n")].filter((line) => line !== "");
    const written = await findEngineOutputs(workDir, OUTPUT_PREFIX, "blender", request, lastLines, diagnostics);
    const { width, height } = request.rect;
    for (let frame = request.first; frame <= request.last; frame++) {
      await cropPngFile(written.get(frame)!, { width, height }, { x: 0, y: 0, width, height }, request.outPathOf(frame), request.onImage);
    }
    request.onProgress?.(1);
  }

  /** Renders frames `first`–`last` of every tile in one Blender run (renderSegment.py loops over the tiles). */
  async function renderTilesIn(workDir: string, request: RenderTilesRequest, settings: BlenderSettings): Promise<void> {
    const diagnostics = blenderDiagnostics();
    const framesOf = (t: RenderTilesRequest["tiles"][number]) => ({ first: t.first ?? request.first, last: t.last ?? request.last });
    const counts = request.tiles.map((t) => framesOf(t).last - framesOf(t).first + 1);
    const total = counts.reduce((sum, n) => sum + n, 0);
    const before = counts.map((_, i) => counts.slice(0, i).reduce((sum, n) => sum + n, 0));
    const prefixOf = (tile: number) => `${OUTPUT_PREFIX}t${tile}_`;
    let tile = 0;
    const asFirst: RenderRequest = { ...request, rect: request.tiles[0]!.rect, frame: request.first, outPath: "" };
    const result = await runner({
      command: binary,
      args: blenderTilesArguments(request, settings, (i) => join(workDir, prefixOf(i))),
      env,
      workDir,
      ...sandboxLimitsOf(asFirst, options.logger, options.sandbox),
      readOnlyDirs: [request.sceneDir, RENDER_SCRIPT, BLENDER_EXTERNAL_FILES_MODULE],
      diagnostics,
      onLine: (line) => {
        const next = /^tessellate: tile (\d+) of \d+/.exec(line);
        if (next) tile = Number(next[1]) - 1;
        const progress = /^Fra:(\d+) .*\| Sample (\d+)\/(\d+)/.exec(line);
        if (progress) {
          const frame = Number(progress[1]) - framesOf(request.tiles[tile] ?? request.tiles[0]!).first + Number(progress[2]) / Math.max(1, Number(progress[3]));
          request.onProgress?.(Math.min(1, ((before[tile] ?? 0) + frame) / total));
        }
      },
    });
    const lastLines = [...result.stdoutTail.split("\n"), ...result.stderrTail.split("\n")].filter((line) => line !== "");
    for (const [i, t] of request.tiles.entries()) {
      const { rect, outPathOf } = t;
      const own = framesOf(t);
      const written = await findEngineOutputs(workDir, prefixOf(i), "blender", own, lastLines, diagnostics);
      const { width, height } = rect;
      for (let frame = own.first; frame <= own.last; frame++) {
        await cropPngFile(written.get(frame)!, { width, height }, { x: 0, y: 0, width, height }, outPathOf(frame), request.onImage);
      }
    }
    request.onProgress?.(1);
  }

  return {
    name: "blender",
    tilesOfSeveralFrameRanges: true,
    launchSeconds: BLENDER_LAUNCH_SECONDS,

    async renderTiles(request: RenderTilesRequest): Promise<RenderTilesResult> {
      const settings = parseBlenderSettings(request.settings);
      await withWorkDir("blender", (workDir) => renderTilesIn(workDir, request, settings), options.sandbox?.workRoot);
      return { processes: 1 };
    },

    async renderFrames(request: RenderFramesRequest): Promise<void> {
      const settings = parseBlenderSettings(request.settings);
      await withWorkDir("blender", (workDir) => renderFramesIn(workDir, request, settings), options.sandbox?.workRoot);
    },

    async detect(): Promise<EngineInfo | null> {
      const output = await commandOutput(binary, ["--version"]);
      const version = output === null ? undefined : /^Blender (\S+)/m.exec(output)?.[1];
      return version === undefined ? null : { name: "blender", version };
    },

    async render(request: RenderRequest): Promise<void> {
      const settings = parseBlenderSettings(request.settings);
      await withWorkDir("blender", (workDir) => renderIn(workDir, request, settings), options.sandbox?.workRoot);
    },

    async benchmark(limits: RenderLimits): Promise<BenchmarkResult> {
      const { width, height, samples } = BENCHMARK;
      const settings: BlenderSettings = { samples, seed: 0, adaptiveSampling: false, denoise: false };
      return withWorkDir("blender-bench", async (workDir) => {
        const sceneDir = join(workDir, "scene");
        await mkdir(sceneDir);
        await runner({
          command: binary,
          args: ["-b", "-Y", "--factory-startup", "--python-exit-code", "1", "--python", BENCHMARK_SCRIPT, "--", join(sceneDir, "benchmark.blend")],
          readOnlyDirs: [BENCHMARK_SCRIPT],
          workDir,
          isolation: options.sandbox?.isolation,
          bwrap: options.sandbox?.bwrap,
          onUsage: options.sandbox?.onUsage,
          threads: limits.threads,
          memoryBytes: limits.memoryBytes,
          timeoutMs: limits.timeoutMs,
          logger: options.logger,
        });
        const started = performance.now();
        const { renderSeconds, cpuKernel } = await withWorkDir("blender-bench-render", (renderDir) =>
          renderIn(
            renderDir,
            {
              sceneDir,
              entry: "benchmark.blend",
              width,
              height,
              rect: { x: 0, y: 0, width, height },
              frame: 1,
              frames: { start: 1, end: 1 },
              settings: { ...settings },
              outPath: join(renderDir, "benchmark-result.png"),
              limits,
            },
            settings,
            true,
          ),
          options.sandbox?.workRoot,
        );
        const seconds = (performance.now() - started) / 1000;
        // Blender's start-up (~1 s) would swamp a small render: score the render time Blender
        // reports, falling back to the wall clock.
        const rendered = renderSeconds !== undefined && renderSeconds > 0 ? renderSeconds : seconds;
        return { score: (width * height * samples) / rendered / 1000, seconds, ...(cpuKernel === undefined ? {} : { cpuKernel }) };
      }, options.sandbox?.workRoot);
    },
  };
}

/**
 * The Blender command line for one segment; Blender writes `<outputPrefix><frame>.png` for each
 * frame from `request.frame` to `last` (one by default: `-f`; several: `-s -e -a`).
 */
export function blenderArguments(request: RenderRequest, settings: BlenderSettings, outputPrefix: string, last = request.frame): string[] {
  const { rect, width, height, frame } = request;
  assertRectInside(rect, width, height);
  checkFrames(request, frame, last);
  return commandLine(request, settings, { rect: { x: rect.x, y: rect.y, width: rect.width, height: rect.height }, output: outputPrefix }, last === frame ? ["-f", String(frame)] : ["-s", String(frame), "-e", String(last), "-a"]);
}

/**
 * The Blender command line for several tiles of frames `first`–`last` in one process:
 * renderSegment.py renders every tile's frames itself (no `-f`/`-a`), tile `i` written as
 * `<outputPrefixOf(i)><frame>.png`.
 */
export function blenderTilesArguments(request: RenderTilesRequest, settings: BlenderSettings, outputPrefixOf: (tile: number) => string): string[] {
  for (const tile of request.tiles) assertRectInside(tile.rect, request.width, request.height);
  checkFrames(request, request.first, request.last);
  const tiles = request.tiles.map(({ rect, first, last }, i) => {
    const own = { first: first ?? request.first, last: last ?? request.last };
    checkFrames(request, own.first, own.last);
    if (own.first < request.first || own.last > request.last) throw new FatalError("RENDER_REQUEST_INVALID", `tile ${i}'s frames ${own.first}–${own.last} are outside the request's ${request.first}–${request.last}`);
    return { rect: { x: rect.x, y: rect.y, width: rect.width, height: rect.height }, output: outputPrefixOf(i), ...own };
  });
  return commandLine(request, settings, { tiles, first: request.first, last: request.last }, []);
}

function checkFrames(request: Pick<RenderRequest, "frames">, first: number, last: number): void {
  const { frames } = request;
  for (const f of [first, last]) {
    if (!Number.isSafeInteger(f) || f < frames.start || f > frames.end) {
      throw new FatalError("RENDER_REQUEST_INVALID", `frame ${f} is outside the job's frames ${frames.start}–${frames.end}`);
    }
  }
  if (last < first) throw new FatalError("RENDER_REQUEST_INVALID", `the last frame ${last} comes before the first ${first}`);
}

/** What every Blender render's command line shares; `what` says which pixels to render and where to write them. */
function commandLine(
  request: Pick<RenderRequest, "sceneDir" | "entry" | "width" | "height" | "limits">,
  settings: BlenderSettings,
  what: Record<string, unknown>,
  renderArgs: string[],
): string[] {
  const blendFile = resolveSceneEntry(request.sceneDir, request.entry);
  const scriptArguments = {
    width: request.width,
    height: request.height,
    ...what,
    threads: request.limits.threads,
    blendFile,
    externalFilesModule: BLENDER_EXTERNAL_FILES_MODULE,
    samples: settings.samples,
    seed: settings.seed,
    adaptiveSampling: settings.adaptiveSampling,
    denoise: settings.denoise,
    ...(settings.camera === undefined ? {} : { camera: settings.camera }),
    ...(settings.scene === undefined ? {} : { scene: settings.scene }),
  };
  return [
    "-b",
    "-Y",
    "--factory-startup",
    "-noaudio",
    blendFile,
    ...(settings.scene === undefined ? [] : ["-S", settings.scene]),
    "--python-exit-code",
    "1",
    "--python",
    RENDER_SCRIPT,
    ...renderArgs,
    "--",
    JSON.stringify(scriptArguments),
  ];
}

/** Checks the manifest's Blender settings and fills in defaults. */
export function parseBlenderSettings(settings: Record<string, unknown>): BlenderSettings {
  const invalid = (message: string) => new FatalError("SETTINGS_INVALID", `blender settings: ${message}`);
  const { samples, seed = 0, adaptiveSampling = false, denoise = false, camera, scene } = settings;
  if (typeof samples !== "number" || !Number.isSafeInteger(samples) || samples < 1) throw invalid("samples must be a positive integer");
  if (typeof seed !== "number" || !Number.isSafeInteger(seed) || seed < 0 || seed > 2 ** 31 - 1) {
    throw invalid("seed must be an integer from 0 to 2147483647");
  }
  if (typeof adaptiveSampling !== "boolean") throw invalid("adaptiveSampling must be true or false");
  if (typeof denoise !== "boolean") throw invalid("denoise must be true or false");
  for (const [name, value] of [["camera", camera], ["scene", scene]] as const) {
    if (value !== undefined && (typeof value !== "string" || value === "")) throw invalid(`${name} must be a non-empty name`);
  }
  return {
    samples,
    seed,
    adaptiveSampling,
    denoise,
    ...(camera === undefined ? {} : { camera: camera as string }),
    ...(scene === undefined ? {} : { scene: scene as string }),
  };
}
