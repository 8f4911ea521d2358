/**
 * A cheating provider on the real local network: one of three daemons runs the test-only
 * `testing.corruptDigests` mode (it alters pixels before digesting, so it commits and reveals
 * wrong digests). Every segment it takes part in disagrees, a tie-breaker replica opens, an honest
 * node renders it, the honest digest wins, and the cheater is rejected and slashed — while the
 * honest nodes are paid, the requester pays no more than for an honest job, and the composite is
 * the true image.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import { after, afterEach, before, describe, it } from "node:test";
import { fetchJob, waitForJob } from "@tessellate/cli";
import { CreditKind, decodePng, eventsNamed, resultFileName, type MarketClient } from "@tessellate/sdk";
import type { RunningProvider } from "../../scripts/devnet/network.ts";
import {
  addressOf,
  creditedTo,
  differingPixels,
  E2ENetwork,
  eventsSince,
  ofJob,
  postJob,
  postJobFirstClaimedBy,
  readLog,
  renderReferenceFrames,
  REQUESTER,
  slotsBy,
  TOKEN,
  uploadSampleScene,
} from "./helpers/e2e.ts";

const e2e = new E2ENetwork("cheater", { chain: 8821, ipfsApi: 5921, ipfsGateway: 5922, providerHttp: 7921 });
const REWARD = TOKEN(1);
const COLLATERAL = TOKEN(2);

describe("a provider that commits wrong digests", { timeout: 170_000 }, () => {
  let requester: MarketClient;
  let cheater: RunningProvider;
  let honest: RunningProvider[];

  before(async () => {
    await e2e.start();
    honest = [await e2e.startProvider(0), await e2e.startProvider(1)];
    cheater = await e2e.startProvider(2, { env: { TESSELLATE_TEST_CORRUPT_DIGESTS: "1", TESSELLATE_ALLOW_TEST_MODES: "1" } });
    requester = await e2e.net.client(REQUESTER);
  });
  afterEach(e2e.recordOutcome);
  after(() => e2e.stop());

  it("is out-voted by a tie-breaker and slashed; the honest providers are paid and the job completes", async () => {
    const net = e2e.net;
    // The honest nodes wait until the cheater holds a replica, so it certainly takes part.
    const stakes = new Map<string, bigint>();
    for (const p of [...honest, cheater]) stakes.set(p.address, (await requester.providerOf(p.address)).staked);
    const scene = await uploadSampleScene(net);
    const job = await postJobFirstClaimedBy(e2e, requester, cheater, honest, () =>
      postJob(net, requester, scene, { redundancy: 2, quorum: 2, reward: REWARD, collateral: COLLATERAL, leaseDuration: 300, revealWindow: 120 }),
    );
    const { jobId } = job;

    const outcome = await waitForJob({ jobId, fromBlock: job.blockNumber, pollIntervalMs: 250, timeoutMs: 120_000 }, { market: requester });
    assert.equal(outcome.complete, true, `job ${jobId} completed (open: ${outcome.open.join(", ")}, failed: ${outcome.failed.join(", ")}; stopped: ${outcome.stoppedEarly})\n${e2e.logTails()}`);

    const events = ofJob(await eventsSince(requester, job.blockNumber), jobId);
    const cheaterSlots = slotsBy(events, "ReplicasRevealed", jobId, cheater.address);
    assert.ok(cheaterSlots.length > 0, "the cheater revealed at least one replica");

    // The cheater's node did run in the cheating mode, and said so in its log.
    const rendered = (await readLog(cheater)).filter((l) => l.msg === "rendered");
    assert.ok(rendered.length > 0 && rendered.every((l) => l.testingCorruptDigest === true), "every render of the cheater was corrupted on purpose");

    // Out-voted: each segment the cheater revealed opened a tie-breaker, and the accepted digest is not the cheater's.
    const revealedDigests = eventsNamed(events, "ReplicasRevealed").filter((e) => e.args.provider === cheater.address);
    const tieBreakers = eventsNamed(events, "TieBreakerOpened");
    // The accepted result is one replica's reveal: SegmentAccepted names the replica, ReplicasRevealed its digest.
    const revealedBySlot = new Map<bigint, `0x${string}`>();
    for (const e of eventsNamed(events, "ReplicasRevealed")) e.args.slots.forEach((packed, i) => revealedBySlot.set(packed, e.args.digests[i]));
    const accepted = new Map(eventsNamed(events, "SegmentAccepted").map((e) => [e.args.segment, revealedBySlot.get((BigInt(e.args.segment) << 8n) | BigInt(e.args.replica))]));
    for (const e of revealedDigests) {
      e.args.slots.forEach((packed, i) => {
        const segment = Number(packed >> 8n);
        assert.ok(tieBreakers.some((t) => t.args.segment === segment), `segment ${segment} opened a tie-breaker`);
        assert.notEqual(accepted.get(segment), e.args.digests[i], `segment ${segment}: the cheater's digest was not accepted`);
      });
    }

    // Rejected and slashed: ReplicaRejected names the cheater (and only the cheater), its stake lost collateral × rejections.
    const rejected = eventsNamed(events, "ReplicaRejected");
    e2e.log(`cheater revealed ${cheaterSlots.map((s) => `${s.segment}/${s.replica}`).join(", ")}; ${tieBreakers.length} tie-breaker(s); ${rejected.length} rejection(s)`);
    assert.equal(rejected.length, cheaterSlots.length, "every replica the cheater revealed was rejected");
    for (const r of rejected) {
      assert.equal(r.args.provider, cheater.address, `ReplicaRejected ${r.args.segment}/${r.args.replica} names the cheater`);
      assert.equal(r.args.slashed, COLLATERAL);
    }
    const cheaterAfter = await requester.providerOf(cheater.address);
    assert.equal(cheaterAfter.staked, stakes.get(cheater.address)! - COLLATERAL * BigInt(rejected.length), "the cheater's stake decreased by collateral × rejected replicas");
    assert.equal(cheaterAfter.rejected, rejected.length, "the registry recorded the rejections");
    assert.equal(creditedTo(events, jobId, cheater.address, [CreditKind.Reward, CreditKind.TieBreakerReward]), 0n, "the cheater earned nothing");

    // The honest providers are paid (rewards and tie-breaker rewards) and keep their stake.
    for (const p of honest) {
      const earned = creditedTo(events, jobId, p.address, [CreditKind.Reward, CreditKind.TieBreakerReward]);
      assert.ok(earned > 0n, `honest provider ${p.account} was paid (earned ${earned})`);
      assert.equal((await requester.providerOf(p.address)).staked, stakes.get(p.address), `honest provider ${p.account} was not slashed`);
    }
    const tieBreakerPaid = honest.reduce((sum, p) => sum + creditedTo(events, jobId, p.address, [CreditKind.TieBreakerReward]), 0n);
    assert.equal(tieBreakerPaid, REWARD * BigInt(rejected.length), "one tie-breaker reward per rejected replica, paid from the loser's collateral");

    // The requester never pays twice: the loser's unit comes back, the rest of its collateral compensates.
    const unit = job.escrow / 4n; // 2 segments × 2 replicas
    assert.equal(outcome.money.paid, REWARD * (4n - BigInt(rejected.length)), "escrow paid only the agreeing original replicas");
    assert.equal(creditedTo(events, jobId, addressOf(REQUESTER), [CreditKind.Refund]), unit * BigInt(rejected.length));
    assert.equal(creditedTo(events, jobId, addressOf(REQUESTER), [CreditKind.Compensation]), (COLLATERAL - REWARD) * BigInt(rejected.length));
    assert.equal(outcome.money.escrowLeft, 0n);

    // The composite is the true image, not the cheater's.
    const outDir = join(e2e.dir!, "out");
    const fetched = await fetchJob({ jobId, outDir }, { market: requester, storage: net.storage });
    assert.deepEqual(fetched.report.missing, []);
    assert.deepEqual(fetched.report.failed, []);
    const reference = await renderReferenceFrames(job.manifest);
    const frame = decodePng(new Uint8Array(await readFile(join(outDir, resultFileName(1)))));
    assert.equal(differingPixels(frame, reference.get(1)!), 0, "the composite equals the full-frame render");
  });
});
