/**
 * The provider node's configuration: one zod schema, one table of fields, one precedence rule:
 *
 *   command-line flag  >  environment (TESSELLATE_*)  >  config file (JSON)  >  defaults.ts
 *
 * Validation reports every problem at once, each naming the field, where its value came from and
 * how to fix it. The private key and the keystore password are never part of the config object:
 * they are read from the environment by `keySource.ts` when the node signs, so a config can be
 * printed or logged safely (the API token is redacted by {@link redactConfig}).
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Option, type Command } from "commander";
import { isAddress, parseUnits, type Address } from "viem";
import { z } from "zod";
import { FatalError } from "@tessellate/sdk/errors";
import { ENV, retiredEnvUses } from "@tessellate/sdk/envNames";
import { DEFAULTS } from "./defaults.ts";

/** The test-only cheap renders of `testing.cheat` (worker/renderSegment.ts applies them). */
/** `swapped-result` renders honestly and reveals the honest fingerprint, but publishes (and digests) another image. */
export const CHEAT_MODES = ["fewer-samples", "another-seed", "neighbouring-frame", "half-resolution", "swapped-result"] as const;
export type CheatMode = (typeof CHEAT_MODES)[number];
/** Environment variable that must be "1" for any `testing.*` mode to be accepted. */
export const ALLOW_TEST_MODES_ENV = "TESSELLATE_ALLOW_TEST_MODES";
/** Environment variable naming the config file (also `--config`). */
export const CONFIG_FILE_ENV = "TESSELLATE_CONFIG";

type Kind = "string" | "int" | "number" | "bool" | "list" | "bytes";

export interface ConfigField {
  /** Dotted path in the config object. */
  path: string;
  env: string;
  /** Command-line flag (without value placeholder); absent for secrets. */
  flag?: string;
  kind: Kind;
  /** What the field means and how to set it right; ends every error about it. */
  hint: string;
}

