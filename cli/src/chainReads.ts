/**
 * Reading the chain for the CLI: one job's events (filtered by the indexed `jobId` topic, so a
 * busy market costs nothing), the block a job was created in, the whole protocol history, and
 * the contracts' views pinned to one block (so an audit compares events and views of the same
 * moment even while new blocks arrive).
 */
import { formatLog, getAbiItem, numberToHex, pad, toEventSelector, type Address, type Hex, type Log, type RpcLog } from "viem";
import { jobMarketAbi, providerRegistryAbi, renderTokenAbi } from "@tessellate/sdk/contracts.generated";
import { decodeProtocolEvents, toProtocolError, type MarketClient } from "@tessellate/sdk/market";
import { FatalError } from "@tessellate/sdk/errors";
import { checkRevealedCommitments as checkReveals, readPendingCommitments as readCommitments, sortEvents, type FoldEvent, type PendingCommitments, type ProtocolState, type RevealCheck } from "@tessellate/sdk/protocol";
import { scanProviders, type ProviderScan } from "@tessellate/sdk/providerOffers";
import type { Storage } from "@tessellate/sdk/storage";
import type { JobView, ProviderView, ReplicaView, SegmentView } from "./audit/compare.ts";

/** Blocks per `eth_getLogs` request (public RPC endpoints cap the range). */
export const LOG_CHUNK_BLOCKS = 5_000n;

const jobCreatedTopic = toEventSelector(getAbiItem({ abi: jobMarketAbi, name: "JobCreated" }));
const creditedTopic = toEventSelector(getAbiItem({ abi: jobMarketAbi, name: "Credited" }));

/**
 * The block of a job's `JobCreated` event, searching backwards from `toBlock` (recent jobs are
 * found in one request).
 * @throws FatalError `CLI_UNKNOWN_JOB` when no such job was created in [fromBlock, toBlock].
 */
export async function findJobCreation(market: MarketClient, jobId: bigint, options: { fromBlock?: bigint; toBlock?: bigint } = {}): Promise<{ blockNumber: bigint; event: FoldEvent }> {
  const { publicClient } = market.conn;
  const from = options.fromBlock ?? 0n;
  const latest = options.toBlock ?? (await market.blockNumber());
  const jobTopic = pad(numberToHex(jobId), { size: 32 });
  for (let end = latest; end >= from; end -= LOG_CHUNK_BLOCKS) {
    const start = end - LOG_CHUNK_BLOCKS + 1n > from ? end - LOG_CHUNK_BLOCKS + 1n : from;
    let logs: Log[];
    try {
      const raw = await publicClient.request({
        method: "eth_getLogs",
        params: [{ address: market.addresses.market, fromBlock: numberToHex(start), toBlock: numberToHex(end), topics: [jobCreatedTopic, jobTopic] }],
      });
      logs = (raw as RpcLog[]).map((log) => formatLog(log));
    } catch (error) {
      throw toProtocolError(error, "reading JobCreated events");
    }
    const [event] = decodeProtocolEvents(logs);
    if (event) return { blockNumber: event.blockNumber, event: event };
    if (start === from) break;
  }
  let count: bigint | undefined;
  try {
    count = await market.jobCount();
  } catch {
    count = undefined;
  }
  throw new FatalError(
    "CLI_UNKNOWN_JOB",
    `job ${jobId} does not exist on market ${market.addresses.market}${count === undefined ? "" : ` (it has ${count} job${count === 1n ? "" : "s"}, numbered from 1)`} — check the job id, the --rpc-url and the --market address`,
  );
}

/** Every event of one job in [fromBlock, toBlock]: those indexed by its id, and its `Credited` events. */
export async function readJobEvents(market: MarketClient, jobId: bigint, fromBlock: bigint, toBlock: bigint): Promise<FoldEvent[]> {
  const { publicClient } = market.conn;
  const jobTopic = pad(numberToHex(jobId), { size: 32 });
  const byKey = new Map<string, FoldEvent>();
  for (let start = fromBlock; start <= toBlock; start += LOG_CHUNK_BLOCKS) {
    const end = start + LOG_CHUNK_BLOCKS - 1n < toBlock ? start + LOG_CHUNK_BLOCKS - 1n : toBlock;
    const range = { address: market.addresses.market, fromBlock: numberToHex(start), toBlock: numberToHex(end) };
    let raw: RpcLog[];
    try {
      const [indexed, credited] = await Promise.all([
        publicClient.request({ method: "eth_getLogs", params: [{ ...range, topics: [null, jobTopic] }] }),
        publicClient.request({ method: "eth_getLogs", params: [{ ...range, topics: [creditedTopic, null, jobTopic] }] }),
      ]);
      raw = [...(indexed as RpcLog[]), ...(credited as RpcLog[])];
    } catch (error) {
      throw toProtocolError(error, `reading the events of job ${jobId}`);
    }
    for (const event of decodeProtocolEvents(raw.map((log) => formatLog(log)))) {
      if ((event.args as { jobId?: bigint }).jobId !== jobId) continue;
      byKey.set(`${event.blockNumber}:${event.logIndex}`, event);
    }
  }
  return sortEvents([...byKey.values()]);
}

