/**
 * The happy path on the real local network: three provider daemons settle a small builtin job at
 * redundancy 2, the requester's composite (submitJob → wait → composite into --out) is pixel for
 * pixel the frame a single machine renders in one piece, and the auditor's rebuild of the whole
 * history — results re-fetched from IPFS and re-digested — finds no discrepancy.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { auditChain, collectingOutput, fetchJob, formatAuditReport, parseSubmitOptions, scanMarketProviders, submitJob, type SubmitResult } from "@tessellate/cli";
import { CreditKind, decodePng, eventsNamed, resultFileName, type MarketClient } from "@tessellate/sdk";
import { addressOf, creditedTo, differingPixels, E2ENetwork, eventsSince, ofJob, renderReferenceFrames, REQUESTER, SAMPLE_SCENE_DIR, slotsBy, TOKEN } from "./helpers/e2e.ts";

const e2e = new E2ENetwork("settles", { chain: 8811, ipfsApi: 5911, ipfsGateway: 5912, providerHttp: 7911 });
const SETTLE_TIMEOUT_MS = 120_000;

describe("a job on the local network", { timeout: 170_000 }, () => {
  let requester: MarketClient;

  before(async () => {
    await e2e.start();
    for (let i = 0; i < 3; i++) await e2e.startProvider(i);
    requester = await e2e.net.client(REQUESTER);
  });
  afterEach(e2e.recordOutcome);
  after(() => e2e.stop());

  let submitted: SubmitResult;

  it("settles completely with three providers at r=2, and the composite equals a full-frame render", async () => {
    const net = e2e.net;
    const outDir = join(e2e.dir!, "out");
    const options = parseSubmitOptions(SAMPLE_SCENE_DIR, {
      engine: "builtin",
      size: "32x24",
      frames: "1-2",
      tiles: "2x1",
      framesPerSegment: "1",
      redundancy: "2",
      quorum: "2",
      reward: "1",
      collateral: "2",
      samples: "4",
      seed: "11",
      maxBounces: "3",
      lease: "300",
      revealWindow: "120",
      deadline: "1h",
      out: outDir,
      wait: true,
      recordOutput: true,
    });
    const output = collectingOutput();
    try {
      submitted = await submitJob(options, { market: requester, storage: net.storage, output, pollIntervalMs: 250, signal: AbortSignal.timeout(SETTLE_TIMEOUT_MS) });
    } catch (error) {
      throw new Error(`submitJob did not see the job settle within ${SETTLE_TIMEOUT_MS} ms: ${(error as Error).message}\n${output.lines.join("\n")}\n${e2e.logTails()}`);
    }
    const { jobId } = submitted;
    assert.equal(submitted.params.segmentCount, 4);
    assert.equal(submitted.outcome?.complete, true, `every segment accepted:\n${output.lines.join("\n")}`);
    assert.equal(submitted.outcome!.accepted.size, 4);
    assert.deepEqual(submitted.fetched?.report.missing, []);
    assert.deepEqual(submitted.fetched?.report.failed, []);
    assert.equal(submitted.fetched?.report.frames.length, 2);
    assert.ok(submitted.outputCid, "the composite was recorded on-chain");

    // Money: every replica paid its reward, nothing refunded, no escrow left.
    const money = submitted.outcome!.money;
    assert.equal(money.paid, 8n * TOKEN(1), "8 agreeing replicas paid");
    assert.equal(money.refunded, 0n);
    assert.equal(money.compensation, 0n);
    assert.equal(money.escrowLeft, 0n);

    // Each segment was rendered by two different providers, and the daemons did it on their own.
    const events = ofJob(await eventsSince(requester, submitted.blockNumber), jobId);
    assert.equal(eventsNamed(events, "ReplicaRejected").length, 0, "no replica rejected");
    assert.equal(eventsNamed(events, "ReplicaExpired").length, 0, "no lease expired");
    const paidProviders = net.providers.filter((p) => creditedTo(events, jobId, p.address, [CreditKind.Reward]) > 0n);
    assert.ok(paidProviders.length >= 2, `at least two providers were paid (paid: ${paidProviders.map((p) => p.account).join(", ")})`);
    for (let segment = 0; segment < 4; segment++) {
      const holders = net.providers.filter((p) => slotsBy(events, "ReplicasRevealed", jobId, p.address).some((s) => s.segment === segment));
      assert.equal(holders.length, 2, `segment ${segment} was revealed by two distinct providers`);
    }
    const paidTotal = net.providers.reduce((sum, p) => sum + creditedTo(events, jobId, p.address, [CreditKind.Reward]), 0n);
    assert.equal(paidTotal, 8n * TOKEN(1));
    assert.equal(creditedTo(events, jobId, addressOf(REQUESTER), [CreditKind.Refund, CreditKind.Compensation]), 0n);

    // The composite, decoded, is exactly what one machine renders in one piece.
    const reference = await renderReferenceFrames(submitted.manifest);
    for (const frame of [1, 2]) {
      const composite = decodePng(new Uint8Array(await readFile(join(outDir, resultFileName(frame)))));
      const expected = reference.get(frame)!;
      assert.deepEqual([composite.width, composite.height], [32, 24]);
      assert.equal(differingPixels(composite, expected), 0, `frame ${frame}: composite differs from the full-frame render`);
      assert.ok(Buffer.from(composite.data).equals(Buffer.from(expected.data)), `frame ${frame}: RGBA bytes identical`);
    }

    // `job fetch` composites the same frames again from the chain and IPFS alone.
    const refetchDir = join(e2e.dir!, "fetched");
    const fetched = await fetchJob({ jobId, outDir: refetchDir }, { market: requester, storage: net.storage });
    assert.equal(fetched.report.frames.length, 2);
    for (const frame of [1, 2]) {
      const again = decodePng(new Uint8Array(await readFile(join(refetchDir, resultFileName(frame)))));
      assert.equal(differingPixels(again, reference.get(frame)!), 0, `fetched frame ${frame} equals the full-frame render`);
    }
  });

  it("the audit rebuilds the whole history with zero discrepancies, results re-checked on IPFS", async () => {
    assert.ok(submitted, "the job settled in the previous test");
    const audit = await auditChain({ verifyResults: true }, { market: requester, storage: e2e.net.storage });
    assert.deepEqual(audit.discrepancies, [], formatAuditReport(audit).join("\n"));
    assert.equal(audit.complete, true);
    assert.equal(audit.counts.jobs, 1);
    assert.equal(audit.counts.acceptedSegments, 4);
    assert.deepEqual(audit.verification, { checked: 4, ok: 4 });
    assert.equal(audit.totals.marketTokenBalance, audit.totals.escrow + audit.totals.balances);
    assert.equal(audit.totals.registryTokenBalance, audit.totals.staked);
    assert.equal(audit.totals.staked, 300n * 10n ** 18n, "three providers staked 100 each, nobody slashed");
  });

  it("the providers publish their measured render times, and the next job's estimate is made from them", async () => {
    const net = e2e.net;
    let scan = await scanMarketProviders(requester, net.storage);
    for (let tries = 0; tries < 100 && !scan.providers.some((p) => p.profile?.measuredRenders?.some((m) => m.engine === "builtin")); tries++) {
      await new Promise((r) => setTimeout(r, 200));
      scan = await scanMarketProviders(requester, net.storage);
    }
    const measured = scan.providers.flatMap((p) => p.profile?.measuredRenders ?? []).filter((m) => m.engine === "builtin");
    assert.ok(measured.length > 0, `no provider published measured builtin renders\n${e2e.logTails()}`);
    for (const m of measured) assert.ok(m.ratios.length >= 1 && m.ratios.every((r) => r > 0) && m.benchmarkScore > 0, JSON.stringify(m));
    const renders = measured.reduce((n, m) => n + m.ratios.length, 0);
    const output = collectingOutput();
    const options = parseSubmitOptions(SAMPLE_SCENE_DIR, { engine: "builtin", size: "32x24", tiles: "2x1", samples: "4", reward: "1", collateral: "2", wait: false });
    await submitJob(options, { market: requester, storage: net.storage, output });
    const text = output.lines.join("\n");
    assert.match(text, new RegExp(`an ESTIMATE from ${renders} measured builtin renders? by ${measured.length} providers?, not a quote`), text);
    assert.match(text, /on those past renders this estimate was off by ×[\d.]+ \(median\)/);
  });
});
