/**
 * Jobs the providers must not touch, on the real local network: a job whose manifest CID points at
 * bytes that are not JSON, one whose manifest names an engine that does not exist, and one that
 * pins a builtin engine version nobody runs — all posted straight through `createJob`. No
 * provider claims them (no collateral is put at risk), each provider's log says why in words, a
 * valid job posted after them is rendered as usual, and cancelling the bad jobs refunds their
 * whole escrow to the requester.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { cancelJob, waitForJob } from "@tessellate/cli";
import { canonicalJson, eventsNamed, segmentCount, type MarketClient } from "@tessellate/sdk";
import {
  createJobRaw,
  E2ENetwork,
  eventsSince,
  ofJob,
  postJob,
  readLog,
  REQUESTER,
  sampleManifest,
  TOKEN,
  uploadSampleScene,
  type LogEntry,
} from "./helpers/e2e.ts";

const e2e = new E2ENetwork("skips-bad-jobs", { chain: 8851, ipfsApi: 5951, ipfsGateway: 5952, providerHttp: 7951 });

interface BadJob {
  label: string;
  jobId: bigint;
  escrow: bigint;
  manifestCid: string;
  /** What each provider's log must give as the reason. */
  reason: RegExp;
}

describe("jobs no provider can or should render", { timeout: 170_000 }, () => {
  let requester: MarketClient;
  let fromBlock: bigint;
  const bad: BadJob[] = [];

  before(async () => {
    await e2e.start();
    for (let i = 0; i < 3; i++) await e2e.startProvider(i);
    requester = await e2e.net.client(REQUESTER);
  });
  afterEach(e2e.recordOutcome);
  after(() => e2e.stop());

  it("are not claimed, and every provider logs why", async () => {
    const net = e2e.net;
    const scene = await uploadSampleScene(net);
    fromBlock = await requester.blockNumber();

    // 1. The manifest CID holds bytes that are not JSON at all.
    const brokenCid = await net.storage.addBytes(new TextEncoder().encode('{"version": 1, "engine": {"name": "builtin", '));
    const broken = await createJobRaw(requester, { manifestCid: brokenCid, segments: 2 });
    bad.push({ label: "not JSON", ...broken, manifestCid: brokenCid, reason: new RegExp(`its manifest ${brokenCid} is unusable: manifest: is not UTF-8 JSON`) });

    // 2. A well-formed manifest naming an engine that does not exist.
    const unknown = { ...sampleManifest(scene), engine: { name: "renderman", version: "26.0" } };
    const unknownCid = await net.storage.addBytes(new TextEncoder().encode(canonicalJson(unknown)));
    const unknownJob = await createJobRaw(requester, { manifestCid: unknownCid, segments: 2 });
    bad.push({ label: "unknown engine", ...unknownJob, manifestCid: unknownCid, reason: new RegExp(`its manifest ${unknownCid} is unusable: engine\\.name: must be one of "builtin", "povray", "blender", got "renderman"`) });

    // 3. A valid manifest pinning a builtin version nobody has installed.
    const oldVersion = await postJob(net, requester, scene, { manifest: { engine: { name: "builtin", version: "0.9.0" } } });
    bad.push({ label: "wrong engine version", ...oldVersion, reason: /engine builtin 0\.9\.0 not installed \(installed: builtin 1\.0\.0\)/ });

    // The providers decide on each job once and log it.
    const providers = net.providers;
    const skipLine = (log: LogEntry[], job: BadJob) => log.find((l) => l.msg.startsWith(`skipping job ${job.jobId}: `));
    await e2e.waitFor(
      `every provider to log "skipping job N: …" for jobs ${bad.map((b) => b.jobId).join(", ")}`,
      async () => {
        for (const p of providers) {
          const log = await readLog(p);
          if (!bad.every((job) => skipLine(log, job))) return false;
        }
        return true;
      },
      30_000,
    );
    for (const p of providers) {
      const log = await readLog(p);
      for (const job of bad) {
        const line = skipLine(log, job)!;
        assert.match(line.msg, job.reason, `provider ${p.account}, job ${job.jobId} (${job.label}): ${line.msg}`);
        assert.equal(line.jobId, String(job.jobId), "the line carries the job id as a field");
        assert.equal(line.final, true, `provider ${p.account} will not reconsider job ${job.jobId} (${job.label})`);
        assert.equal(log.filter((l) => l.msg.startsWith(`skipping job ${job.jobId}: `)).length, 1, `provider ${p.account} logged job ${job.jobId} once`);
      }
    }

    // A valid job posted after them is claimed and settled: the providers are working, just not on those.
    const good = await postJob(net, requester, scene, { redundancy: 2, quorum: 2 });
    const outcome = await waitForJob({ jobId: good.jobId, fromBlock: good.blockNumber, pollIntervalMs: 250, timeoutMs: 60_000 }, { market: requester });
    assert.equal(outcome.complete, true, `the valid job ${good.jobId} settled (open: ${outcome.open.join(", ")})\n${e2e.logTails()}`);
    assert.equal(segmentCount(good.manifest), outcome.accepted.size);

    // Nobody ever claimed a replica of the bad jobs, on-chain.
    const events = await eventsSince(requester, fromBlock);
    for (const job of bad) {
      const claims = eventsNamed(ofJob(events, job.jobId), "ReplicasClaimed");
      assert.deepEqual(claims.map((c) => c.args.provider), [], `job ${job.jobId} (${job.label}) was never claimed`);
      const view = await requester.jobOf(job.jobId);
      assert.equal(view.segmentsTouched, 0, `job ${job.jobId} (${job.label}) has no touched segment`);
    }
  });

  it("cancelling them refunds every token of their escrow", async () => {
    assert.equal(bad.length, 3, "the bad jobs were posted in the previous test");
    const balanceBefore = await requester.marketBalanceOf(requester.account!);
    let refunded = 0n;
    for (const job of bad) {
      const result = await cancelJob({ jobId: job.jobId }, { market: requester });
      assert.equal(result.cancelled, true);
      assert.equal(result.untouchedRefund, job.escrow, `job ${job.jobId} (${job.label}): the whole escrow is refunded`);
      assert.deepEqual(result.stillRunning, []);
      const view = await requester.jobOf(job.jobId);
      assert.equal(view.escrow, 0n, `job ${job.jobId} holds no escrow any more`);
      assert.equal(view.status, 2, "Cancelled");
      refunded += job.escrow;
    }
    assert.equal(await requester.marketBalanceOf(requester.account!), balanceBefore + refunded, "the requester can withdraw every refunded token");
    assert.equal(refunded, 3n * 2n * 2n * (TOKEN(1) + TOKEN(1) / 100n), "3 jobs × 2 segments × 2 replicas × (1 reward + 1 % fee)");

    const tokenBefore = await requester.tokenBalanceOf(requester.account!);
    await requester.withdraw();
    assert.equal(await requester.tokenBalanceOf(requester.account!), tokenBefore + balanceBefore + refunded);
    const events = await eventsSince(requester, fromBlock);
    for (const job of bad) {
      const cancelled = eventsNamed(ofJob(events, job.jobId), "JobCancelled");
      assert.equal(cancelled.length, 1);
      assert.equal(cancelled[0].args.refunded, job.escrow);
    }
  });
});
