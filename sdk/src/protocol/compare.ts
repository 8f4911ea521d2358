/**
 * Holds the state rebuilt from events against what the contracts report, and against itself.
 * Pure and browser-safe: the views are read elsewhere (the CLI's `commands/audit.ts`, the dApp's
 * Audit page) and passed in; both report the same discrepancies for the same chain.
 *
 * Three sources of discrepancies:
 * - `events`: the events contradict themselves (anomalies of the rebuild, reputation counters
 *   that do not match the replica events, per-job escrows that do not add up to the total);
 * - `contract`: a contract view differs from what the events say;
 * - `token`: the token balances of the market and the registry do not cover what they owe
 *   (market = Σ escrow + Σ balances; registry = Σ stakes).
 */
import type { Address } from "viem";
import { JobStatusNames, ReplicaStateNames, SegmentStatusNames } from "../contracts.generated.ts";
import type { JobView, SegmentView, ReplicaView, ProviderView } from "../market.ts";
import { segmentOf, type ProtocolState } from "./fold.ts";
import { reputationScore } from "./reputation.ts";
import { expectedReplicaView, expectedSegmentView } from "./views.ts";

/** What the contracts report, at one block. Absent entries were not read (and are not compared). */
export interface ChainViews {
  jobCount?: bigint;
  jobs: Map<bigint, JobView>;
  /** Key {@link segmentKey}. */
  segments: Map<string, SegmentView>;
  /** Key {@link replicaKey}. */
  replicas: Map<string, ReplicaView>;
  balances: Map<Address, bigint>;
  providers: Map<Address, ProviderView>;
  totalEscrow?: bigint;
  totalBalances?: bigint;
  totalStaked?: bigint;
  marketTokenBalance?: bigint;
  registryTokenBalance?: bigint;
  feeBps?: number;
  treasury?: Address;
}

export type DiscrepancySource = "events" | "contract" | "token" | "ipfs" | "calldata";

export interface Discrepancy {
  source: DiscrepancySource;
  /** What it is about: `job 3 segment 2 replica 1`, `account 0x…`, `market`. */
  subject: string;
  field: string;
  /** What the events say. */
  expected: string;
  /** What the contract, the token or IPFS says. */
  actual: string;
}

export const segmentKey = (jobId: bigint, segment: number) => `${jobId}:${segment}`;
export const replicaKey = (jobId: bigint, segment: number, replica: number) => `${jobId}:${segment}:${replica}`;

export function emptyViews(): ChainViews {
  return { jobs: new Map(), segments: new Map(), replicas: new Map(), balances: new Map(), providers: new Map() };
}

type Show = (x: unknown) => string;
const plain: Show = (x) => String(x);

/** How amounts are written in a discrepancy (the CLI writes tokens and base units); default: base units. */
export interface CompareOptions {
  formatAmount?: (amount: bigint) => string;
}
const amountShow = (options: CompareOptions): Show => (x) => (options.formatAmount ? options.formatAmount(x as bigint) : `${x} base units`);

/** Compares one field; pushes a discrepancy when the values differ (bigints, numbers, booleans, hex case-insensitively). */
function field(
  out: Discrepancy[],
  source: DiscrepancySource,
  subject: string,
  name: string,
  expected: unknown,
  actual: unknown,
  show: Show = plain,
): void {
  const same = typeof expected === "string" && typeof actual === "string" ? expected.toLowerCase() === actual.toLowerCase() : expected === actual;
  if (!same) out.push({ source, subject, field: name, expected: show(expected), actual: show(actual) });
}

const named = (names: readonly string[]): Show => (x) => `${names[x as number] ?? "?"} (${x})`;

