/**
 * The provider node's boundaries with the outside world, as interfaces: the chain (through the
 * market), the clock and the logger. Storage (`Storage` from the sdk) and engines
 * (`EngineRegistry`) have their own. The real implementations are wired in `main.ts`; tests
 * substitute fakes (`testing/fakeMarket.ts`, `testing/fakeEngine.ts`).
 */
import type { Address, Hex } from "viem";
import type { CommitInput, MarketClient, ProtocolEvent, RevealInput, Slot } from "@tessellate/sdk";
import type { AbandonReason } from "@tessellate/sdk/protocol";
import { profileCidsFromEvents } from "@tessellate/sdk/providerOffers";
import type {
  JobView as ContractJobView,
  ProviderView as ContractProviderView,
  ReplicaView,
  SegmentView as ContractSegmentView,
} from "@tessellate/sdk";

/** The parts of the contracts' views the node reads (narrower, so fakes stay small). */
export type JobView = Omit<ContractJobView, "segmentsTouched" | "feeBps" | "escrow">;
export type SegmentView = Omit<ContractSegmentView, "acceptedSeal">;
export type ProviderView = Omit<ContractProviderView, "unbondingReadyAt">;
export type { ReplicaView };

/** One decoded protocol event with its position in the chain. */
export type ChainEvent = {
  [N in ProtocolEvent["eventName"]]: {
    eventName: N;
    args: Extract<ProtocolEvent, { eventName: N }>["args"];
    blockNumber: bigint;
    logIndex: number;
    transactionHash: Hex;
  };
}[ProtocolEvent["eventName"]];

export type ChainEventNamed<N extends ChainEvent["eventName"]> = Extract<ChainEvent, { eventName: N }>;

/** What a sent transaction gives back. */
export interface TxResult {
  hash: Hex;
  gasUsed: bigint;
}

/** The protocol as the node uses it. `createMarketPort` adapts the sdk's market client. */
export interface MarketPort {
  /** The signing account. */
  readonly account: Address;
  /** How often to poll for new blocks. */
  readonly pollingIntervalMs: number;
  blockNumber(): Promise<bigint>;
  /** Hash of block `number` (to notice a chain that was reset under the node). */
  blockHash(number: bigint): Promise<Hex>;
  /** Decoded protocol events in [from, to]. */
  events(fromBlock: bigint, toBlock: bigint): Promise<ChainEvent[]>;
  latestTimestamp(): Promise<bigint>;
  gasPrice(): Promise<bigint>;
  jobOf(jobId: bigint): Promise<JobView>;
  segmentOf(jobId: bigint, segment: number): Promise<SegmentView>;
  replicaOf(jobId: bigint, segment: number, replica: number): Promise<ReplicaView>;
  providerOf(who: Address): Promise<ProviderView>;
  freeStake(who: Address): Promise<bigint>;
  marketBalanceOf(who: Address): Promise<bigint>;
  /** Requests `count` slots and resolves the ticket in the next block (JobMarket.requestClaim, resolveClaims). */
  claim(jobId: bigint, count: number): Promise<TxResult & { slots: { segment: number; replica: number; leaseEnd: bigint }[]; unfilled: number }>;
  /** Resolves the job's due claim tickets, this node's among them (after a restart between request and resolution). */
  resolveClaims(jobId: bigint): Promise<TxResult>;
  commit(jobId: bigint, commits: CommitInput[]): Promise<TxResult>;
  reveal(jobId: bigint, reveals: RevealInput[]): Promise<TxResult>;
  /** Gives slots back, publishing why (`AbandonReason`) and in words (at most MAX_ABANDON_DETAIL bytes). */
  abandon(jobId: bigint, slots: Slot[], reason: AbandonReason, detail: string): Promise<TxResult>;
  expire(jobId: bigint, slots: Slot[]): Promise<TxResult>;
  closeSegments(jobId: bigint, segments: number[]): Promise<TxResult>;
  /** Draws the audit of segments that reached quorum in an audited job (JobMarket.auditSegments). */
  auditSegments(jobId: bigint, segments: number[]): Promise<TxResult>;
  withdraw(): Promise<TxResult>;
  /** The node's latest registered profile CID (registry events), undefined when it never registered. Optional: test markets may leave it out. */
  profileCid?(who: Address): Promise<string | undefined>;
  /** Points the registry at a new profile (`updateProfile`). */
  updateProfile?(profileCid: string): Promise<TxResult>;
}

/** Adapts the sdk's market client (which must have an account) to {@link MarketPort}. */
export function createMarketPort(client: MarketClient): MarketPort {
  const account = client.account;
  if (!account) throw new Error("createMarketPort: the market client has no account — connect the chain with a signing account");
  const { publicClient } = client.conn;
  return {
    account,
    pollingIntervalMs: client.conn.pollingIntervalMs,
    blockNumber: () => client.blockNumber(),
    blockHash: async (number) => (await publicClient.getBlock({ blockNumber: number })).hash,
    events: (from, to) => client.events(from, to) as Promise<ChainEvent[]>,
    latestTimestamp: () => client.latestTimestamp(),
    gasPrice: () => publicClient.getGasPrice(),
    jobOf: (jobId) => client.jobOf(jobId),
    segmentOf: (jobId, segment) => client.segmentOf(jobId, segment),
    replicaOf: (jobId, segment, replica) => client.replicaOf(jobId, segment, replica),
    providerOf: (who) => client.providerOf(who),
    freeStake: (who) => client.freeStake(who),
    marketBalanceOf: (who) => client.marketBalanceOf(who),
    claim: (jobId, count) => client.claim(jobId, count),
    resolveClaims: (jobId) => client.resolveClaims(jobId),
    commit: (jobId, commits) => client.commit(jobId, commits),
    reveal: (jobId, reveals) => client.reveal(jobId, reveals),
    abandon: (jobId, slots, reason, detail) => client.abandon(jobId, slots, reason, detail),
    expire: (jobId, slots) => client.expire(jobId, slots),
    closeSegments: (jobId, segments) => client.closeSegments(jobId, segments),
    auditSegments: (jobId, segments) => client.auditSegments(jobId, segments),
    withdraw: () => client.withdraw(),
    profileCid: async (who) => {
      const cids = await profileCidsFromEvents(publicClient, client.addresses.registry, await client.blockNumber());
      return [...cids].find(([provider]) => provider.toLowerCase() === who.toLowerCase())?.[1];
    },
    updateProfile: (profileCid) => client.updateProfile(profileCid),
  };
}

/** Wall-clock time and waiting, so tests can move time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    }),
};

/** The logging surface the parts use (pino's, narrowed). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}
