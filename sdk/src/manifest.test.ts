import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { FatalError } from "./errors.ts";
import { DEFAULT_TOLERANCE_BPS } from "./fingerprint.ts";
import {
  DEFAULT_VERIFICATION,
  blenderSettingsSchema,
  builtinSettingsSchema,
  canonicalJson,
  decodeManifest,
  encodeManifest,
  isEngineManifest,
  manifestSchema,
  parseManifest,
  povraySettingsSchema,
  validateManifest,
  type Manifest,
} from "./manifest.ts";

const SCENE_CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";

function builtinJob(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    engine: { name: "builtin", version: "1.0.0" },
    scene: { cid: SCENE_CID, entry: "scenes/cornell.json", sizeBytes: 2048 },
    output: { width: 640, height: 360, format: "png" },
    frames: { start: 0, end: 23 },
    settings: { samples: 16, seed: 42, maxBounces: 4 },
    segmentation: { tilesX: 4, tilesY: 3, framesPerSegment: 2 },
    verification: { mode: "exact" },
    ...overrides,
  };
}

/** The FatalError message of parseManifest, asserting its class and code. */
function problemsOf(json: unknown): string[] {
  try {
    parseManifest(json);
  } catch (error) {
    assert.ok(error instanceof FatalError);
    assert.equal(error.code, "MANIFEST_INVALID");
    return error.message.split("\n").slice(1).map((line) => line.trim());
  }
  assert.fail("expected parseManifest to throw");
}

function problemAt(json: unknown, path: string): string {
  const lines = problemsOf(json);
  const line = lines.find((l) => l.startsWith(`${path}: `));
  assert.ok(line, `expected a problem at ${path}, got:\n${lines.join("\n")}`);
  return line;
}

