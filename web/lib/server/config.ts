/**
 * Reads the dApp's runtime configuration from the server's environment at request time.
 * Precedence: environment > generated deployment (sdk bindings) > default. Every problem names
 * the variable and what to set.
 *
 *   TESSELLATE_RPC_URL            default http://127.0.0.1:8545
 *   TESSELLATE_CHAIN_ID           default 31337 (Hardhat's local node)
 *   TESSELLATE_IPFS_API_URL       default http://127.0.0.1:5001
 *   TESSELLATE_IPFS_GATEWAY_URL   default http://127.0.0.1:8080
 *   TESSELLATE_TOKEN_ADDRESS, TESSELLATE_REGISTRY_ADDRESS, TESSELLATE_MARKET_ADDRESS
 *                                 default: the generated deployment for the chain id
 *   TESSELLATE_POLLING_INTERVAL_MS  default 750 on a local chain, 4000 elsewhere
 *   TESSELLATE_EXPLORER_URL       optional block explorer
 *   TESSELLATE_WALLETCONNECT_PROJECT_ID   optional; enables the WalletConnect option
 * The shared names come from the sdk's ENV (the CLI, the provider node and the devnet use them
 * too); the former TESSELLATE_IPFS_API / TESSELLATE_POLL_INTERVAL_MS are refused with the new name.
 */
import "server-only";
import { z } from "zod";
import { getAddress, isAddress, type Address } from "viem";
import { deployments } from "@tessellate/sdk/contracts.generated";
import { ENV, retiredEnvUses } from "@tessellate/sdk/envNames";
import { DEVNET_ROLES, devnetAccount, devnetPrivateKey } from "../../../scripts/devnet/accounts.ts";
import { LOCAL_CHAIN_ID, type DevAccount, type RuntimeConfig, type RuntimeConfigResult } from "../config.ts";

const httpUrl = (variable: string) =>
  z.url({ protocol: /^https?$/, message: `${variable} must be an http(s) URL like http://127.0.0.1:8545` }).transform((u) => u.replace(/\/+$/, ""));

const address = (variable: string) =>
  z
    .string()
    .refine((value) => isAddress(value, { strict: false }), { message: `${variable} must be a 0x-prefixed 20-byte address` })
    .transform((value) => getAddress(value));

const schema = z.object({
  [ENV.rpcUrl]: httpUrl(ENV.rpcUrl).default("http://127.0.0.1:8545"),
  [ENV.chainId]: z.coerce
    .number({ message: `${ENV.chainId} must be a whole number such as 31337` })
    .int(`${ENV.chainId} must be a whole number such as 31337`)
    .positive(`${ENV.chainId} must be positive`)
    .default(LOCAL_CHAIN_ID),
  [ENV.ipfsApiUrl]: httpUrl(ENV.ipfsApiUrl).default("http://127.0.0.1:5001"),
  [ENV.ipfsGatewayUrl]: httpUrl(ENV.ipfsGatewayUrl).default("http://127.0.0.1:8080"),
  [ENV.token]: address(ENV.token).optional(),
  [ENV.registry]: address(ENV.registry).optional(),
  [ENV.market]: address(ENV.market).optional(),
  [ENV.pollingIntervalMs]: z.coerce
    .number({ message: `${ENV.pollingIntervalMs} must be a number of milliseconds` })
    .int(`${ENV.pollingIntervalMs} must be a whole number of milliseconds`)
    .min(100, `${ENV.pollingIntervalMs} must be at least 100`)
    .max(60_000, `${ENV.pollingIntervalMs} must be at most 60000`)
    .optional(),
  TESSELLATE_EXPLORER_URL: httpUrl("TESSELLATE_EXPLORER_URL").optional(),
  TESSELLATE_WALLETCONNECT_PROJECT_ID: z.string().trim().min(1).optional(),
});

/** The devnet accounts the picker offers: the deployer, the requester and a few providers. */
const DEV_ACCOUNT_COUNT = 8;

function devAccounts(): DevAccount[] {
  return Array.from({ length: DEV_ACCOUNT_COUNT }, (_, index) => ({
    index,
    label:
      index === DEVNET_ROLES.deployer
        ? "deployer"
        : index === DEVNET_ROLES.requester
          ? "requester"
          : `provider ${index - DEVNET_ROLES.firstProvider + 1}`,
    address: devnetAccount(index).address,
    privateKey: devnetPrivateKey(index),
  }));
}

export function loadRuntimeConfig(env: Record<string, string | undefined> = process.env): RuntimeConfigResult {
  // An empty variable counts as unset (a shell's `X= next start`).
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const retired = retiredEnvUses(present).map((use) => use.message);
  const parsed = schema.safeParse(present);
  if (!parsed.success) return { ok: false, problems: [...retired, ...parsed.error.issues.map((issue) => issue.message)] };
  if (retired.length > 0) return { ok: false, problems: retired };
  const e = parsed.data;
  const chainId = e[ENV.chainId];
  const generated = deployments[chainId];
  const pick = (role: "token" | "registry" | "market", fromEnv: Address | undefined): Address | undefined => fromEnv ?? generated?.[role];
  const token = pick("token", e[ENV.token]);
  const registry = pick("registry", e[ENV.registry]);
  const market = pick("market", e[ENV.market]);
  const missing = [
    [ENV.token, token],
    [ENV.registry, registry],
    [ENV.market, market],
  ].filter(([, value]) => !value);
  if (missing.length > 0 || !token || !registry || !market) {
    return {
      ok: false,
      problems: missing.map(
        ([variable]) =>
          `${variable} is not set and the sdk bindings hold no deployment for chain ${chainId}: set it, or deploy and run \`npm run generate\` before \`next build\`.`,
      ),
    };
  }
  const local = chainId === LOCAL_CHAIN_ID;
  const config: RuntimeConfig = {
    chainId,
    chainName: local ? "Tessellate devnet" : `Chain ${chainId}`,
    rpcUrl: e[ENV.rpcUrl],
    local,
    pollingIntervalMs: e[ENV.pollingIntervalMs] ?? (local ? 750 : 4_000),
    ipfsApiUrl: e[ENV.ipfsApiUrl],
    ipfsGatewayUrl: e[ENV.ipfsGatewayUrl],
    addresses: { token, registry, market },
    ...(e.TESSELLATE_EXPLORER_URL ? { explorerUrl: e.TESSELLATE_EXPLORER_URL } : {}),
    ...(e.TESSELLATE_WALLETCONNECT_PROJECT_ID ? { walletConnectProjectId: e.TESSELLATE_WALLETCONNECT_PROJECT_ID } : {}),
    // The devnet's keys are public (Hardhat's test mnemonic); they never leave the server for any other chain.
    ...(local ? { devAccounts: devAccounts() } : {}),
  };
  return { ok: true, config };
}