/** Every setting, with its environment variable and flag. The README's config table is this list. */
export const CONFIG_FIELDS: readonly ConfigField[] = [
  { path: "rpcUrl", env: ENV.rpcUrl, flag: "--rpc-url", kind: "string", hint: "give the chain's JSON-RPC URL, e.g. http://127.0.0.1:8545" },
  { path: "chain.pollingIntervalMs", env: ENV.pollingIntervalMs, flag: "--polling-interval-ms", kind: "int", hint: "give milliseconds between chain polls (10..60000); leave unset for 100 ms on loopback and 2 s elsewhere" },
  { path: "chain.startBlock", env: "TESSELLATE_START_BLOCK", flag: "--start-block", kind: "int", hint: "give the block to start reading events from on a fresh data dir (0 = from the beginning)" },
  { path: "key.keystoreFile", env: ENV.keystore, flag: "--keystore", kind: "string", hint: "give the path of a JSON keystore (its password goes in TESSELLATE_KEYSTORE_PASSWORD), or leave it unset and put the key in TESSELLATE_PRIVATE_KEY" },
  { path: "contracts.market", env: ENV.market, flag: "--market", kind: "string", hint: "give the JobMarket address (0x + 40 hex digits), or leave it unset to use the generated deployment of the chain" },
  { path: "contracts.registry", env: ENV.registry, flag: "--registry", kind: "string", hint: "give the ProviderRegistry address (0x + 40 hex digits), or leave it unset to use the generated deployment" },
  { path: "contracts.token", env: ENV.token, flag: "--token", kind: "string", hint: "give the token address (0x + 40 hex digits), or leave it unset to use the generated deployment" },
  { path: "ipfsApiUrl", env: ENV.ipfsApiUrl, flag: "--ipfs-api-url", kind: "string", hint: "give the Kubo RPC API URL of your IPFS node, e.g. http://127.0.0.1:5001" },
  { path: "dataDir", env: "TESSELLATE_DATA_DIR", flag: "--data-dir", kind: "string", hint: "give a folder for the node's database, scene cache and results" },
  { path: "engines", env: "TESSELLATE_ENGINES", flag: "--engines", kind: "list", hint: "give a comma-separated list of engine names, e.g. builtin,povray" },
  { path: "limits.maxConcurrentSegments", env: "TESSELLATE_MAX_CONCURRENT_SEGMENTS", flag: "--max-concurrent-segments", kind: "int", hint: "give how many segments may render at once (1..64)" },
  { path: "limits.tilesPerRender", env: "TESSELLATE_TILES_PER_RENDER", flag: "--tiles-per-render", kind: "int", hint: "give how many tiles of one job and frame range one render slot holds at least, as its lease leaves room, and renders in one engine process (1..64; more, up to limits.maxTilesPerRender, when the engine's start-up dominates a tile's render)" },
  { path: "limits.maxTilesPerRender", env: "TESSELLATE_MAX_TILES_PER_RENDER", flag: "--max-tiles-per-render", kind: "int", hint: "give the most tiles of one job one render slot may hold when the engine's start-up dominates a tile's estimated render (1..64; at or below limits.tilesPerRender: always that many)" },
  { path: "limits.cpuThreads", env: "TESSELLATE_CPU_THREADS", flag: "--cpu-threads", kind: "int", hint: "give how many threads one render may use (1..1024)" },
  { path: "limits.memoryBytes", env: "TESSELLATE_MEMORY_BYTES", flag: "--memory", kind: "bytes", hint: 'give the memory limit of one engine process, e.g. 4GiB or 4294967296 (at least 64MiB)' },
  { path: "limits.maxSceneBytes", env: "TESSELLATE_MAX_SCENE_BYTES", flag: "--max-scene-bytes", kind: "bytes", hint: "give the largest scene folder to accept, e.g. 1GiB" },
  { path: "limits.sceneCacheBytes", env: "TESSELLATE_SCENE_CACHE_BYTES", flag: "--scene-cache-bytes", kind: "bytes", hint: "give the disk budget of the scene cache, e.g. 5GiB (least recently used scenes not in use are deleted beyond it)" },
  { path: "limits.renderTimeoutSeconds", env: "TESSELLATE_RENDER_TIMEOUT_SECONDS", flag: "--render-timeout-seconds", kind: "int", hint: "give the longest render of one frame in seconds (≥ 1)" },
  { path: "limits.workHours", env: "TESSELLATE_WORK_HOURS", flag: "--work-hours", kind: "string", hint: 'give hour ranges of the local day in which to claim work, e.g. "0-24" (always), "22-6" or "9-12,14-18"' },
  { path: "limits.commitMarginSeconds", env: "TESSELLATE_COMMIT_MARGIN_SECONDS", flag: "--commit-margin-seconds", kind: "int", hint: "give the seconds kept free before a lease ends for uploading and committing (≥ 1)" },
  { path: "limits.renderTimeSafetyFactor", env: "TESSELLATE_RENDER_TIME_SAFETY_FACTOR", flag: "--render-time-safety-factor", kind: "number", hint: "give a factor ≥ 1 applied to estimated render times" },
  { path: "pricing.minRewardPerRenderSecondWei", env: "TESSELLATE_MIN_REWARD_PER_RENDER_SECOND_WEI", flag: "--min-reward-per-render-second-wei", kind: "string", hint: "give the price floor as a whole number of token base units (wei) per estimated render-second, e.g. 1000000000000000" },
  { path: "minJobReputation", env: "TESSELLATE_MIN_JOB_REPUTATION", flag: "--min-job-reputation", kind: "int", hint: "give a score in basis points (0..10000): jobs asking for a lower minimum reputation are skipped" },
  { path: "profilePublishIntervalSeconds", env: "TESSELLATE_PROFILE_PUBLISH_INTERVAL_SECONDS", flag: "--profile-publish-interval-seconds", kind: "int", hint: "give the seconds between profile updates that publish measured render times (≥ 0; 600 by default)" },
  { path: "withdrawThreshold", env: "TESSELLATE_WITHDRAW_THRESHOLD", flag: "--withdraw-threshold", kind: "string", hint: 'give a token amount with up to 18 decimals, e.g. "10" or "2.5"' },
  { path: "http.enabled", env: "TESSELLATE_HTTP_ENABLED", flag: "--http-enabled", kind: "bool", hint: "give true or false" },
  { path: "http.host", env: "TESSELLATE_HTTP_HOST", flag: "--http-host", kind: "string", hint: "give the interface the local API binds to (127.0.0.1 keeps it private)" },
  { path: "http.port", env: "TESSELLATE_HTTP_PORT", flag: "--http-port", kind: "int", hint: "give a TCP port (0..65535; 0 picks a free one)" },
  { path: "http.apiToken", env: "TESSELLATE_API_TOKEN", kind: "string", hint: "give a random string of at least 16 characters (e.g. `openssl rand -hex 24`); POST /pause and /resume require it as a Bearer token" },
  { path: "benchmarkScore", env: "TESSELLATE_BENCHMARK_SCORE", flag: "--benchmark-score", kind: "number", hint: "give a positive number (thousands of samples per second), or leave it unset to benchmark at start-up" },
  { path: "keeper.enabled", env: "TESSELLATE_KEEPER_ENABLED", flag: "--keeper-enabled", kind: "bool", hint: "give true or false" },
  { path: "keeper.tokensPerNative", env: "TESSELLATE_KEEPER_TOKENS_PER_NATIVE", flag: "--keeper-tokens-per-native", kind: "string", hint: 'give how many tokens one unit of the chain\'s native currency (ETH) is worth, e.g. "2000"' },
  { path: "sandbox.isolation", env: "TESSELLATE_SANDBOX_ISOLATION", flag: "--sandbox-isolation", kind: "string", hint: 'give "bubblewrap" (engines see only their installation, the scene and their work folder; needs /usr/bin/bwrap) or "none" (NO isolation: a scene can read the node\'s keys; only for trusted scenes)' },
  { path: "logLevel", env: "TESSELLATE_LOG_LEVEL", flag: "--log-level", kind: "string", hint: "give one of fatal, error, warn, info, debug, trace, silent" },
  { path: "testing.corruptDigests", env: "TESSELLATE_TEST_CORRUPT_DIGESTS", kind: "bool", hint: `TEST ONLY: set it only in end-to-end tests, together with ${ALLOW_TEST_MODES_ENV}=1` },
  { path: "testing.cheat", env: "TESSELLATE_TEST_CHEAT", kind: "string", hint: `TEST ONLY: one of ${["", ...CHEAT_MODES].map((m) => JSON.stringify(m)).join(", ")}; set it only in end-to-end tests, together with ${ALLOW_TEST_MODES_ENV}=1` },
];

