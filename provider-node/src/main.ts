/**
 * The composition root: wires config → logger → chain connection → market → storage → engines →
 * state store → chain watcher → worker → HTTP API, and starts them. Every part takes its
 * dependencies as arguments; {@link ProviderNodeDeps} lets tests and scripts substitute any of
 * them (a fake market, in-memory storage, fake engines, a movable clock).
 */
import { join } from "node:path";
import type { Account, Address, Hex } from "viem";
import { connectChain, createMarketClient, type Storage } from "@tessellate/sdk";
import { FatalError, RetryableError } from "@tessellate/sdk/errors";
import { createKuboStorage } from "@tessellate/sdk/node";
import { startApiServer, type RunningApi } from "./api/server.ts";
import { ChainWatcher } from "./chain/chainWatcher.ts";
import { RpcHealth, withRpcHealth } from "./chain/rpcHealth.ts";
import { redactConfig, type ProviderConfig } from "./config/config.ts";
import { loadAccount } from "./config/keySource.ts";
import type { EngineInfo } from "./engines/engine.ts";
import { detectCyclesKernel } from "./engines/blender/cpuKernel.ts";
import { createEngineRegistry, defaultEngines, type EngineRegistry } from "./engines/registry.ts";
import { createLogger } from "./logger.ts";
import { Metrics } from "./metrics.ts";
import { createMarketPort, systemClock, type Clock, type Logger, type MarketPort } from "./ports.ts";
import { checkSandbox, NO_ISOLATION_WARNING, removeLeftoverWorkDirs, type SandboxOptions } from "./sandbox/sandbox.ts";
import { lockDataDir } from "./state/dataDirLock.ts";
import { StateStore } from "./state/stateStore.ts";
import { deriveSaltSecret } from "./worker/replicaSalt.ts";
import { Worker } from "./worker/worker.ts";

/** File name of the state database inside the data dir. */
export const STATE_FILE = "provider.sqlite";
/** Folder inside the data dir holding the engines' work folders; emptied at every start. */
export const ENGINE_WORK_DIR = "engine-work";

export interface ProviderNodeDeps {
  /** Signs for the node; default: the configured key source (keystore or TESSELLATE_PRIVATE_KEY). */
  account?: Account;
  /** Environment for the key source (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The protocol; default: the sdk's market client over `config.rpcUrl`. */
  market?: MarketPort;
  /** Content storage; default: Kubo RPC client for `config.ipfsApiUrl`. */
  storage?: Storage;
  engines?: EngineRegistry;
  clock?: Clock;
  logger?: Logger;
  /** Overrides the benchmark (otherwise config.benchmarkScore, then the last stored one, then a fresh benchmark). */
  benchmarkScore?: number;
  /** Retry delays of the worker and the watcher. */
  backoff?: { baseMs: number; maxMs: number };
  /**
   * The secret commitment salts are derived from (see worker/replicaSalt.ts). Default: derived
   * from the signing account, the chain id and the market address. Required with `market`.
   */
  saltSecret?: Hex;
  /** This machine's load per core, recorded with a render that overran its lease (default: os.loadavg ÷ cores). */
  loadPerCore?: () => number;
}

export interface ProviderNode {
  address: Address;
  config: ProviderConfig;
  /** Base URL of the local API, when enabled. */
  apiUrl: string | undefined;
  store: StateStore;
  watcher: ChainWatcher;
  worker: Worker;
  metrics: Metrics;
  installedEngines: EngineInfo[];
  benchmarkScore: number;
  /** Graceful: stops claiming, lets renders finish for `graceMs` (default 0), closes the API and the state file. */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Abrupt, like a killed process: closes the state file first, then stops everything (tests of crash recovery); releases the data dir lock. */
  kill(): Promise<void>;
}

