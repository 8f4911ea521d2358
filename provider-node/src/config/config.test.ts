import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Command } from "commander";
import { Wallet, encryptKeystoreJson } from "ethers";
import { FatalError } from "@tessellate/sdk/errors";
import { addConfigOptions, cliValues, isWorkHour, loadConfig, parseBytes, parseWorkHours, redactConfig, resolveConfig } from "./config.ts";
import { DEFAULTS } from "./defaults.ts";
import { decryptKeystore, encryptKeystore, loadAccount } from "./keySource.ts";

const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"; // hardhat account 1 (public)
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "tessellate-config-"));
});
after(() => rm(dir, { recursive: true, force: true }));

async function file(content: unknown): Promise<string> {
  const path = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof FatalError);
    assert.equal(error.code, "CONFIG_INVALID");
    return error.message;
  }
  assert.fail("expected a CONFIG_INVALID error");
}

test("defaults apply when nothing is set", () => {
  const config = loadConfig({ env: {} });
  assert.equal(config.rpcUrl, DEFAULTS.rpcUrl);
  assert.equal(config.http.host, "127.0.0.1");
  assert.equal(config.http.apiToken, undefined);
  assert.equal(config.withdrawThreshold, 10n * 10n ** 18n);
  assert.equal(config.pricing.minRewardPerRenderSecondWei, 0n);
  assert.deepEqual(config.engines, ["builtin", "povray", "blender"]);
  assert.equal(config.testing.corruptDigests, false);
});

test("precedence: flag > environment > config file > default", async () => {
  const path = await file({ limits: { cpuThreads: 2, maxConcurrentSegments: 3 }, http: { port: 9001 }, withdrawThreshold: 5 });
  const fromFile = loadConfig({ configFile: path, env: {} });
  assert.equal(fromFile.limits.cpuThreads, 2);
  assert.equal(fromFile.limits.maxConcurrentSegments, 3);
  assert.equal(fromFile.http.port, 9001);
  assert.equal(fromFile.withdrawThreshold, 5n * 10n ** 18n);
  assert.equal(fromFile.limits.renderTimeoutSeconds, DEFAULTS.limits.renderTimeoutSeconds);

  const env = { TESSELLATE_CPU_THREADS: "4", TESSELLATE_HTTP_PORT: "9002", TESSELLATE_CONFIG: path };
  const fromEnv = loadConfig({ env });
  assert.equal(fromEnv.limits.cpuThreads, 4);
  assert.equal(fromEnv.limits.maxConcurrentSegments, 3, "the file still counts where the environment is silent");
  assert.equal(fromEnv.http.port, 9002);

  const fromCli = loadConfig({ env, cli: { "limits.cpuThreads": "8" } });
  assert.equal(fromCli.limits.cpuThreads, 8);
  assert.equal(fromCli.http.port, 9002);
});

test("commander flags map onto config paths", () => {
  const command = addConfigOptions(new Command().exitOverride());
  command.parse(["--cpu-threads", "6", "--memory", "2GiB", "--engines", "builtin, povray", "--withdraw-threshold", "2.5"], { from: "user" });
  const config = loadConfig({ cli: cliValues(command.opts()), env: {} });
  assert.equal(config.limits.cpuThreads, 6);
  assert.equal(config.limits.memoryBytes, 2 * 1024 ** 3);
  assert.deepEqual(config.engines, ["builtin", "povray"]);
  assert.equal(config.withdrawThreshold, 25n * 10n ** 17n);
});

