/**
 * Audits on the real local network (issue 10 property 4): a job at redundancy 1 plus audits —
 * what lets trusted providers run one replica per segment. Four daemons, one of them cheating
 * (`testing.corruptDigests`: it commits and reveals wrong digests). Every accepted segment is
 * audited (auditBps 10,000): a drawn daemon re-renders it in a blind round; where the cheater's
 * replica was accepted alone, the honest auditor disagrees, two escalation auditors agree with it,
 * and the cheater is slashed; where the cheater audits an honest replica, it is out-voted the same
 * way. Nobody is paid before the audit, the cheater earns nothing, and the composite is the true image.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readFile } from "node:fs/promises";
import { after, afterEach, before, describe, it } from "node:test";
import { fetchJob, waitForJob } from "@tessellate/cli";
import { CreditKind, decodePng, eventsNamed, resultFileName, type MarketClient } from "@tessellate/sdk";
import type { RunningProvider } from "../../scripts/devnet/network.ts";
import { creditedTo, differingPixels, E2ENetwork, eventsSince, ofJob, postJob, postJobFirstClaimedBy, renderReferenceFrames, REQUESTER, slotsBy, TOKEN, uploadSampleScene } from "./helpers/e2e.ts";

const e2e = new E2ENetwork("audits", { chain: 8871, ipfsApi: 5971, ipfsGateway: 5972, providerHttp: 7971 });
const REWARD = TOKEN(1);
const COLLATERAL = TOKEN(2);

describe("r = 1 plus audits with a cheating provider", { timeout: 200_000 }, () => {
  let requester: MarketClient;
  let cheater: RunningProvider;
  let honest: RunningProvider[];

  before(async () => {
    await e2e.start();
    honest = [await e2e.startProvider(0), await e2e.startProvider(1), await e2e.startProvider(2)];
    cheater = await e2e.startProvider(3, { env: { TESSELLATE_TEST_CORRUPT_DIGESTS: "1", TESSELLATE_ALLOW_TEST_MODES: "1" } });
    requester = await e2e.net.client(REQUESTER);
  });
  afterEach(e2e.recordOutcome);
  after(() => e2e.stop());

  it("every audit catches the cheater: its replicas are slashed, the honest ones paid, the composite true", async () => {
    const net = e2e.net;
    // The honest nodes wait until the cheater holds an original replica, so one is certainly audited.
    const stakeBefore = (await requester.providerOf(cheater.address)).staked;
    const scene = await uploadSampleScene(net);
    const job = await postJobFirstClaimedBy(e2e, requester, cheater, honest, () =>
      postJob(net, requester, scene, { redundancy: 1, quorum: 1, reward: REWARD, collateral: COLLATERAL, leaseDuration: 300, revealWindow: 120, auditBps: 10_000 }),
    );
    const { jobId } = job;

    const outcome = await waitForJob({ jobId, fromBlock: job.blockNumber, pollIntervalMs: 250, timeoutMs: 150_000 }, { market: requester });
    assert.equal(outcome.complete, true, `job ${jobId} completed (open: ${outcome.open.join(", ")}, failed: ${outcome.failed.join(", ")}; stopped: ${outcome.stoppedEarly})\n${e2e.logTails()}`);

    const events = ofJob(await eventsSince(requester, job.blockNumber), jobId);
    const segments = Number(job.manifest.segmentation.tilesX * job.manifest.segmentation.tilesY);
    assert.equal(eventsNamed(events, "SegmentVerifying").length, segments, "every segment reached quorum with nobody paid");
    assert.equal(eventsNamed(events, "AuditOpened").length, segments, "every segment was audited (auditBps 10,000)");
    const cheaterSlots = slotsBy(events, "ReplicasRevealed", jobId, cheater.address);
    assert.ok(cheaterSlots.length > 0, "the cheater revealed at least one replica");
    const rejected = eventsNamed(events, "ReplicaRejected");
    e2e.log(`cheater revealed ${cheaterSlots.map((s) => `${s.segment}/${s.replica}`).join(", ")}; ${eventsNamed(events, "AuditDisputed").length} dispute(s); ${rejected.length} rejection(s)`);
    assert.equal(eventsNamed(events, "AuditDisputed").length, cheaterSlots.length, "each segment the cheater revealed in went to a dispute");
    assert.deepEqual(
      rejected.map((r) => r.args.provider),
      cheaterSlots.map(() => cheater.address),
      "every replica the cheater revealed was rejected, and no other",
    );
    assert.equal((await requester.providerOf(cheater.address)).staked, stakeBefore - COLLATERAL * BigInt(rejected.length), "slashed its collateral per rejected replica");
    assert.equal(creditedTo(events, jobId, cheater.address, [CreditKind.Reward, CreditKind.TieBreakerReward]), 0n, "the cheater earned nothing");
    for (const p of honest) {
      const revealed = slotsBy(events, "ReplicasRevealed", jobId, p.address).length;
      const earned = creditedTo(events, jobId, p.address, [CreditKind.Reward, CreditKind.TieBreakerReward]);
      assert.equal(earned, REWARD * BigInt(revealed), `honest provider ${p.account} was paid for each of its ${revealed} replicas`);
    }
    assert.equal(outcome.money.escrowLeft, 0n);

    const outDir = join(e2e.dir!, "out");
    const fetched = await fetchJob({ jobId, outDir }, { market: requester, storage: net.storage });
    assert.deepEqual(fetched.report.missing, []);
    assert.deepEqual(fetched.report.failed, []);
    const reference = await renderReferenceFrames(job.manifest);
    const frame = decodePng(new Uint8Array(await readFile(join(outDir, resultFileName(1)))));
    assert.equal(differingPixels(frame, reference.get(1)!), 0, "the composite equals the full-frame render");
  });
});
