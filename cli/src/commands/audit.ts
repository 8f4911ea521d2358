/**
 * `tessellate audit [--verify-results] [--from-block N]`: rebuilds every job's and account's
 * state from the protocol's events alone (the sdk event fold, checks on), reads the contracts' views and the
 * token balances at the same block, and reports every difference (audit/compare.ts). With
 * `--verify-results` it also re-fetches every accepted result from IPFS and re-computes its pixel
 * digest. Exit code 1 on any discrepancy, 0 when everything reconciles.
 */
import type { Address } from "viem";
import type { MarketClient } from "@tessellate/sdk/market";
import type { Storage } from "@tessellate/sdk/storage";
import type { Manifest } from "@tessellate/sdk/manifest";
import {
  checkEvents,
  compareWithChain,
  emptyViews,
  plannedReads,
  replicaKey,
  segmentKey,
  type ChainViews,
  type Discrepancy,
} from "../audit/compare.ts";
import { acceptedSegmentOf, applyCommitments, foldEvents, SegmentStatus, type ProtocolState } from "@tessellate/sdk/protocol";
import { checkRevealedCommitments, createViewReader, mapLimit, readAllEvents, readPendingCommitments } from "../chainReads.ts";
import { formatTokens, plural } from "../format.ts";
import { silentOutput, type Output } from "../output.ts";
import { createLiveLine, formatTaskProgress } from "../progress.ts";
import { firstResultThatChecksOut, verifyAcceptedSegment } from "../results.ts";
import { loadManifest } from "./fetch.ts";

export interface AuditOptions {
  /** First block to read; default 0. Past the deployment block the history is partial (see `complete`). */
  fromBlock?: bigint;
  /** Last block; default the latest. Views are read at this block. */
  toBlock?: bigint;
  /** Re-fetch every accepted result and re-compute its pixel digest (needs storage). */
  verifyResults?: boolean;
  /** Parallel view reads (default 8). */
  concurrency?: number;
  /** Most segments read per job with `segmentOf` (default 10 000); touched segments are always read. */
  maxSegmentsPerJob?: number;
  signal?: AbortSignal;
}

export interface AuditReport {
  fromBlock: bigint;
  toBlock: bigint;
  /** Whether the events start at block 0 (then job and account sets are compared too). */
  complete: boolean;
  counts: {
    events: number;
    jobs: number;
    segmentsRead: number;
    replicasRead: number;
    accounts: number;
    providers: number;
    acceptedSegments: number;
  };
  totals: { escrow: bigint; balances: bigint; staked: bigint; marketTokenBalance: bigint; registryTokenBalance: bigint };
  /** Untouched segments not read because of `maxSegmentsPerJob`. */
  skipped: Array<{ jobId: bigint; untouched: number }>;
  verification?: { checked: number; ok: number };
  /** Revealed replicas whose commitment was recomputed from their reveal's calldata (the mismatches are in `discrepancies`). */
  reveals: { total: number; matched: number; direct: number; unchecked: number };
  discrepancies: Discrepancy[];
  state: ProtocolState;
}

