import assert from "node:assert/strict";
import { test } from "node:test";
import { FatalError } from "@tessellate/sdk/errors";
import { silentLogger } from "../logger.ts";
import { StateStore } from "../state/stateStore.ts";
import { FakeMarket } from "../testing/fakeMarket.ts";
import { PROVIDER_A, PROVIDER_B, REQUESTER, TOKEN, TestClock, until } from "../testing/harness.ts";
import { ChainWatcher } from "./chainWatcher.ts";

function setup() {
  const clock = new TestClock();
  const market = new FakeMarket(clock);
  market.registerProvider(PROVIDER_A, 100n * TOKEN);
  market.registerProvider(PROVIDER_B, 100n * TOKEN);
  const store = StateStore.open(":memory:");
  const post = () =>
    market.createJob(REQUESTER, {
      manifestCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
      segmentCount: 3,
      redundancy: 2,
      quorum: 2,
      rewardPerReplica: TOKEN,
      collateralPerReplica: TOKEN,
      leaseDuration: 60,
      revealWindow: 60,
      deadline: market.now() + 3600n,
      minReputation: 0,
      maxFeeBps: 1_000,
    });
  return { clock, market, store, post };
}

test("catches up after downtime chunk by chunk, projecting jobs and this node's claims", async () => {
  const { clock, market, store, post } = setup();
  const jobId = post();
  for (let i = 0; i < 3; i++) post();
  await market.portFor(PROVIDER_A).claim(jobId, 2);
  await market.portFor(PROVIDER_B).claim(jobId, 1);
  const port = market.portFor(PROVIDER_A);
  const watcher = new ChainWatcher({ market: port, store, log: silentLogger, clock, startBlock: 0n, chunkBlocks: 2n });
  const effects = await watcher.syncNow();
  assert.equal(store.checkpoint()!.block, await port.blockNumber());
  assert.equal(store.listJobs().length, 4);
  assert.deepEqual(effects.newJobs, [1n, 2n, 3n, 4n]);
  assert.deepEqual(store.listReplicas({ jobId }).map((r) => [r.segment, r.replica, r.state]).sort(), [[0, 0, "claimed"], [1, 0, "claimed"]]);
  assert.equal(store.market.getSlot(jobId, 0, 1)!.provider.toLowerCase(), PROVIDER_B, "other providers' slots are projected too");
  assert.equal(store.market.claimableSegments(jobId, PROVIDER_A, 2, 3), 1, "only segment 2 is left for A");
  // Applying the same range again changes nothing (idempotent).
  store.setCheckpoint(0n, undefined);
  await watcher.syncNow();
  assert.equal(store.listReplicas({ jobId }).length, 2);
});

test("survives RPC errors with backoff, and reacts to new blocks within a polling interval", async () => {
  const { clock, market, store, post } = setup();
  const port = market.portFor(PROVIDER_A, 10);
  const watcher = new ChainWatcher({ market: port, store, log: silentLogger, clock, startBlock: 0n, backoff: { baseMs: 5, maxMs: 20 } });
  market.failNext("blockNumber", undefined, 4);
  watcher.start();
  await until(() => watcher.consecutiveErrors >= 2, "errors counted");
  await until(() => watcher.consecutiveErrors === 0 && watcher.checkpoint !== undefined, "recovered");
  post();
  await until(() => store.listJobs().length === 1, "new job seen", 1_000);
  await watcher.stop();
});

test("refuses a chain that no longer holds the block the state file was synced to", async () => {
  const { clock, market, store, post } = setup();
  post();
  const watcher = new ChainWatcher({ market: market.portFor(PROVIDER_A), store, log: silentLogger, clock, startBlock: 0n });
  await watcher.syncNow();
  await watcher.verifyChain();
  store.setCheckpoint(store.checkpoint()!.block, "0x1234");
  await assert.rejects(watcher.verifyChain(), (e: unknown) => e instanceof FatalError && e.code === "CHAIN_RESET" && /fresh data dir/.test(e.message));
  store.setCheckpoint(99n, undefined);
  await assert.rejects(watcher.verifyChain(), /behind the checkpoint 99/);
});

test("polls once a second while the node only renders, at the polling interval otherwise, and at once when the render ends", async () => {
  const { market, store } = setup();
  const port = market.portFor(PROVIDER_A, 10);
  // Virtual time: a sleep advances the clock by what was asked.
  let now = 0;
  const clock = { now: () => now, sleep: async (ms: number) => {
    now += ms;
    await new Promise((r) => setTimeout(r, 0));
  } };
  const polls: number[] = [];
  const counted = new Proxy(port, {
    get(target, key) {
      if (key === "blockNumber") return () => (polls.push(now), target.blockNumber());
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  // The render ends in the middle of the fourth slow wait.
  const renderEnds = 3_505;
  const watcher = new ChainWatcher({ market: counted, store, log: silentLogger, clock, startBlock: 0n, pollSlowly: () => now < renderEnds });
  watcher.start();
  await until(() => polls.filter((t) => t > renderEnds).length >= 4, "polls after the render");
  await watcher.stop();
  const gaps = (list: number[]) => list.slice(1).map((t, i) => t - list[i]!);
  const during = polls.filter((t) => t < renderEnds);
  const after = polls.filter((t) => t > renderEnds).slice(0, 4);
  assert.deepEqual(during, [0, 1_000, 2_000, 3_000], "once a second while only rendering");
  assert.ok(after[0]! - renderEnds <= 10, `first poll ${after[0]! - renderEnds} ms after the render ended`);
  assert.deepEqual(gaps(after), [10, 10, 10], "every polling interval afterwards");
});
