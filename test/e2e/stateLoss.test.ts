/**
 * A provider that loses its state file is not slashed: provider A commits, is killed with SIGKILL,
 * its `provider.sqlite` is deleted, and A restarted on the emptied data dir rebuilds its replicas
 * from the chain, renders the committed ones again, derives the same salts and reveals — paid, no
 * `CommitmentMismatch`, nothing expired. And a second daemon started on A's data dir while A runs
 * exits with the lock message instead of working over A's replicas.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { waitForJob } from "@tessellate/cli";
import { CreditKind, eventsNamed, type MarketClient } from "@tessellate/sdk";
import { providerEnv, type RunningProvider } from "../../scripts/devnet/network.ts";
import {
  apiGet,
  apiPost,
  creditedTo,
  E2ENetwork,
  eventsSince,
  ofJob,
  postJob,
  PROVIDER_ENV,
  readLog,
  replicasOf,
  REQUESTER,
  ROOT,
  slotsBy,
  TOKEN,
  uploadSampleScene,
} from "./helpers/e2e.ts";

const e2e = new E2ENetwork("state-loss", { chain: 8891, ipfsApi: 5991, ipfsGateway: 5992, providerHttp: 7991 });

describe("a provider whose state file was deleted", { timeout: 240_000 }, () => {
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

  it("rebuilds its replicas from the chain, reveals with the same salts and is paid; a second process on its data dir refuses to start", async () => {
    const net = e2e.net;
    for (const p of others) await apiPost(p, "/pause");
    const stakeBefore = (await requester.providerOf(victim.address)).staked;
    const scene = await uploadSampleScene(net);
    const job = await postJob(net, requester, scene, { redundancy: 2, quorum: 2, reward: TOKEN(1), collateral: TOKEN(2), leaseDuration: 300, revealWindow: 120 });
    const { jobId } = job;

    await e2e.waitFor(
      `provider ${victim.account} to commit a replica of job ${jobId}`,
      async () => slotsBy(await eventsSince(requester, job.blockNumber), "ReplicasCommitted", jobId, victim.address).length > 0,
      60_000,
      100,
    );
    await victim.kill();
    assert.equal(victim.process.signalCode, "SIGKILL");
    const committedAtKill = slotsBy(await eventsSince(requester, job.blockNumber), "ReplicasCommitted", jobId, victim.address);
    for (const suffix of ["", "-wal", "-shm"]) await rm(join(victim.dataDir, `provider.sqlite${suffix}`), { force: true });
    assert.equal(existsSync(join(victim.dataDir, "provider.sqlite")), false);
    e2e.log(`killed ${victim.address} after it committed ${committedAtKill.map((s) => `${s.segment}/${s.replica}`).join(", ")}; state file deleted`);

    // A comes back with an empty state (and a stale lock of the killed process in its data dir).
    const restarted = await e2e.startProvider(0, { skipRegister: true });

    // Before anyone else renders, A has rebuilt its committed replicas from the chain and re-rendered them.
    await e2e.waitFor(
      `the restarted provider to recover ${committedAtKill.map((s) => `${s.segment}/${s.replica}`).join(", ")} as committed`,
      async () => {
        const rows = await replicasOf(restarted, jobId);
        return committedAtKill.every((slot) => rows.some((r) => r.segment === slot.segment && r.replica === slot.replica && r.state === "committed"));
      },
      60_000,
    );

    for (const p of others) await apiPost(p, "/resume");
    const outcome = await waitForJob({ jobId, fromBlock: job.blockNumber, pollIntervalMs: 250, timeoutMs: 90_000 }, { market: requester });
    assert.equal(outcome.complete, true, `job ${jobId} settled (open: ${outcome.open.join(", ")}; stopped: ${outcome.stoppedEarly})\n${e2e.logTails()}`);

    const events = ofJob(await eventsSince(requester, job.blockNumber), jobId);
    const revealedByA = slotsBy(events, "ReplicasRevealed", jobId, victim.address);
    for (const slot of committedAtKill) {
      assert.ok(revealedByA.some((r) => r.segment === slot.segment && r.replica === slot.replica), `A revealed ${slot.segment}/${slot.replica} after losing its state`);
    }
    const expired = eventsNamed(events, "ReplicaExpired").filter((e) => e.args.provider === victim.address);
    assert.deepEqual(expired.map((e) => `${e.args.segment}/${e.args.replica}`), [], "no replica of A expired");
    assert.equal(eventsNamed(events, "ReplicaRejected").length, 0, "no replica rejected");
    const earned = creditedTo(events, jobId, victim.address, [CreditKind.Reward, CreditKind.TieBreakerReward]);
    assert.ok(earned >= BigInt(committedAtKill.length) * TOKEN(1), `A was paid for its replicas (earned ${earned})`);
    assert.equal((await requester.providerOf(victim.address)).staked, stakeBefore, "A's stake is intact");
    const mismatches = (await readLog(restarted)).filter((l) => JSON.stringify(l).includes("CommitmentMismatch"));
    assert.deepEqual(mismatches.map((l) => l.msg), [], "no reveal of A was refused with CommitmentMismatch");

    // A second daemon on the same data dir refuses to start, naming the running one.
    const second = await runSecondDaemon(net, victim.account, e2e.ports.providerHttp + 9);
    assert.equal(second.signal, null, `the second daemon exited on its own (signal ${second.signal})\n${second.output}`);
    assert.notEqual(second.code, 0, `the second daemon exited with an error (code ${second.code})\n${second.output}`);
    assert.match(second.output, new RegExp(`data dir ${escape(victim.dataDir)} is in use by process ${restarted.process.pid}`));
    assert.equal(restarted.process.exitCode, null, "the running daemon kept running");
    await apiGet(restarted, "/health");
  });
});

/** Runs `tessellate-provider run` for devnet `account` (so on its data dir) until it exits; returns its exit and output. */
async function runSecondDaemon(net: E2ENetwork["net"], account: number, httpPort: number): Promise<{ code: number | null; signal: string | null; output: string }> {
  const { env } = providerEnv(net, { account, httpPort });
  const child = spawn(process.execPath, ["--no-warnings", join(ROOT, "provider-node/src/cli.ts"), "run"], {
    cwd: ROOT,
    env: { ...process.env, ...env, ...PROVIDER_ENV },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.once("exit", (c, s) => resolve([c, s])));
  clearTimeout(timer);
  return { code, signal, output };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
