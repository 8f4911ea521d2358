/**
 * The dApp's one way to read the protocol's past: `History`. Pages ask it for decoded protocol
 * events (the market's and the registry's) in a block range, optionally only some event types or
 * only one job's; they never call `eth_getLogs` themselves. Today it is backed by the RPC node
 * (`rpcHistory`: bounded block ranges, filtered by topic at the node), which suits the devnet and
 * small networks. An indexer (a later issue) implements the same two calls for a public L2; the
 * Audit page keeps rebuilding from raw logs whatever backs the other pages.
 */
import { formatLog, getAbiItem, numberToHex, pad, toEventSelector, type Address, type Hex, type PublicClient, type RpcLog } from "viem";
import { decodeProtocolEvents, jobMarketAbi, protocolAbi, sortEvents, type FoldEvent } from "@tessellate/sdk";

/** Names of the protocol's events (market, registry and token ABIs). */
export type ProtocolEventName = Extract<(typeof protocolAbi)[number], { type: "event" }>["name"];

export interface HistoryQuery {
  fromBlock: bigint;
  /** Inclusive. */
  toBlock: bigint;
  /** Only these event types; every protocol event when absent. */
  eventNames?: readonly ProtocolEventName[];
  /** Only this job's events (those indexed by its id, and its `Credited` events). */
  jobId?: bigint;
}

export interface History {
  /** The newest block the history can answer for. */
  head(): Promise<bigint>;
  /** Decoded protocol events of [fromBlock, toBlock], in chain order, whole transactions. */
  events(query: HistoryQuery): Promise<FoldEvent[]>;
}

/** Blocks per `eth_getLogs` request: public RPC endpoints cap the range (the CLI uses the same). */
export const LOG_RANGE = 5_000n;

const creditedTopic = toEventSelector(getAbiItem({ abi: jobMarketAbi, name: "Credited" }));
const selectorByName = new Map<string, Hex>();
for (const item of protocolAbi) if (item.type === "event") selectorByName.set(item.name, toEventSelector(item));

/** The History over an RPC node's `eth_getLogs`, one bounded range at a time, filtered by topic. */
export function rpcHistory(client: PublicClient, addresses: { market: Address; registry: Address }, options: { range?: bigint } = {}): History {
  const range = options.range ?? LOG_RANGE;
  const getLogs = async (fromBlock: bigint, toBlock: bigint, topics: (Hex | Hex[] | null)[], address: Address[]) => {
    const raw = (await client.request({
      method: "eth_getLogs",
      params: [{ address, fromBlock: numberToHex(fromBlock), toBlock: numberToHex(toBlock), topics }],
    })) as RpcLog[];
    return raw.map((log) => formatLog(log));
  };
  return {
    head: () => client.getBlockNumber({ cacheTime: 0 }),
    async events(query) {
      const selectors = query.eventNames?.map((name) => selectorByName.get(name)!);
      const byKey = new Map<string, FoldEvent>();
      for (let start = query.fromBlock; start <= query.toBlock; start += range) {
        const end = start + range - 1n < query.toBlock ? start + range - 1n : query.toBlock;
        let logs;
        if (query.jobId === undefined) {
          logs = await getLogs(start, end, selectors ? [selectors] : [], [addresses.market, addresses.registry]);
        } else {
          // Every market event of a job has `jobId` as its first indexed argument, except `Credited` (account, jobId).
          const jobTopic = pad(numberToHex(query.jobId), { size: 32 });
          const wantCredited = !selectors || selectors.includes(creditedTopic);
          const [indexed, credited] = await Promise.all([
            getLogs(start, end, [selectors ?? null, jobTopic], [addresses.market]),
            wantCredited ? getLogs(start, end, [creditedTopic, null, jobTopic], [addresses.market]) : Promise.resolve([]),
          ]);
          logs = [...indexed, ...credited];
        }
        for (const event of decodeProtocolEvents(logs) as unknown as FoldEvent[]) {
          if (query.jobId !== undefined && (event.args as { jobId?: bigint }).jobId !== query.jobId) continue;
          byKey.set(`${event.blockNumber}:${event.logIndex}`, event);
        }
      }
      return sortEvents([...byKey.values()]);
    },
  };
}

/** The block of a job's `JobCreated` event, searched newest range first (recent jobs cost one request); undefined when none. */
export async function findJobCreation(history: History, jobId: bigint, toBlock: bigint): Promise<FoldEvent | undefined> {
  for (let end = toBlock; ; end -= LOG_RANGE) {
    const start = end >= LOG_RANGE - 1n ? end - LOG_RANGE + 1n : 0n;
    const [created] = await history.events({ fromBlock: start, toBlock: end, eventNames: ["JobCreated"], jobId });
    if (created) return created;
    if (start === 0n) return undefined;
  }
}
