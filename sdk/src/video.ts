/**
 * Optional video assembly of composited frames with `ffmpeg`, when it is installed. ffmpeg is not
 * a dependency: without it {@link assembleVideo} returns `{ ok: false, reason: "ffmpeg-missing" }`
 * and the frames remain the result.
 */
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { FatalError } from "./errors.ts";

/** Arguments of {@link assembleVideo}. */
export interface AssembleVideoOptions {
  /** Folder holding `frame-NNNNNN.png` files with consecutive frame numbers (as written by compositeFrames). */
  framesDir: string;
  /** Frames per second, > 0 and ≤ 1000. */
  fps: number;
  /** Video file to write (overwritten). `.webm` gives VP9, anything else H.264 (`.mp4`, `.mkv`, `.mov`). */
  outPath: string;
  /** ffmpeg binary (default `ffmpeg` on PATH). */
  ffmpegPath?: string;
  /** H.264 CRF / VP9 CRF quality, lower is better (default 18 for H.264, 31 for VP9). */
  crf?: number;
  signal?: AbortSignal;
}

/** Outcome of {@link assembleVideo}. */
export type AssembleVideoResult =
  | { ok: true; outPath: string; frameCount: number; firstFrame: number; ffmpegVersion: string }
  | { ok: false; reason: "ffmpeg-missing"; message: string };

const FRAME_FILE = /^frame-(\d{6,})\.png$/;

/**
 * Encodes the frames in `framesDir` into a video with ffmpeg. Transparency is dropped (composited
 * over black by the encoder's pixel format), odd sizes are padded to even.
 * @returns `{ ok: false, reason: "ffmpeg-missing" }` when ffmpeg cannot be run — install it
 *   (`apt-get install ffmpeg`) or set `ffmpegPath`.
 * @throws FatalError `VIDEO_NO_FRAMES` / `VIDEO_FRAME_GAP` / `VIDEO_FPS_INVALID` for bad input,
 *   `VIDEO_FFMPEG_FAILED` with ffmpeg's last output lines when encoding fails.
 */
export async function assembleVideo(options: AssembleVideoOptions): Promise<AssembleVideoResult> {
  const { framesDir, fps, outPath } = options;
  if (!Number.isFinite(fps) || fps <= 0 || fps > 1000) {
    throw new FatalError("VIDEO_FPS_INVALID", `fps ${fps} is not a frame rate — use a number above 0 and at most 1000, e.g. 24`);
  }
  const frames = await listFrames(framesDir);
  const ffmpeg = options.ffmpegPath ?? "ffmpeg";
  const version = await detectFfmpeg(ffmpeg);
  if (version === undefined) {
    return {
      ok: false,
      reason: "ffmpeg-missing",
      message: `"${ffmpeg}" could not be run, so no video was made; the frames in ${framesDir} are the result — install ffmpeg (e.g. apt-get install ffmpeg) or pass ffmpegPath`,
    };
  }
  const webm = outPath.toLowerCase().endsWith(".webm");
  const codec = webm ? ["-c:v", "libvpx-vp9", "-b:v", "0", "-crf", String(options.crf ?? 31)] : ["-c:v", "libx264", "-crf", String(options.crf ?? 18)];
  const args = [
    "-hide_banner", "-loglevel", "error", "-y",
    "-framerate", String(fps),
    "-start_number", String(frames.first),
    "-i", join(framesDir, "frame-%06d.png"),
    "-frames:v", String(frames.count),
    "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",
    ...codec,
    "-pix_fmt", "yuv420p",
    outPath,
  ];
  const run = await runProcess(ffmpeg, args, options.signal);
  if (run.code !== 0) {
    throw new FatalError("VIDEO_FFMPEG_FAILED", `ffmpeg exited with ${run.code}: ${tail(run.output)} — check the frames and the output path ${outPath}`);
  }
  return { ok: true, outPath, frameCount: frames.count, firstFrame: frames.first, ffmpegVersion: version };
}

/**
 * The first line of `ffmpeg -version` (e.g. `ffmpeg version 7.1.1 …`), or undefined when the
 * binary cannot be run.
 */
export async function detectFfmpeg(ffmpegPath = "ffmpeg"): Promise<string | undefined> {
  try {
    const run = await runProcess(ffmpegPath, ["-version"]);
    if (run.code !== 0) return undefined;
    return run.output.split("\n")[0]?.trim() || "ffmpeg (unknown version)";
  } catch {
    return undefined;
  }
}

/**
 * Finds the `frame-NNNNNN.png` files of a folder and checks they are consecutive.
 * @throws FatalError `VIDEO_NO_FRAMES` or `VIDEO_FRAME_GAP`.
 */
export async function listFrames(framesDir: string): Promise<{ first: number; count: number }> {
  let names: string[];
  try {
    names = await readdir(framesDir);
  } catch (error) {
    throw new FatalError("VIDEO_NO_FRAMES", `cannot read ${framesDir} (${(error as Error).message}) — pass the folder compositeFrames wrote`, { cause: error });
  }
  const numbers = names.flatMap((name) => {
    const match = FRAME_FILE.exec(name);
    return match ? [Number(match[1])] : [];
  });
  numbers.sort((a, b) => a - b);
  if (numbers.length === 0) {
    throw new FatalError("VIDEO_NO_FRAMES", `${framesDir} holds no frame-NNNNNN.png files — composite the frames first`);
  }
  for (let i = 1; i < numbers.length; i++) {
    if (numbers[i] !== numbers[i - 1] + 1) {
      throw new FatalError("VIDEO_FRAME_GAP", `${framesDir} has frame ${numbers[i - 1]} then ${numbers[i]}: frames must be consecutive — composite the missing frames first`);
    }
  }
  return { first: numbers[0], count: numbers.length };
}

function runProcess(command: string, args: string[], signal?: AbortSignal): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], signal });
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.length > 64_000) output = output.slice(-32_000);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

function tail(output: string): string {
  const lines = output.trim().split("\n");
  return lines.slice(-8).join("\n") || "(no output)";
}
