/**
 * The engine's own error lines, kept from everything it prints, so that a failed render says
 * why (`Parse Error: Cannot open include file drums.inc.`) and not only the engine's last line
 * (`Render failed`). Each adapter passes a fresh collector to the sandbox for every run; the
 * sandbox feeds it every line, and an `EngineError` carries its summary in its message and its
 * lines in `diagnostics`.
 *
 * - POV-Ray wraps its messages at 80 columns: at a space, which then starts the next line, or
 *   inside a word too long for the line (a long path), leaving an 80-column line. Those lines
 *   are joined first. `Parse Error:` lines are the cause, `Possible Parse Error:`
 *   lines (a file not found, an allocation that failed) come next, `Fatal error in parser:` last.
 *   The scene folder's path is left out of `File '…' line N:` prefixes.
 * - Blender: our render script's `tessellate: …` refusals and Blender's `Error: …` lines, then
 *   Python exceptions (`KeyError: …`).
 */

/** What the sandbox needs of a collector. */
export interface EngineDiagnostics {
  /** Every line the engine prints, in order. */
  push(line: string): void;
  /** The error lines kept (continuations joined, at most {@link MAX_DIAGNOSTIC_LINES}), in order. */
  lines(): string[];
  /** The cause in one line (the most specific error lines, `; `-joined), or undefined when none was printed. */
  summary(): string | undefined;
}

/** Error lines kept per run. */
export const MAX_DIAGNOSTIC_LINES = 20;
/** Lines of the highest rank that make up a summary. */
const SUMMARY_LINES = 2;

interface Rules {
  /** Whether `line` continues the message of the line printed before it (wrapped output). */
  isContinuation(previous: string, line: string): boolean;
  /** 0 for an ordinary line; higher for more specific error lines. */
  rank(line: string): number;
  /** Shortens a kept line (e.g. drops a path every line would repeat). */
  rewrite(line: string): string;
}

class Collector implements EngineDiagnostics {
  private readonly kept: Array<{ line: string; rank: number }> = [];
  private pending: string | undefined;
  private previous = "";
  private readonly rules: Rules;

  constructor(rules: Rules) {
    this.rules = rules;
  }

  push(line: string): void {
    const continues = this.pending !== undefined && this.rules.isContinuation(this.previous, line);
    this.previous = line;
    if (continues) {
      this.pending += line;
      return;
    }
    this.flush();
    this.pending = line;
  }

  lines(): string[] {
    return this.all().map((entry) => entry.line);
  }

  summary(): string | undefined {
    const all = this.all();
    const top = Math.max(0, ...all.map((entry) => entry.rank));
    if (top === 0) return undefined;
    return all
      .filter((entry) => entry.rank === top)
      .slice(0, SUMMARY_LINES)
      .map((entry) => entry.line)
      .join("; ");
  }

  private all(): Array<{ line: string; rank: number }> {
    const pending = this.pending === undefined ? undefined : this.entryOf(this.pending);
    return pending === undefined || this.kept.length >= MAX_DIAGNOSTIC_LINES ? [...this.kept] : [...this.kept, pending];
  }

  private flush(): void {
    if (this.pending === undefined) return;
    const entry = this.entryOf(this.pending);
    this.pending = undefined;
    if (entry !== undefined && this.kept.length < MAX_DIAGNOSTIC_LINES) this.kept.push(entry);
  }

  private entryOf(line: string): { line: string; rank: number } | undefined {
    const rank = this.rules.rank(line);
    return rank === 0 ? undefined : { line: this.rules.rewrite(line.trim()), rank };
  }
}

/** POV-Ray's console width: a line this long continues on the next one. */
const POVRAY_WRAP_COLUMNS = 80;

/** A collector for one POV-Ray run of a scene in `sceneDir`. */
export function povrayDiagnostics(sceneDir: string): EngineDiagnostics {
  const prefix = sceneDir.endsWith("/") ? sceneDir : `${sceneDir}/`;
  return new Collector({
    isContinuation: (previous, line) => /^ \S/.test(line) || (previous.length >= POVRAY_WRAP_COLUMNS && line !== ""),
    rank(line) {
      if (/(?<!Possible )Parse Error:/.test(line)) return 3;
      if (/Possible Parse Error:/.test(line)) return 2;
      if (/^Fatal error/.test(line)) return 1;
      return 0;
    },
    rewrite: (line) => line.split(`'${prefix}`).join("'"),
  });
}

/** A collector for one Blender run. */
export function blenderDiagnostics(): EngineDiagnostics {
  return new Collector({
    isContinuation: () => false,
    rank(line) {
      if (/Not freed memory blocks/.test(line)) return 0;
      if (/^tessellate: /.test(line) || /^Error: /.test(line)) return 3;
      if (/^[A-Za-z_][\w.]*(Error|Exception): /.test(line)) return 2;
      return 0;
    },
    rewrite: (line) => line,
  });
}
