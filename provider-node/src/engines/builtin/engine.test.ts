import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { PNG } from "pngjs";
import { FatalError } from "../../../../sdk/src/errors.ts";
import type { Rect, RenderRequest } from "../engine.ts";
import { BUILTIN_VERSION, createBuiltinEngine } from "./index.ts";
import { planWorkers } from "./renderInWorkers.ts";

const SAMPLE_DIR = path.resolve(import.meta.dirname, "../../../../scenes/builtin-sample");
const W = 32;
const H = 24;
const engine = createBuiltinEngine();
let out: string;
let counter = 0;

before(async () => {
  out = await mkdtemp(path.join(tmpdir(), "builtin-engine-test-"));
});
after(async () => {
  await rm(out, { recursive: true, force: true });
});

function request(overrides: Partial<RenderRequest> = {}): RenderRequest {
  return {
    sceneDir: SAMPLE_DIR,
    entry: "scene.json",
    width: W,
    height: H,
    rect: { x: 0, y: 0, width: W, height: H },
    frame: 1,
    frames: { start: 1, end: 8 },
    settings: { samples: 4, seed: 42, maxBounces: 3 },
    outPath: path.join(out, `render-${counter++}.png`),
    limits: { threads: 1, memoryBytes: 1024 * 1024 * 1024, timeoutMs: 60_000 },
    ...overrides,
  };
}

/** Renders and decodes the PNG: width, height and the RGBA bytes. */
async function renderPixels(overrides: Partial<RenderRequest> = {}): Promise<PNG> {
  const req = request(overrides);
  await engine.render(req);
  return PNG.sync.read(await readFile(req.outPath));
}

/** The RGBA bytes of `rect` cut out of a full-frame image. */
function crop(full: PNG, rect: Rect): Buffer {
  const bytes = Buffer.alloc(rect.width * rect.height * 4);
  for (let row = 0; row < rect.height; row++) {
    const start = ((rect.y + row) * full.width + rect.x) * 4;
    full.data.copy(bytes, row * rect.width * 4, start, start + rect.width * 4);
  }
  return bytes;
}

function digest(png: PNG): string {
  return createHash("sha256").update(png.data).digest("hex");
}

async function sceneDir(name: string, content: string): Promise<string> {
  const dir = path.join(out, name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "scene.json"), content);
  return dir;
}

