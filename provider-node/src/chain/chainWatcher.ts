/**
 * Follows the protocol's events from the persisted checkpoint: polls the block number at the
 * connection's polling interval (100 ms on loopback), reads the new blocks' JobMarket and
 * ProviderRegistry events, applies them to the state file together with the new checkpoint (one
 * transaction per chunk), and tells the worker what changed. After downtime it catches up chunk by
 * chunk; on RPC errors it backs off exponentially and keeps going.
 */
import { FatalError, RetryableError } from "@tessellate/sdk/errors";
import type { Address } from "viem";
import type { Clock, Logger, MarketPort } from "../ports.ts";
import { applyEvents, emptyEffects, type ProjectionEffects } from "../state/projection.ts";
import type { StateStore } from "../state/stateStore.ts";
import { Backoff } from "../worker/backoff.ts";
import { CHAIN_UNREACHABLE } from "./rpcHealth.ts";

export interface ChainWatcherOptions {
  market: MarketPort;
  store: StateStore;
  log: Logger;
  clock: Clock;
  /** First block to read on a fresh state file. */
  startBlock: bigint;
  /** Blocks per getLogs + transaction while catching up. */
  chunkBlocks?: bigint;
  backoff?: { baseMs: number; maxMs: number };
  /** Called after every sync that applied events. */
  onEffects?: (effects: ProjectionEffects) => void;
  /**
   * True while no event could change what the node does soon (every replica it holds is being
   * rendered and it may not start more): it then polls every `slowPollMs` instead of every
   * polling interval. The worker syncs itself when a render ends.
   */
  pollSlowly?: () => boolean;
  /** The polling interval while `pollSlowly()` (default 1 s, never below the polling interval). */
  slowPollMs?: number;
}

export class ChainWatcher {
  private readonly market: MarketPort;
  private readonly store: StateStore;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly startBlock: bigint;
  private readonly chunk: bigint;
  private readonly backoff: Backoff;
  private readonly onEffects: (effects: ProjectionEffects) => void;
  private readonly pollSlowly: () => boolean;
  private readonly slowPollMs: number;
  private readonly me: Address;
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = new AbortController();
  private loop: Promise<void> | undefined;
  /** Latest block number seen on the chain. */
  head: bigint | undefined;
  /** Wall time (ms) of the last successful sync. */
  lastSyncAt: number | undefined;
  /** Errors in a row (0 when healthy). */
  consecutiveErrors = 0;
  lastError: string | undefined;
  /** Whether the current error streak was logged (so its end is too). */
  private streakLogged = false;

  constructor(options: ChainWatcherOptions) {
    this.market = options.market;
    this.store = options.store;
    this.log = options.log.child({ part: "watcher" });
    this.clock = options.clock;
    this.startBlock = options.startBlock;
    this.chunk = options.chunkBlocks ?? 2_000n;
    this.backoff = new Backoff(options.backoff ?? { baseMs: Math.max(200, options.market.pollingIntervalMs * 2), maxMs: 30_000 });
    this.onEffects = options.onEffects ?? (() => {});
    this.pollSlowly = options.pollSlowly ?? (() => false);
    this.slowPollMs = Math.max(options.market.pollingIntervalMs, options.slowPollMs ?? 1_000);
    this.me = options.market.account;
  }

  /** Last block whose events are in the state file. */
  get checkpoint(): bigint | undefined {
    return this.store.checkpoint()?.block;
  }

  /** Blocks the state file is behind the chain. */
  get lagBlocks(): number {
    const checkpoint = this.checkpoint ?? this.startBlock - 1n;
    return this.head === undefined ? 0 : Math.max(0, Number(this.head - checkpoint));
  }

