/**
 * The job manifest: the one document that says what to render and how the job is cut into
 * segments. It is written to IPFS as canonical JSON (see {@link encodeManifest}) and its CID is
 * recorded on-chain, so every provider renders from exactly the same bytes.
 *
 * One versioned zod schema ({@link manifestSchema}) is the single source of truth; the engine
 * settings schemas are exported one by one so engine adapters can re-validate their part.
 * {@link parseManifest} reports *every* problem at once, each as
 * `<field path>: <what is wrong> — <how to fix>`.
 */
import { z } from "zod";
import { CID } from "multiformats/cid";
import { FatalError } from "./errors.ts";
import { DEFAULT_TOLERANCE_BPS } from "./fingerprint.ts";
import type { Storage } from "./storage.ts";

/** The manifest version this SDK reads and writes. */
export const MANIFEST_VERSION = 1;

/** Bounds shared by the schema, the segment plan and the error messages. */
export const MANIFEST_LIMITS = {
  maxImageSide: 16_384,
  maxTilesPerSide: 64,
  maxFramesPerSegment: 10_000,
  maxFrameCount: 100_000,
  maxSegmentCount: 1_000_000,
  maxUint32: 4_294_967_295,
  /** Cycles stores its seed as a signed 32-bit int. */
  maxBlenderSeed: 2_147_483_647,
} as const;

/** Names of the engines a manifest may ask for. */
export const ENGINE_NAMES = ["builtin", "povray", "blender"] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/**
 * Verification modes: `exact` = quorum on equal pixel digests; `tolerant` = quorum on image
 * fingerprints that agree within `verification.toleranceBps` (docs/tolerant.md), so honest
 * renders from different processors agree while cheaper renders do not.
 */
export const VERIFICATION_MODES = ["exact", "tolerant"] as const;
export type VerificationMode = (typeof VERIFICATION_MODES)[number];

/**
 * The verification mode a job gets when its requester names none: Blender's Cycles does not give
 * identical pixels across processors (its CPU kernel depends on the CPU), so Blender jobs are
 * tolerant; the builtin engine is bit-exact everywhere and POV-Ray was seen to be, so they are exact.
 */
export const DEFAULT_VERIFICATION: Readonly<Record<EngineName, VerificationMode>> = {
  builtin: "exact",
  povray: "exact",
  blender: "tolerant",
};

const uint32 = z.int().min(0).max(MANIFEST_LIMITS.maxUint32);

/** Settings of the built-in deterministic ray tracer. */
export const builtinSettingsSchema = z.strictObject({
  /** Samples per pixel. */
  samples: z.int().min(1).max(4096),
  /** Seed of the integer random generator; the same seed gives the same pixels everywhere. */
  seed: uint32,
  /** Maximum number of bounces of a path (0 = direct lighting only). */
  maxBounces: z.int().min(0).max(16),
});
export type BuiltinSettings = z.output<typeof builtinSettingsSchema>;

/**
 * Settings of POV-Ray 3.7.
 *
 * `antialias` must be `false` in `exact` verification mode: POV-Ray's adaptive anti-aliasing
 * decides per pixel whether to supersample by comparing it with its neighbours, and jitters the
 * extra rays. A tile rendered on its own has different neighbours at its edges than the same
 * pixels inside the full frame, and jitter differs between runs, so redundant replicas and
 * stitched tiles would not agree bit for bit. Render at a larger size and downscale instead.
 */
export const povraySettingsSchema = z.strictObject({
  antialias: z.boolean().default(false),
  /** Clock value of the first frame (`+KI`). */
  initialClock: z.number().default(0),
  /** Clock value of the last frame (`+KF`). */
  finalClock: z.number().default(1),
  /**
   * Cyclic animation (`+KC`, an .ini's `Cyclic_Animation=on`): the clock runs from
   * `initialClock` towards `finalClock` without reaching it, so the last frame leads back into
   * the first. Off (absent) by default.
   */
  cyclic: z.boolean().optional(),
  /** Render quality `+Q` (0..11; 9 is POV-Ray's default). */
  quality: z.int().min(0).max(11).default(9),
  /** Optional seed for the scene's `seed()` calls (the POV-Ray adapter declares it as `TessellateSeed`). */
  seed: uint32.optional(),
});
export type PovraySettings = z.output<typeof povraySettingsSchema>;

