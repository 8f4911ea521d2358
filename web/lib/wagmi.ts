/**
 * The wagmi configuration built in the browser from the server's runtime config: one chain,
 * polled at the configured interval (wagmi and viem poll every 4 s by default, which would
 * make every step on a local chain feel stuck), EIP-6963 wallet discovery, the generic injected
 * provider, and on the devnet one connector per developer account.
 */
import { createConfig, http, type Config, type CreateConnectorFn } from "wagmi";
import { injected } from "wagmi/connectors";
import { defineChain, type Chain } from "viem";
import type { RuntimeConfig } from "./config.ts";
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

export function createWagmiConfig(rc: RuntimeConfig, extra: CreateConnectorFn[] = []): Config {
  const chain = chainOf(rc);
  const devConnectors = (rc.devAccounts ?? []).map((account) =>
    injected({
      target: {
        id: `${DEV_CONNECTOR_PREFIX}${account.index}`,
        name: `Devnet ${account.label}`,
        provider: createKeyProvider({
          privateKey: account.privateKey,
          rpcUrl: rc.rpcUrl,
          chainId: rc.chainId,
          consent: storedConsent(`tessellate.devnet.${rc.chainId}.${account.address}`),
        }) as never,
      },
    }),
  );
  return createConfig({
    chains: [chain],
    transports: { [chain.id]: http(rc.rpcUrl) },
    connectors: [injected(), ...devConnectors, ...extra],
    multiInjectedProviderDiscovery: true,
    pollingInterval: rc.pollingIntervalMs,
    ssr: true,
  });
}
