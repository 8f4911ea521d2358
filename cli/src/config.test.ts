import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { privateKeyToAddress } from "viem/accounts";
import { CONFIG_DEFAULTS, loadAccount, loadConfig, requireAccount } from "./config.ts";
import { EXIT_CODES, exitCodeOf, UsageErrors } from "./errors.ts";
import { decryptKeystore, encryptKeystore } from "@tessellate/sdk/node";

// Hardhat's well-known test key #1: public, never use on a real network.
const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ADDRESS = privateKeyToAddress(KEY);

describe("config", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "tessellate-cli-config-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("uses the defaults when nothing is set, and never invents a key", async () => {
    const config = loadConfig({}, {});
    assert.equal(config.rpcUrl, CONFIG_DEFAULTS.rpcUrl);
    assert.equal(config.ipfsApiUrl, CONFIG_DEFAULTS.ipfsApiUrl);
    assert.deepEqual(config.addresses, {});
    assert.equal(config.key, undefined);
    assert.equal(await loadAccount(config, {}), undefined);
    await assert.rejects(requireAccount(config, {}), (e: Error) => exitCodeOf(e) === EXIT_CODES.usage && /TESSELLATE_PRIVATE_KEY/.test(e.message));
  });

  it("takes a flag over the environment over the default", () => {
    const env = { TESSELLATE_RPC_URL: "http://env:8545", TESSELLATE_IPFS_API_URL: "http://env:5001", TESSELLATE_MARKET_ADDRESS: ADDRESS };
    assert.equal(loadConfig({}, env).rpcUrl, "http://env:8545");
    assert.equal(loadConfig({ rpcUrl: "http://flag:8545" }, env).rpcUrl, "http://flag:8545");
    assert.equal(loadConfig({}, env).addresses.market, ADDRESS);
    assert.equal(loadConfig({}, env).ipfsApiUrl, "http://env:5001");
  });

  it("reads the variable names the provider node and the devnet use", () => {
    const config = loadConfig({}, { TESSELLATE_IPFS_API_URL: "http://ipfs:5101", TESSELLATE_POLLING_INTERVAL_MS: "250" });
    assert.equal(config.ipfsApiUrl, "http://ipfs:5101");
    assert.equal(config.pollIntervalMs, 250);
    assert.equal(loadConfig({ pollInterval: "40" }, { TESSELLATE_POLLING_INTERVAL_MS: "250" }).pollIntervalMs, 40, "the flag wins");
  });

  it("refuses the CLI's former variable names, naming the new one", () => {
    assert.throws(
      () => loadConfig({}, { TESSELLATE_IPFS_API: "http://127.0.0.1:5101", TESSELLATE_POLL_INTERVAL_MS: "250" }),
      (e: unknown) => {
        assert.ok(e instanceof UsageErrors);
        assert.equal(exitCodeOf(e), EXIT_CODES.usage);
        assert.match(e.message, /^TESSELLATE_IPFS_API: is no longer read — rename it to TESSELLATE_IPFS_API_URL/m);
        assert.match(e.message, /^TESSELLATE_POLL_INTERVAL_MS: is no longer read — rename it to TESSELLATE_POLLING_INTERVAL_MS/m);
        return true;
      },
    );
  });

  it("names the flag or variable at fault and the fix", () => {
    assert.throws(
      () => loadConfig({ rpcUrl: "localhost:8545", market: "0x1234" }, { TESSELLATE_IPFS_API_URL: "ftp://x" }),
      (e: unknown) => {
        assert.ok(e instanceof UsageErrors);
        const text = e.message;
        assert.match(text, /^--rpc-url: "localhost:8545" is not an http\(s\) URL — give the chain's JSON-RPC endpoint, e.g. --rpc-url http:\/\/127.0.0.1:8545/m);
        assert.match(text, /^TESSELLATE_IPFS_API_URL: "ftp:\/\/x" is not an http\(s\) URL/m);
        assert.match(text, /^--market: "0x1234" is not an address/m);
        return true;
      },
    );
  });

  it("reads the key from the environment without ever echoing it", async () => {
    const config = loadConfig({}, { TESSELLATE_PRIVATE_KEY: KEY });
    assert.deepEqual(config.key, { kind: "env", variable: "TESSELLATE_PRIVATE_KEY" });
    assert.ok(!JSON.stringify(config).includes(KEY.slice(2)), "the config holds no secret");
    assert.equal((await loadAccount(config, { TESSELLATE_PRIVATE_KEY: KEY }))!.address, ADDRESS);
    const bad = `${KEY.slice(0, -1)}z`;
    await assert.rejects(loadAccount(config, { TESSELLATE_PRIVATE_KEY: bad }), (e: Error) => !e.message.includes(bad.slice(2, 20)) && /not a private key/.test(e.message));
  });

  it("opens a V3 keystore with the password from the environment", async () => {
    const file = join(dir, "key.json");
    await writeFile(file, await encryptKeystore(KEY, "correct horse", { n: 1024 }));
    const config = loadConfig({ keystore: file }, { TESSELLATE_PRIVATE_KEY: KEY });
    assert.equal(config.key?.kind, "keystore", "--keystore wins over the environment's key");
    const account = await loadAccount(config, { TESSELLATE_KEYSTORE_PASSWORD: "correct horse" });
    assert.equal(account!.address, ADDRESS);
    await assert.rejects(loadAccount(config, {}), /TESSELLATE_KEYSTORE_PASSWORD: is not set/);
    await assert.rejects(loadAccount(config, { TESSELLATE_KEYSTORE_PASSWORD: "wrong" }), (e: Error) => exitCodeOf(e) === EXIT_CODES.usage && /password does not open/.test(e.message));
    await assert.rejects(loadAccount(loadConfig({ keystore: join(dir, "missing.json") }, {}), { TESSELLATE_KEYSTORE_PASSWORD: "x" }), (e: Error) => e.message.startsWith("--keystore: cannot read"));
  });

  it("refuses two key sources in the environment", () => {
    assert.throws(() => loadConfig({}, { TESSELLATE_PRIVATE_KEY: KEY, TESSELLATE_KEYSTORE: "/k.json" }), /keep one/);
  });

  it("decrypts keystores written by other tools (ethers' scrypt V3 format)", async () => {
    const { encryptKeystoreJsonSync } = await import("ethers");
    const json = encryptKeystoreJsonSync({ address: ADDRESS, privateKey: KEY }, "pw", { scrypt: { N: 1024 } });
    assert.equal(await decryptKeystore(json, "pw"), KEY);
  });
});
