/**
 * The Audit page's work, outside React: rebuild the whole protocol state from raw logs (the
 * History, from block 0, through the sdk's fold with its checks on), read the contracts' views
 * pinned at the same block, and compare them with the sdk's `checkEvents` / `compareWithChain`
 * (the very functions `tessellate audit` uses), with the committed seals and the revealed
 * commitments checked from the transactions' calldata as it does. Filtering the event list is here too.
 */
import { getAddress, type Address, type PublicClient } from "viem";
import {
  applyCommitments,
  checkEvents,
  checkRevealedCommitments,
  compareWithChain,
  emptyViews,
  expectedReplicaView,
  foldEvents,
  jobMarketAbi,
  plannedReads,
  providerRegistryAbi,
  readPendingCommitments,
  renderTokenAbi,
  replicaKey,
  segmentKey,
  segmentOf,
  type ChainViews,
  type Discrepancy,
  type FoldEvent,
  type JobView,
  type ProtocolState,
  type ProviderView,
  type ReplicaView,
  type RevealCheck,
  type SegmentView,
} from "@tessellate/sdk";
import type { History } from "./history.ts";

export interface AuditRun {
  /** The block the events end at and the views were read at. */
  block: bigint;
  events: FoldEvent[];
  state: ProtocolState;
  views: ChainViews;
  discrepancies: Discrepancy[];
  reads: number;
  seals: SealCheck;
  /** Every revealed replica's commitment recomputed from its reveal's calldata (the sdk's `checkRevealedCommitments`, as `tessellate audit`); its mismatches are in `discrepancies`. */
  reveals: RevealCheck;
}

/**
 * The committed-seal check, as `tessellate audit` does it: replicas still Committed get their
 * commitment from their commit transaction's calldata (the sdk's `readPendingCommitments`), and
 * `compareWithChain` compares every replica's known seal with the one `replicaOf` reports.
 */
export interface SealCheck {
  /** Replica slots whose seal was compared with `replicaOf`. */
  compared: number;
  /** Replicas still Committed when the events end (their commitment is only in calldata). */
  pending: number;
  /** Of those, commitments read from commit transactions' calldata. */
  fromCalldata: number;
  /** Commit transactions read. */
  transactions: number;
  /** Committed replicas whose commit transaction is not a direct `commit` call: seal unchecked. */
  unchecked: number;
  /** The discrepancies about a seal (a subset of `discrepancies`). */
  discrepancies: Discrepancy[];
}

