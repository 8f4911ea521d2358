/**
 * Measures how far renders of one Blender scene differ, per pixel and per block of a grid, to
 * choose the tolerant-verification fingerprint and its default tolerance (issue 11). Renders the
 * glass/subsurface scene of scripts/bench/fingerprintScene.py with real Blender (Cycles CPU, fixed
 * seed, no adaptive sampling, no denoiser, no dithering) as an honest reference and as variants:
 * a rerun, the SSE4.1 kernel of an older CPU (CYCLES_CPU_NO_AVX2/NO_AVX), fewer samples, another
 * seed, the neighbouring frame and half resolution scaled up. Prints figures; asserts nothing.
 *
 * With --adaptive every variant renders with Cycles' adaptive sampling (default threshold), with
 * --denoise with the denoiser (Debian's Blender 3.4.1 is built without OpenImageDenoise: the render
 * fails with "Build without OpenImageDenoiser").
 *
 * Usage: node scripts/benchFingerprint.ts [--width 200] [--height 150] [--samples 32] [--adaptive] [--denoise] [--keep]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compareFingerprints, decodePng, fingerprint, type RgbaImage } from "@tessellate/sdk";

const { values } = parseArgs({
  options: {
    width: { type: "string", default: "200" },
    height: { type: "string", default: "150" },
    samples: { type: "string", default: "32" },
    keep: { type: "boolean", default: false },
    adaptive: { type: "boolean", default: false },
    denoise: { type: "boolean", default: false },
  },
});
const width = Number(values.width);
const height = Number(values.height);
const samples = Number(values.samples);
for (const [name, value] of Object.entries({ width, height, samples })) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name} must be a positive integer, got ${JSON.stringify(values[name as keyof typeof values])}`);
    process.exit(2);
  }
}

interface Variant {
  name: string;
  samples: number;
  seed: number;
  frame: number;
  scale: 1 | 2;
  env?: Record<string, string>;
}

const variants: Variant[] = [
  { name: "reference", samples, seed: 0, frame: 1, scale: 1 },
  { name: "same machine, run twice", samples, seed: 0, frame: 1, scale: 1 },
  { name: "SSE4.1 kernel (older CPU)", samples, seed: 0, frame: 1, scale: 1, env: { CYCLES_CPU_NO_AVX2: "1", CYCLES_CPU_NO_AVX: "1" } },
  { name: `${Math.round(samples * 0.875)} samples (12 % cheaper)`, samples: Math.round(samples * 0.875), seed: 0, frame: 1, scale: 1 },
  { name: `${samples / 2} samples (half)`, samples: Math.max(1, Math.floor(samples / 2)), seed: 0, frame: 1, scale: 1 },
  { name: "another seed", samples, seed: 7, frame: 1, scale: 1 },
  { name: "neighbouring frame", samples, seed: 0, frame: 2, scale: 1 },
  { name: "half resolution scaled up", samples, seed: 0, frame: 1, scale: 2 },
];

const scenePy = join(import.meta.dirname, "bench", "fingerprintScene.py");
const dir = mkdtempSync(join(tmpdir(), "tessellate-fingerprint-"));

function render(variant: Variant, index: number): RgbaImage {
  const out = join(dir, `v${index}.png`);
  const settings = {
    width: width / variant.scale,
    height: height / variant.scale,
    samples: variant.samples,
    seed: variant.seed,
    frame: variant.frame,
    threads: 2,
    adaptive: values.adaptive,
    denoise: values.denoise,
  };
  const started = performance.now();
  const result = spawnSync("blender", ["-b", "--factory-startup", "-noaudio", "--python", scenePy, "--", out, JSON.stringify(settings)], {
    env: { ...process.env, ...variant.env },
    encoding: "utf8",
  });
  if (result.status !== 0) {
    console.error(result.stdout.slice(-2000), result.stderr.slice(-2000));
    throw new Error(`blender failed on variant "${variant.name}" (status ${result.status})`);
  }
  console.error(`rendered ${variant.name} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const image = decodePng(readFileSync(out));
  return variant.scale === 1 ? image : upscale(image, variant.scale);
}

function upscale(image: RgbaImage, factor: number): RgbaImage {
  const w = image.width * factor;
  const h = image.height * factor;
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const from = ((Math.floor(y / factor) * image.width) + Math.floor(x / factor)) * 4;
      data.set(image.data.subarray(from, from + 4), (y * w + x) * 4);
    }
  }
  return { width: w, height: h, data };
}

/** Per-pixel difference and, for each grid, the share of blocks holding any differing pixel. */
function compare(a: RgbaImage, b: RgbaImage, grids: number[]) {
  let differing = 0;
  let maxDiff = 0;
  const blockDiffers = grids.map((g) => new Uint8Array(g * g));
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      const i = (y * a.width + x) * 4;
      let pixelMax = 0;
      for (let c = 0; c < 4; c++) pixelMax = Math.max(pixelMax, Math.abs(a.data[i + c]! - b.data[i + c]!));
      if (pixelMax === 0) continue;
      differing++;
      maxDiff = Math.max(maxDiff, pixelMax);
      grids.forEach((g, k) => {
        const bx = Math.floor((x * g) / a.width);
        const by = Math.floor((y * g) / a.height);
        blockDiffers[k]![by * g + bx] = 1;
      });
    }
  }
  return {
    differing,
    maxDiff,
    blockShares: blockDiffers.map((cells) => cells.reduce((sum, v) => sum + v, 0) / cells.length),
  };
}

function fingerprintColumn(c: { compared: number; differing: number }): string {
  return `${c.differing}/${c.compared} (${c.compared === 0 ? "0.0" : ((100 * c.differing) / c.compared).toFixed(1)} %)`;
}

const grids = [8, 16, 32];
try {
  const images = variants.map(render);
  const reference = images[0]!;
  const pixels = width * height;
  const features = `${values.adaptive ? "ADAPTIVE SAMPLING" : "no adaptive sampling"}, ${values.denoise ? "DENOISER" : "no denoiser"}`;
  console.log(`\nBlender ${width}x${height}, ${samples} samples, Cycles CPU, fixed seed, ${features}, no dithering`);
  console.log(`share of blocks that differ from the reference, for an N x N grid of blocks:\n`);
  console.log([
    "variant".padEnd(34), "pixels differing".padStart(18), "max".padStart(5), ...grids.map((g) => `${g}x${g}`.padStart(8)), "fingerprint differing/compared".padStart(32),
  ].join(" "));
  const referenceFingerprint = fingerprint([reference]);
  variants.slice(1).forEach((variant, k) => {
    const r = compare(reference, images[k + 1]!, grids);
    console.log([
      variant.name.padEnd(34),
      `${r.differing} (${((100 * r.differing) / pixels).toFixed(2)} %)`.padStart(18),
      String(r.maxDiff).padStart(5),
      ...r.blockShares.map((s) => `${(100 * s).toFixed(1)} %`.padStart(8)),
      fingerprintColumn(compareFingerprints(referenceFingerprint, fingerprint([images[k + 1]!]))).padStart(32),
    ].join(" "));
  });
  console.log(`\nimages in ${values.keep ? dir : "(removed; --keep keeps them)"}`);
} finally {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