test("errors name the field, the value, where it came from and the fix — all at once", async () => {
  const path = await file({ limits: { cpuThreads: 0 }, http: { prot: 1 } });
  const message = configError(() =>
    loadConfig({ configFile: path, env: { TESSELLATE_RPC_URL: "localhost:8545", TESSELLATE_MAX_CONCURRENT_SEGMENTS: "two", TESSELLATE_WITHDRAW_THRESHOLD: "ten" } }),
  );
  assert.match(message, /5 problems/);
  assert.match(message, /http\.prot \(from config file .*\): is not a setting — remove it or correct its spelling/);
  assert.match(message, /limits\.maxConcurrentSegments = "two" \(from environment TESSELLATE_MAX_CONCURRENT_SEGMENTS\): must be a whole number — give how many segments/);
  assert.match(message, /rpcUrl = "localhost:8545" \(from environment TESSELLATE_RPC_URL\): must be an http\(s\) URL — give the chain's JSON-RPC URL/);
  assert.match(message, /withdrawThreshold = "ten" .*is not a token amount — give a token amount/);
  assert.match(message, /limits\.cpuThreads = 0 \(from config file .*\): .* — give how many threads one render may use/);
});

test("a missing or broken config file says so", async () => {
  assert.match(configError(() => loadConfig({ configFile: join(dir, "nope.json"), env: {} })), /does not exist — create it/);
  const broken = join(dir, "broken.json");
  writeFileSync(broken, "{ not json");
  assert.match(configError(() => loadConfig({ configFile: broken, env: {} })), /is not valid JSON/);
});

test("the test-only cheating mode is refused unless TESSELLATE_ALLOW_TEST_MODES=1", () => {
  const message = configError(() => loadConfig({ env: { TESSELLATE_TEST_CORRUPT_DIGESTS: "true" } }));
  assert.match(message, /testing\.corruptDigests = true \(from environment TESSELLATE_TEST_CORRUPT_DIGESTS\): is a test-only cheating mode/);
  const allowed = loadConfig({ env: { TESSELLATE_TEST_CORRUPT_DIGESTS: "true", TESSELLATE_ALLOW_TEST_MODES: "1" } });
  assert.equal(allowed.testing.corruptDigests, true);
  assert.throws(() => resolveConfig({ testing: { corruptDigests: true } }, {}), /test-only/);
  assert.equal(resolveConfig({ testing: { corruptDigests: true } }, { TESSELLATE_ALLOW_TEST_MODES: "1" }).testing.corruptDigests, true);
});

test("resolveConfig ignores the environment; redactConfig hides the API token", () => {
  const config = resolveConfig({ dataDir: "/tmp/x", http: { port: 0, apiToken: "0123456789abcdef0123" } });
  assert.equal(config.http.port, 0);
  const shown = JSON.stringify(redactConfig(config));
  assert.ok(!shown.includes("0123456789abcdef0123"));
  assert.match(shown, /<redacted>/);
  assert.match(configError(() => resolveConfig({ http: { apiToken: "short" } })), /http\.apiToken = <redacted> .*at least 16 characters/);
});

test("sizes and work hours parse", () => {
  assert.equal(parseBytes("512MiB"), 512 * 1024 ** 2);
  assert.equal(parseBytes("1048576"), 1048576);
  assert.throws(() => parseBytes("lots"));
  assert.equal(parseWorkHours("0-24")!.every(Boolean), true);
  assert.deepEqual(parseWorkHours("22-2")!.flatMap((on, h) => (on ? [h] : [])), [0, 1, 22, 23]);
  assert.deepEqual(parseWorkHours("9-11,14-15")!.flatMap((on, h) => (on ? [h] : [])), [9, 10, 14]);
  assert.equal(parseWorkHours("5-5"), undefined);
  assert.equal(parseWorkHours("morning"), undefined);
  assert.equal(isWorkHour("9-17", new Date(2025, 0, 1, 10)), true);
  assert.equal(isWorkHour("9-17", new Date(2025, 0, 1, 17)), false);
  assert.match(configError(() => loadConfig({ env: { TESSELLATE_WORK_HOURS: "9 to 5" } })), /limits\.workHours = "9 to 5" .*is not a list of hour ranges/);
});

test("the CLI's former variable names are refused, naming the shared name", () => {
  const message = configError(() => loadConfig({ env: { TESSELLATE_IPFS_API: "http://127.0.0.1:5101", TESSELLATE_POLL_INTERVAL_MS: "250" } }));
  assert.match(message, /TESSELLATE_IPFS_API is no longer read: rename it to TESSELLATE_IPFS_API_URL/);
  assert.match(message, /TESSELLATE_POLL_INTERVAL_MS is no longer read: rename it to TESSELLATE_POLLING_INTERVAL_MS/);
  const config = loadConfig({ env: { TESSELLATE_IPFS_API_URL: "http://127.0.0.1:5101", TESSELLATE_POLLING_INTERVAL_MS: "250" } });
  assert.equal(config.ipfsApiUrl, "http://127.0.0.1:5101");
  assert.equal(config.chain.pollingIntervalMs, 250);
});

test("the key comes from TESSELLATE_PRIVATE_KEY, never appears in errors, and has no default", async () => {
  const account = await loadAccount(undefined, { TESSELLATE_PRIVATE_KEY: KEY });
  assert.equal(account.address, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  await assert.rejects(loadAccount(undefined, {}), (e: unknown) => e instanceof FatalError && e.code === "KEY_MISSING" && /TESSELLATE_PRIVATE_KEY/.test(e.message));
  await assert.rejects(loadAccount(undefined, { TESSELLATE_PRIVATE_KEY: KEY.slice(0, 40) }), (e: unknown) => e instanceof FatalError && e.code === "KEY_INVALID" && !e.message.includes(KEY.slice(2, 40)));
});

test("a keystore opens with its password, written by us or by ethers", async () => {
  const ours = await encryptKeystore(KEY, "correct horse", { n: 1024 });
  assert.equal(await decryptKeystore(ours, "correct horse"), KEY);
  await assert.rejects(decryptKeystore(ours, "wrong"), (e: unknown) => e instanceof FatalError && e.code === "KEYSTORE_WRONG_PASSWORD");

  const wallet = new Wallet(KEY);
  const ethersJson = await encryptKeystoreJson({ address: wallet.address, privateKey: KEY }, "pw", { scrypt: { N: 1024 } });
  assert.equal(await decryptKeystore(ethersJson, "pw"), KEY);

  const path = join(dir, "key.json");
  await writeFile(path, ours);
  await assert.rejects(loadAccount(path, {}), /needs its password: set TESSELLATE_KEYSTORE_PASSWORD/);
  const account = await loadAccount(path, { TESSELLATE_KEYSTORE_PASSWORD: "correct horse" });
  assert.equal(account.address, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
  await assert.rejects(loadAccount(path, { TESSELLATE_KEYSTORE_PASSWORD: "x", TESSELLATE_PRIVATE_KEY: KEY }), /keep only one key source/);
});