/**
 * Settings of Blender (Cycles on CPU). Adaptive sampling and the denoiser are refused in both
 * verification modes (the flags exist so a manifest says so explicitly): in `exact` mode both
 * make pixel values depend on noise estimates that are not reproducible across machines; in
 * `tolerant` mode adaptive sampling lets a render with fewer samples pass as honest, and the
 * denoiser is not available in Debian's Blender build, so it is not measured (docs/tolerant.md).
 */
export const blenderSettingsSchema = z.strictObject({
  samples: z.int().min(1).max(65_536),
  seed: z.int().min(0).max(MANIFEST_LIMITS.maxBlenderSeed),
  adaptiveSampling: z.boolean().default(false),
  denoise: z.boolean().default(false),
  /** Name of the camera object to render through (default: the scene's active camera). */
  camera: z.string().min(1).max(255).optional(),
  /** Name of the Blender scene to render (default: the file's active scene). */
  scene: z.string().min(1).max(255).optional(),
});
export type BlenderSettings = z.output<typeof blenderSettingsSchema>;

/** Engine name → its settings schema. Engines re-validate their settings with these. */
export const engineSettingsSchemas = {
  builtin: builtinSettingsSchema,
  povray: povraySettingsSchema,
  blender: blenderSettingsSchema,
} as const;

const engineSchema = z.strictObject({
  name: z.enum(ENGINE_NAMES),
  version: z
    .string()
    .min(1)
    .max(128)
    .refine((v) => v.trim() === v, "has leading or trailing whitespace"),
});

const sceneSchema = z.strictObject({
  cid: z.string().superRefine((value, ctx) => {
    const problem = cidProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem.problem, params: { fix: problem.fix } });
  }),
  entry: z
    .string()
    .min(1)
    .max(1024)
    .superRefine((value, ctx) => {
      const problem = entryProblem(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem, params: { fix: FIXES["scene.entry"] } });
    }),
  sizeBytes: z.int().min(1),
});

const outputSchema = z.strictObject({
  width: z.int().min(1).max(MANIFEST_LIMITS.maxImageSide),
  height: z.int().min(1).max(MANIFEST_LIMITS.maxImageSide),
  format: z.literal("png"),
});

const framesSchema = z.strictObject({
  /** First frame (inclusive). */
  start: z.int().min(0),
  /** Last frame (inclusive). */
  end: z.int().min(0),
});

const segmentationSchema = z.strictObject({
  tilesX: z.int().min(1).max(MANIFEST_LIMITS.maxTilesPerSide),
  tilesY: z.int().min(1).max(MANIFEST_LIMITS.maxTilesPerSide),
  framesPerSegment: z.int().min(1).max(MANIFEST_LIMITS.maxFramesPerSegment),
});

const verificationSchema = z.strictObject({
  mode: z.enum(VERIFICATION_MODES),
  /**
   * Tolerant mode only: the share of compared fingerprint blocks (parts of 10,000) that may
   * differ between agreeing replicas; {@link DEFAULT_TOLERANCE_BPS} when left out. The job's
   * on-chain `toleranceBps` must be the same.
   */
  toleranceBps: z.int().min(1).max(10_000).optional(),
});

/** The manifest without its engine-specific settings checked (settings are checked per engine). */
const manifestShapeSchema = z.strictObject({
  version: z.literal(MANIFEST_VERSION),
  engine: engineSchema,
  scene: sceneSchema,
  output: outputSchema,
  frames: framesSchema,
  settings: z.unknown(),
  segmentation: segmentationSchema,
  verification: verificationSchema,
});

type ManifestCommon = Omit<z.output<typeof manifestShapeSchema>, "engine" | "settings">;

/** A manifest for the built-in engine. */
export type BuiltinManifest = ManifestCommon & { engine: { name: "builtin"; version: string }; settings: BuiltinSettings };
/** A manifest for POV-Ray. */
export type PovrayManifest = ManifestCommon & { engine: { name: "povray"; version: string }; settings: PovraySettings };
/** A manifest for Blender. */
export type BlenderManifest = ManifestCommon & { engine: { name: "blender"; version: string }; settings: BlenderSettings };
/** A validated manifest (version 1), discriminated on `engine.name`; defaults are filled in. */
export type Manifest = BuiltinManifest | PovrayManifest | BlenderManifest;

