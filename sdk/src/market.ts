/**
 * The protocol as TypeScript: typed reads and writes of JobMarket, ProviderRegistry and the
 * token, and decoding of their events. Writes are simulated first, so a revert surfaces as a
 * ContractRevertError with the contract's custom error and its arguments before any gas is spent, and
 * are sent one at a time per client so that nonces never collide.
 */
import {
  BaseError,
  getAddress,
  parseEventLogs,
  type Address,
  type ContractFunctionArgs,
  type ContractFunctionReturnType,
  type Hash,
  type Hex,
  type Log,
  type ParseEventLogsReturnType,
  type TransactionReceipt,
} from "viem";
import type { ChainConnection } from "./chain.ts";
import { AbandonReason, jobMarketAbi, providerRegistryAbi, renderTokenAbi, Verification } from "./contracts.generated.ts";
import { ContractRevertError, decodeViemRevert } from "./contractErrors.ts";
import { FatalError, RetryableError } from "./errors.ts";
import { unpackSlots, type SlotRef } from "./protocol/slots.ts";

/** Every event the protocol emits: market, registry and token. */
export const protocolAbi = [...jobMarketAbi, ...providerRegistryAbi, ...renderTokenAbi] as const;

/** The parameters of `createJob` exactly as the contract takes them, typed from the generated ABI. */
export type JobParamsOnChain = ContractFunctionArgs<typeof jobMarketAbi, "nonpayable", "createJob">[0];
/**
 * The parameters of `createJob`: {@link JobParamsOnChain} with `verification`, `toleranceBps` and
 * `auditBps` optional (an Exact job, tolerance 0, no audits, when left out).
 */
export type JobParams = Omit<JobParamsOnChain, "verification" | "toleranceBps" | "auditBps"> &
  Partial<Pick<JobParamsOnChain, "verification" | "toleranceBps" | "auditBps">>;

/** A job's parameters with the defaults filled in (Exact, tolerance 0, no audits), as sent to `createJob`. */
export function onChainJobParams(params: JobParams): JobParamsOnChain {
  return {
    ...params,
    verification: params.verification ?? Verification.Exact,
    toleranceBps: params.toleranceBps ?? 0,
    auditBps: params.auditBps ?? 0,
  };
}

/** What the contracts' views return, typed from the generated ABIs (never declared by hand). */
export type JobView = ContractFunctionReturnType<typeof jobMarketAbi, "view", "jobOf">;
export type SegmentView = ContractFunctionReturnType<typeof jobMarketAbi, "view", "segmentOf">;
export type ReplicaView = ContractFunctionReturnType<typeof jobMarketAbi, "view", "replicaOf">;
export type ProviderView = ContractFunctionReturnType<typeof providerRegistryAbi, "view", "providerOf">;

/** A replica slot (see protocol/slots.ts for how batch events pack them). */
export type Slot = SlotRef;

export interface CommitInput extends Slot {
  commitment: Hex;
}

export interface RevealInput extends Slot {
  digest: Hex;
  salt: Hex;
  resultCid: string;
  /** Tolerant jobs: the result's 256-byte fingerprint (sdk `fingerprint`); left out (empty) in Exact jobs. */
  fingerprint?: Hex;
  /**
   * Tolerant jobs: entry k is the fingerprint replica k of the segment revealed (its
   * `ReplicasRevealed` event), for every other replica already revealed; "0x" elsewhere. See
   * `peerFingerprintsOf` in the protocol fold. Left out (empty) in Exact jobs.
   */
  peerFingerprints?: Hex[];
}

export type ProtocolEvent = ParseEventLogsReturnType<typeof protocolAbi, undefined, true>[number];

export interface TxOutcome {
  hash: Hash;
  receipt: TransactionReceipt;
  gasUsed: bigint;
  /** Protocol events emitted by the transaction, decoded. */
  events: ProtocolEvent[];
}

/** Decodes the protocol's events out of raw logs (others are skipped). */
export function decodeProtocolEvents(logs: Log[]): ProtocolEvent[] {
  return parseEventLogs({ abi: protocolAbi, logs, strict: true }) as ProtocolEvent[];
}

