/**
 * Crash safety of a provider daemon on the real local network: provider A commits, is killed with
 * SIGKILL before it could reveal (its peers are paused, so no reveal window can open yet), the
 * others finish the segments and open the reveal windows, and A restarted on the same data dir
 * (no new registration) reveals with the salt it saved before committing, and is paid. Nothing of
 * A's expires and nothing of A's is slashed.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import { waitForJob } from "@tessellate/cli";
import { CreditKind, eventsNamed, type MarketClient } from "@tessellate/sdk";
import type { RunningProvider } from "../../scripts/devnet/network.ts";
import {
  acceptedSegments,
  apiGet,
  apiPost,
  creditedTo,
  E2ENetwork,
  eventsSince,
  ofJob,
  postJob,
  replicasOf,
  REQUESTER,
  slotsBy,
  TOKEN,
  uploadSampleScene,
} from "./helpers/e2e.ts";

const e2e = new E2ENetwork("crash-recovery", { chain: 8831, ipfsApi: 5931, ipfsGateway: 5932, providerHttp: 7931 });

describe("a provider killed between commit and reveal", { timeout: 170_000 }, () => {
  let requester: MarketClient;
  let victim: RunningProvider;
  let others: RunningProvider[];

  before(async () => {
    await e2e.start();
    victim = await e2e.startProvider(0);
    others = [await e2e.startProvider(1), await e2e.startProvider(2)];
    requester = await e2e.net.client(REQUESTER);
  });
  afterEach(e2e.recordOutcome);
  after(() => e2e.stop());

  it("reveals after a restart on the same data dir and is paid", async () => {
    const net = e2e.net;
    // The others claim nothing until A has committed, so no segment of A's can open its reveals.
    for (const p of others) {
      await apiPost(p, "/pause");
      assert.equal((await apiGet<{ paused: boolean }>(p, "/health")).paused, true);
    }
    const stakeBefore = (await requester.providerOf(victim.address)).staked;
    const scene = await uploadSampleScene(net);
    const job = await postJob(net, requester, scene, { redundancy: 2, quorum: 2, reward: TOKEN(1), collateral: TOKEN(2), leaseDuration: 300, revealWindow: 120 });
    const { jobId } = job;

    // A claims, renders and commits on its own.
    const committed = await e2e.waitFor(
      `provider ${victim.account} to commit a replica of job ${jobId}`,
      async () => {
        const slots = slotsBy(await eventsSince(requester, job.blockNumber), "ReplicasCommitted", jobId, victim.address);
        return slots.length > 0 ? slots : undefined;
      },
      60_000,
      100,
    );
    await victim.kill();
    assert.equal(victim.process.signalCode, "SIGKILL");
    const atKill = ofJob(await eventsSince(requester, job.blockNumber), jobId);
    const committedAtKill = slotsBy(atKill, "ReplicasCommitted", jobId, victim.address);
    assert.deepEqual(slotsBy(atKill, "ReplicasRevealed", jobId, victim.address), [], "A had revealed nothing when it was killed");
    assert.equal(eventsNamed(atKill, "RevealsOpened").length, 0, "no reveal window was open when A was killed");
    e2e.log(`killed provider ${victim.account} after it committed ${committedAtKill.map((s) => `${s.segment}/${s.replica}`).join(", ")} (first seen ${committed.length})`);

    // The others finish the segments; the last replica of each reveals directly and opens the window for A.
    for (const p of others) await apiPost(p, "/resume");
    const victimSegments = committedAtKill.map((s) => s.segment);
    await e2e.waitFor(
      `reveal windows of segments ${victimSegments.join(", ")} (A's commits) to open`,
      async () => {
        const events = ofJob(await eventsSince(requester, job.blockNumber), jobId);
        const opened = new Set(eventsNamed(events, "RevealsOpened").flatMap((e) => [...e.args.segments]));
        return victimSegments.every((s) => opened.has(s));
      },
      60_000,
    );
    const beforeRestart = ofJob(await eventsSince(requester, job.blockNumber), jobId);
    const acceptedBefore = acceptedSegments(beforeRestart, jobId);
    for (const s of victimSegments) assert.ok(!acceptedBefore.has(s), `segment ${s} cannot settle without A's reveal (quorum 2 of 2)`);

    // A comes back on the same data dir: no registration, a new process.
    const restarted = await e2e.startProvider(0, { skipRegister: true });
    assert.notEqual(restarted.process.pid, victim.process.pid);

    const outcome = await waitForJob({ jobId, fromBlock: job.blockNumber, pollIntervalMs: 250, timeoutMs: 90_000 }, { market: requester });
    assert.equal(outcome.complete, true, `job ${jobId} settled after A's restart (open: ${outcome.open.join(", ")}; stopped: ${outcome.stoppedEarly})\n${e2e.logTails()}`);

    const events = ofJob(await eventsSince(requester, job.blockNumber), jobId);
    const revealedByA = slotsBy(events, "ReplicasRevealed", jobId, victim.address);
    for (const slot of committedAtKill) {
      assert.ok(
        revealedByA.some((r) => r.segment === slot.segment && r.replica === slot.replica),
        `A revealed its committed replica ${slot.segment}/${slot.replica} after the restart`,
      );
    }
    const expired = eventsNamed(events, "ReplicaExpired").filter((e) => e.args.provider === victim.address);
    assert.deepEqual(expired.map((e) => `${e.args.segment}/${e.args.replica}`), [], "no replica of A expired");
    assert.equal(eventsNamed(events, "ReplicaRejected").length, 0, "no replica rejected");
    const earned = creditedTo(events, jobId, victim.address, [CreditKind.Reward, CreditKind.TieBreakerReward]);
    assert.ok(earned >= BigInt(committedAtKill.length) * TOKEN(1), `A was paid for its replicas (earned ${earned})`);
    assert.equal((await requester.providerOf(victim.address)).staked, stakeBefore, "A's stake is intact");

    // The restarted daemon's own state agrees: the replicas it committed before the crash ended accepted.
    await e2e.waitFor(
      `the restarted provider's local state to show ${committedAtKill.map((s) => `${s.segment}/${s.replica}`).join(", ")} accepted`,
      async () => {
        const rows = await replicasOf(restarted, jobId);
        return committedAtKill.every((slot) => rows.find((r) => r.segment === slot.segment && r.replica === slot.replica)?.state === "accepted");
      },
      20_000,
    );
  });
});