/** The manifest type of one engine. */
export type ManifestOf<N extends EngineName> = Extract<Manifest, { engine: { name: N } }>;

/**
 * Narrows a manifest to one engine, settings included (TypeScript does not narrow a union on the
 * nested `engine.name`): `if (isEngineManifest(m, "blender")) m.settings.samples`.
 */
export function isEngineManifest<N extends EngineName>(manifest: Manifest, name: N): manifest is ManifestOf<N> {
  return manifest.engine.name === name;
}

/** One problem found in a manifest. */
export interface ManifestProblem {
  /** Path of the field, e.g. `["output", "width"]`; empty for the document itself. */
  path: PropertyKey[];
  /** What is wrong. */
  problem: string;
  /** How to fix it. */
  fix: string;
}

/**
 * The manifest schema (version 1). Its output is a {@link Manifest} with engine settings
 * validated against the engine's own schema, defaults filled in, and the cross-field rules
 * checked. Prefer {@link parseManifest}: it reports every problem, while a zod schema stops
 * before the engine settings and cross-field rules when a basic field is already wrong.
 */
export const manifestSchema = manifestShapeSchema.transform((shape, ctx): Manifest => {
  const settings = checkSettings(shape);
  const problems = [...settings.problems, ...crossFieldProblems(shape)];
  for (const p of problems) {
    ctx.addIssue({ code: "custom", path: p.path, message: p.problem, params: { fix: p.fix } });
  }
  if (problems.length > 0) return z.NEVER;
  const verification = shape.verification.mode === "tolerant" ? { mode: "tolerant" as const, toleranceBps: shape.verification.toleranceBps ?? DEFAULT_TOLERANCE_BPS } : shape.verification;
  return { ...shape, settings: settings.value, verification } as Manifest;
});

/**
 * Checks a manifest and returns either the manifest (defaults filled in) or every problem found.
 * Never throws.
 */
export function validateManifest(json: unknown): { ok: true; manifest: Manifest } | { ok: false; problems: ManifestProblem[] } {
  const shape = manifestShapeSchema.safeParse(json, { reportInput: true });
  if (shape.success) {
    const full = manifestSchema.safeParse(json, { reportInput: true });
    if (full.success) return { ok: true, manifest: full.data };
    return { ok: false, problems: dedupe(full.error.issues.map((issue) => issueToProblem(issue))) };
  }
  // The shape is wrong somewhere: still report settings and cross-field problems of the parts that are valid.
  const problems = shape.error.issues.flatMap((issue) => expandIssue(issue));
  if (isRecord(json)) {
    problems.push(...checkSettings(json).problems, ...crossFieldProblems(json));
  }
  return { ok: false, problems: dedupe(problems) };
}

/**
 * Validates a manifest (already JSON-parsed) and returns it with defaults filled in.
 * @throws FatalError `MANIFEST_INVALID` whose message lists every problem, one per line, as
 *   `<field path>: <what is wrong> — <how to fix>`. Use {@link validateManifest} for the problems as data.
 */
export function parseManifest(json: unknown): Manifest {
  const result = validateManifest(json);
  if (result.ok) return result.manifest;
  throw new FatalError("MANIFEST_INVALID", formatProblems(result.problems));
}

/**
 * Reads a manifest from its canonical bytes (as fetched from IPFS).
 * @throws FatalError `MANIFEST_INVALID` when the bytes are not UTF-8 JSON or the manifest is invalid.
 */
export function decodeManifest(bytes: Uint8Array): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    throw new FatalError(
      "MANIFEST_INVALID",
      `Manifest is not valid:\n  manifest: is not UTF-8 JSON (${(error as Error).message}) — fetch the manifest CID again or re-create it with encodeManifest`,
      { cause: error },
    );
  }
  return parseManifest(json);
}

/** Largest manifest any Tessellate program fetches (a manifest is a JSON document of a few hundred bytes). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

/**
 * Fetches a manifest by CID through any `cat` (Kubo RPC, an IPFS gateway), bounded by
 * MAX_MANIFEST_BYTES, and decodes it. The CLI, the provider node and the dApp read manifests here.
 * @throws FatalError `MANIFEST_INVALID` for bytes that are no valid manifest, the storage's own errors otherwise.
 */
