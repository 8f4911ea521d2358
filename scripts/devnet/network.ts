/**
 * The whole network on one machine, as a library: Hardhat's node with the protocol deployed by
 * Ignition, the embedded IPFS node, funded accounts, and provider daemons started as real
 * processes (`provider-node/src/cli.ts run`). `npm start`, the separate devnet scripts and the
 * end-to-end tests all build on it; each caller picks its own ports and folder.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startIpfsNode, type IpfsNode } from "@tessellate/ipfs-node";
import { connectChain, createMarketClient, type ContractAddresses, type MarketClient, type Storage } from "@tessellate/sdk";
import { createKuboStorage } from "@tessellate/sdk/node";
import { parseUnits, type Address } from "viem";
import { DEVNET_ROLES, devnetAccount, devnetPrivateKey } from "./accounts.ts";
import { deployProtocol, startChain, stopProcess, type RunningChain } from "./chain.ts";

const ROOT = join(import.meta.dirname, "../..");
const NODE = process.execPath;
const PROVIDER_CLI = join(ROOT, "provider-node/src/cli.ts");

export interface NetworkOptions {
  /** Folder for logs, the IPFS repo and provider state; wiped at start. */
  dir: string;
  chainPort: number;
  ipfsApiPort: number;
  ipfsGatewayPort: number;
  /** "chain-31337" is the standard deployment the bindings generator reads; tests use their own. */
  deploymentId: string;
  /** Tokens (whole units) given to the requester and to each provider account. */
  requesterTokens?: number;
  providerTokens?: number;
  /** Called with a line for each step, so long start-ups show progress. */
  onStep?: (message: string) => void;
  /** Origins the IPFS API answers cross-origin (the dApp's); default any ("*"). */
  ipfsCorsOrigins?: string[];
}

export interface ProviderOptions {
  /** Devnet account index (2, 3, 4, … are providers). */
  account: number;
  httpPort: number;
  /** Tokens to stake (whole units). */
  stake?: number;
  /** Extra environment for the daemon (limits, test modes). */
  env?: Record<string, string>;
  /** Skip `register` (already registered, e.g. on restart). */
  skipRegister?: boolean;
}

export interface RunningProvider {
  account: number;
  address: Address;
  apiUrl: string;
  apiToken: string;
  dataDir: string;
  logFile: string;
  process: ChildProcess;
  stop(): Promise<void>;
  /** SIGKILL: a crash, for recovery tests. */
  kill(): Promise<void>;
}

export interface Network {
  rpcUrl: string;
  ipfsApiUrl: string;
  gatewayUrl: string;
  addresses: ContractAddresses;
  storage: Storage;
  dir: string;
  chain: RunningChain;
  ipfs: IpfsNode;
  /** A market client signing as `account` (0 deployer, 1 requester, 2.. providers). */
  client(account: number): Promise<MarketClient>;
  providers: RunningProvider[];
  startProvider(options: ProviderOptions): Promise<RunningProvider>;
  stop(): Promise<void>;
}

const TOKEN = (n: number) => parseUnits(String(n), 18);
const run = promisify(execFile);

/** Starts chain, deployment and IPFS, and funds the requester and provider accounts. */
export async function startNetwork(options: NetworkOptions): Promise<Network> {
  const step = options.onStep ?? (() => {});
  rmSync(options.dir, { recursive: true, force: true });
  mkdirSync(options.dir, { recursive: true });

  step(`starting Hardhat node on 127.0.0.1:${options.chainPort}`);
  const chain = await startChain({ port: options.chainPort, logFile: join(options.dir, "chain.log") });
  let ipfs: IpfsNode | undefined;
  const providers: RunningProvider[] = [];
  try {
    step("deploying RenderToken, ProviderRegistry and JobMarket with Ignition");
    const deployed = await deployProtocol({ rpcUrl: chain.rpcUrl, deploymentId: options.deploymentId });
    const addresses: ContractAddresses = { token: deployed.token, registry: deployed.registry, market: deployed.market };

    step(`starting the embedded IPFS node (API :${options.ipfsApiPort}, gateway :${options.ipfsGatewayPort})`);
    ipfs = await startIpfsNode({
      repoDir: join(options.dir, "ipfs"),
      apiPort: options.ipfsApiPort,
      gatewayPort: options.ipfsGatewayPort,
      corsOrigins: options.ipfsCorsOrigins ?? ["*"],
    });
    const storage = createKuboStorage({ url: ipfs.apiUrl });
    const client = async (account: number) =>
      createMarketClient(await connectChain({ rpcUrl: chain.rpcUrl, addresses, account: devnetAccount(account) }));

    step("funding the requester and the provider accounts");
    const deployer = await client(DEVNET_ROLES.deployer);
    await deployer.transferToken(devnetAccount(DEVNET_ROLES.requester).address, TOKEN(options.requesterTokens ?? 100_000));
    for (let i = DEVNET_ROLES.firstProvider; i < DEVNET_ROLES.firstProvider + 6; i++) {
      await deployer.transferToken(devnetAccount(i).address, TOKEN(options.providerTokens ?? 10_000));
    }

    const network: Network = {
      rpcUrl: chain.rpcUrl,
      ipfsApiUrl: ipfs.apiUrl,
      gatewayUrl: ipfs.gatewayUrl,
      addresses,
      storage,
      dir: options.dir,
      chain,
      ipfs,
      client,
      providers,
      startProvider: async (p) => {
        const provider = await startProvider(network, p, step);
        providers.push(provider);
        return provider;
      },
      stop: async () => {
        await Promise.allSettled(providers.map((p) => p.stop()));
        await Promise.allSettled([ipfs?.stop(), chain.stop()]);
      },
    };
    writeFileSync(
      join(options.dir, "network.json"),
      JSON.stringify({ rpcUrl: chain.rpcUrl, ipfsApiUrl: ipfs.apiUrl, gatewayUrl: ipfs.gatewayUrl, addresses }, null, 2),
    );
    return network;
  } catch (error) {
    await Promise.allSettled([...providers.map((p) => p.stop()), ipfs?.stop(), chain.stop()]);
    throw error;
  }
}