/** Audits the protocol's whole history. */
export async function auditChain(options: AuditOptions, deps: { market: MarketClient; storage?: Pick<Storage, "cat">; output?: Output }): Promise<AuditReport> {
  const { market } = deps;
  const out = deps.output ?? silentOutput;
  const concurrency = options.concurrency ?? 8;
  const fromBlock = options.fromBlock ?? 0n;
  const toBlock = options.toBlock ?? (await market.blockNumber());
  const live = createLiveLine(out.progress);
  const ascii = !out.progress.isTTY;

  live.set(`reading events of blocks ${fromBlock}–${toBlock}…`, { force: true });
  const events = await readAllEvents(market, fromBlock, toBlock);
  const state = foldEvents(events);
  applyCommitments(state, (await readPendingCommitments(market, state)).commitments);
  live.set("re-checking revealed replicas against their commit transactions…", { force: true });
  const revealCheck = await checkRevealedCommitments(market, state, events);

  // ------------------------------------------------------------ views at `toBlock`
  const reader = createViewReader(market, toBlock);
  const views: ChainViews = emptyViews();
  const { addresses } = market;
  const [jobCount, totalEscrow, totalBalances, totalStaked, marketTokenBalance, registryTokenBalance, feeBps, treasury] = await Promise.all([
    reader.jobCount(),
    reader.totalEscrow(),
    reader.totalBalances(),
    reader.totalStaked(),
    reader.tokenBalanceOf(addresses.market),
    reader.tokenBalanceOf(addresses.registry),
    reader.feeBps(),
    reader.treasury(),
  ]);
  Object.assign(views, { jobCount, totalEscrow, totalBalances, totalStaked, marketTokenBalance, registryTokenBalance, feeBps, treasury });

  const plan = plannedReads(state, { maxSegmentsPerJob: options.maxSegmentsPerJob });
  const jobIds = new Set<bigint>(state.jobs.keys());
  const complete = fromBlock === 0n;
  if (complete) for (let id = 1n; id <= jobCount; id++) jobIds.add(id);
  const accounts = [...state.balances.keys()];
  const providers = [...state.providers.keys()];
  const total = jobIds.size + plan.segments.length + plan.replicas.length + accounts.length + providers.length;
  let done = 0;
  const tick = () => live.set(formatTaskProgress("reading contract views", ++done, total, "items", { ascii }));

  await mapLimit([...jobIds], concurrency, async (id) => {
    views.jobs.set(id, await reader.jobOf(id));
    tick();
  });
  // A job the market reports but no event created: `jobOf` of an unknown id is all zeros.
  for (const [id, view] of views.jobs) if (view.status === 0 && !state.jobs.has(id)) views.jobs.delete(id);
  await mapLimit(plan.segments, concurrency, async ({ jobId, segment }) => {
    views.segments.set(segmentKey(jobId, segment), await reader.segmentOf(jobId, segment));
    tick();
  });
  await mapLimit(plan.replicas, concurrency, async ({ jobId, segment, replica }) => {
    views.replicas.set(replicaKey(jobId, segment, replica), await reader.replicaOf(jobId, segment, replica));
    tick();
  });
  await mapLimit(accounts, concurrency, async (account: Address) => {
    views.balances.set(account, await reader.balanceOf(account));
    tick();
  });
  await mapLimit(providers, concurrency, async (provider: Address) => {
    views.providers.set(provider, await reader.providerOf(provider));
    tick();
  });

  const discrepancies = [...checkEvents(state), ...compareWithChain(state, views, { complete }), ...revealCheck.discrepancies];

  // ------------------------------------------------------------ results on IPFS
  let verification: AuditReport["verification"];
  let acceptedSegments = 0;
  for (const job of state.jobs.values()) for (const seg of job.segments.values()) if (seg.status === SegmentStatus.Accepted) acceptedSegments++;
  if (options.verifyResults) {
    if (!deps.storage) throw new Error("auditChain: verifyResults needs a storage");
    const storage = deps.storage;
    verification = { checked: 0, ok: 0 };
    let verified = 0;
    for (const job of state.jobs.values()) {
      const accepted = [...job.segments.values()].filter((s) => s.status === SegmentStatus.Accepted && s.accepted).sort((a, b) => a.index - b.index);
      if (accepted.length === 0) continue;
      let manifest: Manifest;
      try {
        manifest = await loadManifest(storage, job.params.manifestCid, job.params.segmentCount);
      } catch (error) {
        discrepancies.push({ source: "ipfs", subject: `job ${job.jobId}`, field: "manifest", expected: `a valid manifest at ${job.params.manifestCid}`, actual: (error as Error).message.split("\n")[0] });
        verified += accepted.length;
        continue;
      }
      const checks = await mapLimit(accepted, Math.max(1, Math.min(concurrency, 4)), async (seg) => {
        // The accepted replica's result: its digest and, Tolerant, its fingerprint re-derived from
        // the pixels; when it fails, whether another agreeing replica's result stands in for it.
        const result = acceptedSegmentOf(seg)!;
        const check = await verifyAcceptedSegment(manifest, seg.index, result, storage, options.signal);
        const fallback = check.ok || !result.alternatives?.length ? undefined : await firstResultThatChecksOut(manifest, seg.index, result.alternatives, storage, options.signal);
        live.set(formatTaskProgress("verifying accepted results", ++verified, acceptedSegments, "items", { ascii }));
        return { check, result, fallback };
      });
      for (const { check, result, fallback } of checks) {
        verification.checked++;
        if (check.ok) verification.ok++;
        else {
          const who = result.replica === undefined ? "the accepted reveal" : `replica ${result.replica}'s reveal, the accepted result`;
          const instead = fallback === undefined ? "" : fallback.result ? `; replica ${fallback.result.replica}'s agreeing result checks out and is used instead` : "; no other agreeing replica's result checks out either";
          discrepancies.push({
            source: "ipfs",
            subject: `job ${job.jobId} segment ${check.segment}`,
            field: "result pixels",
            expected: `digest ${check.expected}${result.fingerprint === undefined ? "" : " and its revealed fingerprint"} (${who})`,
            actual: (check.problem ?? `digest ${check.actual}`) + instead,
          });
        }
      }
    }
  }
  live.done();

  return {
    fromBlock,
    toBlock,
    complete,
    counts: {
      events: state.eventCount,
      jobs: state.jobs.size,
      segmentsRead: plan.segments.length,
      replicasRead: plan.replicas.length,
      accounts: accounts.length,
      providers: providers.length,
      acceptedSegments,
    },
    totals: { escrow: state.totalEscrow, balances: state.totalBalances, staked: state.totalStaked, marketTokenBalance, registryTokenBalance },
    skipped: plan.skipped,
    verification,
    reveals: { total: revealCheck.reveals, matched: revealCheck.matched, direct: revealCheck.direct, unchecked: revealCheck.unchecked },
    discrepancies,
    state,
  };
}

