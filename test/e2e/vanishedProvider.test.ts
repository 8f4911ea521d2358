/**
 * A provider that vanishes on the real local network: it claims a replica, is killed with SIGKILL
 * while rendering (before any commit) and never comes back. Its lease (60 s: twice the devnet's
 * minimum, so that on a loaded machine the remaining providers' ~18 s renders still fit it and
 * they do not give the job up) runs out; the remaining provider daemons, acting as keepers, expire it — the slashed
 * collateral compensates the requester and pays the keeper — and one of them renders the reopened
 * slot, so the job still completes.
 *
 * The devnet chain mines a block only when a transaction arrives, and an `eth_call` (every
 * transaction's simulation) runs at the latest block's timestamp. The first test checks that the
 * keepers expire the lapsed lease on the network as `startNetwork` runs it; when they cannot, it
 * fails saying so and mines one block, so the second test can still check the rest of the story.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { waitForJob } from "@tessellate/cli";
import { CreditKind, eventsNamed, type MarketClient, type Slot } from "@tessellate/sdk";
import type { RunningProvider } from "../../scripts/devnet/network.ts";
import {
  addressOf,
  apiPost,
  creditedTo,
  E2ENetwork,
  eventsSince,
  ofJob,
  postJob,
  readLog,
  replicasOf,
  REQUESTER,
  slotsBy,
  TOKEN,
  uploadSampleScene,
  type PostedJob,
} from "./helpers/e2e.ts";

const e2e = new E2ENetwork("vanished-provider", { chain: 8841, ipfsApi: 5941, ipfsGateway: 5942, providerHttp: 7941 });
const LEASE_SECONDS = 60; // twice the devnet deployment's minLease, see above
const COLLATERAL = TOKEN(2);
/** How long after the lease end the keepers get before the first test gives up on them. */
const KEEPER_GRACE_SECONDS = 12;