/** Inconsistencies within the events themselves. */
export function checkEvents(state: ProtocolState, options: CompareOptions = {}): Discrepancy[] {
  const out: Discrepancy[] = [];
  const amount = amountShow(options);
  for (const a of state.anomalies) {
    out.push({ source: "events", subject: a.subject, field: "history", expected: "a consistent history", actual: `${a.problem} (block ${a.blockNumber}, tx ${a.transactionHash})` });
  }
  let escrows = 0n;
  for (const job of state.jobs.values()) escrows += job.escrow;
  field(out, "events", "market", "Σ job escrows vs total escrow", escrows, state.totalEscrow, amount);
  let balances = 0n;
  for (const b of state.balances.values()) balances += b;
  field(out, "events", "market", "Σ balances vs total balances", balances, state.totalBalances, amount);
  let stakes = 0n;
  for (const p of state.providers.values()) stakes += p.staked;
  field(out, "events", "registry", "Σ stakes vs total staked", stakes, state.totalStaked, amount);
  for (const p of state.providers.values()) {
    const subject = `provider ${p.address}`;
    for (const key of ["accepted", "rejected", "expired", "abandoned"] as const) {
      if (p.derived[key] !== p.reputation[key]) {
        out.push({
          source: "events",
          subject,
          field: `reputation.${key}`,
          expected: `${p.derived[key]} (counted from replica events)`,
          actual: `${p.reputation[key]} (last ReputationUpdated)`,
        });
      }
    }
    if (p.locked < 0n || p.staked < 0n) out.push({ source: "events", subject, field: "stake", expected: "non-negative stake and collateral", actual: `staked ${p.staked}, locked ${p.locked}` });
  }
  return out;
}

/**
 * Compares the rebuilt state with the contracts' views and the token balances.
 * @param options.complete whether the events start at the deployment (then job and account
 *   sets must match too); false with `--from-block` past it.
 */
export function compareWithChain(state: ProtocolState, views: ChainViews, options: CompareOptions & { complete?: boolean } = {}): Discrepancy[] {
  const out: Discrepancy[] = [];
  const amount = amountShow(options);
  const complete = options.complete ?? true;

  // ------------------------------------------------------------ totals and tokens
  if (views.totalEscrow !== undefined) field(out, "contract", "market", "totalEscrow", state.totalEscrow, views.totalEscrow, amount);
  if (views.totalBalances !== undefined) field(out, "contract", "market", "totalBalances", state.totalBalances, views.totalBalances, amount);
  if (views.totalStaked !== undefined) field(out, "contract", "registry", "totalStaked", state.totalStaked, views.totalStaked, amount);
  if (views.marketTokenBalance !== undefined) {
    field(out, "token", "market", "token balance = Σ escrow + Σ balances", state.totalEscrow + state.totalBalances, views.marketTokenBalance, amount);
  }
  if (views.registryTokenBalance !== undefined) {
    field(out, "token", "registry", "token balance = Σ stakes", state.totalStaked, views.registryTokenBalance, amount);
  }
  if (views.feeBps !== undefined && state.feeBps !== undefined) field(out, "contract", "market", "feeBps", state.feeBps, views.feeBps);
  if (views.treasury !== undefined && state.treasury !== undefined) field(out, "contract", "market", "treasury", state.treasury, views.treasury);
  if (complete && views.jobCount !== undefined) field(out, "contract", "market", "jobCount", BigInt(state.jobs.size), views.jobCount);

  // ------------------------------------------------------------ jobs, segments, replicas
  for (const job of state.jobs.values()) {
    const subject = `job ${job.jobId}`;
    const view = views.jobs.get(job.jobId);
    if (view) {
      const p = job.params;
      field(out, "contract", subject, "requester", job.requester, view.requester);
      field(out, "contract", subject, "status", job.status, view.status, named(JobStatusNames));
      field(out, "contract", subject, "segmentCount", p.segmentCount, view.segmentCount);
      field(out, "contract", subject, "segmentsTouched", job.segmentsTouched, view.segmentsTouched);
      field(out, "contract", subject, "redundancy", p.redundancy, view.redundancy);
      field(out, "contract", subject, "quorum", p.quorum, view.quorum);
      field(out, "contract", subject, "feeBps", job.feeBps, view.feeBps);
      field(out, "contract", subject, "minReputation", p.minReputation, view.minReputation);
      field(out, "contract", subject, "rewardPerReplica", p.rewardPerReplica, view.rewardPerReplica, amount);
      field(out, "contract", subject, "collateralPerReplica", p.collateralPerReplica, view.collateralPerReplica, amount);
      field(out, "contract", subject, "leaseDuration", p.leaseDuration, view.leaseDuration);
      field(out, "contract", subject, "revealWindow", p.revealWindow, view.revealWindow);
      field(out, "contract", subject, "deadline", p.deadline, view.deadline);
      field(out, "contract", subject, "escrow", job.escrow, view.escrow, amount);
    }
    for (let index = 0; index < job.params.segmentCount; index++) {
      const segView = views.segments.get(segmentKey(job.jobId, index));
      const seg = segmentOf(job, index);
      if (segView) {
        const expected = expectedSegmentView(job, seg);
        const s = `${subject} segment ${index}`;
        field(out, "contract", s, "status", expected.status, segView.status, named(SegmentStatusNames));
        field(out, "contract", s, "slots", expected.slots, segView.slots);
        field(out, "contract", s, "assigned", expected.assigned, segView.assigned);
        field(out, "contract", s, "committed", expected.committed, segView.committed);
        field(out, "contract", s, "revealed", expected.revealed, segView.revealed);
        field(out, "contract", s, "tieBreakers", expected.tieBreakers, segView.tieBreakers);
        field(out, "contract", s, "revealDeadline", expected.revealDeadline, segView.revealDeadline);
        field(out, "contract", s, "acceptedSeal", expected.acceptedSeal, segView.acceptedSeal);
      }
      const slots = Math.max(seg.slots, seg.replicas.length);
      for (let k = 0; k < slots; k++) {
        const repView = views.replicas.get(replicaKey(job.jobId, index, k));
        if (!repView) continue;
        const expected = expectedReplicaView(seg, seg.replicas[k]);
        const s = `${subject} segment ${index} replica ${k}`;
        field(out, "contract", s, "provider", expected.provider, repView.provider);
        field(out, "contract", s, "state", expected.state, repView.state, named(ReplicaStateNames));
        field(out, "contract", s, "leaseEnd", expected.leaseEnd, repView.leaseEnd);
        if (expected.seal !== undefined) field(out, "contract", s, "seal", expected.seal, repView.seal);
      }
    }
  }
  if (complete) {
    for (const jobId of views.jobs.keys()) {
      if (!state.jobs.has(jobId)) out.push({ source: "contract", subject: `job ${jobId}`, field: "existence", expected: "no JobCreated event", actual: "the market reports this job" });
    }
  }

  // ------------------------------------------------------------ accounts and providers
  for (const [account, balance] of state.balances) {
    const view = views.balances.get(account);
    if (view !== undefined) field(out, "contract", `account ${account}`, "balance", balance, view, amount);
  }
  for (const p of state.providers.values()) {
    const view = views.providers.get(p.address);
    if (!view) continue;
    const subject = `provider ${p.address}`;
    field(out, "contract", subject, "registered", p.registered, view.registered);
    field(out, "contract", subject, "staked", p.staked, view.staked, amount);
    field(out, "contract", subject, "locked", p.locked, view.locked, amount);
    field(out, "contract", subject, "unbonding", p.unbonding, view.unbonding, amount);
    field(out, "contract", subject, "unbondingReadyAt", p.unbondingReadyAt, view.unbondingReadyAt);
    field(out, "contract", subject, "accepted", p.reputation.accepted, view.accepted);
    field(out, "contract", subject, "rejected", p.reputation.rejected, view.rejected);
    field(out, "contract", subject, "expired", p.reputation.expired, view.expired);
    field(out, "contract", subject, "abandoned", p.reputation.abandoned, view.abandoned);
    field(out, "contract", subject, "score", reputationScore(p.reputation), view.score);
  }
  return out;
}

