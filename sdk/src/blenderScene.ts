/**
 * Reads a .blend file's own render settings with the Blender installed on this machine (node
 * only: it starts Blender), so that a job can take its defaults from the scene instead of from
 * flags: resolution (at its percentage), frame range, Cycles samples, camera, render engine.
 * Blender runs with `-b -Y --factory-startup`: Python embedded in the file never runs, user
 * preferences play no part, nothing is saved. The script is `blenderSceneQuery.py`, next to this file.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { FatalError } from "./errors.ts";

export interface BlenderSceneSettings {
  /** The file's active scene, and every scene it holds. */
  scene: string;
  scenes: string[];
  /** `CYCLES`, `BLENDER_EEVEE`, `BLENDER_WORKBENCH`, … */
  engine: string;
  /** Output size in pixels: the resolution at the file's resolution percentage. */
  width: number;
  height: number;
  resolutionPercentage: number;
  frames: { start: number; end: number };
  frameStep: number;
  /** The active camera's object name, or null when the scene has none. */
  camera: string | null;
  /** Every camera object in the file. */
  cameras: string[];
  /** Cycles samples, adaptive sampling and denoiser as set in the file (null without Cycles settings). */
  samples: number | null;
  adaptiveSampling: boolean | null;
  denoise: boolean | null;
  /** Whether the file renders only a border of the frame. */
  useBorder: boolean;
  /** Files outside the .blend that it uses (not packed), as listed by blenderExternalFiles.py. */
  externalFiles: BlenderExternalFile[];
}

/** One file a .blend uses without holding it. */
export interface BlenderExternalFile {
  /** `image`, `library`, `font`, `volume`, `cache file` or `movie clip`. */
  kind: string;
  /** The data-block's name in the file. */
  name: string;
  /** The path as stored in the file (`//textures/wood.png` is relative to the .blend). */
  path: string;
  /** The path resolved on the machine that read the file. */
  absolute: string;
  /** An image sequence or UDIM set: `absolute` names a pattern, its folder must exist. */
  pattern: boolean;
}

/**
 * The Python module that lists a .blend's external files, shared by the scene query here and the
 * provider's render script (which binds it read-only into the engine sandbox).
 */
export const BLENDER_EXTERNAL_FILES_MODULE = fileURLToPath(new URL("./blenderExternalFiles.py", import.meta.url));

const QUERY_SCRIPT = fileURLToPath(new URL("./blenderSceneQuery.py", import.meta.url));
const MARKER = "TESSELLATE-SCENE ";

/**
 * The render settings of `blendFile`, read by `binary` (default `blender`).
 * `options.scene` reads that scene of the file instead of its active one.
 * @throws FatalError `BLENDER_NOT_INSTALLED` when Blender cannot be started, `BLENDER_SCENE_UNREADABLE`
 * when it cannot read the file (its error line is in the message).
 */
export function readBlenderScene(blendFile: string, options: { binary?: string; timeoutMs?: number; scene?: string } = {}): Promise<BlenderSceneSettings> {
  const binary = options.binary ?? "blender";
  // `-S` picks the scene a job names (Blender ignores a name it does not know: `scene` then says which it read).
  const args = ["-b", "-Y", "--factory-startup", "-noaudio", blendFile, ...(options.scene ? ["-S", options.scene] : []), "--python-exit-code", "1", "--python", QUERY_SCRIPT];
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof (error as NodeJS.ErrnoException).code === "string") {
        reject(new FatalError("BLENDER_NOT_INSTALLED", `${binary} cannot be started (${error.message}); install Blender to read the scene's settings`));
        return;
      }
      const line = stdout.split("\n").find((l) => l.startsWith(MARKER));
      const said = `${stdout}\n${stderr}`.split("\n").find((l) => /^Error: /.test(l.trim()))?.trim();
      if (error || line === undefined) {
        reject(new FatalError("BLENDER_SCENE_UNREADABLE", `Blender could not read ${blendFile}${said ? `: ${said}` : ""}`));
        return;
      }
      const raw = JSON.parse(line.slice(MARKER.length)) as Omit<BlenderSceneSettings, "frames"> & { frameStart: number; frameEnd: number; file: string };
      if (raw.file === "") {
        reject(new FatalError("BLENDER_SCENE_UNREADABLE", `Blender could not read ${blendFile}${said ? `: ${said}` : ""}`));
        return;
      }
      resolve({
        scene: raw.scene,
        scenes: raw.scenes,
        engine: raw.engine,
        width: raw.width,
        height: raw.height,
        resolutionPercentage: raw.resolutionPercentage,
        frames: { start: raw.frameStart, end: raw.frameEnd },
        frameStep: raw.frameStep,
        camera: raw.camera,
        cameras: raw.cameras,
        samples: raw.samples,
        adaptiveSampling: raw.adaptiveSampling,
        denoise: raw.denoise,
        useBorder: raw.useBorder,
        externalFiles: raw.externalFiles,
      });
    });
  });
}