const FIELD_BY_PATH = new Map(CONFIG_FIELDS.map((f) => [f.path, f]));

// ------------------------------------------------------------------------------------ schema

const httpUrl = z.string().refine((v) => {
  try {
    const url = new URL(v);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}, "must be an http(s) URL");
const address = z.string().refine((v) => isAddress(v, { strict: false }), "must be an address (0x + 40 hex digits)").transform((v) => v as Address);
const tokenAmount = z.string().transform((v, ctx) => {
  if (!/^\d+(\.\d{1,18})?$/.test(v.trim())) {
    ctx.addIssue({ code: "custom", message: `"${v}" is not a token amount` });
    return z.NEVER;
  }
  return parseUnits(v.trim(), 18);
});
const weiAmount = z.string().transform((v, ctx) => {
  if (!/^\d+$/.test(v.trim())) {
    ctx.addIssue({ code: "custom", message: `"${v}" is not a whole number of base units` });
    return z.NEVER;
  }
  return BigInt(v.trim());
});
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const configSchema = z.strictObject({
  rpcUrl: httpUrl,
  ipfsApiUrl: httpUrl,
  dataDir: z.string().min(1),
  engines: z.array(z.string().min(1)).min(1, "must name at least one engine"),
  key: z.strictObject({ keystoreFile: z.string().min(1).optional() }),
  contracts: z.strictObject({ market: address.optional(), registry: address.optional(), token: address.optional() }),
  chain: z.strictObject({
    pollingIntervalMs: z.int().min(10).max(60_000).optional(),
    startBlock: z.int().min(0),
  }),
  limits: z.strictObject({
    maxConcurrentSegments: z.int().min(1).max(64),
    tilesPerRender: z.int().min(1).max(64),
    maxTilesPerRender: z.int().min(1).max(64),
    cpuThreads: z.int().min(1).max(1024),
    memoryBytes: z.int().min(64 * 1024 * 1024),
    maxSceneBytes: z.int().min(1),
    sceneCacheBytes: z.int().min(1),
    renderTimeoutSeconds: z.int().min(1),
    workHours: z.string().refine((v) => parseWorkHours(v) !== undefined, "is not a list of hour ranges"),
    commitMarginSeconds: z.int().min(1),
    renderTimeSafetyFactor: z.number().min(1).max(100),
  }),
  pricing: z.strictObject({ minRewardPerRenderSecondWei: weiAmount }),
  minJobReputation: z.int().min(0).max(10_000),
  withdrawThreshold: tokenAmount,
  profilePublishIntervalSeconds: z.int().min(0),
  http: z.strictObject({
    enabled: z.boolean(),
    host: z.string().min(1),
    port: z.int().min(0).max(65_535),
    apiToken: z.string().min(16, "must have at least 16 characters").optional(),
  }),
  benchmarkScore: z.number().positive().optional(),
  keeper: z.strictObject({
    enabled: z.boolean(),
    tokensPerNative: tokenAmount.refine((v) => v > 0n, "must be more than 0"),
  }),
  sandbox: z.strictObject({ isolation: z.enum(["bubblewrap", "none"]) }),
  logLevel: z.enum(LOG_LEVELS),
  testing: z.strictObject({ corruptDigests: z.boolean(), cheat: z.enum(["", ...CHEAT_MODES]) }),
});

/** The validated configuration. Token amounts are in base units (bigint). */
export type ProviderConfig = z.output<typeof configSchema>;
/** The configuration as written in a file or passed to {@link resolveConfig} (amounts as strings). */
export type ProviderConfigInput = z.input<typeof configSchema>;
/** Any subset of the input, nested. */
export type ConfigOverrides = { [K in keyof ProviderConfigInput]?: ProviderConfigInput[K] extends object ? ProviderConfigInput[K] extends unknown[] ? ProviderConfigInput[K] : Partial<ProviderConfigInput[K]> : ProviderConfigInput[K] };

// ------------------------------------------------------------------------------------ loading

export interface LoadConfigOptions {
  /** Flag values by config path (see {@link cliValues}). */
  cli?: Record<string, string | undefined>;
  /** Environment (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Config file path; default: `--config` in `cli`, then TESSELLATE_CONFIG, else none. */
  configFile?: string;
  /** Programmatic values, applied above the config file and below environment and flags. */
  overrides?: ConfigOverrides;
}

/**
 * Reads, merges and validates the configuration.
 * @throws FatalError `CONFIG_INVALID` listing every problem as
 *   `<field> = <value> (from <source>): <problem> — <fix>`.
 */
export function loadConfig(options: LoadConfigOptions = {}): ProviderConfig {
  const env = options.env ?? process.env;
  const merged: Record<string, unknown> = structuredClone(DEFAULTS) as unknown as Record<string, unknown>;
  const sources = new Map<string, string>();
  const problems: string[] = [];

  const configFile = options.configFile ?? options.cli?.config ?? env[CONFIG_FILE_ENV];
  if (configFile) {
    const file = readConfigFile(configFile);
    const source = `config file ${resolve(configFile)}`;
    for (const [path, value] of flatten(file)) {
      const field = FIELD_BY_PATH.get(path);
      if (!field) {
        problems.push(`  ${path} (from ${source}): is not a setting — remove it or correct its spelling (settings: ${CONFIG_FIELDS.map((f) => f.path).join(", ")})`);
        continue;
      }
      apply(field, value, source);
    }
  }
  if (options.overrides) {
    for (const [path, value] of flatten(options.overrides as Record<string, unknown>)) {
      const field = FIELD_BY_PATH.get(path);
      if (!field) {
        problems.push(`  ${path} (from program overrides): is not a setting — use one of ${CONFIG_FIELDS.map((f) => f.path).join(", ")}`);
        continue;
      }
      apply(field, value, "program overrides");
    }
  }
  for (const use of retiredEnvUses(env)) problems.push(`  ${use.message}`);
  for (const field of CONFIG_FIELDS) {
    const value = env[field.env];
    if (value !== undefined && value !== "") apply(field, value, `environment ${field.env}`);
  }
  for (const field of CONFIG_FIELDS) {
    const value = options.cli?.[field.path];
    if (value !== undefined && field.flag) apply(field, value, `flag ${field.flag}`);
  }

  function apply(field: ConfigField, value: unknown, source: string): void {
    if (value === undefined) return;
    try {
      const text = field.kind === "string" && (typeof value === "number" || typeof value === "bigint") ? String(value) : value;
      setPath(merged, field.path, typeof text === "string" ? parseValue(field, text) : text);
      sources.set(field.path, source);
    } catch (error) {
      problems.push(`  ${field.path} = ${JSON.stringify(value)} (from ${source}): ${(error as Error).message} — ${field.hint}`);
    }
  }

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String).join(".");
      const field = FIELD_BY_PATH.get(path) ?? FIELD_BY_PATH.get(issue.path.slice(0, -1).map(String).join("."));
      const value = getPath(merged, path);
      const shown = field?.path === "http.apiToken" ? "<redacted>" : JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
      problems.push(`  ${path} = ${shown} (from ${sources.get(field?.path ?? path) ?? "defaults"}): ${issue.message} — ${field?.hint ?? "see provider-node/src/config/config.ts"}`);
    }
  }
  if (problems.length > 0) {
    throw new FatalError("CONFIG_INVALID", `The provider configuration is not valid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.join("\n")}`);
  }
  const config = result.data!;
  if (config.testing.corruptDigests && env[ALLOW_TEST_MODES_ENV] !== "1") {
    throw new FatalError(
      "CONFIG_INVALID",
      `The provider configuration is not valid (1 problem):\n  testing.corruptDigests = true (from ${sources.get("testing.corruptDigests") ?? "defaults"}): is a test-only cheating mode that commits wrong digests and gets the node slashed — remove it, or set ${ALLOW_TEST_MODES_ENV}=1 in an end-to-end test`,
    );
  }
  if (config.testing.cheat !== "" && env[ALLOW_TEST_MODES_ENV] !== "1") {
    throw new FatalError(
      "CONFIG_INVALID",
      `The provider configuration is not valid (1 problem):\n  testing.cheat = "${config.testing.cheat}" (from ${sources.get("testing.cheat") ?? "defaults"}): is a test-only mode that renders cheaply on purpose and gets the node slashed — remove it, or set ${ALLOW_TEST_MODES_ENV}=1 in an end-to-end test`,
    );
  }
  return { ...config, dataDir: resolve(config.dataDir), key: { keystoreFile: config.key.keystoreFile && resolve(config.key.keystoreFile) } };
}

