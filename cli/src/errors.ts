/**
 * Errors of the CLI and the exit codes they map to. A person's mistake on the command line is a
 * {@link UsageError} (exit 2) that names the flag, what was wrong and what to do; anything else
 * that stops a command is exit 1, as is an audit that found a discrepancy.
 */
import { FatalError, TessellateError } from "@tessellate/sdk/errors";

/** Exit codes of `tessellate`. */
export const EXIT_CODES = {
  ok: 0,
  /** The command failed, a segment failed or could not be fetched, or the audit found a discrepancy. */
  failure: 1,
  /** The input was wrong (a flag, an argument, the configuration): fix it and run again. */
  usage: 2,
} as const;

/** Codes of errors that mean "the input was wrong" even though another module raised them. */
const USAGE_CODES = new Set(["CLI_USAGE", "CONFIG_INVALID", "MANIFEST_INVALID"]);

/** Wrong input on the command line or in the configuration: names the flag and the fix. */
export class UsageError extends FatalError {
  /** The flag or argument at fault, e.g. `--size`. */
  readonly flag: string;
  constructor(flag: string, problem: string, fix: string, options?: { cause?: unknown }) {
    super("CLI_USAGE", `${flag}: ${problem} — ${fix}`, options);
    this.flag = flag;
  }
}

/** Several usage problems reported at once (one per line). */
export class UsageErrors extends FatalError {
  readonly problems: UsageError[];
  constructor(problems: UsageError[]) {
    super("CLI_USAGE", problems.map((p) => p.message).join("\n"));
    this.problems = problems;
  }
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof TessellateError && USAGE_CODES.has(error.code)) return EXIT_CODES.usage;
  return EXIT_CODES.failure;
}
