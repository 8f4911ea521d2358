/**
 * Chain access for every Tessellate program: viem clients for an RPC URL, with a short polling
 * interval on local chains (viem's 4 s default would add seconds to every step of a job), and
 * the protocol's contract addresses for the connected chain.
 */
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type Account,
  type Address,
  type Chain,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { deployments } from "./contracts.generated.ts";
import { FatalError, RetryableError } from "./errors.ts";

export interface ContractAddresses {
  token: Address;
  registry: Address;
  market: Address;
}

export interface ChainOptions {
  rpcUrl: string;
  /** Overrides the addresses of the generated deployments (any EVM chain, any deployment). */
  addresses?: Partial<ContractAddresses>;
  /** Polling interval for watches and receipts; defaults to 100 ms on local chains, 2 s elsewhere. */
  pollingIntervalMs?: number;
  /** Signs transactions when given (a private-key or JSON-RPC account). */
  account?: Account;
}

export interface ChainConnection {
  chain: Chain;
  chainId: number;
  addresses: ContractAddresses;
  publicClient: PublicClient<Transport, Chain>;
  walletClient?: WalletClient<Transport, Chain, Account>;
  pollingIntervalMs: number;
}

/** Local RPC endpoints (the devnet's Hardhat node): polled fast. */
export function isLocalRpc(rpcUrl: string): boolean {
  try {
    const host = new URL(rpcUrl).hostname;
    return host === "localhost" || host === "::1" || host === "[::1]" || host.startsWith("127.");
  } catch {
    return false;
  }
}

/** Connects to the chain at `rpcUrl`, learns its id and resolves the contract addresses. */
export async function connectChain(options: ChainOptions): Promise<ChainConnection> {
  const local = isLocalRpc(options.rpcUrl);
  const pollingIntervalMs = options.pollingIntervalMs ?? (local ? 100 : 2_000);
  const transport = http(options.rpcUrl, { retryCount: 3, retryDelay: local ? 50 : 500, timeout: 30_000 });
  let chainId: number;
  try {
    chainId = await createPublicClient({ transport }).getChainId();
  } catch (error) {
    throw new RetryableError(
      "CHAIN_UNAVAILABLE",
      `Cannot reach the chain RPC at ${options.rpcUrl}: is the node running? (${(error as Error).message.split("\n")[0]})`,
      { cause: error },
    );
  }
  const chain = defineChain({
    id: chainId,
    name: local ? "Tessellate devnet" : `chain ${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  });
  const addresses = resolveAddresses(chainId, options.addresses);
  const publicClient = createPublicClient({ chain, transport, pollingInterval: pollingIntervalMs });
  const walletClient = options.account
    ? createWalletClient({ chain, transport, account: options.account, pollingInterval: pollingIntervalMs })
    : undefined;
  return { chain, chainId, addresses, publicClient, walletClient, pollingIntervalMs };
}

/** Generated deployment of `chainId`, with explicit overrides on top; every address required. */
export function resolveAddresses(chainId: number, overrides: Partial<ContractAddresses> = {}): ContractAddresses {
  const known = deployments[chainId] ?? {};
  const merged = { ...known, ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v)) } as Partial<ContractAddresses>;
  const missing = (["token", "registry", "market"] as const).filter((k) => !merged[k]);
  if (missing.length > 0) {
    throw new FatalError(
      "CHAIN_NO_DEPLOYMENT",
      `No Tessellate deployment is known for chain ${chainId} (missing: ${missing.join(", ")}). ` +
        "Deploy with Ignition and run `npm run generate`, or pass the market, registry and token addresses explicitly.",
    );
  }
  return merged as ContractAddresses;
}