export async function fetchManifest(storage: Pick<Storage, "cat">, manifestCid: string, options: { signal?: AbortSignal } = {}): Promise<Manifest> {
  return decodeManifest(await storage.cat(manifestCid, { maxBytes: MAX_MANIFEST_BYTES, signal: options.signal }));
}

/**
 * Encodes a manifest as canonical JSON: validated (defaults filled in), object keys sorted,
 * no whitespace, UTF-8. The same manifest always gives the same bytes, hence the same CID.
 * @throws FatalError `MANIFEST_INVALID` when the manifest is not valid.
 */
export function encodeManifest(manifest: Manifest): Uint8Array {
  return new TextEncoder().encode(canonicalJson(parseManifest(manifest)));
}

/**
 * Canonical JSON of a JSON value: object keys sorted by UTF-16 code units, no whitespace,
 * `undefined` members left out. Rejects values JSON cannot represent exactly.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON representation`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(",")}]`;
  if (isRecord(value)) {
    const members = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`);
    return `{${members.join(",")}}`;
  }
  throw new TypeError(`canonicalJson: a ${typeof value} has no JSON representation`);
}

/** Formats problems as the message of a `MANIFEST_INVALID` error. */
export function formatProblems(problems: ManifestProblem[]): string {
  const lines = problems.map((p) => `  ${formatPath(p.path)}: ${p.problem} — ${p.fix}`);
  return `Manifest is not valid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${lines.join("\n")}`;
}

// ---------------------------------------------------------------------------------------------
// Engine settings and cross-field rules. These read possibly-invalid input defensively: a rule
// only fires when the fields it reads are individually valid, so one mistake is reported once.

function checkSettings(raw: Record<string, unknown>): { value: unknown; problems: ManifestProblem[] } {
  const engine = engineSchema.shape.name.safeParse(isRecord(raw.engine) ? raw.engine.name : undefined);
  if (!engine.success) return { value: undefined, problems: [] };
  const result = engineSettingsSchemas[engine.data].safeParse(raw.settings, { reportInput: true });
  if (result.success) return { value: result.data, problems: [] };
  const problems = result.error.issues.flatMap((issue) =>
    expandIssue({ ...issue, path: ["settings", ...issue.path] }, engine.data),
  );
  return { value: undefined, problems };
}

