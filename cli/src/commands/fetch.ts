/**
 * `tessellate job fetch <jobId> --out <dir>`: reads the job's `SegmentAccepted` events, fetches
 * every accepted tile from IPFS, checks it against the accepted pixel digest and stitches the
 * frames into `<dir>/frame-NNNNNN.png`. Frames whose segments are not all accepted are not
 * written, and every missing or corrupt segment is named.
 */
import { resolve } from "node:path";
import { FatalError } from "@tessellate/sdk/errors";
import { fetchManifest, type Manifest } from "@tessellate/sdk/manifest";
import type { MarketClient } from "@tessellate/sdk/market";
import { segmentCount } from "@tessellate/sdk/segmentPlan";
import type { Storage } from "@tessellate/sdk/storage";
import { createFold, JobStatus, SegmentStatusNames, segmentOf, type JobRecord } from "@tessellate/sdk/protocol";
import { findJobCreation, readJobEvents } from "../chainReads.ts";
import { describeFrames, plural } from "../format.ts";
import { silentOutput, type Output } from "../output.ts";
import { createLiveLine, formatTaskProgress } from "../progress.ts";
import { compositeAvailable, type CompositeReport } from "../results.ts";
import { jobOutcomeOf, type JobOutcome } from "./wait.ts";

/** Fetches and validates a job's manifest. */
export async function loadManifest(storage: Pick<Storage, "cat">, manifestCid: string, expectedSegments?: number): Promise<Manifest> {
  const manifest = await fetchManifest(storage, manifestCid);
  if (expectedSegments !== undefined && segmentCount(manifest) !== expectedSegments) {
    throw new FatalError(
      "CLI_MANIFEST_MISMATCH",
      `the manifest ${manifestCid} plans ${segmentCount(manifest)} segments, but the job was posted with ${expectedSegments} — the job is malformed; its results cannot be composited`,
    );
  }
  return manifest;
}

/** Why a segment has no accepted result, in words. */
export function missingReason(job: JobRecord, index: number): string {
  const seg = segmentOf(job, index);
  if (seg.status === 0) {
    if (seg.slots === 0) return job.status === JobStatus.Cancelled ? "refunded (cancelled before anyone claimed it)" : "not claimed yet";
    return "still open";
  }
  return SegmentStatusNames[seg.status].toLowerCase();
}

/** Prints a composite report: frames written, missing segments, failed groups. */
export function printCompositeReport(out: Output, report: CompositeReport, outDir: string): void {
  out.print(`${report.frames.length} of ${plural(report.totalFrames, "frame")} written to ${outDir}`);
  for (const m of report.missing) {
    out.print(`  missing segment ${m.segment} (${describeFrames(m.frames)}, tile ${m.tile.width}×${m.tile.height} at ${m.tile.x},${m.tile.y}): ${m.reason}`);
  }
  for (const f of report.failed) {
    out.print(`  ${f.message}`);
    for (const bad of f.badSegments) out.print(`    segment ${bad.segment}: ${bad.problem}`);
  }
  for (const f of report.fallbacks) {
    const refused = f.refused.map((c) => `${c.replica === undefined ? "the accepted result" : `replica ${c.replica}`}: ${c.problem}`).join("; ");
    out.print(`  segment ${f.segment}: composited from ${f.replica === undefined ? "another agreeing replica" : `agreeing replica ${f.replica}`}'s result — ${refused}`);
  }
}

export interface FetchJobOptions {
  jobId: bigint;
  outDir: string;
  /** First block to search for the job (default 0). */
  fromBlock?: bigint;
  signal?: AbortSignal;
}

export interface FetchJobResult {
  jobId: bigint;
  manifest: Manifest;
  outDir: string;
  report: CompositeReport;
  outcome: JobOutcome;
}

/** Composites a job's accepted segments into `outDir`. */
export async function fetchJob(options: FetchJobOptions, deps: { market: MarketClient; storage: Storage; output?: Output }): Promise<FetchJobResult> {
  const { market, storage } = deps;
  const out = deps.output ?? silentOutput;
  const created = await findJobCreation(market, options.jobId, { fromBlock: options.fromBlock });
  const latest = await market.blockNumber();
  const rebuilder = createFold();
  rebuilder.apply(await readJobEvents(market, options.jobId, created.blockNumber, latest));
  const job = rebuilder.state.jobs.get(options.jobId)!;
  const outcome = jobOutcomeOf(job, 0, latest);
  return compositeJob({ job, outcome, outDir: options.outDir, signal: options.signal }, { storage, output: out });
}

/** Composites the accepted segments of a rebuilt job (shared by `job fetch` and `job submit`). */
export async function compositeJob(
  options: { job: JobRecord; outcome: JobOutcome; outDir: string; signal?: AbortSignal },
  deps: { storage: Storage; output?: Output },
): Promise<FetchJobResult> {
  const { job, outcome } = options;
  const out = deps.output ?? silentOutput;
  const outDir = resolve(options.outDir);
  const manifest = await loadManifest(deps.storage, job.params.manifestCid, job.params.segmentCount);
  const live = createLiveLine(out.progress);
  const report = await compositeAvailable({
    manifest,
    storage: deps.storage,
    accepted: outcome.accepted,
    outDir,
    signal: options.signal,
    reasonOf: (i) => missingReason(job, i),
    onProgress: (done, total) => live.set(formatTaskProgress("compositing tiles", done, total, "items", { ascii: !out.progress.isTTY })),
  });
  live.done();
  printCompositeReport(out, report, outDir);
  return { jobId: job.jobId, manifest, outDir, report, outcome };
}
