/**
 * Shared pieces of the wall-clock benchmarks (`bench:overhead`, `bench:latency`): a run with
 * guaranteed clean-up (Ctrl-C included), the local network in a temporary folder, an event
 * observer that timestamps every JobMarket event the moment the chain pushes it, the providers'
 * own log lines, statistics and the final table. Benchmarks print figures; they assert nothing.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLiveLine, type LiveLine } from "@tessellate/cli";
import { decodeProtocolEvents, type ProtocolEvent } from "@tessellate/sdk";
import { createPublicClient, http, webSocket, type Address, type Hex, type Log } from "viem";
import { startNetwork, type Network, type NetworkOptions } from "../devnet/network.ts";

const ROOT = join(import.meta.dirname, "../..");

// ------------------------------------------------------------------------------ clocks

/** Wall-clock time in epoch milliseconds with sub-millisecond resolution (monotonic within a run). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

// ------------------------------------------------------------------------------ the run

/** Runs a command-line parser; a bad flag prints what was wrong and exits with code 2. */
export function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
}

export interface BenchRun {
  name: string;
  /** Aborted on the first SIGINT/SIGTERM: every wait of the benchmark takes it. */
  signal: AbortSignal;
  /** A fresh temporary folder (logs, IPFS repo, provider state); removed on success unless --keep. */
  dir: string;
  /** The live status line on stderr. */
  progress: LiveLine;
  /** Registers a clean-up step; they run in reverse order, always, once. */
  onCleanup(step: () => Promise<void> | void): void;
  /** Prints a line of the report (stdout), above the live line. */
  print(line?: string): void;
}

/**
 * Runs `main` with clean-up on success, on failure and on Ctrl-C (a second Ctrl-C skips the
 * graceful stop). Exit code: 0 when `main` resolved (figures printed, targets met or not),
 * 1 on an error, 130/143 on a signal.
 */
