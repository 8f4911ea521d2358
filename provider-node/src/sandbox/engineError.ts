import { FatalError } from "@tessellate/sdk/errors";

/**
 * Stable codes of an engine run that did not produce an image.
 * - `RENDER_TIMEOUT`: the wall-clock limit ran out and the process group was killed.
 * - `ENGINE_CRASHED`: the engine was ended by a signal (segfault, abort, out of memory).
 * - `ENGINE_FAILED`: the engine exited with a non-zero status, or exited cleanly without
 *   writing the image it was asked for (typically a scene it cannot parse).
 */
export type EngineErrorCode = "RENDER_TIMEOUT" | "ENGINE_CRASHED" | "ENGINE_FAILED";

/**
 * A render that did not produce an image. Fatal: rendering the same scene with the same limits
 * again gives the same outcome, so the worker abandons the segment rather than retrying it.
 * `lastLines` holds the engine's last lines of output; `diagnostics` the error lines it printed
 * anywhere in its output (engines/engineDiagnostics.ts), whose summary the message names.
 */
export class EngineError extends FatalError {
  declare readonly code: EngineErrorCode;
  /** Exit status, or null when the process was ended by a signal. */
  readonly exitCode: number | null;
  /** Name of the signal that ended the process (`SIGSEGV`, `SIGKILL`), or null. */
  readonly signal: string | null;
  /** The last lines the engine printed (stdout and stderr interleaved), at most ~20. */
  readonly lastLines: string[];
  /** The engine's error lines from all of its output (continuations joined), possibly empty. */
  readonly diagnostics: string[];

  constructor(
    code: EngineErrorCode,
    message: string,
    details: { exitCode: number | null; signal: string | null; lastLines: string[]; diagnostics?: string[]; cause?: unknown },
  ) {
    super(code, message, { cause: details.cause });
    this.exitCode = details.exitCode;
    this.signal = details.signal;
    this.lastLines = details.lastLines;
    this.diagnostics = details.diagnostics ?? [];
  }
}
