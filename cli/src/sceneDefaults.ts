/**
 * A scene's own render settings, as defaults for what the `job submit` command line leaves out:
 * - POV-Ray: the scene's INI file (`<entry>.ini` next to the entry, or the one INI in that
 *   folder whose `Input_File_Name` is the entry): size, frames, clock, cyclic animation,
 *   anti-aliasing, quality (read by the sdk's `parsePovrayIni`). Without an INI (or a size in it),
 *   POV-Ray's own default size 320×240.
 * - Blender: the .blend file's resolution (at its percentage), frame range and Cycles samples,
 *   read with the Blender installed on this machine (the sdk's `readBlenderScene`); a scene set to
 *   Eevee or Workbench is refused (providers render Cycles only). Without Blender here, nothing
 *   is read and the plan says so.
 * Settings the job cannot honour are listed in the plan ("not honoured"), or refused with a
 * usage error when rendering without them would give other pictures (an INI's
 * `Subset_Start_Frame`, `Declare`, …). `--no-scene-settings` reads nothing.
 */
import { existsSync } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, dirname, extname, isAbsolute, join, relative, resolve } from "node:path";
import { readBlenderScene, type BlenderExternalFile, type BlenderSceneSettings } from "@tessellate/sdk/node";
import { TessellateError } from "@tessellate/sdk/errors";
import { parsePovrayIni } from "@tessellate/sdk/povrayIni";
import { UsageError, UsageErrors } from "./errors.ts";
import { defaultVerification, SUBMIT_DEFAULTS, type RawSubmitOptions } from "./parse.ts";

/** What a scene sets, for the options the user did not give. */
export interface SceneDefaults {
  /** Where the settings come from, for the plan: `camera2.ini`, `cube.blend (read with Blender)`. */
  source: string;
  size?: { width: number; height: number };
  frames?: { start: number; end: number };
  /** Manifest settings of the engine. */
  settings: Record<string, unknown>;
  /** What was taken from the scene, in words (`frames 1–30`, `clock 0–1 cyclic`). */
  read: string[];
  /** Scene settings the job does not honour, each with why. */
  notHonoured: string[];
}

/** POV-Ray's own default image size (its povray.ini). */
export const POVRAY_DEFAULT_SIZE = { width: 320, height: 240 } as const;

export interface SceneDefaultsDeps {
  /** Reads a .blend file's settings (default: the sdk's `readBlenderScene` with the local Blender). */
  readBlenderScene?: (file: string, scene?: string) => Promise<BlenderSceneSettings>;
}

/**
 * The defaults `scene` sets for a job of `engine` in `verification` mode; undefined when the
 * engine reads none (builtin) or the scene's entry cannot be found (the submit reports that).
 * @throws UsageErrors for scene settings a job cannot reproduce (an Eevee scene, an INI's subset of frames, …).
 */
export async function readSceneDefaults(scene: string, raw: RawSubmitOptions, deps: SceneDefaultsDeps = {}): Promise<SceneDefaults | undefined> {
  const engine = raw.engine ?? SUBMIT_DEFAULTS.engine;
  const verification = raw.verification ?? defaultVerification(engine);
  if (raw.sceneSettings === false || (engine !== "povray" && engine !== "blender")) return undefined;
  const entryPath = await findEntry(scene, raw.entry, engine === "povray" ? ".pov" : ".blend");
  if (engine === "povray") return povrayDefaults(entryPath, verification);
  if (entryPath === undefined) return undefined;
  const named = namedInSettings(raw.settings);
  const uploadRoot = (await stat(scene)).isDirectory() ? resolve(scene) : undefined;
  return blenderDefaults(entryPath, uploadRoot, verification, named, deps.readBlenderScene ?? ((file, scene) => readBlenderScene(file, { scene })));
}

/**
 * The external files of a .blend that would not reach the provider: stored by absolute path (the
 * provider's scene folder is elsewhere), outside the uploaded folder (a single file is uploaded
 * alone), or missing here. Each is a usage error naming the file and what to do.
 */
export function externalFileProblems(name: string, files: BlenderExternalFile[], uploadRoot: string | undefined): UsageError[] {
  const fix = "copy it into the scene folder and make paths relative (File > External Data > Make Paths Relative), or pack it into the .blend (File > External Data > Pack Resources), then submit the folder";
  return files.flatMap((file) => {
    const what = `${name} uses ${file.kind} "${file.name}" at ${file.path}`;
    const present = existsSync(file.pattern ? dirname(file.absolute) : file.absolute);
    if (!present) return [new UsageError("<scene>", `${what}, which does not exist`, fix)];
    if (!file.path.startsWith("//")) return [new UsageError("<scene>", `${what}, an absolute path that does not exist on providers`, fix)];
    const inside = uploadRoot !== undefined && !relative(uploadRoot, file.absolute).startsWith("..") && !isAbsolute(relative(uploadRoot, file.absolute));
    if (!inside) {
      return [new UsageError("<scene>", `${what}, outside ${uploadRoot === undefined ? "the upload (a single scene file is uploaded alone)" : "the scene folder"}`, fix)];
    }
    return [];
  });
}