/** Picks the events named `name` from a list, typed. */
export function eventsNamed<N extends ProtocolEvent["eventName"]>(events: ProtocolEvent[], name: N) {
  return events.filter((e): e is Extract<ProtocolEvent, { eventName: N }> => e.eventName === name);
}

/**
 * Turns a viem error into a Tessellate error: a contract revert is a {@link ContractRevertError}
 * carrying the custom error decoded against all three ABIs (`{ name, args }`, see
 * contractErrors.ts); a transport failure is Retryable.
 */
export function toProtocolError(error: unknown, action: string): Error {
  if (error instanceof BaseError) {
    const revert = decodeViemRevert(error);
    if (revert) return new ContractRevertError(action, revert, { cause: error });
    return new RetryableError("CHAIN_REQUEST_FAILED", `${action} failed: ${error.shortMessage}`, { cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * The gas limit sent for an estimate: 30 % more plus 20,000, so that a cost that grows between
 * estimate and inclusion (a claim scanning past slots another provider took in the same block, a
 * reveal that completes a quorum first) still fits. Unused gas is not charged.
 */
export function gasWithHeadroom(estimate: bigint): bigint {
  return estimate + (estimate * 30n) / 100n + 20_000n;
}

export type MarketClient = ReturnType<typeof createMarketClient>;

/** Typed access to the protocol's contracts over a chain connection. */
export function createMarketClient(conn: ChainConnection) {
  const { publicClient, walletClient, addresses } = conn;
  let queue: Promise<unknown> = Promise.resolve();

  function account() {
    if (!walletClient) throw new FatalError("CHAIN_NO_ACCOUNT", "This action sends a transaction: configure a key (keystore file or environment variable).");
    return walletClient.account;
  }

  /**
   * Simulates, sends and waits for one transaction; writes of one client run one after another.
   * The gas limit is the estimate plus {@link gasWithHeadroom}'s margin, so a transaction whose
   * cost grew between estimate and inclusion (another provider's claim landed first) does not run
   * out of gas. A transaction that reverts on-chain anyway is explained: out of gas is retryable;
   * otherwise the call is simulated again against the block it was mined in, and the contract's
   * error decoded (a lost race reads e.g. `JobMarketClaimWindowClosed`, not "reverted").
   */
  function send(
    target: { address: Address; abi: typeof jobMarketAbi | typeof providerRegistryAbi | typeof renderTokenAbi },
    functionName: string,
    args: readonly unknown[],
  ): Promise<TxOutcome> {
    const run = async (): Promise<TxOutcome> => {
      const from = account();
      // Against the pending block: the one this transaction joins. A ticket requested in the latest
      // block is due there (and its resolution's gas counted), not in the latest block itself.
      const call = { address: target.address, abi: target.abi, functionName, args, account: from, blockTag: "pending" } as Parameters<typeof publicClient.simulateContract>[0];
      let request;
      let gas: bigint;
      try {
        ({ request } = await publicClient.simulateContract(call));
        gas = gasWithHeadroom(await publicClient.estimateContractGas(call as Parameters<typeof publicClient.estimateContractGas>[0]));
      } catch (error) {
        throw toProtocolError(error, functionName);
      }
      let hash: Hash;
      try {
        hash = await walletClient!.writeContract({ ...request, gas } as Parameters<NonNullable<typeof walletClient>["writeContract"]>[0]);
      } catch (error) {
        throw toProtocolError(error, functionName);
      }
      const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: conn.pollingIntervalMs });
      if (receipt.status !== "success") throw await explainOnChainRevert(call, hash, receipt.blockNumber, receipt.gasUsed, gas);
      return { hash, receipt, gasUsed: receipt.gasUsed, events: decodeProtocolEvents(receipt.logs) };
    };
    const next = queue.then(run, run);
    queue = next.catch(() => undefined);
    return next;
  }

  /** Why a mined transaction reverted, as the error the caller decides on. */
  async function explainOnChainRevert(
    call: Parameters<typeof publicClient.simulateContract>[0],
    hash: Hash,
    blockNumber: bigint,
    gasUsed: bigint,
    gasLimit: bigint,
  ): Promise<Error> {
    const action = call.functionName;
    if (gasUsed >= gasLimit) {
      return new RetryableError("CHAIN_OUT_OF_GAS", `${action} transaction ${hash} ran out of gas (used all of its ${gasLimit} limit); trying again estimates anew`);
    }
    try {
      await publicClient.simulateContract({ ...call, blockTag: undefined, blockNumber } as Parameters<typeof publicClient.simulateContract>[0]);
    } catch (error) {
      const decoded = toProtocolError(error, action);
      if (decoded instanceof ContractRevertError) return decoded;
    }
    return new FatalError("CHAIN_TX_REVERTED", `${action} transaction ${hash} reverted on-chain in block ${blockNumber} (used ${gasUsed} of ${gasLimit} gas); the same call succeeds against that block's final state, so an earlier transaction of the block decided it`);
  }

  const market = { address: addresses.market, abi: jobMarketAbi } as const;
  const registry = { address: addresses.registry, abi: providerRegistryAbi } as const;
  const token = { address: addresses.token, abi: renderTokenAbi } as const;
  const read = <T>(target: typeof market | typeof registry | typeof token, functionName: string, args: readonly unknown[] = []) =>
    publicClient.readContract({ address: target.address, abi: target.abi, functionName, args } as Parameters<
      typeof publicClient.readContract
    >[0]) as Promise<T>;

  return {
    conn,
    addresses,
    get account(): Address | undefined {
      return walletClient?.account.address;
    },

    // ------------------------------------------------------------ reads
    jobOf: (jobId: bigint) => read<JobView>(market, "jobOf", [jobId]),
    segmentOf: (jobId: bigint, segment: number) => read<SegmentView>(market, "segmentOf", [jobId, segment]),
    replicaOf: (jobId: bigint, segment: number, replica: number) => read<ReplicaView>(market, "replicaOf", [jobId, segment, replica]),
    jobCount: () => read<bigint>(market, "jobCount"),
    marketBalanceOf: (who: Address) => read<bigint>(market, "balanceOf", [who]),
    totalEscrow: () => read<bigint>(market, "totalEscrow"),
    totalBalances: () => read<bigint>(market, "totalBalances"),
    feeBps: () => read<number>(market, "feeBps"),
    /** Shortest lease and reveal window this deployment accepts (seconds, fixed at deployment). */
    minLease: () => read<number>(market, "minLease"),
    minRevealWindow: () => read<number>(market, "minRevealWindow"),
    treasury: () => read<Address>(market, "treasury"),
    providerOf: (who: Address) => read<ProviderView>(registry, "providerOf", [who]),
    freeStake: (who: Address) => read<bigint>(registry, "freeStake", [who]),
    totalStaked: () => read<bigint>(registry, "totalStaked"),
    tokenBalanceOf: (who: Address) => read<bigint>(token, "balanceOf", [who]),
    allowance: (owner: Address, spender: Address) => read<bigint>(token, "allowance", [owner, spender]),
    latestTimestamp: async () => (await publicClient.getBlock({ blockTag: "latest" })).timestamp,

    // ------------------------------------------------------------ requester
    approve: (spender: Address, amount: bigint) => send(token, "approve", [spender, amount]),
    transferToken: (to: Address, amount: bigint) => send(token, "transfer", [to, amount]),
    createJob: async (params: JobParams) => {
      const outcome = await send(market, "createJob", [onChainJobParams(params)]);
      const [created] = eventsNamed(outcome.events, "JobCreated");
      return { ...outcome, jobId: created.args.jobId };
    },
    /** `createJob` paying the escrow with an EIP-2612 permit signature instead of an approval. */
    createJobWithPermit: async (params: JobParams, permit: { deadline: bigint; v: number; r: Hex; s: Hex }) => {
      const outcome = await send(market, "createJobWithPermit", [onChainJobParams(params), permit.deadline, permit.v, permit.r, permit.s]);
      const [created] = eventsNamed(outcome.events, "JobCreated");
      return { ...outcome, jobId: created.args.jobId };
    },
    cancelJob: (jobId: bigint) => send(market, "cancelJob", [jobId]),
    closeSegments: (jobId: bigint, segments: number[]) => send(market, "closeSegments", [jobId, segments]),
    /** Draws the audit of audited segments that reached quorum in an earlier block (JobMarket.auditSegments). */
    auditSegments: (jobId: bigint, segments: number[]) => send(market, "auditSegments", [jobId, segments]),
    recordOutput: (jobId: bigint, outputCid: string) => send(market, "recordOutput", [jobId, outputCid]),

    // ------------------------------------------------------------ provider
    register: (profileCid: string) => send(registry, "register", [profileCid]),
    updateProfile: (profileCid: string) => send(registry, "updateProfile", [profileCid]),
    stake: (amount: bigint) => send(registry, "stake", [amount]),
    requestUnstake: (amount: bigint) => send(registry, "requestUnstake", [amount]),
    withdrawStake: () => send(registry, "withdrawStake", []),
    /** Asks for `count` slots (locks their collateral); the ticket resolves in a later block. */
    requestClaim: (jobId: bigint, count: number) => send(market, "requestClaim", [jobId, BigInt(count)]),
    /** Resolves the job's due tickets (anyone's, oldest first); a ticket is due the block after its request. */
    resolveClaims: (jobId: bigint) => send(market, "resolveClaims", [jobId]),
    /**
     * Claims as a provider does: `requestClaim`, then `resolveClaims` in a later block (the request's
     * block hash, unknown when it was signed, draws the slots). Returns the slots assigned to this
     * account in either transaction and `unfilled`, the slots its ticket found nothing open for
     * (ClaimLapsed). A ticket resolved in passing by someone else's transaction in between shows in
     * neither: read the events (both are then empty/0).
     */
    claim: async (jobId: bigint, count: number) => {
      const me = account().address;
      const request = await send(market, "requestClaim", [jobId, BigInt(count)]);
      const resolution = await send(market, "resolveClaims", [jobId]);
      const events = [...request.events, ...resolution.events];
      const mine = eventsNamed(events, "ReplicasClaimed").filter((e) => getAddress(e.args.provider) === getAddress(me));
      const slots = mine.flatMap((e) => unpackSlots(e.args.slots).map((slot) => ({ ...slot, leaseEnd: e.args.leaseEnd })));
      // Slots of this account's tickets that found nothing open (0 when another transaction resolved the ticket).
      const unfilled = eventsNamed(events, "ClaimLapsed")
        .filter((e) => getAddress(e.args.provider) === getAddress(me))
        .reduce((sum, e) => sum + Number(e.args.unfilled), 0);
      return { ...resolution, request, leaseEnd: mine.at(-1)?.args.leaseEnd, slots, unfilled };
    },
    commit: (jobId: bigint, commits: CommitInput[]) => send(market, "commit", [jobId, commits]),
    reveal: (jobId: bigint, reveals: RevealInput[]) =>
      send(market, "reveal", [jobId, reveals.map((r) => ({ ...r, fingerprint: r.fingerprint ?? "0x", peerFingerprints: r.peerFingerprints ?? [] }))]),
    /** Gives slots back; `reason` and `detail` are published in `ReplicaAbandoned` for the requester. */
    abandon: (jobId: bigint, slots: Slot[], reason: AbandonReason = AbandonReason.Unspecified, detail = "") =>
      send(market, "abandon", [jobId, slots, reason, detail]),
    expire: (jobId: bigint, slots: Slot[]) => send(market, "expire", [jobId, slots]),
    withdraw: () => send(market, "withdraw", []),

    // ------------------------------------------------------------ history
    /** Decoded protocol events in [fromBlock, toBlock], fetched in chunks of `chunk` blocks. */
    async events(fromBlock: bigint, toBlock: bigint, chunk = 5_000n): Promise<ProtocolEvent[]> {
      const all: ProtocolEvent[] = [];
      for (let start = fromBlock; start <= toBlock; start += chunk) {
        const end = start + chunk - 1n < toBlock ? start + chunk - 1n : toBlock;
        let logs: Log[];
        try {
          logs = await publicClient.getLogs({ address: [addresses.market, addresses.registry], fromBlock: start, toBlock: end });
        } catch (error) {
          throw toProtocolError(error, "reading event logs");
        }
        all.push(...decodeProtocolEvents(logs));
      }
      return all;
    },
    blockNumber: () => publicClient.getBlockNumber({ cacheTime: 0 }),
  };
}
