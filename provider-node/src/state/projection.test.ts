import assert from "node:assert/strict";
import { test } from "node:test";
import { ChainWatcher } from "../chain/chainWatcher.ts";
import { silentLogger } from "../logger.ts";
import { FakeMarket } from "../testing/fakeMarket.ts";
import { PROVIDER_A, PROVIDER_B, PROVIDER_C, REQUESTER, TOKEN, TestClock } from "../testing/harness.ts";
import { StateStore } from "./stateStore.ts";

/** A one-segment job claimed by A and B, whose leases both pass; C's node watches. */
async function setup() {
  const clock = new TestClock();
  const market = new FakeMarket(clock);
  for (const p of [PROVIDER_A, PROVIDER_B, PROVIDER_C]) market.registerProvider(p, 100n * TOKEN);
  const jobId = market.createJob(REQUESTER, {
    manifestCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    segmentCount: 1,
    redundancy: 2,
    quorum: 2,
    rewardPerReplica: TOKEN,
    collateralPerReplica: TOKEN,
    leaseDuration: 60,
    revealWindow: 60,
    deadline: market.now() + 120n,
    minReputation: 0,
    maxFeeBps: 1_000,
  });
  await market.portFor(PROVIDER_A).claim(jobId, 1);
  await market.portFor(PROVIDER_B).claim(jobId, 1);
  const store = StateStore.open(":memory:");
  const watcher = new ChainWatcher({ market: market.portFor(PROVIDER_C), store, log: silentLogger, clock, startBlock: 0n });
  await watcher.syncNow();
  return { clock, market, store, watcher, jobId };
}

test("closeSegments: a lease expired in the same transaction that closes the segment is settled, not reopened", async () => {
  const { clock, market, store, watcher, jobId } = await setup();
  clock.advance(200); // past both leases and the job's deadline
  await market.portFor(PROVIDER_C).closeSegments(jobId, [0]);
  const names = market.allEvents().map((e) => e.eventName);
  assert.ok(names.lastIndexOf("ReplicaExpired") < names.lastIndexOf("SegmentClosed"), "the contract emits ReplicaExpired before SegmentClosed");
  const effects = await watcher.syncNow();
  assert.equal(effects.reopenedJobs.has(jobId), false, "nothing to claim again in a closed segment");
  assert.equal(store.market.getSegment(jobId, 0).status, "closed");
  assert.deepEqual(store.market.slotsOf(jobId, 0).map((s) => s.state), ["settled", "settled"]);
  assert.equal(store.market.claimableSegments(jobId, PROVIDER_C, 2, 1), 0);
  assert.deepEqual(store.market.expirableSlots(Number(market.now()), PROVIDER_C), [], "a keeper has nothing left to expire");
});

test("expire on an open segment reopens the slot and flags the job", async () => {
  const { clock, market, store, watcher, jobId } = await setup();
  clock.advance(61); // past the leases, before the deadline
  await market.portFor(PROVIDER_C).expire(jobId, [{ segment: 0, replica: 1 }]);
  const effects = await watcher.syncNow();
  assert.equal(effects.reopenedJobs.has(jobId), true);
  assert.deepEqual(store.market.slotsOf(jobId, 0).map((s) => s.state), ["claimed", "empty"]);
  assert.equal(store.market.claimableSegments(jobId, PROVIDER_C, 2, 1), 1);
});
