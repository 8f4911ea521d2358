/**
 * Which wallet connectors the page offers for a runtime config, as plain data (lib/wagmi.ts
 * makes wagmi's connectors from it): the injected wallets always (EIP-6963 discovery adds the
 * announced ones); the devnet's accounts on chain 31337 (the server sends them for no other
 * chain); and WalletConnect only when a project id is configured and the page runs in a
 * browser. wagmi sets every connector up as its config is made, and WalletConnect's set-up loads
 * its provider (`@walletconnect/ethereum-provider`, imported on demand) and opens its relay,
 * which the server rendering the page must not do. Without a project id no WalletConnect code
 * is loaded and the page talks to nothing but the configured RPC and IPFS hosts.
 */
import type { DevAccount, RuntimeConfig } from "./config.ts";

export type ConnectorChoice =
  | { kind: "injected" }
  | { kind: "devnet"; account: DevAccount }
  /** `pageOrigin` is what WalletConnect shows the wallet as the dApp asking. */
  | { kind: "walletConnect"; projectId: string; pageOrigin: string };

export function connectorChoices(rc: RuntimeConfig, pageOrigin: string | undefined): ConnectorChoice[] {
  return [
    { kind: "injected" },
    ...(rc.devAccounts ?? []).map((account) => ({ kind: "devnet" as const, account })),
    ...(rc.walletConnectProjectId && pageOrigin ? [{ kind: "walletConnect" as const, projectId: rc.walletConnectProjectId, pageOrigin }] : []),
  ];
}
