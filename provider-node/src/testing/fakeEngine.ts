/**
 * A fake render engine for worker tests: writes a small deterministic PNG for the requested
 * rectangle (the same pixels on every "machine", so replicas agree), and can be told to fail, to
 * wait on a gate, or to be slow. It honours the abort signal like a real engine. With `tiles` it
 * also has `renderTiles` (one "launch" for several tiles, each painted exactly as `render` paints
 * it), whose calls are recorded apart from `render`'s.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { encodePng } from "@tessellate/sdk";
import type { Engine, EngineInfo, RenderRequest, RenderTilesRequest } from "../engines/engine.ts";

export interface FakeEngineOptions {
  name?: string;
  version?: string;
  /** Milliseconds each frame takes. */
  delayMs?: number;
  /** Return an error to fail this render with it. */
  fail?: (request: RenderRequest) => Error | undefined;
  /** Renders for which this returns true wait on the gate even when it is open (until aborted). */
  hold?: (request: RenderRequest) => boolean;
  /** Give the engine `renderTiles`; `fail` and `hold` then apply to each tile's frame within it too. */
  tiles?: boolean;
  /** With `tiles`: `renderTiles` renders each tile's own frame range (`tilesOfSeveralFrameRanges`, as Blender's). */
  tileFrames?: boolean;
  /** Engine.launchSeconds: what one launch would add to a render slot (the worker sizes its tile groups by it). */
  launchSeconds?: number;
  /** Milliseconds each "launch" really takes: once per `render` and once per `renderTiles` call, before any pixel. */
  launchMs?: number;
}

export interface FakeEngine extends Engine {
  /** `render` requests received, in order. */
  readonly requests: RenderRequest[];
  /** `renderTiles` requests received, in order (one engine launch each). */
  readonly tileRequests: RenderTilesRequest[];
  /** Makes renders wait until {@link FakeEngine.open} (or their abort). */
  close(): void;
  open(): void;
}

export function createFakeEngine(options: FakeEngineOptions = {}): FakeEngine {
  const info: EngineInfo = { name: options.name ?? "builtin", version: options.version ?? "1.0.0" };
  const requests: RenderRequest[] = [];
  const tileRequests: RenderTilesRequest[] = [];
  let gate: { promise: Promise<void>; release: () => void } | undefined;

  /** Paints one tile of one frame (waiting on the gate, the hold, the delay; failing as told). */
  async function paint(request: RenderRequest): Promise<void> {
    const { signal } = request;
    signal?.throwIfAborted();
    const wait = (promise: Promise<void>) =>
      new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal!.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
        promise.then(() => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        });
      });
    if (gate) await wait(gate.promise);
    if (options.hold?.(request)) await wait(new Promise<void>(() => {}));
    if (options.delayMs) await wait(new Promise((r) => setTimeout(r, options.delayMs)));
    const error = options.fail?.(request);
    if (error) throw error;
    request.onProgress?.(0.5);
    const { width, height, x, y } = request.rect;
    const data = new Uint8Array(width * height * 4);
    for (let row = 0; row < height; row++) {
      for (let col = 0; col < width; col++) {
        const i = (row * width + col) * 4;
        data[i] = (request.frame * 31 + (x + col) * 7) & 255;
        data[i + 1] = ((y + row) * 13) & 255;
        data[i + 2] = (x + col + y + row) & 255;
        data[i + 3] = 255;
      }
    }
    await mkdir(dirname(request.outPath), { recursive: true });
    await writeFile(request.outPath, encodePng({ width, height, data }));
    request.onProgress?.(1);
  }

  /** One "launch": `launchMs` of waiting (not aborted midway: the work of a process start-up). */
  const launch = async () => {
    if (options.launchMs) await new Promise((r) => setTimeout(r, options.launchMs));
  };

  const engine: FakeEngine = {
    name: info.name,
    requests,
    tileRequests,
    close() {
      if (gate) return;
      let release!: () => void;
      const promise = new Promise<void>((r) => (release = r));
      gate = { promise, release };
    },
    open() {
      gate?.release();
      gate = undefined;
    },
    detect: async () => info,
    benchmark: async () => ({ score: 100, seconds: 0.01 }),
    async render(request) {
      requests.push(request);
      await launch();
      await paint(request);
    },
  };
  if (options.tiles) {
    engine.renderTiles = async (request) => {
      tileRequests.push(request);
      await launch();
      const { tiles, onProgress: _progress, ...common } = request;
      for (const [k, tile] of tiles.entries()) {
        const first = (options.tileFrames ? tile.first : undefined) ?? request.first;
        const last = (options.tileFrames ? tile.last : undefined) ?? request.last;
        for (let frame = first; frame <= last; frame++) {
          await paint({ ...common, rect: tile.rect, frame, outPath: tile.outPathOf(frame) });
          request.onProgress?.((k + (frame - first + 1) / (last - first + 1)) / tiles.length);
        }
      }
    };
  }
  return {
    ...engine,
    ...(options.tiles && options.tileFrames ? { tilesOfSeveralFrameRanges: true } : {}),
    ...(options.launchSeconds === undefined ? {} : { launchSeconds: options.launchSeconds }),
  };
}
