/**
 * Exponential backoff with jitter, for retrying RetryableErrors without busy-looping and without
 * every node of a network retrying in lockstep.
 */

/** Delay before retry number `attempt` (0-based): between half and all of `base·2^attempt`, capped at `max`. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const full = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(full / 2 + (random() * full) / 2);
}

export class Backoff {
  private attempt = 0;
  readonly baseMs: number;
  readonly maxMs: number;
  constructor(options: { baseMs: number; maxMs: number }) {
    this.baseMs = options.baseMs;
    this.maxMs = options.maxMs;
  }
  /** The next delay; each call doubles the one after. */
  next(): number {
    return backoffDelay(this.attempt++, this.baseMs, this.maxMs);
  }
  reset(): void {
    this.attempt = 0;
  }
  get attempts(): number {
    return this.attempt;
  }
}

/**
 * Per-key backoff deadlines ("do not try replica 12 again before t"), for work items that fail
 * independently. Keys are forgotten on success.
 */
export class BackoffSchedule<K> {
  private readonly entries = new Map<K, { attempt: number; notBefore: number }>();
  readonly baseMs: number;
  readonly maxMs: number;
  constructor(options: { baseMs: number; maxMs: number }) {
    this.baseMs = options.baseMs;
    this.maxMs = options.maxMs;
  }
  /** Whether `key` may be tried at time `now` (ms). */
  ready(key: K, now: number): boolean {
    const entry = this.entries.get(key);
    return !entry || now >= entry.notBefore;
  }
  /** Records a failure at `now`; returns the delay until the next try. */
  failed(key: K, now: number): number {
    const attempt = this.entries.get(key)?.attempt ?? 0;
    const delay = backoffDelay(attempt, this.baseMs, this.maxMs);
    this.entries.set(key, { attempt: attempt + 1, notBefore: now + delay });
    return delay;
  }
  succeeded(key: K): void {
    this.entries.delete(key);
  }
  /** Earliest time after `now` at which a waiting key becomes ready, or undefined. */
  nextReadyAt(now: number): number | undefined {
    let min: number | undefined;
    for (const entry of this.entries.values()) if (entry.notBefore > now && (min === undefined || entry.notBefore < min)) min = entry.notBefore;
    return min;
  }
  attempts(key: K): number {
    return this.entries.get(key)?.attempt ?? 0;
  }
}
