/**
 * The node's counters and render-time histogram, kept in memory since start-up (Prometheus
 * counters restart at zero with the process, which Prometheus handles). Gauges that live in the
 * state file (replicas by state, earnings) or on the chain (lag) are read when scraped.
 */

/** Upper bounds (seconds) of the render-time histogram buckets. */
export const RENDER_SECONDS_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 14_400] as const;

export const COUNTER_NAMES = ["claims", "commits", "reveals", "abandons", "expires", "withdrawals", "closes", "txFailures", "renderFailures"] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export class Metrics {
  readonly counters: Record<CounterName, number> = Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Record<CounterName, number>;
  readonly renderSeconds = { count: 0, sum: 0, buckets: RENDER_SECONDS_BUCKETS.map(() => 0) };

  count(name: CounterName, by = 1): void {
    this.counters[name] += by;
  }

  observeRender(seconds: number): void {
    this.renderSeconds.count++;
    this.renderSeconds.sum += seconds;
    RENDER_SECONDS_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.renderSeconds.buckets[i]++;
    });
  }
}
