/**
 * Audits by default (issue 10 property 4, "with default parameters"): a requester who gives
 * `job submit` nothing but the scene, its size, its tiles and a reward, on a network of five
 * daemons (enough for an audit's dispute to finish), gets an exact job audited at 40 % with
 * collateral 4 × the reward. Every segment waits for its draw with nobody paid; the drawn ones
 * are re-rendered by a daemon that holds no replica of them; all are accepted; the requester gets
 * back the auditor's unit of every segment not audited; the books reconcile.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { auditChain, collectingOutput, formatAuditReport, formatJobStatus, jobStatus, parseSubmitOptions, submitJob } from "@tessellate/cli";
import { CreditKind, DEFAULT_AUDIT_BPS, eventsNamed, type MarketClient } from "@tessellate/sdk";
import type { RunningProvider } from "../../scripts/devnet/network.ts";
import { creditedTo, E2ENetwork, eventsSince, ofJob, REQUESTER, SAMPLE_SCENE_DIR, slotsBy, TOKEN } from "./helpers/e2e.ts";

const e2e = new E2ENetwork("default-audits", { chain: 8881, ipfsApi: 5981, ipfsGateway: 5982, providerHttp: 7981 });
const SETTLE_TIMEOUT_MS = 150_000;

describe("job submit's default terms on a network of five providers", { timeout: 220_000 }, () => {
  let requester: MarketClient;
  let providers: RunningProvider[];

  before(async () => {
    await e2e.start();
    providers = [];
    for (let i = 0; i < 5; i++) providers.push(await e2e.startProvider(i));
    requester = await e2e.net.client(REQUESTER);
  });
  afterEach(e2e.recordOutcome);
  after(() => e2e.stop());

  it("audits the exact job at 40 % with collateral 4 × the reward; every segment is accepted after its draw, and the unused audit units are refunded", async () => {
    const options = parseSubmitOptions(SAMPLE_SCENE_DIR, { engine: "builtin", size: "32x24", tiles: "4x4", samples: "4", reward: "1", out: join(e2e.dir!, "out") });
    const output = collectingOutput();
    let submitted;
    try {
      submitted = await submitJob(options, { market: requester, storage: e2e.net.storage, output, pollIntervalMs: 250, signal: AbortSignal.timeout(SETTLE_TIMEOUT_MS) });
    } catch (error) {
      throw new Error(`submitJob did not see the job settle within ${SETTLE_TIMEOUT_MS} ms: ${(error as Error).message}\n${output.lines.join("\n")}\n${e2e.logTails()}`);
    }
    const { jobId, params } = submitted;
    assert.equal(params.auditBps, DEFAULT_AUDIT_BPS);
    assert.equal(params.collateralPerReplica, TOKEN(4));
    assert.match(output.lines.join("\n"), /audits {5}40 % of accepted segments .* \(the default for this job; --audit 0 turns audits off\)/);
    assert.equal(submitted.outcome?.complete, true, `every segment accepted:\n${output.lines.join("\n")}\n${e2e.logTails()}`);
    assert.equal(submitted.outcome!.accepted.size, 16);
    assert.deepEqual(submitted.fetched?.report.missing, []);

    const events = ofJob(await eventsSince(requester, submitted.blockNumber), jobId);
    const audited = eventsNamed(events, "AuditOpened").map((e) => Number(e.args.segment));
    e2e.log(`audited segments: ${audited.join(", ") || "none"}`);
    assert.equal(eventsNamed(events, "SegmentVerifying").length, 16, "every segment reached its quorum with nobody paid, and drew");
    // 16 draws at 40 %: none audited has probability 0.6^16 ≈ 0.03 %.
    assert.ok(audited.length > 0, "some segments were audited");
    assert.equal(eventsNamed(events, "AuditDisputed").length, 0, "honest auditors agree");
    // The live view counts the audit slots among the replicas and says how many were audited.
    const last = output.progressText().trim().split("\n").filter((l) => l.startsWith(`job ${jobId} `)).at(-1) ?? "";
    const slots = 32 + audited.length;
    assert.match(last, new RegExp(`16/16 accepted · replicas claimed ${slots}/${slots} committed ${slots}/${slots} revealed ${slots}/${slots} · ${audited.length} audited`), last);
    // A segment's holders cannot audit it: nobody revealed two slots of one segment.
    for (const p of providers) {
      const segments = slotsBy(events, "ReplicasRevealed", jobId, p.address).map((s) => s.segment);
      assert.equal(new Set(segments).size, segments.length, `provider ${p.account} revealed one slot per segment at most`);
    }

    // Money: each revealed replica (originals and auditors) paid its reward; the requester gets
    // back the auditor's unit of every segment not audited; nothing is left in escrow.
    const money = submitted.outcome!.money;
    assert.equal(money.paid, BigInt(16 * 2 + audited.length) * TOKEN(1));
    assert.equal(money.escrowLeft, 0n);
    assert.equal(eventsNamed(events, "ReplicaRejected").length, 0);
    const unit = TOKEN(1) + submitted.cost.feePerReplica;
    assert.equal(money.refunded, BigInt(16 - audited.length) * unit, "the unused auditor units come back");
    for (const p of providers) {
      const revealed = slotsBy(events, "ReplicasRevealed", jobId, p.address).length;
      assert.equal(creditedTo(events, jobId, p.address, [CreditKind.Reward]), TOKEN(1) * BigInt(revealed), `provider ${p.account} paid for each of its ${revealed} replicas`);
    }

    const status = formatJobStatus(await jobStatus({ jobId }, { market: requester })).join("\n");
    assert.match(status, /audits {11}40 % of accepted segments re-rendered by a drawn auditor before payment/);
    assert.match(status, new RegExp(`progress: 16/16 accepted, .*; audits: ${audited.length} drawn$`, "m"));

    const report = await auditChain({ verifyResults: true }, { market: requester, storage: e2e.net.storage });
    assert.deepEqual(report.discrepancies, [], formatAuditReport(report).join("\n"));
  });
});