describe("parseManifest", () => {
  it("accepts a valid builtin manifest unchanged", () => {
    const json = builtinJob();
    assert.deepEqual(parseManifest(json), json);
  });

  it("fills in the POV-Ray and Blender defaults", () => {
    const pov = parseManifest(builtinJob({ engine: { name: "povray", version: "3.7.0.10" }, settings: {} }));
    assert.ok(isEngineManifest(pov, "povray"));
    assert.deepEqual(pov.settings, { antialias: false, initialClock: 0, finalClock: 1, quality: 9 });
    const blend = parseManifest(builtinJob({ engine: { name: "blender", version: "4.2.3" }, settings: { samples: 64, seed: 1, camera: "Cam" } }));
    assert.ok(isEngineManifest(blend, "blender"));
    assert.deepEqual(blend.settings, { samples: 64, seed: 1, adaptiveSampling: false, denoise: false, camera: "Cam" });
  });

  it("lists every problem, one per line, as `path: what — fix`", () => {
    const lines = problemsOf(
      builtinJob({
        version: 2,
        output: { width: 0, height: 1.5, format: "jpg", dpi: 300 },
        settings: { samples: 0, seed: -1, maxBounces: 4 },
        verification: {},
      }),
    );
    const paths = lines.map((line) => line.slice(0, line.indexOf(":")));
    assert.deepEqual(
      new Set(paths),
      new Set(["version", "output.width", "output.height", "output.format", "output.dpi", "verification.mode", "settings.samples", "settings.seed"]),
    );
    for (const line of lines) assert.match(line, /^[\w.[\]]+: .+ — .+$/, line);
  });

  it("explains an unknown version, a misspelt field and a missing field", () => {
    assert.match(problemAt(builtinJob({ version: 2 }), "version"), /must be 1, got 2 — .*newer @tessellate\/sdk/);
    assert.match(problemAt(builtinJob({ settings: { samples: 1, seed: 1, maxBounces: 1, sampels: 4 } }), "settings.sampels"), /not a field.*fields: samples, seed, maxBounces/);
    assert.match(problemAt(builtinJob({ scene: { cid: SCENE_CID, entry: "a.json" } }), "scene.sizeBytes"), /is missing — /);
    assert.match(problemAt("not an object", "manifest"), /must be an object/);
  });

  it("rejects an unknown engine without also complaining about its settings", () => {
    const lines = problemsOf(builtinJob({ engine: { name: "maya", version: "1" } }));
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^engine\.name: must be one of "builtin", "povray", "blender", got "maya"/);
  });

  it("validates engine settings against the chosen engine", () => {
    assert.match(problemAt(builtinJob({ engine: { name: "povray", version: "3.7" }, settings: { quality: 12 } }), "settings.quality"), /≤ 11/);
    assert.match(problemAt(builtinJob({ engine: { name: "blender", version: "4.2" }, settings: { samples: 70000, seed: 1 } }), "settings.samples"), /≤ 65536/);
    assert.match(problemAt(builtinJob({ settings: { samples: 1, seed: 2 ** 32, maxBounces: 17 } }), "settings.seed"), /≤ 4294967295/);
    assert.match(
      problemAt(builtinJob({ engine: { name: "blender", version: "4.2" }, settings: { samples: 1, seed: 2 ** 31 } }), "settings.seed"),
      /≤ 2147483647.*signed 32-bit/,
    );
    assert.match(problemAt(builtinJob({ settings: undefined }), "settings"), /is missing/);
  });

  it("checks the scene CID and entry path", () => {
    assert.match(problemAt(builtinJob({ scene: { cid: "QmNotACid", entry: "a", sizeBytes: 1 } }), "scene.cid"), /is not a CID — /);
    assert.match(problemAt(builtinJob({ scene: { cid: SCENE_CID.toUpperCase(), entry: "a", sizeBytes: 1 } }), "scene.cid"), /— /);
    for (const entry of ["../outside.pov", "/etc/passwd", "a//b.pov", "a\\b.pov", "./a.pov", ""]) {
      problemAt(builtinJob({ scene: { cid: SCENE_CID, entry, sizeBytes: 1 } }), "scene.entry");
    }
    const v0 = parseManifest(builtinJob({ scene: { cid: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", entry: "dir/s.json", sizeBytes: 1 } }));
    assert.equal(v0.scene.entry, "dir/s.json");
  });

  it("refuses adaptive sampling and denoising in both modes, saying why for each", () => {
    const blender = (mode: string, settings: Record<string, unknown> = { adaptiveSampling: true, denoise: true }) =>
      builtinJob({ engine: { name: "blender", version: "4.2" }, settings: { samples: 64, seed: 1, ...settings }, verification: { mode } });
    assert.match(problemAt(blender("exact"), "settings.adaptiveSampling"), /"exact".* — set settings.adaptiveSampling to false/);
    assert.match(problemAt(blender("exact"), "settings.denoise"), /differ between machines.*"exact"/);
    assert.match(problemAt(blender("tolerant"), "settings.adaptiveSampling"), /12 % fewer samples .* only about 25 %/);
    assert.match(problemAt(blender("tolerant"), "settings.denoise"), /without OpenImageDenoise/);
    assert.equal(parseManifest(blender("tolerant", {})).verification.mode, "tolerant");
    assert.deepEqual(parseManifest(blender("exact", { adaptiveSampling: false, denoise: false })).settings, { samples: 64, seed: 1, adaptiveSampling: false, denoise: false });
  });

  it("fills in the default tolerance of a tolerant job, keeps a given one, and refuses a tolerance in exact mode", () => {
    const tolerant = (verification: Record<string, unknown>) => builtinJob({ engine: { name: "blender", version: "3.4.1" }, settings: { samples: 8, seed: 1 }, verification });
    assert.deepEqual(parseManifest(tolerant({ mode: "tolerant" })).verification, { mode: "tolerant", toleranceBps: DEFAULT_TOLERANCE_BPS });
    assert.deepEqual(parseManifest(tolerant({ mode: "tolerant", toleranceBps: 1000 })).verification, { mode: "tolerant", toleranceBps: 1000 });
    assert.match(new TextDecoder().decode(encodeManifest(tolerant({ mode: "tolerant" }) as Manifest)), /"verification":\{"mode":"tolerant","toleranceBps":2500\}/);
    assert.deepEqual(parseManifest(builtinJob()).verification, { mode: "exact" }, "exact manifests (and their CIDs) are unchanged");
    assert.match(problemAt(builtinJob({ verification: { mode: "exact", toleranceBps: 2500 } }), "verification.toleranceBps"), /only in "tolerant" .* — leave verification.toleranceBps out/);
    assert.match(problemAt(tolerant({ mode: "tolerant", toleranceBps: 0 }), "verification.toleranceBps"), /from 1 to 10000/);
    assert.match(problemAt(tolerant({ mode: "tolerant", toleranceBps: 2.5 }), "verification.toleranceBps"), /from 1 to 10000/);
  });

  it("defaults Blender jobs to tolerant verification and the others to exact", () => {
    assert.deepEqual(DEFAULT_VERIFICATION, { builtin: "exact", povray: "exact", blender: "tolerant" });
  });

  it("refuses POV-Ray anti-aliasing in exact mode and says why", () => {
    const pov = (mode: string) => builtinJob({ engine: { name: "povray", version: "3.7" }, settings: { antialias: true, quality: 12 }, verification: { mode } });
    assert.match(problemAt(pov("exact"), "settings.antialias"), /neighbours.*bit for bit/);
    assert.doesNotThrow(() => parseManifest(builtinJob({ engine: { name: "povray", version: "3.7" }, settings: { antialias: true }, verification: { mode: "tolerant" } })));
  });

  it("rejects tiles larger than the image, reversed and oversized frame ranges, and too many segments", () => {
    assert.match(problemAt(builtinJob({ output: { width: 3, height: 360, format: "png" } }), "segmentation.tilesX"), /more than the image width of 3 pixels .* — use at most 3 tiles across/);
    assert.match(problemAt(builtinJob({ output: { width: 640, height: 2, format: "png" } }), "segmentation.tilesY"), /at most 2 tiles down/);
    assert.match(problemAt(builtinJob({ frames: { start: 10, end: 9 } }), "frames.end"), /inclusive/);
    assert.match(problemAt(builtinJob({ frames: { start: 0, end: 100_000 } }), "frames.end"), /100001 frames/);
    const big = builtinJob({ frames: { start: 0, end: 99_999 }, segmentation: { tilesX: 4, tilesY: 3, framesPerSegment: 1 } });
    assert.match(problemAt(big, "segmentation"), /1200000 segments, more than 1000000/);
    assert.doesNotThrow(() => parseManifest(builtinJob({ frames: { start: 0, end: 99_999 }, segmentation: { tilesX: 10, tilesY: 10, framesPerSegment: 10 } })));
  });

  it("reports cross-field problems even when other fields are also wrong", () => {
    const lines = problemsOf(builtinJob({ version: 3, output: { width: 2, height: 360, format: "png" } }));
    assert.ok(lines.some((l) => l.startsWith("version:")));
    assert.ok(lines.some((l) => l.startsWith("segmentation.tilesX:")));
  });

  it("validateManifest returns the problems as data and never throws", () => {
    const result = validateManifest(builtinJob({ output: null }));
    assert.equal(result.ok, false);
    if (!result.ok) assert.deepEqual(result.problems.map((p) => p.path), [["output"]]);
  });

  it("manifestSchema is a zod schema with the same output", () => {
    assert.deepEqual(manifestSchema.parse(builtinJob()), parseManifest(builtinJob()));
    assert.equal(manifestSchema.safeParse(builtinJob({ settings: { samples: 0, seed: 1, maxBounces: 1 } })).success, false);
  });

  it("exports the engine settings schemas for the engines", () => {
    assert.deepEqual(builtinSettingsSchema.parse({ samples: 1, seed: 0, maxBounces: 0 }), { samples: 1, seed: 0, maxBounces: 0 });
    assert.equal(povraySettingsSchema.parse({}).quality, 9);
    assert.equal(blenderSettingsSchema.safeParse({ samples: 1 }).success, false);
  });
});

describe("encodeManifest", () => {
  it("writes canonical JSON: sorted keys, no whitespace", () => {
    const text = new TextDecoder().decode(encodeManifest(parseManifest(builtinJob())));
    assert.equal(
      text,
      `{"engine":{"name":"builtin","version":"1.0.0"},"frames":{"end":23,"start":0},"output":{"format":"png","height":360,"width":640},` +
        `"scene":{"cid":"${SCENE_CID}","entry":"scenes/cornell.json","sizeBytes":2048},"segmentation":{"framesPerSegment":2,"tilesX":4,"tilesY":3},` +
        `"settings":{"maxBounces":4,"samples":16,"seed":42},"verification":{"mode":"exact"},"version":1}`,
    );
  });

  it("gives the same bytes whatever the key order, and with defaults omitted or spelt out", () => {
    const pov = builtinJob({ engine: { name: "povray", version: "3.7" }, settings: {} });
    const explicit = { ...pov, settings: { quality: 9, finalClock: 1, initialClock: 0, antialias: false } };
    assert.deepEqual(encodeManifest(pov as unknown as Manifest), encodeManifest(explicit as unknown as Manifest));
  });

  it("refuses to encode an invalid manifest", () => {
    assert.throws(() => encodeManifest({ ...parseManifest(builtinJob()), version: 2 } as unknown as Manifest), { code: "MANIFEST_INVALID" });
  });

  it("round-trips through decodeManifest, and is key-order independent (property)", () => {
    fc.assert(
      fc.property(manifestArbitrary(), fc.boolean(), (json, reverse) => {
        const manifest = parseManifest(json);
        const bytes = encodeManifest(manifest);
        // JSON has no -0, so compare with the manifest as JSON sees it.
        assert.deepEqual(decodeManifest(bytes), JSON.parse(canonicalJson(manifest)));
        assert.deepEqual(encodeManifest(decodeManifest(bytes)), bytes);
        const reordered = parseManifest(reorderKeys(json, reverse));
        assert.deepEqual(encodeManifest(reordered), bytes);
      }),
      { numRuns: 150 },
    );
  });

  it("decodeManifest rejects bytes that are not JSON", () => {
    assert.throws(() => decodeManifest(new TextEncoder().encode("{not json")), { code: "MANIFEST_INVALID", message: /not UTF-8 JSON/ });
  });

  it("canonicalJson refuses values JSON cannot hold", () => {
    assert.throws(() => canonicalJson(Number.NaN), TypeError);
    assert.equal(canonicalJson({ b: [1, { d: 1, c: undefined }], a: "x" }), '{"a":"x","b":[1,{"d":1}]}');
  });
});

function manifestArbitrary(): fc.Arbitrary<Record<string, unknown>> {
  const seed = fc.integer({ min: 0, max: 2 ** 32 - 1 });
  const settings = fc.oneof(
    fc.record({ samples: fc.integer({ min: 1, max: 4096 }), seed, maxBounces: fc.integer({ min: 0, max: 16 }) }).map((s) => ({ name: "builtin", s })),
    fc
      .record({ initialClock: fc.double({ noNaN: true, noDefaultInfinity: true }), quality: fc.integer({ min: 0, max: 11 }), seed }, { requiredKeys: [] })
      .map((s) => ({ name: "povray", s })),
    fc
      .record({ samples: fc.integer({ min: 1, max: 65536 }), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }), camera: fc.string({ minLength: 1, maxLength: 10 }) }, { requiredKeys: ["samples", "seed"] })
      .map((s) => ({ name: "blender", s })),
  );
  return fc
    .record({
      width: fc.integer({ min: 1, max: 16384 }),
      height: fc.integer({ min: 1, max: 16384 }),
      start: fc.integer({ min: 0, max: 1000 }),
      length: fc.integer({ min: 1, max: 500 }),
      framesPerSegment: fc.integer({ min: 1, max: 50 }),
      tx: fc.integer({ min: 1, max: 16 }), // ≤ 16×16 tiles × 500 frames stays under the segment limit
      ty: fc.integer({ min: 1, max: 16 }),
      settings,
      version: fc.string({ minLength: 1, maxLength: 12 }).filter((v) => v.trim() === v),
    })
    .map(({ width, height, start, length, framesPerSegment, tx, ty, settings: { name, s }, version }) =>
      builtinJob({
        engine: { name, version },
        output: { width, height, format: "png" },
        frames: { start, end: start + length - 1 },
        settings: s,
        segmentation: { tilesX: Math.min(tx, width), tilesY: Math.min(ty, height), framesPerSegment },
      }),
    );
}

function reorderKeys(value: unknown, reverse: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => reorderKeys(v, reverse));
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort();
    if (reverse) keys.reverse();
    return Object.fromEntries(keys.map((k) => [k, reorderKeys((value as Record<string, unknown>)[k], reverse)]));
  }
  return value;
}