function crossFieldProblems(raw: Record<string, unknown>): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const output = isRecord(raw.output) ? raw.output : {};
  const frames = isRecord(raw.frames) ? raw.frames : {};
  const seg = isRecord(raw.segmentation) ? raw.segmentation : {};
  const width = valid(outputSchema.shape.width, output.width);
  const height = valid(outputSchema.shape.height, output.height);
  const tilesX = valid(segmentationSchema.shape.tilesX, seg.tilesX);
  const tilesY = valid(segmentationSchema.shape.tilesY, seg.tilesY);
  const framesPerSegment = valid(segmentationSchema.shape.framesPerSegment, seg.framesPerSegment);
  const start = valid(framesSchema.shape.start, frames.start);
  const end = valid(framesSchema.shape.end, frames.end);

  if (width !== undefined && tilesX !== undefined && tilesX > width) {
    problems.push({
      path: ["segmentation", "tilesX"],
      problem: `${tilesX} tiles across is more than the image width of ${plural(width, "pixel")} (a tile would be empty)`,
      fix: `use at most ${plural(Math.min(width, MANIFEST_LIMITS.maxTilesPerSide), "tile")} across`,
    });
  }
  if (height !== undefined && tilesY !== undefined && tilesY > height) {
    problems.push({
      path: ["segmentation", "tilesY"],
      problem: `${tilesY} tiles down is more than the image height of ${plural(height, "pixel")} (a tile would be empty)`,
      fix: `use at most ${plural(Math.min(height, MANIFEST_LIMITS.maxTilesPerSide), "tile")} down`,
    });
  }
  let frameCount: number | undefined;
  if (start !== undefined && end !== undefined) {
    if (end < start) {
      problems.push({
        path: ["frames", "end"],
        problem: `last frame ${end} comes before the first frame ${start}`,
        fix: `frames are an inclusive range: set end ≥ start (end = ${start} renders one frame)`,
      });
    } else if (end - start + 1 > MANIFEST_LIMITS.maxFrameCount) {
      problems.push({
        path: ["frames", "end"],
        problem: `the range ${start}..${end} has ${end - start + 1} frames, more than ${MANIFEST_LIMITS.maxFrameCount}`,
        fix: `split the animation into several jobs of at most ${MANIFEST_LIMITS.maxFrameCount} frames (end ≤ ${start + MANIFEST_LIMITS.maxFrameCount - 1})`,
      });
    } else {
      frameCount = end - start + 1;
    }
  }
  if (frameCount !== undefined && tilesX !== undefined && tilesY !== undefined && framesPerSegment !== undefined) {
    const count = tilesX * tilesY * Math.ceil(frameCount / framesPerSegment);
    if (count > MANIFEST_LIMITS.maxSegmentCount) {
      problems.push({
        path: ["segmentation"],
        problem: `${tilesX}×${tilesY} tiles × ${Math.ceil(frameCount / framesPerSegment)} frame groups = ${count} segments, more than ${MANIFEST_LIMITS.maxSegmentCount}`,
        fix: "use fewer tiles, more frames per segment, or split the job",
      });
    }
  }

  const mode = valid(verificationSchema.shape.mode, isRecord(raw.verification) ? raw.verification.mode : undefined);
  const engine = valid(engineSchema.shape.name, isRecord(raw.engine) ? raw.engine.name : undefined);
  if (mode === "exact" && isRecord(raw.verification) && raw.verification.toleranceBps !== undefined) {
    problems.push({
      path: ["verification", "toleranceBps"],
      problem: 'a tolerance applies only in "tolerant" verification mode (exact mode compares pixel digests)',
      fix: 'leave verification.toleranceBps out, or set verification.mode to "tolerant"',
    });
  }
  if (mode !== undefined && engine === "blender" && isRecord(raw.settings)) {
    // Refused in both modes (measured, docs/tolerant.md). Each flag is read on its own, so the rule
    // is reported even when another setting is wrong.
    const settings = raw.settings;
    if (valid(blenderSettingsSchema.shape.adaptiveSampling, settings.adaptiveSampling)) {
      problems.push({
        path: ["settings", "adaptiveSampling"],
        problem:
          mode === "exact"
            ? 'adaptive sampling makes pixels differ between machines, so redundant renders cannot agree in "exact" verification mode'
            : "adaptive sampling stops each pixel once it looks converged, so a render with 12 % fewer samples differs from an honest one in only about 25 % of the fingerprint's blocks (measured, docs/tolerant.md): tolerant verification could not tell a cheaper render from an honest one",
        fix: "set settings.adaptiveSampling to false (every pixel gets settings.samples samples)",
      });
    }
    if (valid(blenderSettingsSchema.shape.denoise, settings.denoise)) {
      problems.push({
        path: ["settings", "denoise"],
        problem:
          mode === "exact"
            ? 'the denoiser makes pixels differ between machines, so redundant renders cannot agree in "exact" verification mode'
            : "the denoiser is refused in tolerant mode too: Debian's Blender 3.4.1 is built without OpenImageDenoise (its renders fail), so how far denoised renders from different processors differ is not measured (docs/tolerant.md)",
        fix: "set settings.denoise to false, and denoise the composited frames yourself",
      });
    }
  }
  if (mode === "exact" && engine !== undefined && isRecord(raw.settings)) {
    const settings = raw.settings;
    if (engine === "povray" && valid(povraySettingsSchema.shape.antialias, settings.antialias)) {
      problems.push({
        path: ["settings", "antialias"],
        problem:
          'POV-Ray anti-aliasing supersamples by comparing a pixel with its neighbours and jitters rays, so tiles and replicas do not agree bit for bit in "exact" verification mode',
        fix: 'set settings.antialias to false (render larger and downscale for smooth edges), or set verification.mode to "tolerant"',
      });
    }
  }
  return problems;
}

function valid<T>(schema: z.ZodType<T>, value: unknown): T | undefined {
  const result = schema.safeParse(value);
  return result.success ? result.data : undefined;
}