type Addresses = { token: Address; registry: Address; market: Address };

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Every event from block 0 to `block` (default the head), folded; every view at `block`; every difference. */
export async function runAudit(options: {
  client: PublicClient;
  history: History;
  addresses: Addresses;
  block?: bigint;
  formatAmount?: (amount: bigint) => string;
  onProgress?: (text: string) => void;
}): Promise<AuditRun> {
  const { client, history, addresses } = options;
  const block = options.block ?? (await history.head());
  options.onProgress?.(`reading the events of blocks 0–${block}…`);
  const events = await history.events({ fromBlock: 0n, toBlock: block });
  const state = foldEvents(events);
  options.onProgress?.("reading the commitments of committed replicas from their commit transactions…");
  const transactionInput = async (hash: `0x${string}`) => (await client.getTransaction({ hash })).input;
  const pending = await readPendingCommitments(state, transactionInput);
  applyCommitments(state, pending.commitments);
  options.onProgress?.("re-checking revealed replicas against their commit transactions…");
  const reveals = await checkRevealedCommitments(state, events, transactionInput);

  const read = <T>(address: Address, abi: typeof jobMarketAbi | typeof providerRegistryAbi | typeof renderTokenAbi, functionName: string, args: readonly unknown[] = []) =>
    client.readContract({ address, abi, functionName, args, blockNumber: block } as Parameters<PublicClient["readContract"]>[0]) as Promise<T>;
  const views = emptyViews();
  const [jobCount, totalEscrow, totalBalances, totalStaked, marketTokenBalance, registryTokenBalance, feeBps, treasury] = await Promise.all([
    read<bigint>(addresses.market, jobMarketAbi, "jobCount"),
    read<bigint>(addresses.market, jobMarketAbi, "totalEscrow"),
    read<bigint>(addresses.market, jobMarketAbi, "totalBalances"),
    read<bigint>(addresses.registry, providerRegistryAbi, "totalStaked"),
    read<bigint>(addresses.token, renderTokenAbi, "balanceOf", [addresses.market]),
    read<bigint>(addresses.token, renderTokenAbi, "balanceOf", [addresses.registry]),
    read<number>(addresses.market, jobMarketAbi, "feeBps"),
    read<Address>(addresses.market, jobMarketAbi, "treasury"),
  ]);
  Object.assign(views, { jobCount, totalEscrow, totalBalances, totalStaked, marketTokenBalance, registryTokenBalance, feeBps, treasury });

  const plan = plannedReads(state);
  const jobIds = new Set<bigint>(state.jobs.keys());
  for (let id = 1n; id <= jobCount; id++) jobIds.add(id);
  const total = jobIds.size + plan.segments.length + plan.replicas.length + state.balances.size + state.providers.size;
  let done = 0;
  const tick = () => {
    done++;
    if (done % 25 === 0 || done === total) options.onProgress?.(`reading the contracts' views at block ${block}: ${done} of ${total}`);
  };
  await mapLimit([...jobIds], 8, async (id) => {
    const view = await read<JobView>(addresses.market, jobMarketAbi, "jobOf", [id]);
    // `jobOf` of an id no event created reads all zeros.
    if (view.status !== 0 || state.jobs.has(id)) views.jobs.set(id, view);
    tick();
  });
  await mapLimit(plan.segments, 8, async ({ jobId, segment }) => {
    views.segments.set(segmentKey(jobId, segment), await read<SegmentView>(addresses.market, jobMarketAbi, "segmentOf", [jobId, segment]));
    tick();
  });
  await mapLimit(plan.replicas, 8, async ({ jobId, segment, replica }) => {
    views.replicas.set(replicaKey(jobId, segment, replica), await read<ReplicaView>(addresses.market, jobMarketAbi, "replicaOf", [jobId, segment, replica]));
    tick();
  });
  await mapLimit([...state.balances.keys()], 8, async (account) => {
    views.balances.set(account, await read<bigint>(addresses.market, jobMarketAbi, "balanceOf", [account]));
    tick();
  });
  await mapLimit([...state.providers.keys()], 8, async (provider) => {
    views.providers.set(provider, await read<ProviderView>(addresses.registry, providerRegistryAbi, "providerOf", [provider]));
    tick();
  });
  const compare = { formatAmount: options.formatAmount };
  const discrepancies = [...checkEvents(state, compare), ...compareWithChain(state, views, { ...compare, complete: true }), ...reveals.discrepancies];
  let compared = 0;
  for (const { jobId, segment, replica } of plan.replicas) {
    const job = state.jobs.get(jobId)!;
    const seg = segmentOf(job, segment);
    if (views.replicas.has(replicaKey(jobId, segment, replica)) && expectedReplicaView(seg, seg.replicas[replica]).seal !== undefined) compared++;
  }
  const seals: SealCheck = {
    compared,
    pending: pending.pending,
    fromCalldata: pending.commitments.size,
    transactions: pending.transactions,
    unchecked: pending.unchecked,
    discrepancies: discrepancies.filter((d) => d.field === "seal" || d.field === "acceptedSeal"),
  };
  return { block, events, state, views, discrepancies, reads: total + 8 + pending.transactions + reveals.transactions, seals, reveals };
}

export interface EventFilter {
  jobId?: bigint;
  provider?: Address;
  requester?: Address;
  eventName?: string;
}

/** Parses the filter fields; each problem names its field. */
export function parseEventFilter(input: { job: string; provider: string; requester: string; eventName: string }): { filter: EventFilter; problems: Record<string, string> } {
  const filter: EventFilter = {};
  const problems: Record<string, string> = {};
  const job = input.job.trim().replace(/^#/, "");
  if (job) {
    if (/^\d+$/.test(job)) filter.jobId = BigInt(job);
    else problems.job = "a job id is a whole number (e.g. 3)";
  }
  for (const key of ["provider", "requester"] as const) {
    const text = input[key].trim();
    if (!text) continue;
    try {
      filter[key] = getAddress(text.toLowerCase());
    } catch {
      problems[key] = "not an address: 0x followed by 40 hex digits";
    }
  }
  if (input.eventName) filter.eventName = input.eventName;
  return { filter, problems };
}

const addressArg = (e: FoldEvent, key: string): Address | undefined => {
  const value = (e.args as Record<string, unknown>)[key];
  return typeof value === "string" ? getAddress(value) : undefined;
};

/** The events matching every field of the filter. A requester matches its jobs' events and its own credits and withdrawals. */
export function filterEvents(events: readonly FoldEvent[], state: ProtocolState, filter: EventFilter): FoldEvent[] {
  return events.filter((e) => {
    const args = e.args as Record<string, unknown>;
    if (filter.eventName && e.eventName !== filter.eventName) return false;
    if (filter.jobId !== undefined && args.jobId !== filter.jobId) return false;
    if (filter.provider && addressArg(e, "provider") !== filter.provider && addressArg(e, "account") !== filter.provider) return false;
    if (filter.requester) {
      const jobId = args.jobId as bigint | undefined;
      const ofJob = jobId !== undefined && state.jobs.get(jobId)?.requester === filter.requester;
      const own = addressArg(e, "account") === filter.requester || addressArg(e, "requester") === filter.requester;
      if (!ofJob && !own) return false;
    }
    return true;
  });
}

/** An event's arguments in one line (bigints as decimals, nested values as JSON). */
export function describeArgs(args: object): string {
  return Object.entries(args)
    .map(([key, value]) => `${key}=${typeof value === "object" && value !== null ? JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v)) : String(value)}`)
    .join(" ");
}
