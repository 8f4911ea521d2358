/**
 * `tessellate job status <jobId>`: the job's parameters, escrow left, progress counts and a
 * per-segment table (status from `segmentOf`, replica holders and accepted results from the
 * events), so a requester sees who holds what and what is still missing.
 */
import type { Manifest } from "@tessellate/sdk/manifest";
import type { MarketClient } from "@tessellate/sdk/market";
import { segmentAt } from "@tessellate/sdk/segmentPlan";
import type { Storage } from "@tessellate/sdk/storage";
import {
  AbandonReasonNames,
  createFold,
  isRefundedByCancellation,
  JobStatusNames,
  ReplicaState,
  ReplicaStateNames,
  SegmentStatus,
  SegmentStatusNames,
  segmentOf,
  unitPrice,
  Verification,
  type JobRecord,
} from "@tessellate/sdk/protocol";
import type { JobView, SegmentView } from "../audit/compare.ts";
import { findJobCreation, mapLimit, readJobEvents } from "../chainReads.ts";
import { describeFrames, describeVerification, formatDuration, formatTable, formatTimestamp, formatTokens, plural, shortAddress, shortHex } from "../format.ts";
import { jobProgressOf, type JobProgress } from "../progress.ts";
import { loadManifest } from "./fetch.ts";
import { jobMoneyOf, type JobMoney } from "./wait.ts";

export interface ReplicaRow {
  replica: number;
  provider: string;
  state: string;
  verdict?: string;
}

export interface SegmentRow {
  segment: number;
  /**
   * From `segmentOf`, except `Refunded` for a segment of a cancelled job that nobody had claimed
   * (the contract leaves it `Open`, but its escrow went back to the requester and nothing more
   * will happen to it).
   */
  status: string;
  /** From the events, when it differs from the contract's. */
  statusFromEvents?: string;
  frames?: number[];
  tile?: { x: number; y: number; width: number; height: number };
  slots: number;
  tieBreakers: number;
  revealDeadline: bigint;
  replicas: ReplicaRow[];
  accepted?: { digest: string; resultCid: string };
  /** Slots given back, oldest first: who, why (AbandonReason name) and the provider's words. */
  givenBack: { provider: string; reason: string; detail: string }[];
}

export interface JobStatusReport {
  jobId: bigint;
  job: JobRecord;
  view: JobView;
  manifest?: Manifest;
  manifestProblem?: string;
  progress: JobProgress;
  money: JobMoney;
  segments: SegmentRow[];
  /** Segments not shown (beyond `limit`). */
  hiddenSegments: number;
  chainTime: bigint;
  /** Escrow per the events vs per `jobOf`, when they differ (run `tessellate audit`). */
  escrowMismatch?: { events: bigint; contract: bigint };
}

/** Reads a job's state. `storage` (optional) adds frames and tiles from the manifest. */
export async function jobStatus(
  options: { jobId: bigint; fromBlock?: bigint; limit?: number },
  deps: { market: MarketClient; storage?: Pick<Storage, "cat"> },
): Promise<JobStatusReport> {
  const { market } = deps;
  const limit = options.limit ?? 200;
  const created = await findJobCreation(market, options.jobId, { fromBlock: options.fromBlock });
  const latest = await market.blockNumber();
  const rebuilder = createFold();
  rebuilder.apply(await readJobEvents(market, options.jobId, created.blockNumber, latest));
  const job = rebuilder.state.jobs.get(options.jobId)!;
  const [view, chainTime] = await Promise.all([market.jobOf(options.jobId) as Promise<JobView>, market.latestTimestamp()]);

  let manifest: Manifest | undefined;
  let manifestProblem: string | undefined;
  if (deps.storage) {
    try {
      manifest = await loadManifest(deps.storage, job.params.manifestCid, job.params.segmentCount);
    } catch (error) {
      manifestProblem = (error as Error).message;
    }
  }

  const shown = Math.min(limit, job.params.segmentCount);
  const indices = Array.from({ length: shown }, (_, i) => i);
  const views = await mapLimit(indices, 8, (i) => market.segmentOf(options.jobId, i) as Promise<SegmentView>);
  const segments: SegmentRow[] = indices.map((i) => {
    const seg = segmentOf(job, i);
    const segView = views[i];
    const plan = manifest ? segmentAt(manifest, i) : undefined;
    // Only the events tell untouched from emptied (segmentOf reports an untouched segment's slots
    // as the redundancy), so this reads the fold's record.
    const refunded = segView.status === seg.status && isRefundedByCancellation(job, seg);
    const row: SegmentRow = {
      segment: i,
      status: refunded ? "Refunded" : (SegmentStatusNames[segView.status] ?? String(segView.status)),
      frames: plan?.frames,
      tile: plan?.tile,
      slots: segView.slots,
      tieBreakers: segView.tieBreakers,
      revealDeadline: segView.revealDeadline,
      replicas: seg.replicas.flatMap((r, k) =>
        r.state === ReplicaState.Empty ? [] : [{ replica: k, provider: r.provider, state: ReplicaStateNames[r.state], verdict: r.verdict }],
      ),
      accepted: seg.accepted ? { digest: seg.accepted.digest, resultCid: seg.accepted.resultCid } : undefined,
      givenBack: seg.givenBack.map((g) => ({ provider: g.provider, reason: AbandonReasonNames[g.reason] ?? String(g.reason), detail: g.detail })),
    };
    if (segView.status !== seg.status) row.statusFromEvents = SegmentStatusNames[seg.status];
    return row;
  });

  return {
    jobId: options.jobId,
    job,
    view,
    manifest,
    manifestProblem,
    progress: jobProgressOf(job),
    money: jobMoneyOf(job),
    segments,
    hiddenSegments: job.params.segmentCount - shown,
    chainTime,
    escrowMismatch: view.escrow !== job.escrow ? { events: job.escrow, contract: view.escrow } : undefined,
  };
}

