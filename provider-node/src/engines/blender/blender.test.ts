import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { EngineError } from "../../sandbox/engineError.ts";
import { runSandboxed } from "../../sandbox/sandbox.ts";
import { cropRgba, type RgbaImage } from "../crop.ts";
import type { Rect, RenderRequest } from "../engine.ts";
import { fixturePath, maxChannelDifference, outputDir, pixels, samePixels, testLimits } from "../fixtures/engineTesting.ts";
import { blenderArguments, createBlenderEngine, parseBlenderSettings, type BlenderSettings } from "./index.ts";

const WIDTH = 64;
const HEIGHT = 48;
const SETTINGS: BlenderSettings = { samples: 4, seed: 7, adaptiveSampling: false, denoise: false };
const TILE: Rect = { x: 13, y: 7, width: 21, height: 17 };
const execFileAsync = promisify(execFile);

function request(overrides: Partial<RenderRequest> & { outPath: string; sceneDir: string }): RenderRequest {
  return {
    entry: "scene.blend",
    width: WIDTH,
    height: HEIGHT,
    rect: { x: 0, y: 0, width: WIDTH, height: HEIGHT },
    frame: 1,
    frames: { start: 1, end: 4 },
    settings: { ...SETTINGS },
    limits: testLimits,
    ...overrides,
  };
}

async function engineError(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(() => assert.fail("expected the render to fail"), (error: unknown) => error);
  assert.ok(error instanceof EngineError, `expected an EngineError, got ${String(error)}`);
  return error;
}

describe("blender command line", () => {
  const argsFor = (overrides: Partial<RenderRequest>, settings: BlenderSettings = SETTINGS) =>
    blenderArguments(request({ sceneDir: "/scenes/job", outPath: "/unused.png", ...overrides }), settings, "/work/render_");

  test("always disables embedded Python and user preferences, and renders the one frame", () => {
    const args = argsFor({ frame: 3, rect: TILE });
    assert.deepEqual(args.slice(0, 5), ["-b", "-Y", "--factory-startup", "-noaudio", "/scenes/job/scene.blend"]);
    assert.deepEqual(args.slice(args.indexOf("-f"), args.indexOf("-f") + 2), ["-f", "3"]);
    const script = JSON.parse(args.at(-1)!);
    assert.equal(args.at(-2), "--");
    assert.deepEqual(script.rect, TILE);
    assert.equal(script.width, WIDTH);
    assert.equal(script.blendFile, "/scenes/job/scene.blend");
    assert.equal(script.output, "/work/render_");
    assert.equal(script.threads, testLimits.threads);
    assert.equal(script.seed, 7);
  });

  test("selects a scene with -S and passes the camera to the script", () => {
    const args = argsFor({}, { ...SETTINGS, scene: "Shot 2", camera: "SideCamera" });
    assert.deepEqual(args.slice(args.indexOf("-S"), args.indexOf("-S") + 2), ["-S", "Shot 2"]);
    assert.equal(JSON.parse(args.at(-1)!).camera, "SideCamera");
  });

  test("rejects requests outside the frame or the scene folder", () => {
    assert.throws(() => argsFor({ rect: { x: 60, y: 0, width: 8, height: 8 } }), { code: "RENDER_REQUEST_INVALID" });
    assert.throws(() => argsFor({ frame: 5 }), { code: "RENDER_REQUEST_INVALID" });
    assert.throws(() => argsFor({ entry: "/etc/passwd" }), { code: "RENDER_REQUEST_INVALID" });
  });

  test("settings get defaults and wrong types are rejected", () => {
    assert.deepEqual(parseBlenderSettings({ samples: 16 }), { samples: 16, seed: 0, adaptiveSampling: false, denoise: false });
    assert.throws(() => parseBlenderSettings({}), { code: "SETTINGS_INVALID" });
    assert.throws(() => parseBlenderSettings({ samples: 4, seed: -1 }), { code: "SETTINGS_INVALID" });
    assert.throws(() => parseBlenderSettings({ samples: 4, denoise: "no" }), { code: "SETTINGS_INVALID" });
    assert.throws(() => parseBlenderSettings({ samples: 4, camera: "" }), { code: "SETTINGS_INVALID" });
  });
});

const engine = createBlenderEngine();
const info = await engine.detect();

