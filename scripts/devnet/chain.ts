/**
 * The devnet's chain: Hardhat's own node (EDR) on loopback, and the protocol deployed to it
 * with the real Ignition module. Used by `npm start`, the separate chain script and the
 * end-to-end tests (each of which runs its own node on its own port).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Address } from "viem";

const ROOT = join(import.meta.dirname, "../..");
const HARDHAT = join(ROOT, "node_modules/.bin/hardhat");

export interface RunningChain {
  rpcUrl: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface DeployedProtocol {
  token: Address;
  registry: Address;
  market: Address;
  deploymentId: string;
}

/** Starts `hardhat node` on 127.0.0.1:`port` and resolves once it answers JSON-RPC. */
export async function startChain(options: {
  port: number;
  logFile?: string;
  timeoutMs?: number;
  /** An empty block this often when no transaction arrives (default 1000 ms). */
  blockIntervalMs?: number;
}): Promise<RunningChain> {
  const rpcUrl = `http://127.0.0.1:${options.port}`;
  if (await rpcAnswers(rpcUrl)) {
    throw new Error(`Something already answers on ${rpcUrl}: stop it or choose another port (--chain-port).`);
  }
  const child = spawn(HARDHAT, ["node", "--hostname", "127.0.0.1", "--port", String(options.port)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    detached: false,
  });
  const tail: string[] = [];
  const keep = (chunk: Buffer) => {
    tail.push(chunk.toString());
    if (tail.length > 50) tail.shift();
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  if (options.logFile) {
    const { createWriteStream } = await import("node:fs");
    const log = createWriteStream(options.logFile, { flags: "a" });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
  }
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  while (!(await rpcAnswers(rpcUrl))) {
    if (child.exitCode !== null) throw new Error(`hardhat node exited early (code ${child.exitCode}):\n${tail.join("")}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`hardhat node did not answer on ${rpcUrl} within ${options.timeoutMs ?? 60_000} ms:\n${tail.join("")}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // Like a real chain, produce a block every second even when idle: time-dependent actions
  // (expiring a missed lease, closing after a deadline) are simulated against the latest block,
  // so an idle chain whose clock never advances would leave them impossible. Transactions are
  // still mined at once (automine stays on).
  await rpc(rpcUrl, "evm_setIntervalMining", [options.blockIntervalMs ?? 1_000]);
  return {
    rpcUrl,
    process: child,
    stop: () => stopProcess(child),
  };
}

async function rpc(rpcUrl: string, method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(rpcUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method} failed on ${rpcUrl}: ${body.error.message}`);
  return body.result;
}

/**
 * Deploys the protocol to the chain at `rpcUrl` with the Ignition module, in this process through
 * Hardhat's network connection (so nothing is recompiled: the artifacts from `npm run generate`
 * are used, and parallel deployments cannot race on the build cache), and returns the addresses.
 * The journal is written to ignition/deployments/<deploymentId>; "chain-31337" is the standard
 * folder the bindings generator reads, tests use their own ids. A previous deployment with the
 * same id is removed first, because a devnet chain always starts empty. With `token`, the market
 * and registry go over that existing ERC-20 (the TessellateWithToken module, its token check
 * included) instead of a new RenderToken.
 */
export async function deployProtocol(options: {
  rpcUrl: string;
  deploymentId: string;
  parameters?: Record<string, unknown>;
  token?: Address;
}): Promise<DeployedProtocol> {
  rmSync(join(ROOT, "ignition/deployments", options.deploymentId), { recursive: true, force: true });
  const [{ network }, { default: TessellateModule }, { default: WithTokenModule }] = await Promise.all([
    import("hardhat"),
    import("../../ignition/modules/Tessellate.ts"),
    import("../../ignition/modules/TessellateWithToken.ts"),
  ]);
  const connection = await network.create({ network: "localhost", override: { url: options.rpcUrl } });
  try {
    const parameters = { unbondingDelay: 3600n, feeBps: 100n, minLease: 30n, minRevealWindow: 30n, ...options.parameters };
    const { token, registry, market } = options.token
      ? await connection.ignition.deploy(WithTokenModule, { deploymentId: options.deploymentId, parameters: { TessellateWithToken: { ...parameters, token: options.token } } })
      : await connection.ignition.deploy(TessellateModule, { deploymentId: options.deploymentId, parameters: { Tessellate: parameters } });
    return {
      token: (await token.getAddress()) as Address,
      registry: (await registry.getAddress()) as Address,
      market: (await market.getAddress()) as Address,
      deploymentId: options.deploymentId,
    };
  } finally {
    await connection.close();
  }
}

export async function rpcAnswers(rpcUrl: string): Promise<boolean> {
  try {
    const response = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(1_000),
    });
    return response.ok;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

export function deploymentExists(deploymentId: string): boolean {
  return existsSync(join(ROOT, "ignition/deployments", deploymentId, "deployed_addresses.json"));
}