function cidProblem(value: string): { problem: string; fix: string } | undefined {
  let cid: CID;
  try {
    cid = CID.parse(value);
  } catch {
    return {
      problem: `"${truncate(value)}" is not a CID`,
      fix: "use the CID printed when the scene folder was added to IPFS (bafy… or Qm…)",
    };
  }
  const canonical = cid.toString();
  if (canonical !== value) {
    return { problem: `"${truncate(value)}" is not written in canonical form`, fix: `write it as "${canonical}"` };
  }
  return undefined;
}

function entryProblem(value: string): string | undefined {
  if (value.startsWith("/")) return "is an absolute path";
  if (value.includes("\\")) return "contains a backslash";
  if (value.includes("\0")) return "contains a NUL character";
  const parts = value.split("/");
  if (parts.includes("..")) return 'contains a ".." segment';
  if (parts.some((part) => part === "" || part === ".")) return 'contains an empty or "." segment';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Turning zod issues into `<path>: <what is wrong> — <how to fix>`.

/** How to fix each field; `<engine>:<path>` entries override for engine settings. */
const FIXES: Record<string, string> = {
  "": "provide a JSON object with version, engine, scene, output, frames, settings, segmentation and verification",
  version: `set "version": ${MANIFEST_VERSION} (the only manifest version this SDK reads; a newer manifest needs a newer @tessellate/sdk)`,
  engine: 'provide { "name": …, "version": … }',
  "engine.name": `use one of ${ENGINE_NAMES.map((n) => `"${n}"`).join(", ")}`,
  "engine.version":
    'give the exact version string the engine reports (e.g. "3.7.0.10" for POV-Ray); providers compare it verbatim',
  scene: 'provide { "cid": …, "entry": …, "sizeBytes": … }',
  "scene.cid": "use the CID printed when the scene folder was added to IPFS (bafy… or Qm…)",
  "scene.entry": 'give the path of the main scene file relative to the scene folder, e.g. "scene.pov" or "shots/a.blend" (no leading "/", no "..")',
  "scene.sizeBytes": "give the total size of the scene folder in bytes (an integer ≥ 1)",
  output: 'provide { "width": …, "height": …, "format": "png" }',
  "output.width": `use an integer pixel count from 1 to ${MANIFEST_LIMITS.maxImageSide}`,
  "output.height": `use an integer pixel count from 1 to ${MANIFEST_LIMITS.maxImageSide}`,
  "output.format": 'use "png" (the only output format so far)',
  frames: 'provide an inclusive range { "start": …, "end": … }',
  "frames.start": "use an integer frame number ≥ 0",
  "frames.end": "use an integer frame number ≥ start (the range is inclusive)",
  settings: "provide the engine settings object for the chosen engine",
  "builtin:settings.samples": "use an integer from 1 to 4096 samples per pixel",
  "builtin:settings.seed": `use an integer seed from 0 to ${MANIFEST_LIMITS.maxUint32}`,
  "builtin:settings.maxBounces": "use an integer from 0 to 16",
  "povray:settings.antialias": 'use false (the default; true needs verification.mode "tolerant")',
  "povray:settings.initialClock": "use a finite number (default 0)",
  "povray:settings.finalClock": "use a finite number (default 1)",
  "povray:settings.quality": "use an integer from 0 to 11 (default 9)",
  "povray:settings.cyclic": "use true (a cyclic animation, as Cyclic_Animation=on) or false, or leave it out",
  "povray:settings.seed": `use an integer seed from 0 to ${MANIFEST_LIMITS.maxUint32}, or leave it out`,
  "blender:settings.samples": "use an integer from 1 to 65536 samples per pixel",
  "blender:settings.seed": `use an integer seed from 0 to ${MANIFEST_LIMITS.maxBlenderSeed} (Cycles takes a signed 32-bit seed)`,
  "blender:settings.adaptiveSampling": "use false (the default; adaptive sampling is refused in both verification modes, docs/tolerant.md)",
  "blender:settings.denoise": "use false (the default; the denoiser is refused in both verification modes, docs/tolerant.md)",
  "blender:settings.camera": "give the name of a camera object in the scene, or leave it out for the active camera",
  "blender:settings.scene": "give the name of a scene in the .blend file, or leave it out for the active scene",
  segmentation: 'provide { "tilesX": …, "tilesY": …, "framesPerSegment": … }',
  "segmentation.tilesX": `use an integer from 1 to ${MANIFEST_LIMITS.maxTilesPerSide}, at most the image width`,
  "segmentation.tilesY": `use an integer from 1 to ${MANIFEST_LIMITS.maxTilesPerSide}, at most the image height`,
  "segmentation.framesPerSegment": `use an integer from 1 to ${MANIFEST_LIMITS.maxFramesPerSegment}`,
  verification: 'provide { "mode": "exact" } or { "mode": "tolerant", "toleranceBps": 2500 }',
  "verification.mode": 'use "exact" (identical pixels) or "tolerant"',
  "verification.toleranceBps": `use an integer from 1 to 10000 parts of 10,000 of the compared blocks that may differ (default ${DEFAULT_TOLERANCE_BPS})`,
};

/**
 * Every settings key of an engine's schema with how to set it, for help texts (`tessellate job
 * submit --help`): the keys come from the schema, the advice from the same table the validation
 * messages use.
 */
export function engineSettingsHelp(engine: EngineName): Array<{ key: string; help: string }> {
  return Object.keys(engineSettingsSchemas[engine].shape).map((key) => ({ key, help: FIXES[`${engine}:settings.${key}`] ?? "" }));
}

/** Allowed keys of each object, to say which field a misspelt key probably meant. */
function allowedKeys(path: PropertyKey[], engine: EngineName | undefined): string[] | undefined {
  const key = path.map(String).join(".");
  if (key === "") return Object.keys(manifestShapeSchema.shape);
  if (key === "settings") return engine ? Object.keys(engineSettingsSchemas[engine].shape) : undefined;
  const shape = (manifestShapeSchema.shape as Record<string, unknown>)[key];
  if (shape instanceof z.ZodObject) return Object.keys(shape.shape);
  return undefined;
}

type Issue = z.core.$ZodIssue;

function expandIssue(issue: Issue, engine?: EngineName): ManifestProblem[] {
  if (issue.code === "unrecognized_keys") {
    const allowed = allowedKeys(issue.path, engine);
    return issue.keys.map((key) => ({
      path: [...issue.path, key],
      problem: "is not a field of this object",
      fix: `remove it or correct its spelling${allowed ? ` (fields: ${allowed.join(", ")})` : ""}`,
    }));
  }
  return [issueToProblem(issue, engine)];
}

function issueToProblem(issue: Issue, engine?: EngineName): ManifestProblem {
  const dotted = issue.path.map(String).join(".");
  const fixFromParams = issue.code === "custom" ? (issue.params as { fix?: string } | undefined)?.fix : undefined;
  const fix =
    fixFromParams ??
    (engine ? FIXES[`${engine}:${dotted}`] : undefined) ??
    FIXES[dotted] ??
    "see the manifest reference in @tessellate/sdk manifest.ts";
  return { path: issue.path, problem: describeIssue(issue), fix };
}

function describeIssue(issue: Issue): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case "invalid_type":
      if (input === undefined && !("received" in issue)) return "is missing";
      if (issue.expected === "int") return `must be an integer, got ${show(input)}`;
      return `must be ${article(issue.expected)}, got ${"received" in issue ? String(issue.received) : describeValue(input)}`;
    case "too_small":
      if (issue.origin === "string") return issue.minimum === 1 ? "must not be empty" : `must have at least ${issue.minimum} characters`;
      return `must be ${issue.inclusive ? "≥" : ">"} ${issue.minimum}, got ${show(input)}`;
    case "too_big":
      if (issue.origin === "string") return `must have at most ${issue.maximum} characters`;
      return `must be ${issue.inclusive ? "≤" : "<"} ${issue.maximum}, got ${show(input)}`;
    case "invalid_value":
      return issue.values.length === 1
        ? `must be ${JSON.stringify(issue.values[0])}, got ${show(input)}`
        : `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${show(input)}`;
    case "custom":
      return issue.message;
    default:
      return issue.message;
  }
}

function dedupe(problems: ManifestProblem[]): ManifestProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = formatPath(p.path);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function formatPath(path: PropertyKey[]): string {
  if (path.length === 0) return "manifest";
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`)).join("");
}

function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "string") return JSON.stringify(truncate(value));
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  return describeValue(value);
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `${article(typeof value)} ${typeof value === "string" ? JSON.stringify(truncate(value as string)) : String(value)}`;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}…` : value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