/** Starts a provider node: catches up with the chain, then watches, works and serves its API. */
export async function startProviderNode(config: ProviderConfig, deps: ProviderNodeDeps = {}): Promise<ProviderNode> {
  const log = deps.logger ?? createLogger(config.logLevel);
  const clock = deps.clock ?? systemClock;
  // One node per data dir: a second process on it stops here, before touching the chain or the state file.
  const lock = lockDataDir(config.dataDir);
  if (lock.replacedStalePid !== undefined) log.warn({ lockFile: lock.path, stalePid: lock.replacedStalePid }, "replaced a stale data dir lock (its process is gone)");
  try {
    return await startLocked(config, deps, log, clock, lock.release);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function startLocked(config: ProviderConfig, deps: ProviderNodeDeps, log: Logger, clock: Clock, releaseLock: () => void): Promise<ProviderNode> {
  const connected = deps.market ? { market: deps.market, saltSecret: deps.saltSecret } : await connectMarket(config, deps);
  const { saltSecret } = connected;
  // One warn line when the RPC becomes unreachable, one info line when it answers again.
  const market = withRpcHealth(connected.market, new RpcHealth(log, clock));
  if (!saltSecret) throw new FatalError("SALT_SECRET_MISSING", "startProviderNode: pass `saltSecret` along with `market` (commitment salts are derived from it)");
  const storage = deps.storage ?? createKuboStorage({ url: config.ipfsApiUrl });
  const metrics = new Metrics();
  const sandbox: SandboxOptions = { isolation: config.sandbox.isolation, workRoot: join(config.dataDir, ENGINE_WORK_DIR), onUsage: (usage) => metrics.observeEngineUsage(usage) };
  await startSandbox(sandbox, log);
  const engines = deps.engines ?? createEngineRegistry(defaultEngines({ sandbox, logger: log }));
  const installedEngines = (await engines.detectAll()).filter((e) => config.engines.includes(e.name));
  const cpuKernel = await detectCyclesKernel(process.env);
  log.info({ address: market.account, engines: installedEngines.map((e) => `${e.name} ${e.version}`), cpuKernel, config: redactConfig(config) }, "starting provider node");
  if (installedEngines.length === 0) log.warn({ enabled: config.engines }, "no enabled engine is installed: the node will skip every job");

  const store = StateStore.open(join(config.dataDir, STATE_FILE), () => clock.now());
  try {
    const owner = store.getMeta("account");
    if (owner && owner.toLowerCase() !== market.account.toLowerCase()) {
      throw new FatalError("STATE_OTHER_ACCOUNT", `The data dir ${config.dataDir} belongs to ${owner}, not ${market.account} — use one data dir per provider account`);
    }
    if (!owner) store.setMeta("account", market.account);

    const benchmarkScore = await resolveBenchmark(config, deps, engines, store, log);
    let worker: Worker | undefined;
    const watcher = new ChainWatcher({
      market,
      store,
      log,
      clock,
      startBlock: BigInt(config.chain.startBlock),
      backoff: deps.backoff,
      onEffects: (effects) => worker?.onEffects(effects),
      // While the node only renders (no slot free, nothing else held), events cannot change what
      // it does soon: poll once a second instead of every polling interval.
      pollSlowly: () => worker?.onlyRendering() ?? false,
    });
    await watcher.verifyChain();
    try {
      await watcher.syncNow();
    } catch (error) {
      if (!(error instanceof RetryableError)) throw error;
      log.warn({ err: error.message }, "cannot catch up with the chain yet; the watcher keeps trying");
    }
    worker = new Worker({ market, store, storage, engines, installedEngines, sync: () => watcher.syncNow(), clock, log, config, metrics, benchmarkScore, saltSecret, backoff: deps.backoff, loadPerCore: deps.loadPerCore });
    const startedAt = clock.now();
    let api: RunningApi | undefined;
    if (config.http.enabled) {
      const w = worker;
      api = await startApiServer(
        { config, store, market, worker: w, watcher, installedEngines, cpuKernel, benchmarkScore, metrics, startedAt, now: () => clock.now(), log },
        config.http.host,
        config.http.port,
      );
      log.info({ url: api.url }, "local API listening");
    }
    watcher.start();
    worker.start();
    try {
      const me = await market.providerOf(market.account);
      const free = await market.freeStake(market.account);
      if (!me.registered) log.warn({ address: market.account }, "this account is not registered: run `tessellate-provider register`, then `stake <amount>`; no job will be claimed until then");
      else if (free === 0n) log.warn({ address: market.account }, "no free stake: run `tessellate-provider stake <amount>`; no job will be claimed until then");
    } catch {
      // The watcher reports chain trouble.
    }
    log.info({ address: market.account, benchmarkScore, paused: worker.paused, checkpoint: watcher.checkpoint?.toString() }, "provider node running");

    let stopped = false;
    const node: ProviderNode = {
      address: market.account,
      config,
      apiUrl: api?.url,
      store,
      watcher,
      worker,
      metrics,
      installedEngines,
      benchmarkScore,
      async stop(options = {}) {
        if (stopped) return;
        stopped = true;
        log.info({}, "stopping: no new claims; finishing or saving work in flight");
        await node.worker.stop({ graceMs: options.graceMs });
        await watcher.stop();
        await api?.close();
        store.close();
        releaseLock();
        log.info({}, "stopped");
      },
      async kill() {
        if (stopped) return;
        stopped = true;
        store.close();
        await Promise.allSettled([node.worker.stop(), watcher.stop(), api?.close()]);
        releaseLock();
      },
    };
    return node;
  } catch (error) {
    store.close();
    throw error;
  }
}

/** Removes what engines of a killed run left behind and says, loudly where needed, how engines are isolated. */
async function startSandbox(sandbox: SandboxOptions, log: Logger): Promise<void> {
  const removed = await removeLeftoverWorkDirs(sandbox.workRoot!);
  if (removed.length > 0) log.info({ workRoot: sandbox.workRoot, removed }, "removed engine work folders left by a previous run");
  const report = await checkSandbox(sandbox);
  if (report.isolation === "none") log.warn({ isolation: "none" }, NO_ISOLATION_WARNING);
  if (report.unavailable) log.error({ isolation: report.isolation }, `POV-Ray and Blender renders will fail: ${report.unavailable}`);
  if (report.noProcessCap) log.warn({ reason: report.noProcessCap }, "the number of processes an engine may start is NOT capped on this machine");
}

async function connectMarket(config: ProviderConfig, deps: ProviderNodeDeps): Promise<{ market: MarketPort; saltSecret: Hex }> {
  const account = deps.account ?? (await loadAccount(config.key.keystoreFile, deps.env ?? process.env));
  const conn = await connectChain({ rpcUrl: config.rpcUrl, addresses: config.contracts, pollingIntervalMs: config.chain.pollingIntervalMs, account });
  if (!account.signMessage) throw new FatalError("KEY_INVALID", `The account ${account.address} cannot sign messages; the node needs a local key (TESSELLATE_PRIVATE_KEY or a keystore)`);
  const saltSecret = deps.saltSecret ?? (await deriveSaltSecret({ signMessage: (args) => account.signMessage!(args) }, { chainId: conn.chainId, market: conn.addresses.market }));
  return { market: createMarketPort(createMarketClient(conn)), saltSecret };
}

async function resolveBenchmark(config: ProviderConfig, deps: ProviderNodeDeps, engines: EngineRegistry, store: StateStore, log: Logger): Promise<number> {
  const given = deps.benchmarkScore ?? config.benchmarkScore;
  if (given !== undefined) return given;
  const stored = store.getMeta("benchmarkScore");
  if (stored !== undefined) return Number(stored);
  const builtin = engines.get("builtin");
  if (!builtin) throw new FatalError("BENCHMARK_MISSING", "No benchmark score: set benchmarkScore (TESSELLATE_BENCHMARK_SCORE) or enable the builtin engine so the node can measure one");
  log.info({}, "benchmarking the builtin engine (once; the score is kept in the state file)");
  const { score, seconds } = await builtin.benchmark({ threads: config.limits.cpuThreads, memoryBytes: config.limits.memoryBytes, timeoutMs: 600_000 });
  store.setMeta("benchmarkScore", String(score));
  log.info({ score, seconds }, "benchmark done");
  return score;
}

/**
 * Stops `node` gracefully on the first SIGINT or SIGTERM (renders get `graceMs` to finish) and at
 * once on the second. Resolves when the node has stopped.
 */
export function stopOnSignals(node: ProviderNode, graceMs: number, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log(`${signal} again: stopping at once`);
        void node.kill().then(resolve);
        return;
      }
      stopping = true;
      log(`${signal}: stopping — no new claims; renders in flight get ${Math.round(graceMs / 1000)} s (${signal} again to stop at once)`);
      void node.stop({ graceMs }).then(() => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        resolve();
      });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
