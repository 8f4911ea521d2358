/**
 * The wagmi configuration built in the browser from the server's runtime config: one chain,
 * polled at the configured interval (wagmi and viem poll every 4 s by default, which would
 * make every step on a local chain feel stuck), EIP-6963 wallet discovery, the generic injected
 * provider, on the devnet one connector per developer account, and WalletConnect only when a
 * project id is configured (lib/connectorChoices.ts).
 */
import { createConfig, http, type Config, type CreateConnectorFn } from "wagmi";
import { injected, walletConnect } from "wagmi/connectors";
import { defineChain, type Chain } from "viem";
import type { RuntimeConfig } from "./config.ts";
import { connectorChoices } from "./connectorChoices.ts";
import { createKeyProvider, storedConsent } from "./keyProvider.ts";

/** Connector ids of the developer accounts start with this. */
export const DEV_CONNECTOR_PREFIX = "devnet-";

export function chainOf(rc: RuntimeConfig): Chain {
  return defineChain({
    id: rc.chainId,
    name: rc.chainName,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rc.rpcUrl] } },
    ...(rc.explorerUrl ? { blockExplorers: { default: { name: "Explorer", url: rc.explorerUrl } } } : {}),
  });
}

/** wagmi's connectors for the page's choices (lib/connectorChoices.ts). */
function connectorsFor(rc: RuntimeConfig, pageOrigin: string | undefined = typeof window === "undefined" ? undefined : window.location.origin): CreateConnectorFn[] {
  return connectorChoices(rc, pageOrigin).map((choice) => {
    switch (choice.kind) {
      case "injected":
        return injected();
      case "devnet":
        return injected({
          target: {
            id: `${DEV_CONNECTOR_PREFIX}${choice.account.index}`,
            name: `Devnet ${choice.account.label}`,
            provider: createKeyProvider({
              privateKey: choice.account.privateKey,
              rpcUrl: rc.rpcUrl,
              chainId: rc.chainId,
              consent: storedConsent(`tessellate.devnet.${rc.chainId}.${choice.account.address}`),
            }) as never,
          },
        });
      case "walletConnect":
        return walletConnect({
          projectId: choice.projectId,
          showQrModal: true,
          metadata: { name: "Tessellate", description: "A rendering marketplace", url: choice.pageOrigin, icons: [] },
        });
    }
  });
}

export function createWagmiConfig(rc: RuntimeConfig, extra: CreateConnectorFn[] = []): Config {
  const chain = chainOf(rc);
  return createConfig({
    chains: [chain],
    transports: { [chain.id]: http(rc.rpcUrl) },
    connectors: [...connectorsFor(rc), ...extra],
    multiInjectedProviderDiscovery: true,
    pollingInterval: rc.pollingIntervalMs,
    ssr: true,
  });
}
