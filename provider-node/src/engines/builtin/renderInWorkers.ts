/**
 * Spreads the rows of one rect over worker threads that share the output buffer. Rows are claimed
 * dynamically; the bytes of a row do not depend on the worker that renders it, so one worker and
 * many give identical pixels. Stopping (abort or time-out, through `signal`) terminates the workers.
 */
import { Worker } from "node:worker_threads";
import { FatalError } from "../../../../sdk/src/errors.ts";
import type { Rect } from "../engine.ts";
import type { Scene } from "./animate.ts";
import type { RenderSettings } from "./renderRect.ts";
import type { WorkerInput, WorkerMessage } from "./worker.ts";

/** A worker is worth its start-up cost (~0.1 s) only with at least this many pixels to render. */
export const MIN_PIXELS_PER_WORKER = 256;
const MIB = 1024 * 1024;
const MIN_HEAP_MIB = 64;
/**
 * Workers inherit the parent's Node flags (undefined = inherit), except `--input-type`, which only
 * makes sense for `node -e` input and would stop a worker from loading its file.
 */
function workerExecArgv(): string[] | undefined {
  const flags = process.execArgv.filter((flag) => !flag.startsWith("--input-type"));
  return flags.length === process.execArgv.length ? undefined : flags;
}

/** How many workers render `rect` with `threads` allowed: at least 1, at most one per row. */
export function planWorkers(threads: number, rect: Rect): number {
  const allowed = Number.isFinite(threads) ? Math.max(1, Math.floor(threads)) : 1;
  const bySize = Math.max(1, Math.floor((rect.width * rect.height) / MIN_PIXELS_PER_WORKER));
  return Math.min(allowed, bySize, rect.height);
}

export interface WorkerJob {
  scene: Scene;
  settings: RenderSettings;
  frame: number;
  width: number;
  height: number;
  rect: Rect;
  threads: number;
  memoryBytes: number;
  signal: AbortSignal;
  /** Called after each finished row with the number of rows done so far. */
  onRow?: (rowsDone: number) => void;
}

/** Renders `job.rect` and resolves with its RGBA8 bytes; rejects with `signal.reason` when stopped. */
export function renderInWorkers(job: WorkerJob): Promise<Uint8Array> {
  const { rect, signal } = job;
  const count = planWorkers(job.threads, rect);
  const pixels = new SharedArrayBuffer(rect.width * rect.height * 4);
  const nextRow = new SharedArrayBuffer(4);
  const input: WorkerInput = {
    scene: job.scene,
    settings: job.settings,
    frame: job.frame,
    width: job.width,
    height: job.height,
    rect,
    pixels,
    nextRow,
  };
  const heapMib =
    Number.isFinite(job.memoryBytes) && job.memoryBytes > 0 ? Math.max(MIN_HEAP_MIB, Math.floor(job.memoryBytes / MIB / count)) : undefined;

  return new Promise<Uint8Array>((resolve, reject) => {
    const workers: Worker[] = [];
    let rowsDone = 0;
    let running = count;
    let settled = false;

    const finish = (error: unknown | null) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      for (const worker of workers) void worker.terminate();
      if (error !== null) reject(error);
      else resolve(new Uint8Array(pixels).slice());
    };
    const onAbort = () => finish(signal.reason);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });

    for (let i = 0; i < count; i++) {
      const worker = new Worker(new URL("./worker.ts", import.meta.url), {
        workerData: input,
        execArgv: workerExecArgv(),
        resourceLimits: heapMib === undefined ? undefined : { maxOldGenerationSizeMb: heapMib },
      });
      workers.push(worker);
      worker.on("message", (message: WorkerMessage) => {
        if (settled || message.type !== "row") return;
        rowsDone++;
        job.onRow?.(rowsDone);
      });
      worker.on("error", (error: Error & { code?: string }) => {
        if (error.code === "ERR_WORKER_OUT_OF_MEMORY") {
          finish(
            new FatalError("RENDER_OUT_OF_MEMORY", `a render worker ran out of memory (heap limit ${heapMib} MiB); raise limits.memoryBytes`, {
              cause: error,
            }),
          );
        } else if (error instanceof FatalError) {
          finish(error);
        } else if (error.name === "FatalError" && typeof error.code === "string") {
          finish(new FatalError(error.code, error.message, { cause: error })); // crossed the thread boundary
        } else {
          finish(new FatalError("RENDER_FAILED", `a builtin render worker failed: ${error.message}`, { cause: error }));
        }
      });
      worker.on("exit", (code) => {
        running--;
        if (settled) return;
        if (code !== 0) finish(new FatalError("RENDER_FAILED", `a builtin render worker exited with code ${code}`));
        else if (running === 0) {
          // Every row claimed by a worker that exited cleanly was finished.
          const claimed = Atomics.load(new Int32Array(nextRow), 0);
          if (claimed >= rect.height) finish(null);
          else finish(new FatalError("RENDER_FAILED", `render workers stopped after ${claimed} of ${rect.height} rows`));
        }
      });
    }
  });
}