  /**
   * Checks that the chain still holds the block this state file was last synced to (a devnet that
   * was restarted under an old data dir does not).
   * @throws FatalError `CHAIN_RESET`.
   */
  async verifyChain(): Promise<void> {
    const checkpoint = this.store.checkpoint();
    if (!checkpoint) return;
    const head = await this.market.blockNumber();
    const reset = (why: string) =>
      new FatalError(
        "CHAIN_RESET",
        `The chain no longer matches this node's state file (${why}): it was reset or is another chain — start with a fresh data dir (dataDir ${this.store.path})`,
      );
    if (head < checkpoint.block) throw reset(`its head ${head} is behind the checkpoint ${checkpoint.block}`);
    if (checkpoint.hash) {
      const hash = await this.market.blockHash(checkpoint.block);
      if (hash !== checkpoint.hash) throw reset(`block ${checkpoint.block} has hash ${hash}, the state file recorded ${checkpoint.hash}`);
    }
  }

  /** Catches up to the chain's head now (serialized with the polling loop); returns what changed. */
  syncNow(): Promise<ProjectionEffects> {
    const run = this.queue.then(() => this.syncOnce());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Starts polling. */
  start(): void {
    if (this.loop) return;
    this.stopping = new AbortController();
    this.loop = this.run(this.stopping.signal);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    this.loop = undefined;
    await this.queue;
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let wait = this.market.pollingIntervalMs;
      let slow = false;
      try {
        await this.syncNow();
        slow = this.pollSlowly();
        if (this.consecutiveErrors > 0 && this.streakLogged) this.log.info({ after: this.consecutiveErrors }, "chain sync recovered");
        this.consecutiveErrors = 0;
        this.streakLogged = false;
        this.lastError = undefined;
        this.backoff.reset();
      } catch (error) {
        this.consecutiveErrors++;
        this.lastError = (error as Error).message;
        wait = this.backoff.next();
        // One line per streak, then one every 10 errors: an RPC outage must not flood the log (an
        // unreachable RPC is reported once by chain/rpcHealth.ts).
        const unreachable = (error as { code?: string }).code === CHAIN_UNREACHABLE;
        if (!unreachable && (!this.streakLogged || this.consecutiveErrors % 10 === 0)) {
          this.streakLogged = true;
          this.log.warn({ err: this.lastError, retryable: error instanceof RetryableError, errors: this.consecutiveErrors, retryInMs: wait }, "chain sync failed; backing off");
        }
      }
      if (slow) await this.sleepWhileSlow(signal);
      else await this.clock.sleep(wait, signal);
    }
  }

  /**
   * Up to `slowPollMs`, in steps of the polling interval, for as long as `pollSlowly()` holds: when
   * the render ends the node needs the chain's events promptly again (another provider's commit
   * or reveal it must answer), so the next poll comes within one polling interval.
   */
  private async sleepWhileSlow(signal: AbortSignal): Promise<void> {
    const until = this.clock.now() + this.slowPollMs;
    const step = this.market.pollingIntervalMs;
    while (!signal.aborted && this.clock.now() < until) {
      await this.clock.sleep(Math.min(step, Math.max(1, until - this.clock.now())), signal);
      if (!this.pollSlowly()) return;
    }
  }

  private async syncOnce(): Promise<ProjectionEffects> {
    if (!this.store.isOpen) return emptyEffects();
    const head = await this.market.blockNumber();
    this.head = head;
    const effects = emptyEffects();
    let applied = false;
    for (;;) {
      const from = (this.store.checkpoint()?.block ?? this.startBlock - 1n) + 1n;
      if (from > head) break;
      const to = from + this.chunk - 1n < head ? from + this.chunk - 1n : head;
      const events = await this.market.events(from, to);
      const hash = await this.market.blockHash(to);
      if (!this.store.isOpen) return effects;
      // Chain facts with their checkpoint: a power cut that loses them only makes the watcher read
      // these blocks again.
      this.store.transaction(() => {
        applyEvents(this.store, events, this.me, this.log, effects);
        this.store.setCheckpoint(to, hash);
      }, { rederivable: true });
      applied = true;
      if (to < head) this.log.info({ from: String(from), to: String(to), head: String(head) }, "catching up with the chain");
    }
    this.lastSyncAt = this.clock.now();
    if (applied) this.onEffects(effects);
    return effects;
  }
}
