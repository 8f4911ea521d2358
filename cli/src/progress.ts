/**
 * Live progress. On a terminal one status line is redrawn in place (a bar with counts); when
 * the output is a file or a pipe, plain lines are printed — only when something changed, and at
 * most once per interval — so logs stay readable. Formatting is pure and tested on its own.
 */
import { formatElapsed } from "./format.ts";
import { isSegmentDone, ReplicaState, SegmentStatus, segmentOf, type JobRecord } from "@tessellate/sdk/protocol";

/** Where progress is written: `process.stderr` or a test double. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Counts that describe a job's progress at one moment. */
export interface JobProgress {
  jobId: bigint;
  segments: number;
  /** Replica slots: segments × redundancy, plus tie-breaker and audit slots opened. */
  replicas: number;
  /** Replica slots currently held or finished at each step (a reopened slot counts again only when re-claimed). */
  claimed: number;
  committed: number;
  revealed: number;
  accepted: number;
  failed: number;
  closed: number;
  /** Segments refunded by a cancellation without ever being claimed. */
  refunded: number;
  tieBreakers: number;
  /** Audited jobs: segments at their quorum waiting for the audit draw (Verifying), nobody paid yet. */
  verifying?: number;
  /** Audited jobs: segments whose audit is running (Auditing, or Disputed). */
  auditing?: number;
  /** Audited jobs: segments drawn for an audit so far (their audit slot opened). */
  audited?: number;
  /** Segments that will not change any more. */
  done: number;
  elapsedMs: number;
}

/** Counts of a job as rebuilt from its events. */
export function jobProgressOf(job: JobRecord, elapsedMs = 0): JobProgress {
  const p: JobProgress = {
    jobId: job.jobId,
    segments: job.params.segmentCount,
    replicas: job.params.segmentCount * job.params.redundancy,
    claimed: 0,
    committed: 0,
    revealed: 0,
    accepted: 0,
    failed: 0,
    closed: 0,
    refunded: 0,
    tieBreakers: 0,
    done: 0,
    elapsedMs,
  };
  const audits = job.params.auditBps > 0;
  if (audits) Object.assign(p, { verifying: 0, auditing: 0, audited: 0 });
  for (const seg of job.segments.values()) {
    if (seg.status === SegmentStatus.Accepted) p.accepted++;
    else if (seg.status === SegmentStatus.Failed) p.failed++;
    else if (seg.status === SegmentStatus.Closed) p.closed++;
    p.tieBreakers += seg.tieBreakers;
    p.replicas += seg.tieBreakers;
    if (audits) {
      // Slots beyond the replicas and tie-breakers are the audit's (one, plus two on a dispute).
      const auditSlots = Math.max(0, seg.slots - job.params.redundancy - seg.tieBreakers);
      p.replicas += auditSlots;
      if (auditSlots > 0) p.audited!++;
      if (seg.status === SegmentStatus.Verifying) p.verifying!++;
      if (seg.status === SegmentStatus.Auditing || seg.status === SegmentStatus.Disputed) p.auditing!++;
    }
    for (const rep of seg.replicas) {
      if (rep.state === ReplicaState.Empty) continue;
      if (rep.stage >= 1) p.claimed++;
      if (rep.stage >= 2) p.committed++;
      if (rep.stage >= 3) p.revealed++;
    }
  }
  for (let i = 0; i < job.params.segmentCount; i++) {
    const seg = segmentOf(job, i);
    if (isSegmentDone(job, seg)) p.done++;
    if (seg.status === SegmentStatus.Open && seg.slots === 0 && isSegmentDone(job, seg)) p.refunded++;
  }
  return p;
}

/** `[██████░░░░]` (`[######....]` with `ascii`). */
export function renderBar(done: number, total: number, width: number, ascii = false): string {
  const ratio = total <= 0 ? 1 : Math.min(1, Math.max(0, done / total));
  const filled = Math.round(ratio * width);
  const [full, empty] = ascii ? ["#", "."] : ["█", "░"];
  return `[${full.repeat(filled)}${empty.repeat(width - filled)}]`;
}

