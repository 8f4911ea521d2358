/**
 * The node's Prometheus metrics, kept by prom-client in a registry of the node's own (so several
 * nodes in one process, as in tests, do not mix): counters and the render-time histogram since
 * start-up (Prometheus handles the restart at zero), gauges read from the state file and the chain
 * watcher at scrape time, and prom-client's standard process and Node.js metrics (CPU, memory,
 * event-loop lag, handles) under their usual names. Token amounts are whole tokens.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { formatUnits } from "viem";
import { REPLICA_STATES, type ReplicaState } from "./state/replicaStateMachine.ts";
import type { EarningsSummary } from "./state/stateStore.ts";

const PREFIX = "tessellate_provider";

/** Upper bounds (seconds) of the render-time histogram buckets. */
export const RENDER_SECONDS_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 14_400] as const;

const COUNTER_HELP = {
  claims: "Successful claim transactions.",
  commits: "Replicas committed.",
  reveals: "Replicas revealed.",
  abandons: "Replicas given back before their lease ended.",
  expires: "Other providers' replicas expired by this node as keeper.",
  withdrawals: "Withdrawals of market earnings.",
  closes: "Segments closed to release collateral.",
  txFailures: "Transactions that failed (reverted or not sent).",
  renderFailures: "Renders that failed.",
} as const;
export type CounterName = keyof typeof COUNTER_HELP;
export const COUNTER_NAMES = Object.keys(COUNTER_HELP) as CounterName[];

/** What the scrape-time gauges read. */
export interface MetricSources {
  replicasByState(): Partial<Record<ReplicaState, number>>;
  earnings(): EarningsSummary;
  lagBlocks(): number;
  head(): bigint | undefined;
  paused(): boolean;
}

export class Metrics {
  readonly registry = new Registry();
  /** The counters' values since start-up, for the node's own reads (the registry holds the same). */
  readonly counters = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Record<CounterName, number>;
  readonly renderSeconds = { count: 0 };
  private readonly promCounters: Record<CounterName, Counter>;
  private readonly renderHistogram: Histogram;
  private readonly engineCpu: Counter;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.promCounters = Object.fromEntries(
      COUNTER_NAMES.map((name) => [name, new Counter({ name: `${PREFIX}_${snake(name)}_total`, help: COUNTER_HELP[name], registers })]),
    ) as Record<CounterName, Counter>;
    this.renderHistogram = new Histogram({
      name: `${PREFIX}_render_seconds`,
      help: "Render time of one segment (all its frames), seconds.",
      buckets: [...RENDER_SECONDS_BUCKETS],
      registers,
    });
    this.engineCpu = new Counter({
      name: `${PREFIX}_engine_cpu_seconds_total`,
      help: "CPU seconds (user + system) of the engine processes (renders and benchmarks), measured inside the sandbox, by engine binary.",
      labelNames: ["engine"],
      registers,
    });
    new Gauge({ name: `${PREFIX}_up`, help: "1 while the node runs.", registers }).set(1);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  count(name: CounterName, by = 1): void {
    this.counters[name] += by;
    this.promCounters[name].inc(by);
  }

  observeRender(seconds: number): void {
    this.renderSeconds.count++;
    this.renderHistogram.observe(seconds);
  }

  /** Adds one engine run's CPU time (the sandbox reports it after every clean run). */
  observeEngineUsage(usage: { command: string; cpuSeconds: number }): void {
    this.engineCpu.inc({ engine: usage.command }, usage.cpuSeconds);
  }

  /** Registers the gauges read at scrape time (once, by the API server). */
  attach(sources: MetricSources): void {
    const registers = [this.registry];
    new Gauge({ name: `${PREFIX}_paused`, help: "1 while claiming is paused.", registers, collect() { this.set(sources.paused() ? 1 : 0); } });
    new Gauge({
      name: `${PREFIX}_replicas`,
      help: "Replicas in the local state, by state.",
      labelNames: ["state"],
      registers,
      collect() {
        const counts = sources.replicasByState();
        for (const state of REPLICA_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    new Gauge({
      name: `${PREFIX}_earnings_tokens`,
      help: "Tokens credited to this provider's market balance, by kind (since the state file was created).",
      labelNames: ["kind"],
      registers,
      collect() {
        for (const [kind, wei] of Object.entries(sources.earnings().credited)) this.set({ kind }, tokens(wei));
      },
    });
    new Gauge({ name: `${PREFIX}_slashed_tokens`, help: "Collateral tokens this provider lost to rejections and expiries.", registers, collect() { this.set(tokens(sources.earnings().slashed)); } });
    new Gauge({ name: `${PREFIX}_withdrawn_tokens`, help: "Tokens withdrawn from the market.", registers, collect() { this.set(tokens(sources.earnings().withdrawn)); } });
    new Gauge({ name: `${PREFIX}_chain_lag_blocks`, help: "Blocks the local state is behind the chain head.", registers, collect() { this.set(sources.lagBlocks()); } });
    new Gauge({
      name: `${PREFIX}_chain_head_block`,
      help: "Latest block number seen.",
      registers,
      collect() {
        const head = sources.head();
        if (head !== undefined) this.set(Number(head));
      },
    });
  }

  /** The exposition text and its content type (Prometheus text format 0.0.4). */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}

function tokens(wei: bigint): number {
  return Number(formatUnits(wei, 18));
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