export async function runBench(name: string, options: { keep: boolean }, main: (run: BenchRun) => Promise<void>): Promise<never> {
  const controller = new AbortController();
  const dir = mkdtempSync(join(tmpdir(), `tessellate-${name}-`));
  const cleanups: Array<() => Promise<void> | void> = [];
  const progress = createLiveLine(process.stderr, { intervalMs: 5_000 });
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) {
      process.stderr.write(`\n${sig} again: exiting without a graceful stop (processes may be left running; see ${dir})\n`);
      process.exit(sig === "SIGINT" ? 130 : 143);
    }
    signalled = sig;
    progress.log(`${sig}: stopping the benchmark and the network (again to force)`);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const run: BenchRun = {
    name,
    signal: controller.signal,
    dir,
    progress,
    onCleanup: (step) => void cleanups.push(step),
    print: (line = "") => progress.log(line),
  };
  let code = 0;
  try {
    await main(run);
  } catch (error) {
    code = signalled ? (signalled === "SIGINT" ? 130 : 143) : 1;
    if (!signalled) progress.log(`\n${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } finally {
    for (const step of cleanups.reverse()) {
      try {
        await step();
      } catch (error) {
        progress.log(`clean-up step failed: ${(error as Error).message}`);
      }
    }
    progress.done();
    if (code === 0 && !options.keep) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`logs and state kept in ${dir}\n`);
  }
  process.exit(code);
}

/** Rejects with the signal's reason when it aborts; resolves after `ms` otherwise. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

// ------------------------------------------------------------------------------ the network

/** Port block of one benchmark: chain `chainPort`, IPFS API/gateway, provider APIs from `providerPort`. */
export interface BenchPorts {
  chainPort: number;
  ipfsApiPort: number;
  ipfsGatewayPort: number;
  providerPort: number;
}

/**
 * Starts the local network (chain, Ignition deployment under a run-specific id, embedded IPFS) in
 * `run.dir`, and registers its stop (and the removal of the deployment journal) as clean-up.
 */
export async function startBenchNetwork(run: BenchRun, ports: BenchPorts, extra: Partial<NetworkOptions> = {}): Promise<Network> {
  const deploymentId = `bench-${run.name}-${process.pid}`;
  run.onCleanup(() => rmSync(join(ROOT, "ignition/deployments", deploymentId), { recursive: true, force: true }));
  const starting = startNetwork({
    dir: join(run.dir, "network"),
    chainPort: ports.chainPort,
    ipfsApiPort: ports.ipfsApiPort,
    ipfsGatewayPort: ports.ipfsGatewayPort,
    deploymentId,
    onStep: (message) => run.progress.set(`network: ${message}`, { force: true }),
    ...extra,
  });
  // Stopped at the end whatever happens, a Ctrl-C during the start included (startNetwork cleans up
  // after its own failures). `stop` is idempotent, so a benchmark may stop the network early (to
  // measure on a quiet machine) and the clean-up step stays harmless.
  let stopping: Promise<void> | undefined;
  let stopNetwork: (() => Promise<void>) | undefined;
  const providersStarting = new Set<Promise<unknown>>();
  run.onCleanup(async () => {
    const network = await starting.catch(() => undefined);
    await Promise.allSettled([...providersStarting]); // a provider being started is stopped too
    if (!network || !stopNetwork) return;
    if (!stopping) run.progress.set("stopping providers, IPFS and the chain", { force: true });
    await stopNetwork();
  });
  const network = await starting;
  const originalStop = network.stop;
  const originalStartProvider = network.startProvider;
  stopNetwork = () => (stopping ??= originalStop());
  const startProvider: Network["startProvider"] = (options) => {
    const started = originalStartProvider(options);
    providersStarting.add(started);
    return started.finally(() => providersStarting.delete(started));
  };
  run.signal.throwIfAborted();
  return Object.assign(network, { stop: stopNetwork, startProvider });
}

// ------------------------------------------------------------------------------ event observer

/** A protocol event with the moment this process received it. */
export interface ObservedEvent {
  /** Epoch ms (sub-ms resolution) when the log reached this process. */
  at: number;
  event: ProtocolEvent;
  blockNumber: bigint;
  transactionHash: Hex;
  logIndex: number;
}

export interface EventObserver {
  /** "eth_subscribe over WebSocket (push)" or "eth_getFilterChanges every N ms". */
  readonly method: string;
  readonly events: ObservedEvent[];
  /** Resolves once `predicate` holds (checked now and after every new batch of events). */
  until(predicate: () => boolean, options: { timeoutMs: number; signal: AbortSignal; what: string }): Promise<void>;
  stop(): void;
}

/**
 * Watches the market's logs and stamps each one on arrival. On the devnet (Hardhat's node serves
 * WebSocket on the RPC port) it subscribes with `eth_subscribe("logs")`, so a log is pushed the
 * moment its block is mined and no polling cadence enters the figures; where that fails it falls
 * back to viem's filter polling at `fallbackPollMs`.
 */
export async function observeMarket(rpcUrl: string, market: Address, options: { fallbackPollMs?: number } = {}): Promise<EventObserver> {
  const events: ObservedEvent[] = [];
  const waiters = new Set<() => void>();
  const onLogs = (logs: Log[]) => {
    const at = nowMs();
    for (const event of decodeProtocolEvents(logs)) {
      events.push({ at, event, blockNumber: event.blockNumber!, transactionHash: event.transactionHash!, logIndex: event.logIndex! });
    }
    for (const wake of waiters) wake();
  };
  let errors: Error[] = [];
  const onError = (error: Error) => void errors.push(error);

  let method: string;
  let unwatch: () => void;
  let close: () => Promise<void> = async () => undefined;
  try {
    const transport = webSocket(rpcUrl.replace(/^http/, "ws"), { retryCount: 0, timeout: 5_000, reconnect: false, keepAlive: false });
    const client = createPublicClient({ transport });
    await client.getChainId(); // fails fast when there is no WebSocket endpoint
    unwatch = client.watchEvent({ address: market, onLogs, onError });
    close = async () => {
      (await client.transport.getRpcClient()).close();
    };
    method = "eth_subscribe(\"logs\") over WebSocket: each log stamped when the chain pushes it";
    await pause(100, new AbortController().signal); // let the subscription be registered
  } catch {
    const pollMs = options.fallbackPollMs ?? 10;
    const client = createPublicClient({ transport: http(rpcUrl), pollingInterval: pollMs });
    unwatch = client.watchEvent({ address: market, onLogs, onError, poll: true, pollingInterval: pollMs });
    method = `viem filter polling every ${pollMs} ms (no WebSocket endpoint): each log stamped when a poll returns it`;
  }

  return {
    method,
    events,
    async until(predicate, { timeoutMs, signal, what }) {
      const deadline = nowMs() + timeoutMs;
      while (!predicate()) {
        if (errors.length > 0) {
          const first = errors[0];
          errors = [];
          throw new Error(`watching the market's events failed: ${first.message}`);
        }
        signal.throwIfAborted();
        const left = deadline - nowMs();
        if (left <= 0) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            waiters.delete(done);
            signal.removeEventListener("abort", done);
            resolve();
          };
          const timer = setTimeout(done, Math.min(left, 1_000));
          waiters.add(done);
          signal.addEventListener("abort", done, { once: true });
        });
      }
    },
    stop() {
      unwatch();
      void close().catch(() => undefined);
    },
  };
}