/** Every protocol event (market and registry) in [fromBlock, toBlock], in chain order. */
export async function readAllEvents(market: MarketClient, fromBlock: bigint, toBlock: bigint): Promise<FoldEvent[]> {
  return sortEvents((await market.events(fromBlock, toBlock, LOG_CHUNK_BLOCKS)) as FoldEvent[]);
}

/** A transaction's input, read through this market's RPC (the calldata checks of the audit). */
function transactionInput(market: MarketClient): (hash: Hex) => Promise<Hex> {
  return async (hash) => {
    try {
      return (await market.conn.publicClient.getTransaction({ hash })).input;
    } catch (error) {
      throw toProtocolError(error, `reading transaction ${hash}`);
    }
  };
}

/**
 * Commitments of replicas still Committed, from their commit transactions' calldata: the sdk's
 * `readPendingCommitments` (the dApp's Audit page runs the same), reading through this market's RPC.
 */
export async function readPendingCommitments(market: MarketClient, state: ProtocolState): Promise<PendingCommitments> {
  return readCommitments(state, transactionInput(market));
}

/**
 * Every revealed replica's commitment recomputed from its reveal's calldata and compared with its
 * commit's: the sdk's `checkRevealedCommitments` (the dApp's Audit and Job pages run the same).
 */
export async function checkRevealedCommitments(market: MarketClient, state: ProtocolState, events: readonly FoldEvent[]): Promise<RevealCheck> {
  return checkReveals(state, events, transactionInput(market));
}

/** The contracts' views at one block. */
export function createViewReader(market: MarketClient, blockNumber: bigint) {
  const { publicClient } = market.conn;
  const { addresses } = market;
  const read = async <T>(address: Address, abi: typeof jobMarketAbi | typeof providerRegistryAbi | typeof renderTokenAbi, functionName: string, args: readonly unknown[] = []): Promise<T> => {
    try {
      return (await publicClient.readContract({ address, abi, functionName, args, blockNumber } as Parameters<typeof publicClient.readContract>[0])) as T;
    } catch (error) {
      throw toProtocolError(error, `reading ${functionName}`);
    }
  };
  return {
    blockNumber,
    jobCount: () => read<bigint>(addresses.market, jobMarketAbi, "jobCount"),
    jobOf: (jobId: bigint) => read<JobView>(addresses.market, jobMarketAbi, "jobOf", [jobId]),
    segmentOf: (jobId: bigint, segment: number) => read<SegmentView>(addresses.market, jobMarketAbi, "segmentOf", [jobId, segment]),
    replicaOf: (jobId: bigint, segment: number, replica: number) => read<ReplicaView>(addresses.market, jobMarketAbi, "replicaOf", [jobId, segment, replica]),
    balanceOf: (account: Address) => read<bigint>(addresses.market, jobMarketAbi, "balanceOf", [account]),
    totalEscrow: () => read<bigint>(addresses.market, jobMarketAbi, "totalEscrow"),
    totalBalances: () => read<bigint>(addresses.market, jobMarketAbi, "totalBalances"),
    feeBps: () => read<number>(addresses.market, jobMarketAbi, "feeBps"),
    treasury: () => read<Address>(addresses.market, jobMarketAbi, "treasury"),
    providerOf: (provider: Address) => read<ProviderView>(addresses.registry, providerRegistryAbi, "providerOf", [provider]),
    totalStaked: () => read<bigint>(addresses.registry, providerRegistryAbi, "totalStaked"),
    tokenBalanceOf: (account: Address) => read<bigint>(addresses.token, renderTokenAbi, "balanceOf", [account]),
  };
}

export type ViewReader = ReturnType<typeof createViewReader>;

/** Runs `fn` over `items` with at most `limit` calls in flight; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Every provider registered on this market's registry, with its profile (the sdk's scan). */
export function scanMarketProviders(market: MarketClient, storage: Pick<Storage, "cat">, options: { signal?: AbortSignal; readProfiles?: boolean } = {}): Promise<ProviderScan> {
  return scanProviders({ publicClient: market.conn.publicClient, registry: market.addresses.registry }, storage, options);
}

/** The token's symbol, or "tokens" when it has none. */
export async function tokenSymbol(market: MarketClient): Promise<string> {
  try {
    return (await market.conn.publicClient.readContract({ address: market.addresses.token, abi: renderTokenAbi, functionName: "symbol" })) as string;
  } catch {
    return "tokens";
  }
}