/** The entry file on disk: the scene file itself, `--entry` in the folder, or the folder's one scene file. */
async function findEntry(scene: string, entry: string | undefined, extension: string): Promise<string | undefined> {
  const info = await stat(scene).catch(() => undefined);
  if (info === undefined) return undefined;
  if (info.isFile()) return scene;
  if (!info.isDirectory()) return undefined;
  if (entry !== undefined) return existsSync(join(scene, entry)) ? join(scene, entry) : undefined;
  const files = (await readdir(scene, { withFileTypes: true })).filter((e) => e.isFile() && extname(e.name).toLowerCase() === extension);
  return files.length === 1 ? join(scene, files[0]!.name) : undefined;
}

async function povrayDefaults(entryPath: string | undefined, verification: string): Promise<SceneDefaults> {
  const fallback: SceneDefaults = {
    source: "POV-Ray's defaults",
    size: { ...POVRAY_DEFAULT_SIZE },
    settings: {},
    read: [`size ${POVRAY_DEFAULT_SIZE.width}×${POVRAY_DEFAULT_SIZE.height}`],
    notHonoured: [],
  };
  if (entryPath === undefined) return fallback;
  const ini = await findIni(entryPath);
  if (ini === undefined) return { ...fallback, source: `POV-Ray's defaults (no ${basename(entryPath, extname(entryPath))}.ini next to ${basename(entryPath)})` };
  const name = basename(ini.path);
  const parsed = parsePovrayIni(ini.text);
  const problems = [
    ...parsed.refused.map((r) => new UsageError(`<scene> ${name}`, `sets ${r}`, `remove it from ${name}, or pass --no-scene-settings to ignore the INI file`)),
    ...parsed.problems.map((p) => new UsageError(`<scene> ${name}`, p, `correct ${name}, or pass --no-scene-settings to ignore it`)),
  ];
  if (problems.length > 0) throw new UsageErrors(problems);

  const result: SceneDefaults = { source: name, settings: {}, read: [], notHonoured: [] };
  if (parsed.width !== undefined || parsed.height !== undefined) {
    result.size = { width: parsed.width ?? POVRAY_DEFAULT_SIZE.width, height: parsed.height ?? POVRAY_DEFAULT_SIZE.height };
    result.read.push(`size ${result.size.width}×${result.size.height}`);
  } else {
    result.size = { ...POVRAY_DEFAULT_SIZE };
    result.read.push(`size ${POVRAY_DEFAULT_SIZE.width}×${POVRAY_DEFAULT_SIZE.height} (POV-Ray's default)`);
  }
  if (parsed.frames) {
    result.frames = parsed.frames;
    result.read.push(`frames ${parsed.frames.start}–${parsed.frames.end}`);
  }
  const { initialClock, finalClock, cyclic, antialias, quality } = parsed.settings;
  if (initialClock !== undefined) result.settings.initialClock = initialClock;
  if (finalClock !== undefined) result.settings.finalClock = finalClock;
  if (parsed.frames && parsed.frames.end > parsed.frames.start) {
    result.read.push(`clock ${initialClock}–${finalClock}${cyclic ? " cyclic" : ""}`);
    if (cyclic !== undefined) result.settings.cyclic = cyclic;
  } else if (initialClock !== undefined) {
    result.read.push(`clock ${initialClock}`);
  }
  if (quality !== undefined) {
    result.settings.quality = quality;
    result.read.push(`quality ${quality}`);
  }
  if (antialias === true) {
    if (verification === "exact") {
      result.notHonoured.push("Antialias=On (exact verification renders without anti-aliasing, so that tiles and replicas agree bit for bit)");
    } else {
      result.settings.antialias = true;
      result.read.push("anti-aliasing on");
    }
  }
  return result;
}

/** The INI that goes with `entryPath`: `<name>.ini` next to it, else the one INI there naming it. */
async function findIni(entryPath: string): Promise<{ path: string; text: string } | undefined> {
  const dir = dirname(entryPath);
  const stem = basename(entryPath, extname(entryPath));
  const names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && extname(e.name).toLowerCase() === ".ini").map((e) => e.name);
  const same = names.find((n) => basename(n, extname(n)).toLowerCase() === stem.toLowerCase());
  if (same !== undefined) return { path: join(dir, same), text: await readFile(join(dir, same), "utf8") };
  const naming: Array<{ path: string; text: string }> = [];
  for (const n of names) {
    const text = await readFile(join(dir, n), "utf8");
    if (parsePovrayIni(text).inputFile?.toLowerCase() === basename(entryPath).toLowerCase()) naming.push({ path: join(dir, n), text });
  }
  return naming.length === 1 ? naming[0] : undefined;
}

