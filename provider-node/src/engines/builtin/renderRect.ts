/**
 * Pixels of one frame. A pixel's value depends only on the compiled scene, the settings, the frame,
 * the full-frame size and its own full-frame coordinates: its random stream is seeded from
 * (seed, frame, x, y), so any tile, worker or machine computes the same bytes for it.
 */
import type { Rect } from "../engine.ts";
import type { CompiledScene } from "./compile.ts";
import { primaryRay } from "./camera.ts";
import { pixelSeed, Rng } from "./rng.ts";
import type { MutableVec } from "./sampling.ts";
import { Tracer, type Rgb } from "./shade.ts";
import { toByte } from "./tonemap.ts";

export interface RenderSettings {
  /** Samples per pixel, 1..4096. */
  samples: number;
  /** 0..2^32 − 1. */
  seed: number;
  /** Indirect bounces after the first hit, 0..16 (0 = direct light only). */
  maxBounces: number;
}

/** Renders pixels of one frame of one compiled scene. */
export class FrameRenderer {
  private readonly scene: CompiledScene;
  private readonly settings: RenderSettings;
  private readonly frame: number;
  private readonly tracer: Tracer;
  private readonly dir: MutableVec = { x: 0, y: 0, z: 0 };
  private readonly sum: Rgb = { r: 0, g: 0, b: 0 };

  constructor(scene: CompiledScene, settings: RenderSettings, frame: number) {
    this.scene = scene;
    this.settings = settings;
    this.frame = frame;
    this.tracer = new Tracer(scene, settings.maxBounces);
  }

  /** The mean linear radiance of pixel (x, y), written into `out`. */
  pixel(x: number, y: number, out: Rgb): void {
    const { scene, settings, dir, sum } = this;
    const rng = new Rng(pixelSeed(settings.seed, this.frame, x, y));
    const [ox, oy, oz] = scene.camera.position;
    sum.r = 0;
    sum.g = 0;
    sum.b = 0;
    for (let s = 0; s < settings.samples; s++) {
      const jx = rng.next();
      const jy = rng.next();
      primaryRay(scene.camera, x + jx, y + jy, dir);
      this.tracer.trace(rng, ox, oy, oz, dir.x, dir.y, dir.z, sum);
    }
    out.r = sum.r / settings.samples;
    out.g = sum.g / settings.samples;
    out.b = sum.b / settings.samples;
  }

  /** Writes row `row` of `rect` (0 = its top row) as RGBA8 into `pixels`, laid out rect.width wide. */
  renderRow(rect: Rect, row: number, pixels: Uint8Array): void {
    const { exposure, toneMapping } = this.scene;
    const color: Rgb = { r: 0, g: 0, b: 0 };
    const y = rect.y + row;
    let offset = row * rect.width * 4;
    for (let i = 0; i < rect.width; i++) {
      this.pixel(rect.x + i, y, color);
      pixels[offset] = toByte(color.r, exposure, toneMapping);
      pixels[offset + 1] = toByte(color.g, exposure, toneMapping);
      pixels[offset + 2] = toByte(color.b, exposure, toneMapping);
      pixels[offset + 3] = 255;
      offset += 4;
    }
  }

  /** All of `rect` as RGBA8, row by row (single-threaded; the engine spreads rows over workers). */
  renderRect(rect: Rect): Uint8Array {
    const pixels = new Uint8Array(rect.width * rect.height * 4);
    for (let row = 0; row < rect.height; row++) this.renderRow(rect, row, pixels);
    return pixels;
  }
}