describe("builtin engine", () => {
  let full: PNG;
  before(async () => {
    full = await renderPixels();
  });

  it("detects itself with the pinned version", async () => {
    assert.deepEqual(await engine.detect(), { name: "builtin", version: BUILTIN_VERSION });
    assert.equal(engine.name, "builtin");
  });

  it("writes an RGBA PNG of the rect's size that is not black", () => {
    assert.equal(full.width, W);
    assert.equal(full.height, H);
    let lit = 0;
    for (let i = 0; i < full.data.length; i += 4) if (full.data[i] + full.data[i + 1] + full.data[i + 2] > 30) lit++;
    assert.ok(lit > (W * H) / 2, `only ${lit} pixels are lit`);
  });

  it("renders a tile with exactly the pixels of that region of the full frame", async () => {
    for (const rect of [
      { x: 7, y: 5, width: 13, height: 9 },
      { x: 0, y: 0, width: 1, height: 1 },
      { x: W - 3, y: H - 2, width: 3, height: 2 },
    ]) {
      const tile = await renderPixels({ rect });
      assert.equal(tile.width, rect.width);
      assert.equal(tile.height, rect.height);
      assert.ok(tile.data.equals(crop(full, rect)), `tile ${JSON.stringify(rect)} differs from the full frame`);
    }
  });

  it("gives identical pixels when the same request is rendered twice", async () => {
    assert.equal(digest(await renderPixels()), digest(full));
  });

  it("gives identical pixels with one worker and with several", async () => {
    assert.equal(planWorkers(3, { x: 0, y: 0, width: W, height: H }), 3);
    const threaded = await renderPixels({ limits: { threads: 3, memoryBytes: 1024 * 1024 * 1024, timeoutMs: 60_000 } });
    assert.equal(digest(threaded), digest(full));
  });

  it("renders different pixels for different frames of an animated scene, and for different seeds", async () => {
    assert.notEqual(digest(await renderPixels({ frame: 8 })), digest(full));
    assert.notEqual(digest(await renderPixels({ settings: { samples: 4, seed: 43, maxBounces: 3 } })), digest(full));
  });

  it("reports monotonic progress that ends at 1", async () => {
    const fractions: number[] = [];
    await engine.render(request({ onProgress: (f) => fractions.push(f) }));
    assert.ok(fractions.length >= H, `only ${fractions.length} progress reports`);
    for (let i = 1; i < fractions.length; i++) assert.ok(fractions[i] > fractions[i - 1], "progress went backwards");
    assert.equal(fractions.at(-1), 1);
  });

  it("rejects a malformed scene with FatalError SCENE_INVALID naming the path", { timeout: 10_000 }, async () => {
    const dir = await sceneDir(
      "bad",
      JSON.stringify({
        version: 1,
        camera: { position: [0, 1, 5], lookAt: [0, 0, 0], tanHalfFov: 0.5 },
        objects: [{ type: "sphere", center: [0, 0, 0], radius: -1, material: { color: [1, 1, 1] } }],
      }),
    );
    await assert.rejects(engine.render(request({ sceneDir: dir })), (error: unknown) => {
      assert.ok(error instanceof FatalError);
      assert.equal(error.code, "SCENE_INVALID");
      assert.match(error.message, /objects\[0\]\.radius: must be greater than 0/);
      return true;
    });
    const notJson = await sceneDir("not-json", "{ version: 1");
    await assert.rejects(engine.render(request({ sceneDir: notJson })), { name: "FatalError", code: "SCENE_INVALID" });
    await assert.rejects(engine.render(request({ entry: "missing.json" })), { name: "FatalError", code: "SCENE_INVALID" });
    await assert.rejects(engine.render(request({ entry: "../../etc/passwd" })), { name: "FatalError", code: "SCENE_INVALID" });
  });

  it("rejects a scene whose camera is degenerate at the requested frame", async () => {
    const dir = await sceneDir(
      "degenerate-camera",
      JSON.stringify({ version: 1, camera: { position: [0, 1, 0], lookAt: [0, 0, 0], tanHalfFov: 0.5 } }),
    );
    await assert.rejects(engine.render(request({ sceneDir: dir })), { name: "FatalError", code: "SCENE_INVALID", message: /camera\.up/ });
  });

  it("rejects invalid settings and a rect outside the frame", async () => {
    await assert.rejects(engine.render(request({ settings: { samples: 0, seed: 1, maxBounces: 2 } })), {
      name: "FatalError",
      code: "SETTINGS_INVALID",
    });
    await assert.rejects(engine.render(request({ settings: { samples: 4, seed: -1, maxBounces: 2 } })), { code: "SETTINGS_INVALID" });
    await assert.rejects(engine.render(request({ settings: { samples: 4, seed: 1, maxBounces: 17 } })), { code: "SETTINGS_INVALID" });
    await assert.rejects(engine.render(request({ rect: { x: 30, y: 0, width: 4, height: 4 } })), { code: "REQUEST_INVALID" });
  });

  it("stops and rejects when aborted, leaving no output", { timeout: 15_000 }, async () => {
    const controller = new AbortController();
    const req = request({
      width: 160,
      height: 120,
      rect: { x: 0, y: 0, width: 160, height: 120 },
      settings: { samples: 256, seed: 1, maxBounces: 4 },
      signal: controller.signal,
      onProgress: (fraction) => {
        if (fraction > 0) controller.abort();
      },
    });
    const started = performance.now();
    await assert.rejects(engine.render(req), { name: "AbortError" });
    assert.ok(performance.now() - started < 5_000, "abort took too long");
    await assert.rejects(stat(req.outPath), { code: "ENOENT" });

    const aborted = AbortSignal.abort();
    await assert.rejects(engine.render(request({ signal: aborted })), { name: "AbortError" });
  });

  it("fails with FatalError RENDER_TIMEOUT past limits.timeoutMs", { timeout: 15_000 }, async () => {
    const req = request({
      width: 160,
      height: 120,
      rect: { x: 0, y: 0, width: 160, height: 120 },
      settings: { samples: 256, seed: 1, maxBounces: 4 },
      limits: { threads: 1, memoryBytes: 1024 * 1024 * 1024, timeoutMs: 300 },
    });
    await assert.rejects(engine.render(req), (error: unknown) => {
      assert.ok(error instanceof FatalError);
      assert.equal(error.code, "RENDER_TIMEOUT");
      return true;
    });
  });

  it("benchmarks the reference scene", { timeout: 30_000 }, async () => {
    const result = await engine.benchmark({ threads: 1, memoryBytes: 1024 * 1024 * 1024, timeoutMs: 60_000 });
    assert.ok(result.seconds > 0);
    assert.ok(result.score > 0);
  });
});
