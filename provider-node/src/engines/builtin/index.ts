/**
 * The `builtin` engine: a small deterministic path tracer for the JSON scene format described in
 * SCENE_FORMAT.md. It needs nothing installed, and its pixels are bit-identical on every machine:
 * only IEEE-exact arithmetic decides them, and each pixel's random stream depends only on
 * (seed, frame, x, y). Rows are spread over worker threads (see renderInWorkers.ts).
 */
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { PNG } from "pngjs";
import { FatalError } from "../../../../sdk/src/errors.ts";
import type { BenchmarkResult, Engine, EngineInfo, RenderLimits, RenderRequest } from "../engine.ts";
import { resolveFrame } from "./animate.ts";
import { compileScene } from "./compile.ts";
import { renderInWorkers } from "./renderInWorkers.ts";
import { loadScene } from "./scene.ts";
import { checkRequestGeometry, parseSettings } from "./settings.ts";

/**
 * The engine version advertised to the network and pinned by manifests. Bump it whenever ANY pixel
 * output changes (scene semantics, sampling, random streams, shading, tone mapping, defaults):
 * providers with different versions must never be asked to agree on a digest.
 */
export const BUILTIN_VERSION = "1.0.0";

/** The benchmark scene, shipped next to this file, and how it is rendered. */
export const BENCHMARK = {
  sceneDir: import.meta.dirname,
  entry: "reference.json",
  width: 64,
  height: 48,
  frame: 1,
  settings: { samples: 1024, seed: 1, maxBounces: 4 },
} as const;

/** setTimeout cannot wait longer than this; longer limits mean "no time limit". */
const MAX_TIMER_MS = 0x7fffffff;

function abortError(): Error {
  const error = new Error("render aborted");
  error.name = "AbortError";
  return error;
}

/** PNG, 8-bit RGBA, no metadata; written under a temporary name and renamed into place. */
async function writePng(outPath: string, width: number, height: number, rgba: Uint8Array): Promise<void> {
  const png = new PNG({ width, height, colorType: 6, bitDepth: 8, inputHasAlpha: true });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  const bytes = PNG.sync.write(png, { colorType: 6, bitDepth: 8, inputHasAlpha: true });
  await mkdir(path.dirname(outPath), { recursive: true });
  const partial = `${outPath}.${process.pid}.partial`;
  await writeFile(partial, bytes);
  await rename(partial, outPath);
}

async function render(request: RenderRequest): Promise<void> {
  checkRequestGeometry(request);
  const settings = parseSettings(request.settings);
  const { rect } = request;

  // One internal signal for both ways of stopping: the caller's abort and the time limit.
  const stop = new AbortController();
  const onAbort = () => stop.abort(request.signal?.reason ?? abortError());
  if (request.signal?.aborted) throw request.signal.reason ?? abortError();
  request.signal?.addEventListener("abort", onAbort, { once: true });
  const { timeoutMs } = request.limits;
  const timer =
    Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS
      ? setTimeout(
          () =>
            stop.abort(
              new FatalError(
                "RENDER_TIMEOUT",
                `builtin render of frame ${request.frame} rect ${rect.width}×${rect.height} exceeded the time limit of ${timeoutMs} ms; raise limits.timeoutMs or render fewer samples`,
              ),
            ),
          timeoutMs,
        )
      : undefined;

  try {
    const spec = await loadScene(request.sceneDir, request.entry);
    stop.signal.throwIfAborted();
    const scene = resolveFrame(spec, request.frame);
    compileScene(scene, request.width, request.height, request.frame); // fails here, not in a worker
    const total = rect.height + 1; // the rows, then writing the PNG
    let reported = 0;
    const report = (fraction: number) => {
      if (fraction > reported) {
        reported = fraction;
        request.onProgress?.(fraction);
      }
    };
    report(0);
    const pixels = await renderInWorkers({
      scene,
      settings,
      frame: request.frame,
      width: request.width,
      height: request.height,
      rect,
      threads: request.limits.threads,
      memoryBytes: request.limits.memoryBytes,
      signal: stop.signal,
      onRow: (rowsDone) => report(rowsDone / total),
    });
    stop.signal.throwIfAborted();
    await writePng(request.outPath, rect.width, rect.height, pixels);
    report(1);
  } finally {
    clearTimeout(timer);
    request.signal?.removeEventListener("abort", onAbort);
  }
}

async function benchmark(limits: RenderLimits): Promise<BenchmarkResult> {
  const dir = await mkdtemp(path.join(tmpdir(), "tessellate-builtin-bench-"));
  try {
    const { width, height, settings } = BENCHMARK;
    const started = performance.now();
    await render({
      sceneDir: BENCHMARK.sceneDir,
      entry: BENCHMARK.entry,
      width,
      height,
      rect: { x: 0, y: 0, width, height },
      frame: BENCHMARK.frame,
      frames: { start: BENCHMARK.frame, end: BENCHMARK.frame },
      settings,
      outPath: path.join(dir, "reference.png"),
      limits,
    });
    const seconds = (performance.now() - started) / 1000;
    return { score: (width * height * settings.samples) / seconds / 1000, seconds };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function createBuiltinEngine(): Engine {
  return {
    name: "builtin",
    detect: async (): Promise<EngineInfo> => ({ name: "builtin", version: BUILTIN_VERSION }),
    render,
    benchmark,
  };
}
