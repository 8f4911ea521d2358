/**
 * Where commands write: `print` for the report a person (or a script) reads — stdout — and
 * `progress` for live status lines — stderr, so `tessellate job status 3 > status.txt` keeps the
 * report clean. Programmatic callers pass {@link silentOutput} or collect the lines.
 */
import { silentStream, type ProgressStream } from "./progress.ts";

export interface Output {
  print(line: string): void;
  progress: ProgressStream;
}

/** Writes nothing. */
export const silentOutput: Output = { print: () => undefined, progress: silentStream };

/** stdout for the report, stderr for progress. */
export function consoleOutput(): Output {
  return {
    print: (line) => process.stdout.write(`${line}\n`),
    progress: process.stderr,
  };
}

/** Collects printed lines (tests, programmatic callers that want the text). */
export function collectingOutput(): Output & { lines: string[]; progressText: () => string } {
  const lines: string[] = [];
  let progress = "";
  return {
    lines,
    print: (line) => void lines.push(line),
    progress: { write: (t: string) => ((progress += t), true), isTTY: false },
    progressText: () => progress,
  };
}

/** Sleeps `ms`, rejecting early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