/** 0 when everything reconciles, 1 on any discrepancy. */
export function auditExitCode(report: AuditReport): number {
  return report.discrepancies.length === 0 ? 0 : 1;
}

const SOURCE_NAMES: Record<Discrepancy["source"], string> = {
  events: "other events",
  contract: "contract",
  token: "token",
  ipfs: "IPFS",
  calldata: "calldata",
};

/** The report as lines of text. */
export function formatAuditReport(report: AuditReport, options: { symbol?: string } = {}): string[] {
  const t = (x: bigint) => formatTokens(x, { symbol: options.symbol ?? "tokens" });
  const c = report.counts;
  const lines = [
    `audit of blocks ${report.fromBlock}–${report.toBlock}${report.complete ? "" : " (partial history: job and account sets not compared)"}`,
    `  events           ${c.events}`,
    `  jobs             ${c.jobs} (${c.acceptedSegments} accepted segments)`,
    `  views read       ${c.segmentsRead} segments, ${c.replicasRead} replica slots, ${c.accounts} balances, ${c.providers} providers`,
    `  escrow           ${t(report.totals.escrow)}`,
    `  balances         ${t(report.totals.balances)}`,
    `  market holds     ${t(report.totals.marketTokenBalance)} (owes escrow + balances = ${t(report.totals.escrow + report.totals.balances)})`,
    `  stakes           ${t(report.totals.staked)}; registry holds ${t(report.totals.registryTokenBalance)}`,
  ];
  for (const s of report.skipped) lines.push(`  note: job ${s.jobId}: ${s.untouched} untouched segments not read (raise --max-segments)`);
  const r = report.reveals;
  lines.push(
    `  reveals          ${r.matched} of ${r.total} commitments recomputed from the reveal calldata match the commit calldata${r.direct ? `; ${r.direct} revealed directly (no commitment)` : ""}${r.unchecked ? `; ${r.unchecked} unchecked (not a direct market call)` : ""}`,
  );
  if (report.verification) lines.push(`  results          ${report.verification.ok} of ${report.verification.checked} accepted results re-checked against their digests`);
  lines.push("");
  if (report.discrepancies.length === 0) {
    lines.push("everything reconciles: 0 discrepancies");
    return lines;
  }
  lines.push(`${plural(report.discrepancies.length, "discrepancy", "discrepancies")}:`);
  for (const d of report.discrepancies) {
    const source = `${SOURCE_NAMES[d.source]}:`;
    lines.push(`  ${d.subject} — ${d.field}`);
    lines.push(`      ${"events:".padEnd(Math.max(8, source.length))} ${d.expected}`);
    lines.push(`      ${source.padEnd(8)} ${d.actual}`);
  }
  return lines;
}

