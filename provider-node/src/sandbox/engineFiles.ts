/**
 * Small helpers every engine adapter needs around a sandboxed run: where the scene's entry file
 * is, which image the engine wrote, and what the engine says its version is.
 */
import { execFile } from "node:child_process";
import { readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative, resolve } from "node:path";
import { FatalError } from "@tessellate/sdk/errors";
import type { RenderRequest } from "../engines/engine.ts";
import type { EngineDiagnostics } from "../engines/engineDiagnostics.ts";
import { EngineError } from "./engineError.ts";
import type { SandboxOptions, SandboxRequest } from "./sandbox.ts";

/** The entry file's absolute path; it must lie inside the scene folder. */
export function resolveSceneEntry(sceneDir: string, entry: string): string {
  const path = resolve(sceneDir, entry);
  const rel = relative(resolve(sceneDir), path);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new FatalError("RENDER_REQUEST_INVALID", `the entry file ${entry} is not inside the scene folder`);
  }
  return path;
}

/**
 * The one PNG whose name starts with `prefix` that the engine wrote into `workDir` (engines add
 * frame numbers to the name). An engine that exited cleanly without writing it failed; the
 * error names the engine's error lines when it printed any.
 */
export async function findEngineOutput(
  workDir: string,
  prefix: string,
  engine: string,
  lastLines: string[] = [],
  diagnostics?: EngineDiagnostics,
): Promise<string> {
  const written = (await readdir(workDir)).filter((name) => name.startsWith(prefix) && name.endsWith(".png"));
  if (written.length !== 1) {
    const cause = diagnostics?.summary();
    throw new EngineError(
      "ENGINE_FAILED",
      `${engine} exited without writing the image${written.length > 1 ? ` (it wrote ${written.length})` : ""}; ${cause ?? "the scene may be unreadable"}`,
      { exitCode: 0, signal: null, lastLines, diagnostics: diagnostics?.lines() ?? [] },
    );
  }
  return join(workDir, written[0]!);
}

/**
 * The PNGs an engine wrote for frames `first`–`last` into `workDir`, named `<prefix><frame
 * number, zero-padded>.png`, by frame. Every frame must be there exactly once.
 */
export async function findEngineOutputs(
  workDir: string,
  prefix: string,
  engine: string,
  frames: { first: number; last: number },
  lastLines: string[] = [],
  diagnostics?: EngineDiagnostics,
): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  for (const name of await readdir(workDir)) {
    if (!name.startsWith(prefix) || !name.endsWith(".png")) continue;
    const digits = name.slice(prefix.length, -".png".length);
    if (/^\d+$/.test(digits)) found.set(Number(digits), join(workDir, name));
  }
  const missing = [];
  for (let frame = frames.first; frame <= frames.last; frame++) if (!found.has(frame)) missing.push(frame);
  if (missing.length > 0) {
    const cause = diagnostics?.summary();
    throw new EngineError(
      "ENGINE_FAILED",
      `${engine} exited without writing frame${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; ${cause ?? "the scene may be unreadable"}`,
      { exitCode: 0, signal: null, lastLines, diagnostics: diagnostics?.lines() ?? [] },
    );
  }
  return found;
}

/**
 * Everything `binary args…` prints (stdout, then stderr), or null when it cannot be started.
 * Used for `--version`, outside the sandbox: no scene is involved.
 */
export function commandOutput(binary: string, args: string[], timeoutMs = 20_000): Promise<string | null> {
  return new Promise((done) => {
    execFile(
      binary,
      args,
      { env: { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: tmpdir(), LANG: "C.UTF-8" }, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const notStarted = error !== null && typeof (error as NodeJS.ErrnoException).code === "string";
        done(notStarted ? null : `${stdout}\n${stderr}`);
      },
    );
  });
}

/**
 * The part of a sandbox request every engine derives the same way from its render request: the
 * scene folder read-only, the provider's limits, cancellation, the node's isolation setting.
 * Engines add command, args and work dir.
 */
export function sandboxLimitsOf(
  request: RenderRequest,
  logger?: SandboxRequest["logger"],
  sandbox: SandboxOptions = {},
): Pick<SandboxRequest, "readOnlyDirs" | "threads" | "memoryBytes" | "timeoutMs" | "signal" | "logger" | "isolation" | "bwrap" | "onUsage"> {
  return {
    isolation: sandbox.isolation,
    bwrap: sandbox.bwrap,
    onUsage: sandbox.onUsage,
    readOnlyDirs: [request.sceneDir],
    threads: request.limits.threads,
    memoryBytes: request.limits.memoryBytes,
    timeoutMs: request.limits.timeoutMs,
    signal: request.signal,
    logger,
  };
}

/** Reports `done` of `total` (as parsed from an engine's output) as a fraction in [0, 1]. */
export function reportProgress(request: RenderRequest, done: string | number, total: string | number): void {
  request.onProgress?.(Math.min(1, Number(done) / Math.max(1, Number(total))));
}
