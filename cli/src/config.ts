/**
 * The CLI's configuration, validated once at start-up (zod). Precedence: command-line flag >
 * environment variable > default; the defaults live in {@link CONFIG_DEFAULTS}. The signing key
 * has no default: it comes from `TESSELLATE_PRIVATE_KEY`, or from a V3 keystore file
 * (`--keystore` / `TESSELLATE_KEYSTORE`) opened with `TESSELLATE_KEYSTORE_PASSWORD`. The key is
 * read only when a command sends a transaction, is never part of the config object, and never
 * appears in a message. The variable names are the sdk's shared {@link ENV} (the provider node and
 * the devnet scripts use the same); the CLI's former names (`TESSELLATE_IPFS_API`,
 * `TESSELLATE_POLL_INTERVAL_MS`) are refused with the new name.
 */
import { readFile } from "node:fs/promises";
import { isAddress, type Account, type Address } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { z } from "zod";
import { FatalError } from "@tessellate/sdk/errors";
import { ENV, retiredEnvUses } from "@tessellate/sdk/envNames";
import type { ContractAddresses } from "@tessellate/sdk/chain";
import { UsageError, UsageErrors } from "./errors.ts";
import { decryptKeystore } from "@tessellate/sdk/node";

/** Defaults, in one place: the devnet's chain and IPFS node on this machine. */
export const CONFIG_DEFAULTS = {
  rpcUrl: "http://127.0.0.1:8545",
  ipfsApiUrl: "http://127.0.0.1:5001",
} as const;

/** Environment variables the CLI reads. */
export const CONFIG_ENV = {
  rpcUrl: ENV.rpcUrl,
  ipfsApiUrl: ENV.ipfsApiUrl,
  market: ENV.market,
  registry: ENV.registry,
  token: ENV.token,
  privateKey: ENV.privateKey,
  keystore: ENV.keystore,
  keystorePassword: ENV.keystorePassword,
  pollIntervalMs: ENV.pollingIntervalMs,
} as const;

/** Global flags as commander parses them. */
export interface ConfigFlags {
  rpcUrl?: string;
  ipfsApi?: string;
  market?: string;
  registry?: string;
  token?: string;
  keystore?: string;
  pollInterval?: string;
}

/** Where the signing key comes from (never the key itself). */
export type KeySource =
  | { kind: "env"; variable: string }
  | { kind: "keystore"; path: string; from: "--keystore" | typeof CONFIG_ENV.keystore };

export interface CliConfig {
  rpcUrl: string;
  ipfsApiUrl: string;
  /** Address overrides on top of the generated deployments. */
  addresses: Partial<ContractAddresses>;
  /** Polling interval of chain watches; the sdk picks one by RPC URL when absent. */
  pollIntervalMs?: number;
  /** Where the signing key comes from; undefined when none is configured (read-only commands still work). */
  key?: KeySource;
}

type Env = Record<string, string | undefined>;

/** One setting: its value, and how to name its source in an error. */
interface Sourced {
  value: string | undefined;
  name: string;
  example: string;
}

function pick(flagValue: string | undefined, flag: string, env: Env, variable: string, example: string, fallback?: string): Sourced {
  if (flagValue !== undefined) return { value: flagValue, name: flag, example };
  const fromEnv = env[variable];
  if (fromEnv !== undefined && fromEnv !== "") return { value: fromEnv, name: variable, example };
  return { value: fallback, name: `${flag} (or ${variable})`, example };
}

const urlSchema = z.url({ protocol: /^(https?|wss?)$/ });

/**
 * Merges flags, environment and defaults and validates them.
 * @throws UsageErrors naming each bad flag or variable and how to fix it (exit code 2).
 */
