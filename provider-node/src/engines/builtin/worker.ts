/**
 * A render worker thread. It compiles the frame's scene, then claims rows of the rect one at a
 * time from a shared counter (so fast workers take more rows) and writes their RGBA8 bytes straight
 * into the shared pixel buffer, posting one message per finished row for progress. Which worker
 * renders a row never changes its bytes.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { Rect } from "../engine.ts";
import type { Scene } from "./animate.ts";
import { compileScene } from "./compile.ts";
import { FrameRenderer, type RenderSettings } from "./renderRect.ts";

export interface WorkerInput {
  scene: Scene;
  settings: RenderSettings;
  frame: number;
  width: number;
  height: number;
  rect: Rect;
  /** rect.width × rect.height × 4 bytes, shared with the main thread. */
  pixels: SharedArrayBuffer;
  /** One Int32: the next row to claim. */
  nextRow: SharedArrayBuffer;
}

export type WorkerMessage = { type: "row"; row: number };

const input = workerData as WorkerInput;
const renderer = new FrameRenderer(compileScene(input.scene, input.width, input.height, input.frame), input.settings, input.frame);
const pixels = new Uint8Array(input.pixels);
const counter = new Int32Array(input.nextRow);
for (;;) {
  const row = Atomics.add(counter, 0, 1);
  if (row >= input.rect.height) break;
  renderer.renderRow(input.rect, row, pixels);
  parentPort!.postMessage({ type: "row", row } satisfies WorkerMessage);
}