describe("a provider that vanishes before committing", { timeout: 240_000 }, () => {
  let requester: MarketClient;
  let victim: RunningProvider;
  let others: RunningProvider[];
  let job: PostedJob;
  let claimed: Slot[] = [];
  let leaseEnd = 0n;
  let stakeBefore = 0n;

  before(async () => {
    await e2e.start();
    victim = await e2e.startProvider(0);
    others = [await e2e.startProvider(1), await e2e.startProvider(2)];
    requester = await e2e.net.client(REQUESTER);
  });
  afterEach(e2e.recordOutcome);
  after(() => e2e.stop());

  it("is killed mid-render and its lapsed lease is expired by a keeper node", async () => {
    const net = e2e.net;
    for (const p of others) await apiPost(p, "/pause"); // the victim claims first
    stakeBefore = (await requester.providerOf(victim.address)).staked;
    const scene = await uploadSampleScene(net);
    // Segments that take a few seconds to render (2 tiles of 64×96 at 768 samples), so the victim
    // is certainly killed mid-render, not after its commit.
    job = await postJob(net, requester, scene, {
      manifest: { output: { width: 128, height: 96, format: "png" }, settings: { samples: 768, seed: 3, maxBounces: 3 } },
      redundancy: 2,
      quorum: 2,
      reward: TOKEN(1),
      collateral: COLLATERAL,
      leaseDuration: LEASE_SECONDS,
      revealWindow: 60,
    });
    const { jobId } = job;

    const held = await e2e.waitFor(
      `provider ${victim.account} to claim a replica of job ${jobId}`,
      async () => {
        const rows = await replicasOf(victim, jobId);
        return rows.length > 0 ? rows : undefined;
      },
      60_000,
      50,
    );
    await victim.kill();
    const atKill = ofJob(await eventsSince(requester, job.blockNumber), jobId);
    claimed = slotsBy(atKill, "ReplicasClaimed", jobId, victim.address);
    assert.ok(claimed.length > 0, `the victim holds a replica on-chain (its state: ${JSON.stringify(held)})`);
    assert.deepEqual(slotsBy(atKill, "ReplicasCommitted", jobId, victim.address), [], "the victim was killed before committing (render it slower if this fails)");
    assert.deepEqual(slotsBy(atKill, "ReplicasRevealed", jobId, victim.address), []);
    leaseEnd = eventsNamed(atKill, "ReplicasClaimed").find((e) => e.args.provider === victim.address)!.args.leaseEnd;
    e2e.log(`killed provider ${victim.account} holding ${claimed.map((s) => `${s.segment}/${s.replica}`).join(", ")}, lease ends at ${leaseEnd}`);
    for (const p of others) await apiPost(p, "/resume");

    // Keepers act within a few seconds of the lease end (their first attempt follows at once).
    const expiredByKeeper = async () => {
      const events = ofJob(await eventsSince(requester, job.blockNumber), jobId);
      return eventsNamed(events, "ReplicaExpired").some((e) => e.args.provider === victim.address);
    };
    const waitUntil = (Number(leaseEnd) + KEEPER_GRACE_SECONDS) * 1000;
    while (Date.now() < waitUntil && !(await expiredByKeeper())) await new Promise((r) => setTimeout(r, 500));
    if (await expiredByKeeper()) return;

    // Not expired: say why, then mine one block so the next test can check the rest.
    const { publicClient } = requester.conn;
    const latest = await publicClient.getBlock({ blockTag: "latest" });
    const refusals = new Set<string>();
    for (const p of others) {
      for (const entry of await readLog(p)) if (entry.msg === "expire failed") refusals.add(`provider ${p.account}: ${String(entry.err)}`);
    }
    await publicClient.request({ method: "evm_mine" as never, params: [] as never });
    assert.fail(
      `no keeper expired the victim's lease (ended at ${leaseEnd}) within ${KEEPER_GRACE_SECONDS} s: the latest block (#${latest.number}) is ` +
        `${Number(BigInt(Math.floor(Date.now() / 1000)) - latest.timestamp)} s old (timestamp ${latest.timestamp} ${latest.timestamp > leaseEnd ? ">" : "<="} lease end), ` +
        `so every \`expire\` simulation runs before the lease end and reverts; keepers' errors: ${[...refusals].join("; ") || "none logged"}`,
    );
  });

  it("another provider finishes the segment and the job completes; the victim loses its collateral", async () => {
    assert.ok(job && claimed.length > 0, "the victim claimed and was killed in the previous test");
    const { jobId } = job;
    const outcome = await waitForJob({ jobId, fromBlock: job.blockNumber, pollIntervalMs: 250, timeoutMs: 100_000 }, { market: requester });
    assert.equal(outcome.complete, true, `job ${jobId} completed without the victim (open: ${outcome.open.join(", ")}; stopped: ${outcome.stoppedEarly})\n${e2e.logTails()}`);

    const events = ofJob(await eventsSince(requester, job.blockNumber), jobId);
    const expired = eventsNamed(events, "ReplicaExpired");
    // Every replica the victim held expired, and an honest node (not the test) sent the `expire`.
    for (const slot of claimed) {
      const e = expired.find((x) => x.args.segment === slot.segment && x.args.replica === slot.replica && x.args.provider === victim.address);
      assert.ok(e, `ReplicaExpired for the victim's ${slot.segment}/${slot.replica}`);
      assert.ok(
        others.some((p) => p.address === e.args.keeper),
        `the keeper was one of the remaining provider nodes (keeper ${e.args.keeper}; nodes ${others.map((p) => p.address).join(", ")})`,
      );
      assert.equal(e.args.slashed, COLLATERAL, "the whole collateral was seized");
      const block = await requester.conn.publicClient.getBlock({ blockNumber: e.blockNumber });
      assert.ok(block.timestamp > leaseEnd, "expired only after the lease ended");
    }
    assert.equal(expired.length, claimed.length, "nothing else expired");

    // The reopened slot went to another provider, who revealed the digest that was accepted.
    for (const slot of claimed) {
      const reclaimedBy = others.filter((p) => slotsBy(events, "ReplicasClaimed", jobId, p.address).some((s) => s.segment === slot.segment && s.replica === slot.replica));
      assert.equal(reclaimedBy.length, 1, `another provider claimed the reopened slot ${slot.segment}/${slot.replica}`);
      assert.ok(
        slotsBy(events, "ReplicasRevealed", jobId, reclaimedBy[0].address).some((s) => s.segment === slot.segment && s.replica === slot.replica),
        `provider ${reclaimedBy[0].account} revealed the reopened slot`,
      );
    }

    // Money: the victim earned nothing and lost its collateral; the keeper fee and the compensation come out of it.
    assert.equal(creditedTo(events, jobId, victim.address, [CreditKind.Reward, CreditKind.TieBreakerReward, CreditKind.KeeperFee]), 0n);
    assert.equal((await requester.providerOf(victim.address)).staked, stakeBefore - COLLATERAL * BigInt(claimed.length), "the victim's stake lost its collateral");
    const keeperFees = others.reduce((sum, p) => sum + creditedTo(events, jobId, p.address, [CreditKind.KeeperFee]), 0n);
    const compensation = creditedTo(events, jobId, addressOf(REQUESTER), [CreditKind.Compensation]);
    assert.ok(keeperFees > 0n, "the keeper was paid a fee");
    assert.equal(keeperFees + compensation, COLLATERAL * BigInt(claimed.length), "keeper fee + requester compensation = seized collateral");
    assert.equal(outcome.money.paid, 4n * TOKEN(1), "every segment's two agreeing replicas were paid, once");
    assert.equal(outcome.money.escrowLeft, 0n);
    assert.equal((await requester.providerOf(victim.address)).expired, claimed.length, "the registry recorded the expiry");
  });
});
