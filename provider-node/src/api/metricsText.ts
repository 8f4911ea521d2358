/**
 * The node's metrics in the Prometheus text exposition format (version 0.0.4). Token amounts are
 * exported in whole tokens (floating point), counts as integers.
 */
import { formatUnits } from "viem";
import { COUNTER_NAMES, RENDER_SECONDS_BUCKETS, type Metrics } from "../metrics.ts";
import { REPLICA_STATES, type ReplicaState } from "../state/replicaStateMachine.ts";
import type { EarningsSummary } from "../state/stateStore.ts";

const PREFIX = "tessellate_provider";

const COUNTER_HELP: Record<(typeof COUNTER_NAMES)[number], string> = {
  claims: "Successful claim transactions.",
  commits: "Replicas committed.",
  reveals: "Replicas revealed.",
  abandons: "Replicas given back before their lease ended.",
  expires: "Other providers' replicas expired by this node as keeper.",
  withdrawals: "Withdrawals of market earnings.",
  closes: "Segments closed to release collateral.",
  txFailures: "Transactions that failed (reverted or not sent).",
  renderFailures: "Renders that failed.",
};

export interface MetricsSnapshot {
  metrics: Metrics;
  replicasByState: Partial<Record<ReplicaState, number>>;
  earnings: EarningsSummary;
  lagBlocks: number;
  head: bigint | undefined;
  paused: boolean;
}

export function renderMetrics(s: MetricsSnapshot): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number | string][]) => {
    lines.push(`# HELP ${PREFIX}_${name} ${help}`, `# TYPE ${PREFIX}_${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${PREFIX}_${name}${labels} ${value}`);
  };
  metric("up", "gauge", "1 while the node runs.", [["", 1]]);
  metric("paused", "gauge", "1 while claiming is paused.", [["", s.paused ? 1 : 0]]);
  metric(
    "replicas",
    "gauge",
    "Replicas in the local state, by state.",
    REPLICA_STATES.map((state) => [`{state="${state}"}`, s.replicasByState[state] ?? 0]),
  );
  for (const name of COUNTER_NAMES) {
    metric(`${snake(name)}_total`, "counter", COUNTER_HELP[name], [["", s.metrics.counters[name]]]);
  }
  const { renderSeconds } = s.metrics;
  metric("render_seconds", "histogram", "Render time of one segment (all its frames), seconds.", [
    ...RENDER_SECONDS_BUCKETS.map((bound, i): [string, number] => [`_bucket{le="${bound}"}`, renderSeconds.buckets[i]]),
    ['_bucket{le="+Inf"}', renderSeconds.count],
    ["_sum", renderSeconds.sum],
    ["_count", renderSeconds.count],
  ]);
  metric(
    "earnings_tokens",
    "gauge",
    "Tokens credited to this provider's market balance, by kind (since the state file was created).",
    Object.entries(s.earnings.credited).map(([kind, wei]) => [`{kind="${kind}"}`, formatUnits(wei, 18)]),
  );
  metric("slashed_tokens", "gauge", "Collateral tokens this provider lost to rejections and expiries.", [["", formatUnits(s.earnings.slashed, 18)]]);
  metric("withdrawn_tokens", "gauge", "Tokens withdrawn from the market.", [["", formatUnits(s.earnings.withdrawn, 18)]]);
  metric("chain_lag_blocks", "gauge", "Blocks the local state is behind the chain head.", [["", s.lagBlocks]]);
  if (s.head !== undefined) metric("chain_head_block", "gauge", "Latest block number seen.", [["", s.head.toString()]]);
  return `${lines.join("\n")}\n`;
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