describe("blender engine", { skip: info === null && "Blender is not installed: apt-get install blender" }, () => {
  let output: Awaited<ReturnType<typeof outputDir>>;
  let sceneDir: string;
  let autorunDir: string;
  let corruptDir: string;
  let marker: string;
  const rendered = new Map<string, Promise<RgbaImage>>();

  /** Renders once per name and returns the decoded pixels. */
  function render(name: string, overrides: Partial<RenderRequest> = {}): Promise<RgbaImage> {
    if (!rendered.has(name)) {
      const outPath = output.path(`${name}.png`);
      rendered.set(name, engine.render(request({ sceneDir, outPath, ...overrides })).then(() => pixels(outPath)));
    }
    return rendered.get(name)!;
  }

  /** Builds a fixture scene with fixtures/blender/makeScene.py (no .blend file is committed). */
  async function makeScene(dir: string, variant: string, ...extra: string[]): Promise<void> {
    await mkdir(dir, { recursive: true });
    const script = fixturePath("blender", "makeScene.py");
    await execFileAsync("blender", ["-b", "--factory-startup", "--python-exit-code", "1", "--python", script, "--", `${dir}/scene.blend`, variant, ...extra], {
      timeout: 60_000,
    });
  }

  before(async () => {
    output = await outputDir("blender-test");
    sceneDir = output.path("scene");
    autorunDir = output.path("autorun");
    corruptDir = output.path("corrupt");
    marker = output.path("autorun-marker.txt");
    await makeScene(sceneDir, "scene");
    await makeScene(autorunDir, "autorun", marker);
    // A truncated file (Blender: "Missing DNA block") and one that is not a .blend at all.
    await mkdir(corruptDir);
    await writeFile(`${corruptDir}/scene.blend`, (await readFile(`${sceneDir}/scene.blend`)).subarray(0, 2_000));
    await writeFile(`${corruptDir}/garbage.blend`, "BLENDER-v304 this is not a blend file\n");
  });
  after(() => output.remove());

  test("detects the exact installed version", async () => {
    assert.equal(info!.name, "blender");
    const { stdout } = await execFileAsync("blender", ["--version"]);
    assert.equal(stdout.split("\n")[0], `Blender ${info!.version}`);
  });

  test("renders a full frame and a tile at the requested sizes, reporting progress", async () => {
    const progress: number[] = [];
    const full = await render("full", { onProgress: (fraction) => progress.push(fraction) });
    assert.equal(full.width, WIDTH);
    assert.equal(full.height, HEIGHT);
    assert.ok(progress.length > 1 && progress.at(-1) === 1);
    const tile = await render("tile", { rect: TILE });
    assert.equal(tile.width, TILE.width);
    assert.equal(tile.height, TILE.height);
    const corner = await render("corner", { rect: { x: 43, y: 31, width: 21, height: 17 } });
    assert.equal(corner.width, 21);
    assert.equal(corner.height, 17);
  });

  test("tiles are bit-identical to the same region of the full frame (no dithering), y measured from the top", async () => {
    const full = await render("full");
    // An inner tile, a corner tile, and the 2×2 plan's four tiles (each touches two borders).
    const halfW = WIDTH / 2;
    const halfH = HEIGHT / 2;
    const rects: Rect[] = [
      TILE,
      { x: 43, y: 31, width: 21, height: 17 },
      { x: 0, y: 0, width: halfW, height: halfH },
      { x: halfW, y: 0, width: halfW, height: halfH },
      { x: 0, y: halfH, width: halfW, height: halfH },
      { x: halfW, y: halfH, width: halfW, height: halfH },
    ];
    for (const rect of rects) {
      const name = rect === TILE ? "tile" : `tile-${rect.x}-${rect.y}-${rect.width}x${rect.height}`;
      const tile = await render(name, { rect });
      const crop = cropRgba(full, rect);
      assert.ok(samePixels(tile, crop), `tile ${JSON.stringify(rect)} differs from the full frame by up to ${maxChannelDifference(tile, crop)}/255`);
    }
    // And the tile is not merely uniform: the region flipped vertically looks different.
    const flipped = { ...TILE, y: HEIGHT - TILE.y - TILE.height };
    assert.ok(!samePixels(await render("tile", { rect: TILE }), cropRgba(full, flipped)));
  });

  test("the same segment rendered twice, or with another thread count, gives identical pixels", async () => {
    const first = await render("tile", { rect: TILE });
    const second = await render("tile-again", { rect: TILE });
    assert.ok(samePixels(first, second), `max difference ${maxChannelDifference(first, second)}`);
    const twoThreads = await render("tile-2-threads", { rect: TILE, limits: { ...testLimits, threads: 2 } });
    assert.ok(samePixels(first, twoThreads), `max difference ${maxChannelDifference(first, twoThreads)}`);
  });

  test("different tiles, frames, seeds and cameras give different pixels", async () => {
    const tile = await render("tile", { rect: TILE });
    const other = await render("tile-shifted", { rect: { ...TILE, x: TILE.x + 8 } });
    assert.ok(!samePixels(tile, other));
    const frame1 = await render("full");
    const frame4 = await render("frame4", { frame: 4 });
    assert.ok(!samePixels(frame1, frame4));
    const seed = await render("seed", { settings: { ...SETTINGS, seed: 8 } });
    assert.ok(!samePixels(frame1, seed));
    const side = await render("side", { settings: { ...SETTINGS, camera: "SideCamera" } });
    assert.ok(!samePixels(frame1, side));
  });

  test("frames 2–4 of a tile rendered in one Blender run equal each frame rendered on its own", async () => {
    const { outPath: _unused, frame: _frame, ...common } = request({ sceneDir, outPath: "", rect: TILE });
    await engine.renderFrames!({ ...common, first: 2, last: 4, outPathOf: (frame) => output.path(`frames-${frame}.png`) });
    const seen: RgbaImage[] = [];
    for (const frame of [2, 3, 4]) {
      const alone = await render(`tile-frame-${frame}`, { rect: TILE, frame });
      const together = await pixels(output.path(`frames-${frame}.png`));
      assert.ok(samePixels(alone, together), `frame ${frame}: max difference ${maxChannelDifference(alone, together)}`);
      seen.push(together);
    }
    assert.ok(!samePixels(seen[0]!, seen[2]!), "the frames differ (the cube moves)");
  });

  test("frames 1–2 of three tiles rendered in one Blender run equal each tile rendered on its own", async () => {
    let launches = 0;
    const counting = createBlenderEngine({ runner: (run) => (launches++, runSandboxed(run)) });
    const CORNER: Rect = { x: 43, y: 31, width: 21, height: 17 };
    const tiles: Array<[string, Rect]> = [["tile", TILE], ["corner", CORNER], ["left", { x: 0, y: 24, width: 13, height: 24 }]];
    const { outPath: _unused, frame: _frame, rect: _rect, ...common } = request({ sceneDir, outPath: "" });
    const progress: number[] = [];
    const outPathOf = (name: string) => (frame: number) => output.path(`tiles-${name}-${frame}.png`);
    await counting.renderTiles!({ ...common, first: 1, last: 2, tiles: tiles.map(([name, rect]) => ({ rect, outPathOf: outPathOf(name) })), onProgress: (f) => progress.push(f) });
    assert.equal(launches, 1, "one Blender process for the three tiles");
    assert.ok(progress.length > 2 && progress.at(-1) === 1 && progress.every((f, i) => f >= 0 && f <= 1 && (i === 0 || f >= progress[i - 1]! - 1e-9)), `progress ${progress.join(", ")}`);
    for (const [name, rect] of tiles) {
      for (const frame of [1, 2]) {
        // The first frame of TILE and CORNER was rendered alone above, frame 2 of TILE too.
        const alone = await render(frame === 1 && name !== "left" ? name : name === "tile" ? `tile-frame-${frame}` : `${name}-frame-${frame}`, { rect, frame });
        const together = await pixels(outPathOf(name)(frame));
        assert.ok(samePixels(alone, together), `${name}, frame ${frame}: max difference ${maxChannelDifference(alone, together)}`);
      }
    }
  });

  test("tiles of different frames rendered in one Blender run equal each tile and frame rendered on its own", async () => {
    let launches = 0;
    const counting = createBlenderEngine({ runner: (run) => (launches++, runSandboxed(run)) });
    assert.equal(counting.tilesOfSeveralFrameRanges, true);
    const { outPath: _unused, frame: _frame, rect: _rect, ...common } = request({ sceneDir, outPath: "" });
    // The same rectangle at frames 4 and 2–3 (a job of one-frame segments holds such tiles), and another at 1.
    const tiles: Array<[string, Rect, number, number]> = [["late", TILE, 4, 4], ["early", TILE, 2, 3], ["other", { x: 0, y: 24, width: 13, height: 24 }, 1, 1]];
    const outPathOf = (name: string) => (frame: number) => output.path(`mixed-${name}-${frame}.png`);
    await counting.renderTiles!({ ...common, first: 1, last: 4, tiles: tiles.map(([name, rect, first, last]) => ({ rect, first, last, outPathOf: outPathOf(name) })) });
    assert.equal(launches, 1, "one Blender process for the three tiles");
    for (const [name, rect, first, last] of tiles) {
      for (let frame = first; frame <= last; frame++) {
        const alone = await render(`${name}-frame-${frame}-alone`, { rect, frame });
        const together = await pixels(outPathOf(name)(frame));
        assert.ok(samePixels(alone, together), `${name}, frame ${frame}: max difference ${maxChannelDifference(alone, together)}`);
      }
      assert.ok(!existsSync(outPathOf(name)(first - 1)) && !existsSync(outPathOf(name)(last + 1)), `${name}: only its own frames`);
    }
  });

  test("an unknown camera or scene name fails instead of rendering something else", async () => {
    const camera = await engineError(render("no-camera", { settings: { ...SETTINGS, camera: "Nope" } }));
    assert.equal(camera.code, "ENGINE_FAILED");
    assert.ok(camera.lastLines.some((line) => line.includes("no camera named 'Nope'")), camera.lastLines.join("\n"));
    assert.match(camera.message, /^blender exited with status 1: tessellate: the scene has no camera named 'Nope'$/);
    const scene = await engineError(render("no-scene", { settings: { ...SETTINGS, scene: "Nope" } }));
    assert.ok(scene.lastLines.some((line) => line.includes("no scene named 'Nope'")), scene.lastLines.join("\n"));
  });

  test("an Eevee scene is refused with the reason, not rendered with Cycles", async () => {
    const eeveeDir = output.path("eevee");
    await makeScene(eeveeDir, "eevee");
    const error = await engineError(engine.render(request({ sceneDir: eeveeDir, outPath: output.path("eevee.png") })));
    assert.equal(error.code, "ENGINE_FAILED");
    assert.match(error.message, /tessellate: the scene renders with BLENDER_EEVEE, which providers cannot run headless; only Cycles scenes are rendered/);
    assert.equal(existsSync(output.path("eevee.png")), false);
  });

  test("a corrupt .blend file fails quickly with a typed error", async () => {
    for (const entry of ["scene.blend", "garbage.blend"]) {
      const started = Date.now();
      const error = await engineError(
        engine.render(request({ sceneDir: corruptDir, entry, outPath: output.path(`corrupt-${entry}.png`) })),
      );
      assert.equal(error.code, "ENGINE_FAILED");
      assert.ok(error.lastLines.some((line) => /Failed to read blend file|File format is not supported/.test(line)), error.lastLines.join("\n"));
      assert.match(error.message, /Error: (Failed to read blend file|File format is not supported)/);
      assert.ok(Date.now() - started < 20_000);
    }
  });

  test("Python embedded in the .blend file never runs", async () => {
    // Control: opened with auto-run enabled (-y), the fixture's registered text block writes the marker.
    await execFileAsync("blender", ["-b", "-y", "--factory-startup", `${autorunDir}/scene.blend`], { timeout: 60_000 });
    assert.ok(existsSync(marker), "the fixture's embedded script did not run even with -y");
    await rm(marker);

    // Through the adapter, without the sandbox's read-only file system (which would also stop
    // the write): only -Y keeps the script from running. Had it run, the world would be red.
    const unsandboxed = createBlenderEngine({ runner: (options) => runSandboxed({ ...options, isolation: "none" }) });
    const outPath = output.path("autorun.png");
    await unsandboxed.render(request({ sceneDir: autorunDir, outPath, rect: TILE }));
    assert.equal(existsSync(marker), false, "the embedded script ran");
    assert.ok(samePixels(await pixels(outPath), await render("tile", { rect: TILE })));

    // And through the adapter as the node runs it.
    await engine.render(request({ sceneDir: autorunDir, outPath: output.path("autorun-sandboxed.png"), rect: TILE }));
    assert.equal(existsSync(marker), false, "the embedded script ran in the sandbox");
  });

  test("a render that outlives its time limit is stopped", async () => {
    const error = await engineError(render("slow", { settings: { ...SETTINGS, samples: 100_000 }, limits: { ...testLimits, timeoutMs: 2_500 } }));
    assert.equal(error.code, "RENDER_TIMEOUT");
  });

  test("benchmarks a reference scene", async () => {
    const result = await engine.benchmark({ ...testLimits, threads: 1 });
    assert.ok(result.score > 0 && Number.isFinite(result.score), `score ${result.score}`);
    assert.ok(result.seconds > 0);
  });
});