/** Events of one job, optionally of one name. */
export function jobEvents<N extends ProtocolEvent["eventName"]>(events: ObservedEvent[], jobId: bigint, name: N) {
  return events.filter(
    (e): e is ObservedEvent & { event: Extract<ProtocolEvent, { eventName: N }> } =>
      e.event.eventName === name && (e.event.args as { jobId?: bigint }).jobId === jobId,
  );
}

/** `segment << 8 | replica` → segment. */
export function slotSegment(packed: bigint): number {
  return Number(packed >> 8n);
}

// ------------------------------------------------------------------------------ provider logs

/** One pino line of a provider's log. */
export interface ProviderLogLine {
  time: number;
  msg: string;
  jobId?: string;
  segment?: number;
  segments?: number[];
  seconds?: number;
  [key: string]: unknown;
}

/** The JSON lines of a provider log (other lines skipped). */
export function readProviderLog(file: string): ProviderLogLine[] {
  const lines: ProviderLogLine[] = [];
  for (const text of readFileSync(file, "utf8").split("\n")) {
    if (!text.startsWith("{")) continue;
    try {
      const line = JSON.parse(text) as ProviderLogLine;
      if (typeof line.time === "number" && typeof line.msg === "string") lines.push(line);
    } catch {
      // a partial last line
    }
  }
  return lines;
}

// ------------------------------------------------------------------------------ CPU accounting

/** CPU counters at one moment (Linux /proc; empty elsewhere). */
export interface CpuSample {
  at: number;
  /** Machine-wide jiffies: busy and total, over all cores. */
  busy: number;
  total: number;
  /** CPU seconds used so far by each named process (all its threads). */
  processes: Record<string, number>;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** Reads the machine's and the named processes' CPU counters. */
export function cpuSample(pids: Record<string, number | undefined>): CpuSample {
  const sample: CpuSample = { at: nowMs(), busy: Number.NaN, total: Number.NaN, processes: {} };
  try {
    const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    sample.busy = user + nice + system + irq + softirq + steal;
    sample.total = sample.busy + idle + iowait;
    for (const [name, pid] of Object.entries(pids)) {
      if (pid === undefined) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const after = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // Fields 14 and 15 (utime, stime) are the 12th and 13th after the command name.
      sample.processes[name] = (Number(after[11]) + Number(after[12])) / CLOCK_TICKS;
    }
  } catch {
    // not Linux, or a process ended: figures stay NaN / absent
  }
  return sample;
}

/** What happened between two samples: wall seconds, busy cores of the whole machine, CPU seconds per process. */
export function cpuBetween(a: CpuSample, b: CpuSample, cores: number) {
  const wallSeconds = (b.at - a.at) / 1000;
  const busyCores = ((b.busy - a.busy) / (b.total - a.total)) * cores;
  const processes: Record<string, number> = {};
  for (const name of Object.keys(b.processes)) {
    if (name in a.processes) processes[name] = b.processes[name] - a.processes[name];
  }
  return { wallSeconds, busyCores, processes };
}

// ------------------------------------------------------------------------------ statistics, tables

/** Nearest-rank percentile (p in 0..100) of `values`. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

export function mean(values: number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

export function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** Seconds with `digits` decimals. */
export function s(ms: number, digits = 2): string {
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(digits)} s` : "n/a";
}

/** Milliseconds, whole. */
export function ms(value: number): string {
  return Number.isFinite(value) ? `${Math.round(value)} ms` : "n/a";
}

/**
 * A plain aligned table: first row is the header, a rule under it. Columns after the first are
 * right-aligned (numbers) unless `leftAligned` says otherwise.
 */
export function table(rows: string[][], options: { leftAligned?: number[] } = {}): string[] {
  const left = new Set([0, ...(options.leftAligned ?? [])]);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => r.map((cell, c) => (left.has(c) ? (cell ?? "").padEnd(widths[c]) : (cell ?? "").padStart(widths[c]))).join("  ").trimEnd();
  return [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)];
}