/** The report as lines of text. */
export function formatJobStatus(report: JobStatusReport, options: { symbol?: string } = {}): string[] {
  const { job, view, progress, money, chainTime } = report;
  const p = job.params;
  const sym = options.symbol ?? "tokens";
  const t = (x: bigint) => formatTokens(x, { symbol: sym });
  const lines: string[] = [];
  const settled = progress.done === progress.segments ? " (every segment settled)" : view.status === 1 && chainTime > p.deadline ? " (deadline passed)" : "";
  lines.push(`job ${report.jobId} — ${JobStatusNames[view.status] ?? view.status}${settled}`);
  lines.push(`  requester        ${job.requester}`);
  lines.push(`  manifest         ${p.manifestCid}`);
  if (report.manifest) {
    const m = report.manifest;
    lines.push(`  render           ${m.engine.name} ${m.engine.version}, ${m.output.width}×${m.output.height}, ${m.frames.start === m.frames.end ? `frame ${m.frames.start}` : `frames ${m.frames.start}–${m.frames.end}`}, tiles ${m.segmentation.tilesX}×${m.segmentation.tilesY}, ${m.segmentation.framesPerSegment} frame(s) per segment`);
  } else if (report.manifestProblem) {
    lines.push(`  render           (manifest not available: ${report.manifestProblem.split("\n")[0]})`);
  }
  lines.push(`  segments         ${p.segmentCount} × ${plural(p.redundancy, "replica")}, quorum ${p.quorum}`);
  lines.push(`  reward           ${t(p.rewardPerReplica)} per replica (+${job.feeBps / 100}% fee = ${t(unitPrice(p.rewardPerReplica, job.feeBps))}; the requester accepted at most ${p.maxFeeBps / 100}%), collateral ${t(p.collateralPerReplica)}`);
  lines.push(`  lease / reveal   ${formatDuration(p.leaseDuration)} / ${formatDuration(p.revealWindow)}`);
  lines.push(`  deadline         ${formatTimestamp(p.deadline, chainTime)}`);
  lines.push(`  min reputation   ${p.minReputation} bp`);
  lines.push(`  verification     ${describeVerification({ mode: p.verification === Verification.Tolerant ? "tolerant" : "exact", toleranceBps: p.toleranceBps })}`);
  if (p.auditBps > 0) lines.push(`  audits           ${p.auditBps / 100} % of accepted segments re-rendered by a drawn auditor before payment`);
  lines.push(`  escrow           ${t(view.escrow)} left of ${t(job.escrowCreated)}`);
  if (report.escrowMismatch) lines.push(`  !! the events give an escrow of ${t(report.escrowMismatch.events)} — run \`tessellate audit\``);
  lines.push(`  paid             ${t(money.paid)} rewards, ${t(money.fees)} fees; refunded ${t(money.refunded)}${money.compensation > 0n ? `; compensation ${t(money.compensation)}` : ""}`);
  for (const cid of job.outputCids) lines.push(`  output           ${cid}`);
  lines.push("");
  lines.push(
    `progress: ${progress.accepted}/${progress.segments} accepted, ${progress.failed} failed, ${progress.closed} closed${progress.refunded ? `, ${progress.refunded} refunded` : ""}; replicas claimed ${progress.claimed}, committed ${progress.committed}, revealed ${progress.revealed} of ${progress.replicas}${progress.tieBreakers ? `; ${progress.tieBreakers} tie-breaker(s)` : ""}` +
      (progress.audited !== undefined ? `; audits: ${progress.audited} drawn${progress.verifying ? `, ${progress.verifying} awaiting the draw` : ""}${progress.auditing ? `, ${progress.auditing} under way` : ""}` : ""),
  );
  lines.push("");
  const rows = report.segments.map((s) => [
    String(s.segment),
    s.frames ? describeFrames(s.frames) : "",
    s.tile ? `${s.tile.width}×${s.tile.height}@${s.tile.x},${s.tile.y}` : "",
    `${s.status}${s.statusFromEvents ? ` (events: ${s.statusFromEvents})` : ""}`,
    `${s.slots}${s.tieBreakers ? ` (+${s.tieBreakers} tb)` : ""}`,
    s.replicas.map((r) => `${r.replica}:${shortAddress(r.provider)} ${r.verdict ?? r.state.toLowerCase()}`).join(", ") || "—",
    s.accepted ? `${shortHex(s.accepted.digest)} ${s.accepted.resultCid}` : s.revealDeadline > 0n && s.status === SegmentStatusNames[SegmentStatus.Open] ? `reveal until ${formatTimestamp(s.revealDeadline, chainTime)}` : "",
  ]);
  lines.push(...formatTable(["seg", "frames", "tile", "status", "slots", "replicas (slot:provider state)", "accepted digest / result"], rows).split("\n"));
  if (report.hiddenSegments > 0) lines.push(`… ${report.hiddenSegments} more segments (raise --limit to list them)`);
  const givenBack = report.segments.flatMap((s) => s.givenBack.map((g) => ({ segment: s.segment, ...g })));
  if (givenBack.length > 0) {
    lines.push("");
    lines.push("given back (why providers returned a claimed slot):");
    for (const g of givenBack) lines.push(`  segment ${g.segment}  ${shortAddress(g.provider)}  ${g.reason}${g.detail ? ` — ${g.detail}` : ""}`);
  }
  return lines;
}