/**
 * Defaults + `overrides`, validated, without reading the environment or any file: for scripts and
 * tests that start a node programmatically. Test modes still require TESSELLATE_ALLOW_TEST_MODES=1
 * in `env` (default: process.env).
 */
export function resolveConfig(overrides: ConfigOverrides = {}, env: NodeJS.ProcessEnv = process.env): ProviderConfig {
  return loadConfig({ overrides, env: { [ALLOW_TEST_MODES_ENV]: env[ALLOW_TEST_MODES_ENV] } });
}

/** The config with the API token hidden, bigints as strings: safe to print or log. */
export function redactConfig(config: ProviderConfig): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({ ...config, http: { ...config.http, apiToken: config.http.apiToken ? "<redacted>" : undefined } }, (_k, v) =>
      typeof v === "bigint" ? v.toString() : v,
    ),
  );
}

function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) {
    throw new FatalError("CONFIG_INVALID", `The config file ${resolve(path)} does not exist — create it (JSON) or point --config / ${CONFIG_FILE_ENV} at the right file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new FatalError("CONFIG_INVALID", `The config file ${resolve(path)} is not valid JSON (${(error as Error).message}) — fix its syntax`, { cause: error });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new FatalError("CONFIG_INVALID", `The config file ${resolve(path)} must hold a JSON object, e.g. {"rpcUrl": "http://127.0.0.1:8545"}`);
  }
  return json as Record<string, unknown>;
}

/** Leaf values by dotted path; arrays and nulls are leaves. */
function flatten(object: Record<string, unknown>, prefix = ""): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [key, value] of Object.entries(object)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === "object" && !Array.isArray(value) && !FIELD_BY_PATH.has(path)) out.push(...flatten(value as Record<string, unknown>, path));
    else out.push([path, value]);
  }
  return out;
}

function setPath(object: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = object;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

function getPath(object: Record<string, unknown>, path: string): unknown {
  return path.split(".").reduce<unknown>((node, part) => (node && typeof node === "object" ? (node as Record<string, unknown>)[part] : undefined), object);
}

/** Turns a string from the environment, a flag or a file into the field's type. */
function parseValue(field: ConfigField, raw: string): unknown {
  const value = raw.trim();
  switch (field.kind) {
    case "string":
      return value;
    case "int":
      if (!/^-?\d+$/.test(value)) throw new Error("must be a whole number");
      return Number(value);
    case "number":
      if (value === "" || !Number.isFinite(Number(value))) throw new Error("must be a number");
      return Number(value);
    case "bool":
      if (/^(true|1|yes|on)$/i.test(value)) return true;
      if (/^(false|0|no|off)$/i.test(value)) return false;
      throw new Error("must be true or false");
    case "list":
      return value.split(",").map((v) => v.trim()).filter(Boolean);
    case "bytes":
      return parseBytes(value);
  }
}

const BYTE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4 };

/** "4GiB", "512M", "1048576" → bytes (binary units). */
export function parseBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = match ? BYTE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) throw new Error("must be a size like 4GiB, 512MiB or a number of bytes");
  return Math.floor(Number(match[1]) * unit);
}

/**
 * Parses "0-24", "22-6", "9-12,14-18" into the 24 hours of the day it covers (a range is
 * start-inclusive, end-exclusive, and wraps past midnight when end < start). Undefined if invalid.
 */
export function parseWorkHours(spec: string): boolean[] | undefined {
  const hours = new Array<boolean>(24).fill(false);
  for (const part of spec.split(",")) {
    const match = /^\s*(\d{1,2})\s*-\s*(\d{1,2})\s*$/.exec(part);
    if (!match) return undefined;
    const start = Number(match[1]);
    const end = Number(match[2]);
    if (start > 23 || end > 24 || start === end) return undefined;
    let h = start;
    do {
      hours[h] = true;
      h = (h + 1) % 24;
    } while (h !== end % 24);
  }
  return hours;
}

/** Whether `date` (local time) falls in the work hours. */
export function isWorkHour(spec: string, date: Date): boolean {
  return parseWorkHours(spec)?.[date.getHours()] ?? false;
}

// ------------------------------------------------------------------------------------ command line

/** Adds `--config` and one flag per setting to a commander command. */
export function addConfigOptions(command: Command): Command {
  command.addOption(new Option("--config <file>", `JSON config file (env ${CONFIG_FILE_ENV})`));
  for (const field of CONFIG_FIELDS) {
    if (!field.flag) continue;
    command.addOption(new Option(`${field.flag} <value>`, `${field.path} (env ${field.env})`));
  }
  return command;
}

/** Flag values from commander's parsed options, keyed by config path (plus `config`). */
export function cliValues(options: Record<string, unknown>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (typeof options.config === "string") out.config = options.config;
  for (const field of CONFIG_FIELDS) {
    if (!field.flag) continue;
    const value = options[new Option(`${field.flag} <value>`).attributeName()];
    if (typeof value === "string") out[field.path] = value;
  }
  return out;
}