/** One line: bar of settled segments, then the replica steps, failures and tie-breakers. */
export function formatJobProgress(p: JobProgress, options: { barWidth?: number; ascii?: boolean } = {}): string {
  const bar = options.barWidth === 0 ? "" : `${renderBar(p.done, p.segments, options.barWidth ?? 20, options.ascii)} `;
  const parts = [
    `job ${p.jobId} ${bar}${p.accepted}/${p.segments} accepted`,
    `replicas claimed ${p.claimed}/${p.replicas} committed ${p.committed}/${p.replicas} revealed ${p.revealed}/${p.replicas}`,
  ];
  if (p.failed > 0) parts.push(`${p.failed} failed`);
  if (p.closed > 0) parts.push(`${p.closed} closed`);
  if (p.refunded > 0) parts.push(`${p.refunded} refunded`);
  if (p.tieBreakers > 0) parts.push(`${p.tieBreakers} tie-breaker${p.tieBreakers === 1 ? "" : "s"}`);
  if (p.verifying) parts.push(`${p.verifying} awaiting the audit draw`);
  if (p.auditing) parts.push(`${p.auditing} in audit`);
  if (p.audited !== undefined) parts.push(`${p.audited} audited`);
  parts.push(formatElapsed(p.elapsedMs));
  return parts.join(" · ");
}

/** A generic task line: `uploading scene [████░░░░] 3.2 MB / 8.0 MB`. */
export function formatTaskProgress(label: string, done: number, total: number | undefined, unit: "bytes" | "items", options: { barWidth?: number; ascii?: boolean } = {}): string {
  const show = (n: number) => (unit === "bytes" ? formatBytes(n) : String(n));
  if (total === undefined || total <= 0) return `${label} ${show(done)}`;
  return `${label} ${renderBar(done, total, options.barWidth ?? 20, options.ascii)} ${show(done)} / ${show(total)}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/** A live status line over a stream. */
export interface LiveLine {
  /** Sets the current status; drawn now on a TTY, printed when due otherwise (`force` prints now). */
  set(line: string, options?: { force?: boolean }): void;
  /** Prints a message above the status line. */
  log(message: string): void;
  /** Ends the live line, printing `finalLine` (or the last status) once. */
  done(finalLine?: string): void;
}

/**
 * A live line on `stream`. On a TTY the line is redrawn in place (truncated to the terminal
 * width); otherwise a changed status is printed as its own line at most once per `intervalMs`.
 */
export function createLiveLine(stream: ProgressStream, options: { intervalMs?: number; now?: () => number } = {}): LiveLine {
  const tty = stream.isTTY === true;
  const intervalMs = options.intervalMs ?? (tty ? 0 : 10_000);
  const now = options.now ?? Date.now;
  let current = "";
  let printed = "";
  let lastPrintAt = -Infinity;
  let drawn = false;
  let finished = false;

  const fit = (line: string) => {
    const width = stream.columns && stream.columns > 10 ? stream.columns - 1 : undefined;
    return width && line.length > width ? `${line.slice(0, width - 1)}…` : line;
  };
  const draw = () => {
    stream.write(`\r\x1b[2K${fit(current)}`);
    drawn = true;
  };
  const clear = () => {
    if (drawn) stream.write("\r\x1b[2K");
    drawn = false;
  };
  const printPlain = (line: string) => {
    stream.write(`${line}\n`);
    printed = line;
    lastPrintAt = now();
  };

  return {
    set(line, opts = {}) {
      if (finished) return;
      current = line;
      if (tty) {
        draw();
        return;
      }
      if (line === printed) return;
      if (opts.force || now() - lastPrintAt >= intervalMs) printPlain(line);
    },
    log(message) {
      if (tty) {
        clear();
        stream.write(`${message}\n`);
        if (current && !finished) draw();
      } else {
        stream.write(`${message}\n`);
      }
    },
    done(finalLine) {
      if (finished) return;
      finished = true;
      const line = finalLine ?? current;
      if (tty) {
        clear();
        if (line) stream.write(`${line}\n`);
      } else if (line && line !== printed) {
        printPlain(line);
      }
    },
  };
}

/** A stream that drops everything (for programmatic use without output). */
export const silentStream: ProgressStream = { write: () => true, isTTY: false };
