/**
 * The server's runtime config (lib/server/config.ts): defaults, precedence, errors that name the
 * variable, and the devnet keys offered on chain 31337 only. It is a server-only module, so it
 * is loaded the way Next's server loads it: under the `react-server` export condition.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { RuntimeConfigResult } from "../lib/config.ts";

const MODULE = join(import.meta.dirname, "../lib/server/config.ts");
const ADDRESS = { token: "0x5FbDB2315678afecb367f032d93F642f64180aa3", registry: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", market: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0" };
const ADDRESSES = { TESSELLATE_TOKEN_ADDRESS: ADDRESS.token, TESSELLATE_REGISTRY_ADDRESS: ADDRESS.registry, TESSELLATE_MARKET_ADDRESS: ADDRESS.market };

function load(env: Record<string, string>): RuntimeConfigResult {
  const script = `const { loadRuntimeConfig } = await import(${JSON.stringify(MODULE)}); console.log(JSON.stringify(loadRuntimeConfig(${JSON.stringify(env)})));`;
  const out = execFileSync(process.execPath, ["--conditions=react-server", "--input-type=module", "-e", script], { encoding: "utf8" });
  return JSON.parse(out) as RuntimeConfigResult;
}

describe("runtime config", () => {
  it("on the local chain: devnet defaults, fast polling and the devnet accounts", () => {
    const result = load(ADDRESSES);
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.config.chainId, 31337);
    assert.equal(result.config.rpcUrl, "http://127.0.0.1:8545");
    assert.equal(result.config.pollingIntervalMs, 750);
    assert.deepEqual(result.config.addresses, ADDRESS);
    assert.equal(result.config.devAccounts?.[2]?.label, "provider 1");
  });

  it("on any other chain: no key leaves the server, and the default polling is slower", () => {
    const result = load({ ...ADDRESSES, TESSELLATE_CHAIN_ID: "11155111", TESSELLATE_RPC_URL: "https://rpc.example.org/" });
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.config.devAccounts, undefined);
    assert.doesNotMatch(JSON.stringify(result), /privateKey/);
    assert.equal(result.config.rpcUrl, "https://rpc.example.org");
    assert.equal(result.config.pollingIntervalMs, 4000);
  });

  it("reads the variable names the CLI and the provider node share", () => {
    const result = load({ ...ADDRESSES, TESSELLATE_IPFS_API_URL: "http://127.0.0.1:5101/", TESSELLATE_POLLING_INTERVAL_MS: "900" });
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.config.ipfsApiUrl, "http://127.0.0.1:5101");
    assert.equal(result.config.pollingIntervalMs, 900);
  });

  it("names the variable that is wrong or missing", () => {
    const bad = load({ ...ADDRESSES, TESSELLATE_RPC_URL: "localhost:8545", TESSELLATE_POLLING_INTERVAL_MS: "5" });
    assert.equal(bad.ok, false);
    assert.ok(!bad.ok && bad.problems.some((p) => p.startsWith("TESSELLATE_RPC_URL must be an http(s) URL")), JSON.stringify(bad));
    assert.ok(!bad.ok && bad.problems.some((p) => p.includes("TESSELLATE_POLLING_INTERVAL_MS")), JSON.stringify(bad));
    const retired = load({ ...ADDRESSES, TESSELLATE_IPFS_API: "http://127.0.0.1:5101", TESSELLATE_POLL_INTERVAL_MS: "900" });
    assert.ok(!retired.ok && retired.problems.some((p) => p.startsWith("TESSELLATE_IPFS_API is no longer read: rename it to TESSELLATE_IPFS_API_URL")), JSON.stringify(retired));
    assert.ok(!retired.ok && retired.problems.some((p) => p.startsWith("TESSELLATE_POLL_INTERVAL_MS is no longer read: rename it to TESSELLATE_POLLING_INTERVAL_MS")), JSON.stringify(retired));
    const missing = load({ TESSELLATE_CHAIN_ID: "424242" });
    assert.equal(missing.ok, false);
    assert.ok(!missing.ok && missing.problems[0].startsWith("TESSELLATE_TOKEN_ADDRESS is not set and the sdk bindings hold no deployment for chain 424242"));
  });
});