/** The `camera` and `scene` names a `--settings` JSON gives (nothing when it is not JSON: parsing reports that). */
function namedInSettings(settings: string | undefined): { camera?: string; scene?: string } {
  try {
    const parsed: unknown = settings === undefined ? {} : JSON.parse(settings);
    if (typeof parsed !== "object" || parsed === null) return {};
    const { camera, scene } = parsed as Record<string, unknown>;
    return { ...(typeof camera === "string" ? { camera } : {}), ...(typeof scene === "string" ? { scene } : {}) };
  } catch {
    return {};
  }
}

async function blenderDefaults(
  entryPath: string,
  uploadRoot: string | undefined,
  verification: string,
  named: { camera?: string; scene?: string },
  read: (file: string, scene?: string) => Promise<BlenderSceneSettings>,
): Promise<SceneDefaults> {
  let blend: BlenderSceneSettings;
  try {
    blend = await read(entryPath, named.scene);
  } catch (error) {
    if (error instanceof TessellateError && error.code === "BLENDER_NOT_INSTALLED") {
      return { source: `flags and defaults only (Blender is not installed here, so ${basename(entryPath)}'s own settings were not read)`, settings: {}, read: [], notHonoured: [] };
    }
    if (error instanceof TessellateError && error.code === "BLENDER_SCENE_UNREADABLE") {
      throw new UsageError("<scene>", error.message, "give a .blend file Blender can open (save it again from Blender)");
    }
    throw error;
  }
  const name = basename(entryPath);
  if (named.scene !== undefined && blend.scene !== named.scene) {
    throw new UsageError("--settings", `${name} has no scene named "${named.scene}"`, `use one of ${blend.scenes.map((s) => `"${s}"`).join(", ")}, or leave "scene" out for the active scene`);
  }
  if (named.camera !== undefined && !blend.cameras.includes(named.camera)) {
    throw new UsageError(
      "--settings",
      `${name} has no camera object named "${named.camera}"`,
      blend.cameras.length > 0 ? `use one of ${blend.cameras.map((c) => `"${c}"`).join(", ")}, or leave "camera" out for the active camera` : "add a camera to the scene in Blender",
    );
  }
  if (blend.engine !== "CYCLES") {
    throw new UsageError(
      "<scene>",
      `${name} renders with ${blend.engine}; providers render Cycles only (Eevee and Workbench need a GPU context a headless provider has not)`,
      "set Render Engine to Cycles in Blender, save the file and submit again",
    );
  }
  const missing = externalFileProblems(name, blend.externalFiles, uploadRoot);
  if (missing.length > 0) throw new UsageErrors(missing);
  const result: SceneDefaults = {
    source: `${name} (read with Blender)`,
    size: { width: blend.width, height: blend.height },
    frames: blend.frames,
    settings: {},
    read: [`size ${blend.width}×${blend.height}${blend.resolutionPercentage !== 100 ? ` (${blend.resolutionPercentage} %)` : ""}`, `frames ${blend.frames.start}–${blend.frames.end}`],
    notHonoured: [],
  };
  if (blend.samples !== null) {
    result.settings.samples = blend.samples;
    result.read.push(`${blend.samples} samples`);
  }
  if (blend.camera === null && named.camera === undefined) {
    throw new UsageError("<scene>", `${name} has no active camera`, "set an active camera in Blender and save, or name one with --settings '{\"camera\":\"<object name>\"}'");
  }
  if (blend.camera !== null) result.read.push(`camera ${blend.camera}`);
  if (blend.frameStep !== 1) result.notHonoured.push(`frame step ${blend.frameStep} (every frame of the range is rendered)`);
  if (blend.useBorder) result.notHonoured.push("render border (the whole frame is rendered)");
  // Both are refused in every verification mode (sdk manifest, docs/tolerant.md).
  if (blend.adaptiveSampling) {
    result.notHonoured.push(
      verification === "exact"
        ? "adaptive sampling (off in exact verification: replicas must agree bit for bit)"
        : "adaptive sampling (off in tolerant verification too: a render with fewer samples would pass as honest)",
    );
  }
  if (blend.denoise) {
    result.notHonoured.push(
      verification === "exact"
        ? "denoising (off in exact verification: replicas must agree bit for bit)"
        : "denoising (off in tolerant verification too: not measured across processors; denoise the composited frames yourself)",
    );
  }
  return result;
}

/** The plan's lines about the scene's own settings. */
export function formatSceneDefaults(defaults: SceneDefaults | undefined): string[] {
  if (defaults === undefined) return [];
  const lines = [`from scene ${defaults.source}${defaults.read.length > 0 ? `: ${defaults.read.join(", ")}` : ""} (flags you gave take precedence)`];
  for (const item of defaults.notHonoured) lines.push(`           not honoured: ${item}`);
  return lines;
}
