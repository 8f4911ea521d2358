/**
 * The environment variables that more than one Tessellate program reads, named once: the
 * requester CLI, the provider node, the dApp's runtime config and the devnet scripts all use these
 * constants, so what one of them prints (`npm run devnet:chain`'s "act as the requester" lines)
 * drives the others. Program-specific variables (the provider's limits, the dApp's explorer URL)
 * stay with their program. Browser-safe: names only, no `process.env` access.
 */
export const ENV = {
  rpcUrl: "TESSELLATE_RPC_URL",
  chainId: "TESSELLATE_CHAIN_ID",
  ipfsApiUrl: "TESSELLATE_IPFS_API_URL",
  ipfsGatewayUrl: "TESSELLATE_IPFS_GATEWAY_URL",
  pollingIntervalMs: "TESSELLATE_POLLING_INTERVAL_MS",
  market: "TESSELLATE_MARKET_ADDRESS",
  registry: "TESSELLATE_REGISTRY_ADDRESS",
  token: "TESSELLATE_TOKEN_ADDRESS",
  privateKey: "TESSELLATE_PRIVATE_KEY",
  keystore: "TESSELLATE_KEYSTORE",
  keystorePassword: "TESSELLATE_KEYSTORE_PASSWORD",
} as const;

export type EnvName = (typeof ENV)[keyof typeof ENV];

/** Names an earlier release of the CLI or the dApp read, with the name that replaced each. */
export const RETIRED_ENV: Readonly<Record<string, EnvName>> = {
  TESSELLATE_IPFS_API: ENV.ipfsApiUrl,
  TESSELLATE_POLL_INTERVAL_MS: ENV.pollingIntervalMs,
};

/** A retired variable found set, and what to do about it. */
export interface RetiredEnvUse {
  variable: string;
  replacement: EnvName;
  /** e.g. `TESSELLATE_IPFS_API is no longer read: rename it to TESSELLATE_IPFS_API_URL` */
  message: string;
}

/**
 * The retired variables that are set (non-empty) in `env`. Programs refuse to start with any of
 * them rather than silently ignoring a setting the user meant.
 */
export function retiredEnvUses(env: Readonly<Record<string, string | undefined>>): RetiredEnvUse[] {
  return Object.entries(RETIRED_ENV)
    .filter(([variable]) => env[variable] !== undefined && env[variable] !== "")
    .map(([variable, replacement]) => ({
      variable,
      replacement,
      message: `${variable} is no longer read: rename it to ${replacement} (the name the CLI, the provider node, the dApp and the devnet scripts share)`,
    }));
}
