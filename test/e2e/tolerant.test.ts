/**
 * Tolerant verification on the real local network with real Blender (issue 11): two honest
 * provider daemons, one rendering with Cycles' SSE4.1 kernel as an older processor would
 * (`CYCLES_CPU_NO_AVX2=1 CYCLES_CPU_NO_AVX=1` in its environment, passed into Blender's sandbox),
 * settle a tiled Blender job posted by the CLI's `job submit` (tolerant by default for Blender)
 * with no tie-breaker and nobody slashed, and the audit re-verifies every accepted result. The
 * same job in exact mode shows why: the two kernels' digests differ. Then a cheater — 12 % fewer
 * samples, another seed, the neighbouring frame, half resolution scaled up (the test-only
 * `testing.cheat` modes) — is out-voted by a tie-breaker and loses its collateral each time.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { auditChain, collectingOutput, fetchJob, formatAuditReport, parseSubmitOptions, readSceneDefaults, submitJob, waitForJob } from "@tessellate/cli";
import { CreditKind, eventsNamed, resultFileName, type MarketClient } from "@tessellate/sdk";
import type { RunningProvider } from "../../scripts/devnet/network.ts";
import { apiGet, apiPost, creditedTo, E2ENetwork, eventsSince, ofJob, readLog, REQUESTER, ROOT, slotsBy } from "./helpers/e2e.ts";

const e2e = new E2ENetwork("tolerant", { chain: 8861, ipfsApi: 5961, ipfsGateway: 5962, providerHttp: 7961 });
const BLENDER = { TESSELLATE_ENGINES: "blender", TESSELLATE_CPU_THREADS: "2" };
const SSE41 = { CYCLES_CPU_NO_AVX2: "1", CYCLES_CPU_NO_AVX: "1" };
const CHEATS = ["fewer-samples", "another-seed", "neighbouring-frame", "half-resolution"] as const;

function hasBlender(): boolean {
  try {
    return /^Blender 3\./m.test(execFileSync("blender", ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  } catch {
    return false;
  }
}

describe("tolerant verification with Blender on the local network", { skip: hasBlender() ? false : "Blender 3.x is not installed", timeout: 900_000 }, () => {
  let requester: MarketClient;
  let honest: RunningProvider[];
  let blend: string;

  before(async () => {
    await e2e.start();
    // The glass and subsurface scene of the fingerprint benchmark (scripts/bench/fingerprintScene.py), saved as a .blend.
    const sceneDir = join(e2e.dir!, "scene");
    blend = join(sceneDir, "glass.blend");
    await mkdir(sceneDir, { recursive: true });
    execFileSync("blender", ["-b", "--factory-startup", "-noaudio", "--python", join(ROOT, "scripts/bench/fingerprintScene.py"), "--", blend, JSON.stringify({ width: 200, height: 150, samples: 32, seed: 0, frame: 1, threads: 1, saveBlend: true })], { stdio: "ignore" });
    honest = [await e2e.startProvider(0, { env: BLENDER }), await e2e.startProvider(1, { env: { ...BLENDER, ...SSE41 } })];
    requester = await e2e.net.client(REQUESTER);
  });
  afterEach(e2e.recordOutcome);
  after(() => e2e.stop());

  const submit = async (flags: Record<string, string>) => {
    // As the binary does: the .blend's own settings (size, frames, samples) are the defaults.
    const raw = { engine: "blender", frames: "1", tiles: "2x1", redundancy: "2", quorum: "2", reward: "1", collateral: "2", lease: "300", revealWindow: "120", deadline: "1h", wait: false, ...flags };
    const options = parseSubmitOptions(blend, raw, undefined, await readSceneDefaults(blend, raw));
    const output = collectingOutput();
    const submitted = await submitJob(options, { market: requester, storage: e2e.net.storage, output });
    return { ...submitted, plan: output.lines.join("\n") };
  };

  it("the providers advertise their CPU kernel classes: AVX2 (or this machine's best) and SSE4.1", async () => {
    const kernels = await Promise.all(honest.map((p) => apiGet<{ cpuKernel: string | null }>(p, "/status").then((s) => s.cpuKernel)));
    assert.equal(kernels[1], "SSE4.1");
    assert.notEqual(kernels[0], "SSE4.1", "the first provider renders with a better kernel than the second");
  });

  it("two honest providers on different CPU kernels settle a tiled Blender job in tolerant mode: no tie-breaker, nobody slashed", async () => {
    const stakes = await Promise.all(honest.map(async (p) => (await requester.providerOf(p.address)).staked));
    const job = await submit({});
    assert.match(job.plan, /tolerant verification, tolerance 2500 bp/, "Blender jobs are tolerant by default");
    assert.deepEqual(job.manifest.verification, { mode: "tolerant", toleranceBps: 2500 });
    const outcome = await waitForJob({ jobId: job.jobId, fromBlock: job.blockNumber, pollIntervalMs: 250, timeoutMs: 300_000 }, { market: requester });
    assert.equal(outcome.complete, true, `job ${job.jobId} completed (open ${outcome.open}, failed ${outcome.failed})\n${e2e.logTails()}`);

    const events = ofJob(await eventsSince(requester, job.blockNumber), job.jobId);
    assert.equal(eventsNamed(events, "TieBreakerOpened").length, 0, "no tie-breaker");
    assert.equal(eventsNamed(events, "ReplicaRejected").length, 0, "nobody rejected");
    for (const [i, p] of honest.entries()) {
      assert.equal(slotsBy(events, "ReplicasRevealed", job.jobId, p.address).length, 2, `provider ${p.account} revealed a replica of both tiles`);
      assert.equal(creditedTo(events, job.jobId, p.address, [CreditKind.Reward]), 2n * 10n ** 18n, `provider ${p.account} was paid for both tiles`);
      assert.equal((await requester.providerOf(p.address)).staked, stakes[i], `provider ${p.account} was not slashed`);
    }
    // The SSE4.1 provider really rendered with that kernel.
    const started = (await readLog(honest[1]!)).find((l) => l.msg === "starting provider node") as { cpuKernel?: string } | undefined;
    assert.equal(started?.cpuKernel, "SSE4.1");

    // The requester's composite: every tile from an accepted replica, checked against its digest.
    const fetched = await fetchJob({ jobId: job.jobId, outDir: join(e2e.dir!, "out-tolerant") }, { market: requester, storage: e2e.net.storage });
    assert.deepEqual(fetched.report.missing, []);
    assert.deepEqual(fetched.report.failed, []);

    const audit = await auditChain({ verifyResults: true }, { market: requester, storage: e2e.net.storage });
    assert.deepEqual(audit.discrepancies, [], formatAuditReport(audit).join("\n"));
    assert.deepEqual(audit.verification, { checked: 2, ok: 2 });
  });

  it("the same job in exact mode shows why: the two kernels' digests of a tile differ", async () => {
    const job = await submit({ verification: "exact" });
    const revealedBoth = async () => {
      const revealed = eventsNamed(ofJob(await eventsSince(requester, job.blockNumber), job.jobId), "ReplicasRevealed");
      const digests = new Map<number, string[]>();
      for (const e of revealed) e.args.slots.forEach((packed, i) => digests.set(Number(packed >> 8n), [...(digests.get(Number(packed >> 8n)) ?? []), e.args.digests[i]!]));
      return [...digests.values()].filter((d) => d.length === 2).length === 2 ? digests : undefined;
    };
    const digests = await e2e.waitFor("both replicas of both tiles to be revealed", revealedBoth, 300_000, 500);
    const differing = [...digests].filter(([, d]) => d[0] !== d[1]).map(([segment]) => segment);
    e2e.log(`exact mode: tiles whose AVX2 and SSE4.1 digests differ: ${differing.join(", ") || "none"}`);
    assert.ok(differing.length > 0, "the SSE4.1 and the AVX2 renders of at least one tile differ, so exact mode cannot settle it without a tie-breaker");
    const events = ofJob(await eventsSince(requester, job.blockNumber), job.jobId);
    for (const segment of differing) assert.ok(eventsNamed(events, "TieBreakerOpened").some((t) => t.args.segment === segment), `segment ${segment} opened a tie-breaker`);
    // Nobody else could take the tie-breaker (each honest provider already holds a replica): cancel,
    // so the cheaters below do not claim it.
    await requester.cancelJob(job.jobId);
  });

  for (const [k, cheat] of CHEATS.entries()) {
    it(`a cheater rendering with ${cheat} is out-voted by a tie-breaker and loses its collateral; the honest are paid`, async () => {
      const cheater = await e2e.startProvider(2, { env: { ...BLENDER, TESSELLATE_TEST_CHEAT: cheat, TESSELLATE_ALLOW_TEST_MODES: "1" }, skipRegister: k > 0 });
      try {
        // The honest nodes wait until the cheater holds a replica, so it certainly takes part.
        for (const p of honest) await apiPost(p, "/pause");
        const stake = (await requester.providerOf(cheater.address)).staked;
        const job = await submit({ size: "64x48", tiles: "1x1", samples: "8", frames: "1" });
        await e2e.waitFor(`the cheater to claim a replica of job ${job.jobId}`, async () => slotsBy(await eventsSince(requester, job.blockNumber), "ReplicasClaimed", job.jobId, cheater.address).length > 0, 60_000);
        for (const p of honest) await apiPost(p, "/resume");
        const outcome = await waitForJob({ jobId: job.jobId, fromBlock: job.blockNumber, pollIntervalMs: 250, timeoutMs: 240_000 }, { market: requester });
        assert.equal(outcome.complete, true, `job ${job.jobId} completed (open ${outcome.open}, failed ${outcome.failed})\n${e2e.logTails()}`);

        const events = ofJob(await eventsSince(requester, job.blockNumber), job.jobId);
        assert.equal(eventsNamed(events, "TieBreakerOpened").length, 1, "the cheater's disagreement opened a tie-breaker");
        const rejected = eventsNamed(events, "ReplicaRejected");
        assert.deepEqual(rejected.map((r) => r.args.provider), [cheater.address], "only the cheater was rejected");
        assert.equal(rejected[0]!.args.slashed, 2n * 10n ** 18n, "the cheater lost its collateral");
        assert.equal((await requester.providerOf(cheater.address)).staked, stake - 2n * 10n ** 18n);
        assert.equal(creditedTo(events, job.jobId, cheater.address, [CreditKind.Reward, CreditKind.TieBreakerReward]), 0n, "the cheater earned nothing");
        for (const p of honest) assert.ok(creditedTo(events, job.jobId, p.address, [CreditKind.Reward, CreditKind.TieBreakerReward]) > 0n, `honest provider ${p.account} was paid`);
        const rendered = (await readLog(cheater)).filter((l) => l.msg === "rendered" && (l as { testingCheat?: string }).testingCheat === cheat);
        assert.ok(rendered.length > 0, `the cheater rendered with ${cheat}`);
      } finally {
        await cheater.stop();
      }
    });
  }

  it("the audit with result re-verification passes on the whole history", async () => {
    const audit = await auditChain({ verifyResults: true }, { market: requester, storage: e2e.net.storage });
    assert.deepEqual(audit.discrepancies, [], formatAuditReport(audit).join("\n"));
    assert.equal(audit.verification?.checked, audit.verification?.ok);
  });

  it("a replica that reveals an honest fingerprint but publishes another image is caught by the compositor and the audit, which use the honest replica's result", async () => {
    // The contract compares revealed fingerprints, never pixels: it pays such a replica (README).
    const liar = await e2e.startProvider(2, { env: { ...BLENDER, TESSELLATE_TEST_CHEAT: "swapped-result", TESSELLATE_ALLOW_TEST_MODES: "1" }, skipRegister: true });
    let job: Awaited<ReturnType<typeof submit>>;
    try {
      for (const p of honest) await apiPost(p, "/pause");
      job = await submit({ size: "64x48", tiles: "1x1", samples: "8", frames: "1" });
      await e2e.waitFor(`the swapping replica to claim job ${job.jobId}`, async () => slotsBy(await eventsSince(requester, job.blockNumber), "ReplicasClaimed", job.jobId, liar.address).length > 0, 60_000);
      // Only one honest provider takes the other slot.
      await apiPost(honest[0]!, "/resume");
      const outcome = await waitForJob({ jobId: job.jobId, fromBlock: job.blockNumber, pollIntervalMs: 250, timeoutMs: 240_000 }, { market: requester });
      assert.equal(outcome.complete, true, `job ${job.jobId} completed\n${e2e.logTails()}`);
      // Results are published once accepted (sealed results): let the liar add its swapped image
      // before it stops, so the compositor refuses it for its pixels, not for being absent.
      const [revealed] = eventsNamed(ofJob(await eventsSince(requester, job.blockNumber), job.jobId), "ReplicasRevealed").filter((e) => e.args.provider === liar.address);
      const liarCid = revealed!.args.resultCids[0]!;
      await e2e.waitFor(`the swapping replica to publish ${liarCid}`, async () => e2e.net.storage.cat(`${liarCid}/${resultFileName(1)}`).then(() => true, () => false), 30_000, 250);
    } finally {
      await liar.stop();
      await apiPost(honest[1]!, "/resume");
    }
    const events = ofJob(await eventsSince(requester, job.blockNumber), job.jobId);
    const [liarSlot] = slotsBy(events, "ReplicasClaimed", job.jobId, liar.address);
    const [accepted] = eventsNamed(events, "SegmentAccepted");
    assert.equal(eventsNamed(events, "ReplicaRejected").length, 0, "the fingerprints agree: the protocol cannot tell");
    assert.equal(accepted!.args.replica, liarSlot!.replica, "the swapping replica holds the lowest slot, so its result is the accepted one");

    const fetched = await fetchJob({ jobId: job.jobId, outDir: join(e2e.dir!, "out-swapped") }, { market: requester, storage: e2e.net.storage });
    assert.deepEqual(fetched.report.failed, []);
    assert.equal(fetched.report.frames.length, 1, "the frame was composited");
    assert.deepEqual(fetched.report.fallbacks.map((f) => f.segment), [0], "from the honest replica's result");
    assert.notEqual(fetched.report.fallbacks[0]!.replica, liarSlot!.replica);
    assert.match(fetched.report.fallbacks[0]!.refused[0]!.problem!, /fingerprint/);

    // The whole history: this is the only discrepancy in it.
    const audit = await auditChain({ verifyResults: true }, { market: requester, storage: e2e.net.storage });
    const flagged = audit.discrepancies.filter((d) => d.subject === `job ${job.jobId} segment 0`);
    assert.equal(flagged.length, 1, formatAuditReport(audit).join("\n"));
    assert.equal(audit.discrepancies.length, 1, formatAuditReport(audit).join("\n"));
    assert.match(flagged[0]!.actual, /do not have the fingerprint the replica revealed.*agreeing result checks out and is used instead/);
  });
});