/** The environment a provider daemon of this network reads its configuration from. */
export function providerEnv(network: Pick<Network, "rpcUrl" | "ipfsApiUrl" | "addresses" | "dir">, p: ProviderOptions) {
  const dataDir = join(network.dir, `provider-${p.account}`);
  const apiToken = randomBytes(24).toString("hex");
  return {
    dataDir,
    apiToken,
    env: {
      TESSELLATE_RPC_URL: network.rpcUrl,
      TESSELLATE_PRIVATE_KEY: devnetPrivateKey(p.account),
      TESSELLATE_IPFS_API_URL: network.ipfsApiUrl,
      TESSELLATE_MARKET_ADDRESS: network.addresses.market,
      TESSELLATE_REGISTRY_ADDRESS: network.addresses.registry,
      TESSELLATE_TOKEN_ADDRESS: network.addresses.token,
      TESSELLATE_DATA_DIR: dataDir,
      TESSELLATE_HTTP_PORT: String(p.httpPort),
      TESSELLATE_API_TOKEN: apiToken,
      TESSELLATE_LOG_LEVEL: "info",
      ...p.env,
    } as Record<string, string>,
  };
}

/** Registers (benchmark + profile on IPFS), stakes and starts one provider daemon. */
async function startProvider(network: Network, p: ProviderOptions, step: (m: string) => void): Promise<RunningProvider> {
  const address = devnetAccount(p.account).address;
  const { dataDir, apiToken, env } = providerEnv(network, p);
  mkdirSync(dataDir, { recursive: true });
  const childEnv = { ...process.env, ...env };
  // Asynchronous on purpose: the embedded IPFS node may live in this process and must keep answering.
  const cli = async (args: string[]) => {
    try {
      const { stdout } = await run(NODE, ["--no-warnings", PROVIDER_CLI, ...args], { cwd: ROOT, env: childEnv, encoding: "utf8" });
      return stdout.trim();
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      throw new Error(`provider ${p.account}: \`tessellate-provider ${args.join(" ")}\` failed (exit ${e.code}):\n${e.stdout ?? ""}${e.stderr ?? ""}`);
    }
  };
  if (!p.skipRegister) {
    step(`provider ${p.account} (${address}): benchmarking engines and registering`);
    await cli(["register"]);
    await cli(["stake", String(p.stake ?? 1_000)]);
  }
  const logFile = join(network.dir, `provider-${p.account}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  const child = spawn(NODE, ["--no-warnings", PROVIDER_CLI, "run"], { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const apiUrl = `http://127.0.0.1:${p.httpPort}`;
  try {
    await waitFor(async () => (await fetch(`${apiUrl}/health`, { signal: AbortSignal.timeout(1_000) })).ok, 60_000, () => {
      if (child.exitCode !== null) throw new Error(`provider ${p.account} exited (code ${child.exitCode}); see ${logFile}`);
    });
  } catch (error) {
    await stopProcess(child, 2_000); // not in `providers` yet: nobody else would stop it
    throw error;
  }
  step(`provider ${p.account} running: API ${apiUrl}, log ${logFile}`);
  return {
    account: p.account,
    address,
    apiUrl,
    apiToken,
    dataDir,
    logFile,
    process: child,
    stop: () => stopProcess(child, 10_000),
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** Polls `check` until it returns true (errors count as false) or the time runs out. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, onPoll?: () => void, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    onPoll?.();
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
