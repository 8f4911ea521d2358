import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { EngineError } from "../../sandbox/engineError.ts";
import { cropRgba, type RgbaImage } from "../crop.ts";
import type { Rect, RenderRequest } from "../engine.ts";
import { fixturePath, outputDir, pixels, samePixels, testLimits } from "../fixtures/engineTesting.ts";
import { runSandboxed } from "../../sandbox/sandbox.ts";
import { createPovrayEngine, parsePovraySettings, povrayArguments, povrayFrameRuns, povrayTileRuns, type PovraySettings } from "./index.ts";

const WIDTH = 64;
const HEIGHT = 48;
const SETTINGS: PovraySettings = { antialias: false, initialClock: 0, finalClock: 1, quality: 9 };

function request(overrides: Partial<RenderRequest> & { outPath: string }): RenderRequest {
  return {
    sceneDir: fixturePath("povray", "scene"),
    entry: "scene.pov",
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

describe("povray command line", () => {
  const out = "/work/render.png";
  const argsFor = (overrides: Partial<RenderRequest>, settings: PovraySettings = SETTINGS) =>
    povrayArguments(request({ outPath: "/unused.png", ...overrides }), settings, out);

  test("addresses the tile with 1-based inclusive columns and rows", () => {
    const args = argsFor({ rect: { x: 16, y: 8, width: 32, height: 24 } });
    for (const expected of ["+SC17", "+EC48", "+SR9", "+ER32", "+W64", "+H48", "-A", `+O${out}`, "+FN8"]) {
      assert.ok(args.includes(expected), `missing ${expected} in ${args.join(" ")}`);
    }
  });

  test("widens a one-pixel region at the left or top edge, which POV-Ray would read as 100 %", () => {
    const args = argsFor({ rect: { x: 0, y: 0, width: 1, height: 1 } });
    assert.ok(args.includes("+EC2") && args.includes("+ER2"), args.join(" "));
  });

  test("spans the job's frame range and renders only the requested frame", () => {
    const args = argsFor({ frame: 3, frames: { start: 1, end: 4 } }, { ...SETTINGS, initialClock: 0.5, finalClock: 2 });
    for (const expected of ["+KFI1", "+KFF4", "+KI0.5", "+KF2", "+SF3", "+EF3"]) assert.ok(args.includes(expected), expected);
  });

  test("a cyclic animation passes +KC, others -KC", () => {
    assert.ok(argsFor({ frame: 3 }, { ...SETTINGS, cyclic: true }).includes("+KC"));
    assert.ok(argsFor({ frame: 3 }).includes("-KC"));
    assert.equal(parsePovraySettings({ cyclic: true }).cyclic, true);
    assert.throws(() => parsePovraySettings({ cyclic: "yes" }), { code: "SETTINGS_INVALID" });
  });

  test("a one-frame job renders at the initial clock without animation options", () => {
    const args = argsFor({ frame: 7, frames: { start: 7, end: 7 } }, { ...SETTINGS, initialClock: 0.25 });
    assert.ok(args.includes("+K0.25"));
    assert.ok(!args.some((arg) => arg.startsWith("+KFI") || arg.startsWith("+SF")));
  });

  test("passes threads, quality, anti-aliasing, the include path and the seed", () => {
    const args = argsFor({ limits: { ...testLimits, threads: 3 } }, { ...SETTINGS, antialias: true, quality: 4, seed: 42 });
    for (const expected of ["+WT3", "+Q4", "+A", "-J", `+L${fixturePath("povray", "scene")}`, "Declare=TessellateSeed=42"]) {
      assert.ok(args.includes(expected), expected);
    }
  });

  test("rejects a rectangle outside the frame, a frame outside the range and an escaping entry", () => {
    assert.throws(() => argsFor({ rect: { x: 60, y: 0, width: 8, height: 8 } }), { code: "RENDER_REQUEST_INVALID" });
    assert.throws(() => argsFor({ frame: 9 }), { code: "RENDER_REQUEST_INVALID" });
    assert.throws(() => argsFor({ entry: "../corrupt/scene.pov" }), { code: "RENDER_REQUEST_INVALID" });
  });

  test("settings get defaults and wrong types are rejected", () => {
    assert.deepEqual(parsePovraySettings({}), { antialias: false, initialClock: 0, finalClock: 1, quality: 9 });
    assert.throws(() => parsePovraySettings({ quality: 12 }), { code: "SETTINGS_INVALID" });
    assert.throws(() => parsePovraySettings({ antialias: "yes" }), { code: "SETTINGS_INVALID" });
    assert.throws(() => parsePovraySettings({ seed: 1.5 }), { code: "SETTINGS_INVALID" });
  });
});

const engine = createPovrayEngine();
const info = await engine.detect();

describe("povray engine", { skip: info === null && "POV-Ray is not installed: apt-get install povray" }, () => {
  let output: Awaited<ReturnType<typeof outputDir>>;
  const rendered = new Map<string, Promise<string>>();

  /** Renders once per distinct request and returns the output path. */
  function render(name: string, overrides: Partial<RenderRequest> = {}): Promise<string> {
    if (!rendered.has(name)) {
      const outPath = output.path(`${name}.png`);
      rendered.set(name, engine.render(request({ outPath, ...overrides })).then(() => outPath));
    }
    return rendered.get(name)!;
  }

  before(async () => {
    output = await outputDir("povray-test");
  });
  after(() => output.remove());

  test("detects the exact installed version", () => {
    assert.equal(info!.name, "povray");
    assert.match(info!.version, /^3\.7\.\d+/);
  });

  test("renders a full frame at the requested size and reports progress", async () => {
    const progress: number[] = [];
    const outPath = output.path("progress.png");
    await engine.render(request({ outPath, onProgress: (fraction) => progress.push(fraction) }));
    const image = await pixels(outPath);
    assert.equal(image.width, WIDTH);
    assert.equal(image.height, HEIGHT);
    assert.equal(progress.at(-1), 1);
    assert.ok(progress.every((fraction) => fraction >= 0 && fraction <= 1));
  });

  test("a tile is exactly the same rectangle cropped out of the full frame", async () => {
    const full = await pixels(await render("full"));
    const tiles: Rect[] = [
      { x: 16, y: 8, width: 32, height: 24 },
      { x: 0, y: 0, width: 1, height: 1 },
      { x: 0, y: 40, width: 1, height: 8 },
      { x: 63, y: 47, width: 1, height: 1 },
    ];
    for (const rect of tiles) {
      const tile = await pixels(await render(`tile-${rect.x}-${rect.y}-${rect.width}-${rect.height}`, { rect }));
      assert.equal(tile.width, rect.width);
      assert.equal(tile.height, rect.height);
      assert.ok(samePixels(tile, cropRgba(full, rect)), `tile ${JSON.stringify(rect)} differs from the crop`);
    }
  });

  test("the same segment rendered twice gives identical pixels", async () => {
    const rect = { x: 16, y: 8, width: 32, height: 24 };
    const first = await pixels(await render("tile-16-8-32-24", { rect }));
    const second = await pixels(await render("tile-again", { rect }));
    assert.ok(samePixels(first, second));
  });

  test("different tiles and different frames give different pixels", async () => {
    const left = await pixels(await render("left", { rect: { x: 0, y: 0, width: 32, height: 48 } }));
    const right = await pixels(await render("right", { rect: { x: 32, y: 0, width: 32, height: 48 } }));
    assert.ok(!samePixels(left, right));
    const frame1 = await pixels(await render("full"));
    const frame4 = await pixels(await render("frame4", { frame: 4 }));
    assert.ok(!samePixels(frame1, frame4));
  });

  test("a frame's clock depends on the job's frame range, not on the segment", async () => {
    // Frame 1 of 1–4 and the single frame of a one-frame job both sit at the initial clock.
    const single = await pixels(await render("single", { frame: 1, frames: { start: 1, end: 1 } }));
    assert.ok(samePixels(single, await pixels(await render("full"))));
  });

  test("frames 2–4 of a tile rendered in one POV-Ray run equal each frame rendered on its own", async () => {
    const rect: Rect = { x: 16, y: 8, width: 32, height: 24 };
    const { outPath: _unused, frame: _frame, ...common } = request({ outPath: "", rect });
    const progress: number[] = [];
    await engine.renderFrames!({ ...common, first: 2, last: 4, outPathOf: (frame) => output.path(`frames-${frame}.png`), onProgress: (f) => progress.push(f) });
    assert.equal(progress.at(-1), 1);
    const seen: RgbaImage[] = [];
    for (const frame of [2, 3, 4]) {
      const alone = await pixels(await render(`frame-${frame}-alone`, { rect, frame }));
      const together = await pixels(output.path(`frames-${frame}.png`));
      assert.ok(samePixels(alone, together), `frame ${frame}`);
      seen.push(together);
    }
    assert.ok(!samePixels(seen[0]!, seen[2]!), "the frames differ (the clock moves)");
  });

  test("four tiles rendered in one POV-Ray run (their bounding rectangle) equal each tile rendered on its own", async () => {
    let launches = 0;
    const counting = createPovrayEngine({ runner: (run) => (launches++, runSandboxed(run)) });
    const tiles: Rect[] = [
      { x: 0, y: 0, width: 32, height: 24 },
      { x: 32, y: 0, width: 32, height: 24 },
      { x: 0, y: 24, width: 32, height: 24 },
      { x: 32, y: 24, width: 32, height: 24 },
    ];
    for (const [first, last] of [[2, 3], [1, 1]] as const) {
      launches = 0;
      const frames = first === last ? { start: 1, end: 1 } : { start: 1, end: 4 };
      const { outPath: _unused, frame: _frame, rect: _rect, ...common } = request({ outPath: "", frames });
      const outPathOf = (i: number) => (frame: number) => output.path(`tiles-${first}-${last}-${i}-${frame}.png`);
      const progress: number[] = [];
      await counting.renderTiles!({ ...common, first, last, tiles: tiles.map((rect, i) => ({ rect, outPathOf: outPathOf(i) })), onProgress: (f) => progress.push(f) });
      assert.equal(launches, 1, `frames ${first}–${last}: one POV-Ray run for the four tiles`);
      assert.equal(progress.at(-1), 1);
      for (const [i, rect] of tiles.entries()) {
        for (let frame = first; frame <= last; frame++) {
          const alone = await pixels(await render(`tile-${i}-frame-${frame}-of-${frames.end}`, { rect, frame, frames }));
          assert.ok(samePixels(alone, await pixels(outPathOf(i)(frame))), `tile ${i}, frame ${frame}`);
        }
      }
    }
  });

  test("tiles of consecutive one-frame segments (two frames, one tile of a third) render in one run over their frames, each tile only its own frame, with the pixels of rendering it alone", async () => {
    let launches = 0;
    const counting = createPovrayEngine({ runner: (run) => (launches++, runSandboxed(run)) });
    assert.equal(counting.tilesOfSeveralFrameRanges, true);
    const left: Rect = { x: 0, y: 0, width: 32, height: 48 };
    const right: Rect = { x: 32, y: 0, width: 32, height: 48 };
    // Frames 2 and 3 whole, frame 4 half: 5 tiles' pixels × frames of a 6-tile box (1.2 ≤ 1.25).
    const tiles = [
      { rect: left, first: 2, last: 2 },
      { rect: right, first: 2, last: 2 },
      { rect: left, first: 3, last: 3 },
      { rect: right, first: 3, last: 3 },
      { rect: left, first: 4, last: 4 },
    ];
    assert.deepEqual(povrayFrameRuns(tiles), [{ rect: { x: 0, y: 0, width: 64, height: 48 }, first: 2, last: 4, tiles: [0, 1, 2, 3, 4] }]);
    const frames = { start: 1, end: 4 };
    const { outPath: _unused, frame: _frame, rect: _rect, ...common } = request({ outPath: "", frames });
    const outPathOf = (i: number) => (frame: number) => output.path(`ranges-${i}-${frame}.png`);
    await counting.renderTiles!({ ...common, first: 2, last: 4, tiles: tiles.map((t, i) => ({ ...t, outPathOf: outPathOf(i) })) });
    assert.equal(launches, 1, "one POV-Ray run for the five tiles of three frames");
    for (const [i, { rect, first }] of tiles.entries()) {
      const alone = await pixels(await render(`ranges-alone-${i}`, { rect, frame: first, frames }));
      assert.ok(samePixels(alone, await pixels(outPathOf(i)(first))), `tile ${i}, frame ${first}`);
      for (const other of [2, 3, 4].filter((f) => f !== first)) assert.ok(!existsSync(outPathOf(i)(other)), `tile ${i} got no frame ${other}`);
    }
    // Tiles of frames far apart: a box over frames 1–4 would be 8/3 of their pixels × frames.
    assert.deepEqual(povrayFrameRuns([{ rect: left, first: 1, last: 1 }, { rect: right, first: 4, last: 4 }, { rect: right, first: 1, last: 1 }]), [
      { rect: { x: 0, y: 0, width: 64, height: 48 }, first: 1, last: 1, tiles: [0, 2] },
      { rect: right, first: 4, last: 4, tiles: [1] },
    ]);
  });

  test("tiles far apart are rendered one run each, not as their bounding rectangle", async () => {
    let launches = 0;
    const counting = createPovrayEngine({ runner: (run) => (launches++, runSandboxed(run)) });
    const tiles: Rect[] = [
      { x: 0, y: 0, width: 16, height: 12 },
      { x: 48, y: 36, width: 16, height: 12 },
    ];
    assert.deepEqual(povrayTileRuns(tiles), [{ rect: tiles[0], tiles: [0] }, { rect: tiles[1], tiles: [1] }]);
    assert.deepEqual(povrayTileRuns([tiles[0]!, { x: 16, y: 0, width: 16, height: 12 }]), [{ rect: { x: 0, y: 0, width: 32, height: 12 }, tiles: [0, 1] }]);
    const { outPath: _unused, frame: _frame, rect: _rect, ...common } = request({ outPath: "" });
    await counting.renderTiles!({ ...common, first: 1, last: 1, tiles: tiles.map((rect, i) => ({ rect, outPathOf: () => output.path(`apart-${i}.png`) })) });
    assert.equal(launches, 2);
    for (const [i, rect] of tiles.entries()) {
      const alone = await pixels(await render(`apart-alone-${i}`, { rect }));
      assert.ok(samePixels(alone, await pixels(output.path(`apart-${i}.png`))), `tile ${i}`);
    }
  });

  test("the seed reaches the scene", async () => {
    const seeded = (seed: number) => render(`seed-${seed}`, { settings: { ...SETTINGS, seed } }).then(pixels);
    const [a, b, aAgain] = [await seeded(1), await seeded(2), await seeded(1)];
    assert.ok(!samePixels(a, b));
    assert.ok(samePixels(a, aAgain));
  });

  test("a corrupt scene fails quickly with a typed error naming the parse error", async () => {
    const started = Date.now();
    const error = await engine
      .render(request({ sceneDir: fixturePath("povray", "corrupt"), outPath: output.path("corrupt.png") }))
      .then(() => assert.fail("rendered a corrupt scene"), (error: unknown) => error);
    assert.ok(error instanceof EngineError);
    assert.equal(error.code, "ENGINE_FAILED");
    assert.ok(error.lastLines.some((line) => line.includes("Parse Error")), error.lastLines.join("\n"));
    assert.ok(Date.now() - started < 10_000);
  });

  test("a scene without its include file fails naming POV-Ray's cause, not its last line", async () => {
    const error = await engine
      .render(request({ sceneDir: fixturePath("povray", "missingInclude"), outPath: output.path("missing-include.png") }))
      .then(() => assert.fail("rendered a scene without its include"), (error: unknown) => error);
    assert.ok(error instanceof EngineError);
    assert.equal(error.code, "ENGINE_FAILED");
    assert.equal(error.lastLines.at(-1), "Render failed", "POV-Ray's last line says nothing of the cause");
    assert.match(error.message, /^povray exited with status 1: File 'scene\.pov' line 4: Parse Error: Cannot open include file drums\.inc\.$/);
    assert.ok(!error.message.includes(fixturePath("povray")), "the scene folder's path is left out");
    assert.ok(error.diagnostics.some((line) => /Possible Parse Error: Cannot find file 'drums\.inc', even after trying/.test(line)), error.diagnostics.join("\n"));
  });

  test("a parse error wrapped over two lines is named whole", async () => {
    const error = await engine
      .render(request({ sceneDir: fixturePath("povray", "corrupt"), outPath: output.path("corrupt-message.png") }))
      .then(() => assert.fail("rendered a corrupt scene"), (error: unknown) => error);
    assert.ok(error instanceof EngineError);
    assert.match(error.message, /: File 'scene\.pov' line 5: Parse Error: No matching \} in 'sphere', box found instead$/);
  });

  test("a scene that never finishes is stopped at the time limit", async () => {
    const error = await engine
      .render(
        request({
          sceneDir: fixturePath("povray", "endless"),
          outPath: output.path("endless.png"),
          limits: { ...testLimits, timeoutMs: 1_000 },
        }),
      )
      .then(() => assert.fail("an endless scene finished"), (error: unknown) => error);
    assert.ok(error instanceof EngineError);
    assert.equal(error.code, "RENDER_TIMEOUT");
  });

  test("the scene folder is left untouched", async () => {
    await render("full");
    assert.deepEqual((await readdir(fixturePath("povray", "scene"))).sort(), ["parts", "scene.pov"]);
  });

  test("benchmarks the reference scene", async () => {
    const result = await engine.benchmark(testLimits);
    assert.ok(result.score > 0 && Number.isFinite(result.score));
    assert.ok(result.seconds > 0);
  });
});
