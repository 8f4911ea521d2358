/**
 * The dApp's runtime configuration: what the server read from its environment when the page
 * was requested (lib/server/config.ts), handed to the browser as plain JSON. Nothing here is
 * baked in at build time, so one build serves any network.
 */
import type { Address, Hex } from "viem";

/** A devnet account offered by the developer account picker (chain 31337 only). */
export interface DevAccount {
  index: number;
  label: string;
  address: Address;
  privateKey: Hex;
}

export interface RuntimeConfig {
  chainId: number;
  chainName: string;
  rpcUrl: string;
  /** A local development chain (Hardhat's 31337): fast polling, developer accounts. */
  local: boolean;
  /** How often reads, watches and receipts poll the RPC. */
  pollingIntervalMs: number;
  ipfsApiUrl: string;
  ipfsGatewayUrl: string;
  addresses: { token: Address; registry: Address; market: Address };
  /** Block explorer base URL (transactions link to `${explorerUrl}/tx/<hash>`), when there is one. */
  explorerUrl?: string;
  /** WalletConnect Cloud project id; the WalletConnect option is offered only when set. */
  walletConnectProjectId?: string;
  /** Only on chain 31337: the devnet's funded, publicly known accounts. */
  devAccounts?: DevAccount[];
}

export type RuntimeConfigResult = { ok: true; config: RuntimeConfig } | { ok: false; problems: string[] };

/** The chain id of Hardhat's local node: the only chain the developer accounts are offered on. */
export const LOCAL_CHAIN_ID = 31337;