export function loadConfig(flags: ConfigFlags, env: Env = process.env): CliConfig {
  const problems: UsageError[] = retiredEnvUses(env).map(
    (use) => new UsageError(use.variable, "is no longer read", `rename it to ${use.replacement} (the name the CLI, the provider node, the dApp and the devnet scripts share)`),
  );
  const rpc = pick(flags.rpcUrl, "--rpc-url", env, CONFIG_ENV.rpcUrl, "http://127.0.0.1:8545", CONFIG_DEFAULTS.rpcUrl);
  const ipfs = pick(flags.ipfsApi, "--ipfs-api", env, CONFIG_ENV.ipfsApiUrl, "http://127.0.0.1:5001", CONFIG_DEFAULTS.ipfsApiUrl);
  for (const [setting, what] of [[rpc, "the chain's JSON-RPC endpoint"], [ipfs, "the Kubo RPC API of an IPFS node"]] as const) {
    if (!urlSchema.safeParse(setting.value).success) {
      problems.push(new UsageError(setting.name, `"${setting.value}" is not an http(s) URL`, `give ${what}, e.g. ${setting.name.split(" ")[0]} ${setting.example}`));
    }
  }

  const addresses: Partial<ContractAddresses> = {};
  for (const key of ["market", "registry", "token"] as const) {
    const setting = pick(flags[key], `--${key}`, env, CONFIG_ENV[key], "0x5FbDB2315678afecb367f032d93F642f64180aa3");
    if (setting.value === undefined) continue;
    if (!isAddress(setting.value, { strict: false })) {
      problems.push(new UsageError(setting.name, `"${setting.value}" is not an address`, `give the ${key} contract's 0x-address (40 hex digits), or leave it out to use the generated deployment`));
    } else {
      addresses[key] = setting.value as Address;
    }
  }

  let pollIntervalMs: number | undefined;
  const poll = pick(flags.pollInterval, "--poll-interval", env, CONFIG_ENV.pollIntervalMs, "500");
  if (poll.value !== undefined) {
    const parsed = z.coerce.number().int().min(10).max(600_000).safeParse(poll.value);
    if (parsed.success) pollIntervalMs = parsed.data;
    else problems.push(new UsageError(poll.name, `"${poll.value}" is not a polling interval`, "give milliseconds from 10 to 600000, e.g. 500"));
  }

  let key: KeySource | undefined;
  const envKey = env[CONFIG_ENV.privateKey];
  const envKeystore = env[CONFIG_ENV.keystore];
  if (flags.keystore !== undefined) {
    key = { kind: "keystore", path: flags.keystore, from: "--keystore" };
  } else if (envKey && envKeystore) {
    problems.push(new UsageError(CONFIG_ENV.privateKey, `and ${CONFIG_ENV.keystore} are both set`, `keep one: unset ${CONFIG_ENV.keystore}, or unset ${CONFIG_ENV.privateKey}, or pass --keystore to choose the file`));
  } else if (envKey) {
    key = { kind: "env", variable: CONFIG_ENV.privateKey };
  } else if (envKeystore) {
    key = { kind: "keystore", path: envKeystore, from: CONFIG_ENV.keystore };
  }

  if (problems.length > 0) throw new UsageErrors(problems);
  return { rpcUrl: rpc.value!, ipfsApiUrl: ipfs.value!, addresses, pollIntervalMs, key };
}

/** How to configure a key, for error messages. */
export const KEY_HELP = `set ${CONFIG_ENV.privateKey} to the requester's private key, or pass --keystore <file> (a V3 keystore) with its password in ${CONFIG_ENV.keystorePassword}`;

/**
 * The signing account of the configuration, or undefined when no key is configured.
 * @throws UsageError when the key is malformed, the keystore cannot be read or opened.
 */
export async function loadAccount(config: CliConfig, env: Env = process.env): Promise<Account | undefined> {
  const source = config.key;
  if (!source) return undefined;
  if (source.kind === "env") {
    const raw = (env[source.variable] ?? "").trim();
    const hex = raw.startsWith("0x") ? raw : `0x${raw}`;
    if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) {
      throw new UsageError(source.variable, "is not a private key (0x followed by 64 hex digits)", `set it to the account's 32-byte private key, or use --keystore instead`);
    }
    return privateKeyToAccount(hex as `0x${string}`);
  }
  const password = env[CONFIG_ENV.keystorePassword];
  if (password === undefined) {
    throw new UsageError(CONFIG_ENV.keystorePassword, "is not set", `export the password of ${source.path} in ${CONFIG_ENV.keystorePassword} (it is never read from a flag, so it stays out of your shell history)`);
  }
  let text: string;
  try {
    text = await readFile(source.path, "utf8");
  } catch (error) {
    throw new UsageError(source.from, `cannot read ${source.path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, "give the path of a V3 keystore file", { cause: error });
  }
  try {
    return privateKeyToAccount(await decryptKeystore(text, password, source.path));
  } catch (error) {
    if (error instanceof FatalError && error.code === "KEYSTORE_WRONG_PASSWORD") {
      throw new UsageError(CONFIG_ENV.keystorePassword, `the password does not open ${source.path}`, "export the keystore's password", { cause: error });
    }
    if (error instanceof FatalError) throw new UsageError(source.from, error.message, "give the path of a V3 keystore file", { cause: error });
    throw error;
  }
}

/** The account, or a usage error saying how to configure one (for commands that send transactions). */
export async function requireAccount(config: CliConfig, env: Env = process.env): Promise<Account> {
  const account = await loadAccount(config, env);
  if (!account) throw new UsageError("key", "this command sends transactions but no key is configured", KEY_HELP);
  return account;
}