/** Every job's segments and replica slots the audit should read, capped per job. */
export function plannedReads(state: ProtocolState, options: { maxSegmentsPerJob?: number } = {}) {
  const cap = options.maxSegmentsPerJob ?? 10_000;
  const segments: Array<{ jobId: bigint; segment: number }> = [];
  const replicas: Array<{ jobId: bigint; segment: number; replica: number }> = [];
  const skipped: Array<{ jobId: bigint; untouched: number }> = [];
  for (const job of state.jobs.values()) {
    const touched = [...job.segments.keys()].sort((a, b) => a - b);
    let untouchedRead = 0;
    let untouchedSkipped = 0;
    const budget = Math.max(0, cap - touched.length);
    for (let index = 0; index < job.params.segmentCount; index++) {
      if (job.segments.has(index)) continue;
      if (untouchedRead < budget) {
        segments.push({ jobId: job.jobId, segment: index });
        untouchedRead++;
      } else untouchedSkipped++;
    }
    for (const index of touched) {
      if (index >= job.params.segmentCount) continue;
      segments.push({ jobId: job.jobId, segment: index });
      const seg = job.segments.get(index)!;
      const slots = Math.max(seg.slots, seg.replicas.length);
      for (let k = 0; k < slots; k++) replicas.push({ jobId: job.jobId, segment: index, replica: k });
    }
    if (untouchedSkipped > 0) skipped.push({ jobId: job.jobId, untouched: untouchedSkipped });
  }
  return { segments, replicas, skipped };
}
