import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { Writable } from "node:stream";
import { afterEach, beforeEach, test } from "node:test";
import { commitmentOf } from "@tessellate/sdk";
import { ContractRevertError } from "@tessellate/sdk/contractErrors";
import { RetryableError } from "@tessellate/sdk/errors";
import { AbandonReason, linkZero } from "@tessellate/sdk/protocol";
import { createLogger } from "../logger.ts";
import type { MarketPort } from "../ports.ts";
import { EngineError } from "../sandbox/engineError.ts";
import { createFakeEngine } from "../testing/fakeEngine.ts";
import { PROVIDER_A, PROVIDER_B, PROVIDER_C, TOKEN, createWorld, postJob, startNode, statesOf, until, type World } from "../testing/harness.ts";

let world: World;
beforeEach(async () => {
  world = await createWorld();
});
afterEach(() => world.cleanup());

const events = (name: string) => world.market.allEvents().filter((e) => e.eventName === name);

test("happy path: claim, render, commit, reveal, settle and withdraw; the last replica reveals without committing", async () => {
  const { jobId } = await postJob(world, { tiles: 2, redundancy: 2 });
  const a = await startNode(world, PROVIDER_A);
  await until(() => statesOf(a, jobId).join() === "0:committed,1:committed", "A committed both, waiting for a second replica");
  // Sealed results: a committed (later revealed) replica's CID is known, its folder is not on IPFS.
  for (const row of a.store.listReplicas({ jobId })) {
    assert.match(row.resultCid!, /^b/);
    assert.equal(world.storage.has(`${row.resultCid}/frame-000001.png`), false, "not published before the replica is accepted");
  }
  const b = await startNode(world, PROVIDER_B);
  await until(() => events("SegmentAccepted").length === 2, "both segments accepted");
  await until(() => statesOf(a, jobId).join() === "0:accepted,1:accepted" && statesOf(b, jobId).join() === "0:accepted,1:accepted", "every replica accepted locally");
  await until(() => [a, b].every((node) => node.store.listReplicas({ jobId }).every((row) => row.published)), "every accepted result published");
  for (const node of [a, b]) {
    assert.equal(node.store.getJob(jobId)!.decision, "accepted");
    for (const row of node.store.listReplicas({ jobId })) {
      assert.match(row.digest!, /^0x[0-9a-f]{64}$/);
      assert.match(row.salt!, /^0x[0-9a-f]{64}$/);
      assert.ok(world.storage.has(`${row.resultCid}/frame-000001.png`), "result folder holds one PNG per frame");
    }
    assert.equal(node.store.earnings().credited.Reward, 2n * TOKEN);
  }
  const calls = (who: string, method: string) => world.market.calls.filter((c) => c.method === method && c.from === who);
  assert.equal(calls(PROVIDER_A, "commit").length, 1, "one commit batch for both segments");
  assert.equal((calls(PROVIDER_A, "commit")[0].args[1] as unknown[]).length, 2);
  assert.equal(calls(PROVIDER_B, "commit").length, 0, "B's replicas were the last to seal: revealed directly");
  assert.equal(calls(PROVIDER_B, "reveal").length, 1);
  // withdraw above the 0.5-token threshold
  await until(() => events("Withdrawn").length === 2, "both nodes withdrew");
  await until(() => a.store.earnings().withdrawn === 2n * TOKEN, "withdrawal recorded");
  assert.equal(world.market.balanceOf(PROVIDER_A), 0n);
  assert.equal(world.market.freeStakeOf(PROVIDER_A), 1_000n * TOKEN, "collateral unlocked");
  assert.ok(a.metrics.counters.reveals === 2 && a.metrics.renderSeconds.count === 2);
});

// ---------------------------------------------------------------------------------------------
// Crash and restart: the state file alone must be enough to finish the work.

/** Simulates `kill -9` at this very moment: the state file closes first, so nothing more is written. */
function crash(node: Awaited<ReturnType<typeof startNode>>): Promise<void> {
  node.store.close();
  return node.kill();
}

test("restart after a crash while rendering: renders again and settles", async () => {
  const { jobId } = await postJob(world, { tiles: 1, redundancy: 1 });
  const engine = createFakeEngine();
  engine.close();
  const a = await startNode(world, PROVIDER_A, { engine, name: "a" });
  await until(() => statesOf(a, jobId).join() === "0:rendering", "rendering");
  await crash(a);
  const again = await startNode(world, PROVIDER_A, { name: "a" });
  await until(() => statesOf(again, jobId).join() === "0:accepted", "accepted after restart");
  const notes = again.store.transitionsOf(again.store.listReplicas({ jobId })[0].id).map((t) => `${t.from}->${t.to}`);
  assert.deepEqual(notes.slice(0, 4), ["null->claimed", "claimed->rendering", "rendering->claimed", "claimed->rendering"]);
  assert.equal(events("ReplicasClaimed").length, 1, "no second claim");
});

test("restart after a crash between a claim's request and its resolution: the node resolves its own waiting ticket and renders, without a second request", async () => {
  const { jobId } = await postJob(world, { tiles: 2, redundancy: 1 });
  // The node sent requestClaim(2) and stopped before resolveClaims: its collateral is locked, no slots yet.
  world.market.leaveTicketWaiting(PROVIDER_A, jobId, 2);
  assert.equal(world.market.freeStakeOf(PROVIDER_A), 1_000n * TOKEN - 2n * world.market.jobView(jobId).collateralPerReplica);
  const a = await startNode(world, PROVIDER_A, { name: "a" });
  await until(() => statesOf(a, jobId).join() === "0:accepted,1:accepted", "both segments accepted after the ticket resolved");
  assert.equal(world.market.calls.filter((c) => c.method === "resolveClaims" && c.from === PROVIDER_A).length, 1, "the node resolved its waiting ticket");
  assert.equal(events("ClaimRequested").length, 1, "no second request: the waiting ticket was the node's claim");
  assert.equal(events("ClaimLapsed").length, 0);
});

test("restart with a rendered replica: commits with the salt saved before the crash", async () => {
  const { jobId } = await postJob(world, { tiles: 2, redundancy: 2 });
  // Segment 1 never finishes, so segment 0 waits (rendered, salt saved) to share its commit.
  const a = await startNode(world, PROVIDER_A, { name: "a", engine: createFakeEngine({ hold: (r) => r.rect.x > 0 }) });
  await until(() => statesOf(a, jobId).join() === "0:rendered,1:rendering", "segment 0 rendered, segment 1 rendering");
  const saved = a.store.listReplicas({ jobId }).find((r) => r.segment === 0)!;
  await crash(a);
  const again = await startNode(world, PROVIDER_A, { name: "a" });
  await until(() => statesOf(again, jobId).join() === "0:committed,1:committed", "both committed after restart");
  const after = again.store.getReplica(saved.id)!;
  assert.equal(after.salt, saved.salt, "the salt saved before the crash was used");
  assert.equal(after.commitment, commitmentOf(saved.digest!, saved.salt!, PROVIDER_A, jobId, 0));
  await startNode(world, PROVIDER_B, { name: "b" });
  await until(() => statesOf(again, jobId).join() === "0:accepted,1:accepted", "accepted once B joined");
});

for (const landed of [true, false]) {
  test(`restart while committing (commit ${landed ? "landed" : "not sent"}): replicaOf and events tell, and it settles`, async () => {
    const { jobId } = await postJob(world, { tiles: 1, redundancy: 2 });
    let node: Awaited<ReturnType<typeof startNode>> | undefined;
    let crashed: Promise<void> | undefined;
    const a = await startNode(world, PROVIDER_A, {
      name: "a",
      wrap: (market) => ({
        ...market,
        commit: async (id, commits) => {
          if (landed) await market.commit(id, commits);
          crashed = crash(node!);
          throw new RetryableError("CRASHED", "the process died here");
        },
      }),
    });
    node = a;
    await until(() => crashed !== undefined, "the crash");
    await crashed;
    const again = await startNode(world, PROVIDER_A, { name: "a" });
    await until(() => statesOf(again, jobId).join() === "0:committed", "committed after restart");
    const notes = again.store.transitionsOf(again.store.listReplicas({ jobId })[0].id).map((t) => t.note ?? "");
    if (!landed) assert.ok(notes.some((n) => n.includes("replicaOf says the commit did not land")), notes.join(" | "));
    await startNode(world, PROVIDER_B, { name: "b" });
    await until(() => statesOf(again, jobId).join() === "0:accepted", "accepted");
    const commits = world.market.calls.filter((c) => c.method === "commit" && c.from === PROVIDER_A);
    assert.equal(commits.length, 1, landed ? "not committed twice" : "committed once, after the restart");
  });

  test(`restart while revealing (reveal ${landed ? "landed" : "not sent"}): it settles`, async () => {
    const { jobId } = await postJob(world, { tiles: 1, redundancy: 2 });
    let node: Awaited<ReturnType<typeof startNode>> | undefined;
    let crashed: Promise<void> | undefined;
    const a = await startNode(world, PROVIDER_A, {
      name: "a",
      wrap: (market) => ({
        ...market,
        reveal: async (id, reveals) => {
          if (landed) await market.reveal(id, reveals);
          crashed = crash(node!);
          throw new RetryableError("CRASHED", "the process died here");
        },
      }),
    });
    node = a;
    await until(() => statesOf(a, jobId).join() === "0:committed", "A committed");
    await startNode(world, PROVIDER_B, { name: "b" }); // B reveals directly, which opens A's window
    await until(() => crashed !== undefined, "the crash");
    await crashed;
    const again = await startNode(world, PROVIDER_A, { name: "a" });
    await until(() => statesOf(again, jobId).join() === "0:accepted", "accepted after restart");
    assert.equal(world.market.calls.filter((c) => c.method === "reveal" && c.from === PROVIDER_A).length, 1);
    assert.equal(events("SegmentAccepted").length, 1);
  });
}

test("restart with a committed replica: reveals once the others commit", async () => {
  const { jobId } = await postJob(world, { tiles: 1, redundancy: 2 });
  const a = await startNode(world, PROVIDER_A, { name: "a" });
  await until(() => statesOf(a, jobId).join() === "0:committed", "A committed, waiting for B");
  await crash(a);
  const b = await startNode(world, PROVIDER_B, { name: "b" });
  await until(() => ["0:committed", "0:revealed"].includes(statesOf(b, jobId).join()), "B committed too (and revealed: the window opened)");
  const again = await startNode(world, PROVIDER_A, { name: "a" });
  await until(() => statesOf(again, jobId).join() === "0:accepted" && statesOf(b, jobId).join() === "0:accepted", "both accepted");
});

test("restart long after a crash: a claim that can no longer finish in time is given back, not left to expire", async () => {
  const { jobId } = await postJob(world, { tiles: 1, redundancy: 1, lease: 60 });
  const engine = createFakeEngine();
  engine.close();
  const a = await startNode(world, PROVIDER_A, { name: "a", engine });
  await until(() => statesOf(a, jobId).join() === "0:rendering", "rendering");
  const leaseEnd = a.store.listReplicas({ jobId })[0].leaseEnd;
  await crash(a);
  world.clock.advance(leaseEnd - Number(world.market.now()) - 4); // 4 s left, margin 5 s
  const again = await startNode(world, PROVIDER_A, { name: "a", engine });
  const first = () => again.store.listReplicas({ jobId }).find((r) => r.leaseEnd === leaseEnd)!;
  // The node records the abandon once it has synced the event (the market emits it first).
  await until(() => events("ReplicaAbandoned").length === 1 && first().state !== "claimed", "abandoned");
  assert.equal(events("ReplicaAbandoned").length, 1);
  assert.equal(first().state, "abandoned");
  assert.match(first().lastError ?? "", /cannot finish before the lease ends/);
  assert.equal(events("ReplicaExpired").length, 0);
});

test("restart with the state file deleted after committing: rebuilds from the chain, re-renders, reveals with the same salt", async () => {
  const { jobId } = await postJob(world, { tiles: 2, redundancy: 2 });
  const a = await startNode(world, PROVIDER_A, { name: "a" });
  await until(() => statesOf(a, jobId).join() === "0:committed,1:committed", "A committed both");
  const salts = a.store.listReplicas({ jobId }).map((r) => r.salt).sort();
  const path = a.store.path;
  await crash(a);
  for (const suffix of ["", "-wal", "-shm"]) await rm(`${path}${suffix}`, { force: true });
  const again = await startNode(world, PROVIDER_A, { name: "a" });
  await until(() => statesOf(again, jobId).join() === "0:committed,1:committed", "A recovered both as committed");
  assert.deepEqual(again.store.listReplicas({ jobId }).map((r) => r.salt).sort(), salts, "the same derived salts");
  for (const row of again.store.listReplicas({ jobId })) assert.ok(again.store.transitionsOf(row.id).some((t) => t.to === "recovering"));
  await startNode(world, PROVIDER_B, { name: "b" });
  await until(() => statesOf(again, jobId).join() === "0:accepted,1:accepted", "A's replicas accepted");
  assert.equal(world.market.calls.filter((c) => c.method === "reveal" && c.from === PROVIDER_A).length, 1, "one reveal batch, nothing refused");
  assert.equal(events("ReplicaExpired").length, 0);
});

test("a job skipped on a pessimistic estimate is not given up: after a lease with nobody claiming, one trial, then all of it", async () => {
  // The benchmark ran on a loaded machine: every estimate is far too slow for the 30 s lease.
  const { jobId } = await postJob(world, { tiles: 3, redundancy: 1, lease: 30 });
  const a = await startNode(world, PROVIDER_A, { config: { benchmarkScore: 0.0001 } });
  await until(() => a.store.getJob(jobId)?.decision === "skipped", "skipped on the estimate");
  const skipped = a.store.getJob(jobId)!;
  assert.equal(skipped.final, false, "an estimate is never final");
  assert.match(skipped.reason!, /too short for an estimated .* \(deferred: re-checked/);
  assert.deepEqual(statesOf(a, jobId), []);
  a.worker.setPaused(true);
  world.clock.advance(31); // a whole lease with the segments open and nobody claiming them
  const ticks = a.worker.ticks;
  await until(() => a.worker.ticks > ticks + 5, "ticks while paused");
  assert.deepEqual(statesOf(a, jobId), [], "paused: no trial claim, and the trial is not used up");
  a.worker.setPaused(false);
  await until(() => statesOf(a, jobId).length > 0, "a trial claim");
  assert.equal((world.market.calls.find((c) => c.method === "claim" && c.from === PROVIDER_A)!.args[1] as number), 1, "the trial claims one segment");
  await until(() => statesOf(a, jobId).join() === "0:accepted,1:accepted,2:accepted", "the trial finished in time; the rest followed", 15_000);
  assert.equal(world.market.allEvents().filter((e) => e.eventName === "ReplicaAbandoned" || e.eventName === "ReplicaExpired").length, 0);
});

// ---------------------------------------------------------------------------------------------
// Giving work back.

test("a scene the engine cannot render is abandoned (collateral back) and the job is skipped", async () => {
  const { jobId } = await postJob(world, { tiles: 1, redundancy: 1 });
  const engine = createFakeEngine({ fail: () => new EngineError("ENGINE_FAILED", "Parse Error: No objects in scene", { exitCode: 1, signal: null, lastLines: [] }) });
  const a = await startNode(world, PROVIDER_A, { engine });
  await until(() => statesOf(a, jobId).join() === "0:abandoned", "abandoned");
  assert.match(a.store.listReplicas({ jobId })[0].lastError ?? "", /cannot render: Parse Error/);
  const job = a.store.getJob(jobId)!;
  assert.equal(job.decision, "skipped");
  assert.match(job.reason!, /scene cannot be rendered here: Parse Error/);
  assert.equal(world.market.freeStakeOf(PROVIDER_A), 1_000n * TOKEN, "collateral returned, nothing slashed");
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(world.market.calls.filter((c) => c.method === "claim").length, 1, "the job is not claimed again");
  assert.equal(world.market.providerView(PROVIDER_A).abandoned, 0, "a scene fault costs no reputation (issue 9.9)");
  // The requester sees why: a scene fault, in the engine's words (issue 12 item 2).
  const [abandoned] = world.market.allEvents().filter((e) => e.eventName === "ReplicaAbandoned");
  assert.equal((abandoned.args as { reason: number }).reason, AbandonReason.SceneFault);
  assert.match((abandoned.args as { detail: string }).detail, /^cannot render: Parse Error: No objects in scene/);
});

test("a render that would outlive its lease is stopped and abandoned before the lease ends", async () => {
  const { jobId } = await postJob(world, { tiles: 1, redundancy: 1, lease: 60 });
  const engine = createFakeEngine();
  engine.close();
  const a = await startNode(world, PROVIDER_A, { engine });
  await until(() => statesOf(a, jobId).join() === "0:rendering", "rendering");
  const leaseEnd = a.store.listReplicas({ jobId })[0].leaseEnd;
  world.clock.advance(leaseEnd - Number(world.market.now()) - 4); // inside the 5 s commit margin
  await until(() => events("ReplicaAbandoned").length === 1, "abandoned by the lease watchdog");
  const first = a.store.listReplicas({ jobId }).find((r) => r.leaseEnd === leaseEnd)!;
  assert.equal(first.state, "abandoned");
  assert.match(first.lastError ?? "", /lease ends/);
  assert.equal(events("ReplicaExpired").length, 0);
});

test("a cancelled job: uncommitted claims are abandoned", async () => {
  const { jobId } = await postJob(world, { tiles: 2, redundancy: 2 });
  const engine = createFakeEngine({ hold: (r) => r.rect.x > 0 });
  const a = await startNode(world, PROVIDER_A, { engine });
  await until(() => statesOf(a, jobId).join() === "0:rendered,1:rendering", "one rendered, one rendering");
  world.market.cancelJob(jobId);
  await until(() => statesOf(a, jobId).join() === "0:abandoned,1:abandoned", "both abandoned");
  assert.equal(world.market.calls.filter((c) => c.method === "commit").length, 0);
});

test("a cancelled job: committed replicas of partial segments are released with closeSegments", async () => {
  const { jobId } = await postJob(world, { tiles: 2, redundancy: 2 });
  const a = await startNode(world, PROVIDER_A);
  await until(() => statesOf(a, jobId).join() === "0:committed,1:committed", "committed, waiting for a second provider");
  world.market.cancelJob(jobId);
  await until(() => statesOf(a, jobId).join() === "0:released,1:released", "released");
  assert.equal(events("SegmentClosed").length, 2);
  assert.equal(world.market.freeStakeOf(PROVIDER_A), 1_000n * TOKEN);
});

// ---------------------------------------------------------------------------------------------
// Errors, keeper, cheaters.

test("RetryableErrors are retried with growing delays, not in a busy loop", async () => {
  const { jobId } = await postJob(world, { tiles: 1, redundancy: 1 });
  const attempts: number[] = [];
  world.market.failNext("claim", undefined, 4);
  world.market.failNext("blockNumber", undefined, 3);
  const a = await startNode(world, PROVIDER_A, {
    wrap: (market) => ({ ...market, claim: (id, n) => (attempts.push(Date.now()), market.claim(id, n)) }),
  });
  await until(() => statesOf(a, jobId).join() === "0:accepted", "accepted despite the errors");
  assert.equal(attempts.length, 5, "four failures, then success");
  const gaps = attempts.slice(1).map((t, i) => t - attempts[i]);
  // base 20 ms, doubling, jittered between half and all: at least 10, 20, 40, 80 ms
  gaps.forEach((gap, i) => assert.ok(gap >= 10 * 2 ** i - 2, `gap ${i} was ${gap} ms`));
  assert.equal(a.watcher.consecutiveErrors, 0, "the watcher recovered");
  // Idle, the loop ticks about once per polling interval (10 ms here), not faster.
  const before = a.worker.ticks;
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(a.worker.ticks - before <= 60, `${a.worker.ticks - before} ticks in 500 ms`);
});

test("keeper: expires another provider's missed lease when the fee beats the gas", async () => {
  const { jobId } = await postJob(world, { tiles: 1, redundancy: 2, lease: 60 });
  await world.market.portFor(PROVIDER_B).claim(jobId, 1); // B claims and vanishes
  const a = await startNode(world, PROVIDER_A);
  await until(() => statesOf(a, jobId).join() === "0:committed", "A committed");
  world.clock.advance(61);
  await until(() => events("ReplicaExpired").length === 1, "B's replica expired");
  const expired = events("ReplicaExpired")[0] as Extract<ReturnType<typeof events>[number], { eventName: "ReplicaExpired" }>;
  assert.equal(expired.args.keeper.toLowerCase(), PROVIDER_A);
  assert.equal(expired.args.provider.toLowerCase(), PROVIDER_B);
  await until(() => a.store.earnings().credited.KeeperFee === TOKEN / 5n, "keeper fee recorded (10% of 2 tokens)");
});

test("keeper race: when another keeper expired the slot first, the loser logs it at info, not as an error", async () => {
  const { jobId } = await postJob(world, { tiles: 1, redundancy: 2, lease: 60 });
  await world.market.portFor(PROVIDER_B).claim(jobId, 1); // B claims and vanishes
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  // C sends its expire just after keeper A's expire of the same slot landed: the real race.
  const wrap = (market: MarketPort): MarketPort => ({
    ...market,
    expire: async (id, slots) => {
      await world.market.portFor(PROVIDER_A).expire(id, slots);
      return market.expire(id, slots);
    },
  });
  const c = await startNode(world, PROVIDER_C, { wrap, logger: createLogger("info", sink) });
  await until(() => statesOf(c, jobId).join() === "0:committed", "C committed");
  world.clock.advance(61);
  await until(() => lines.some((l) => /another node was first/.test(l.msg)), "C saw it lost the race");
  const expired = events("ReplicaExpired");
  assert.equal(expired.length, 1);
  assert.equal((expired[0].args as { keeper: string }).keeper.toLowerCase(), PROVIDER_A);
  const race = lines.find((l) => /another node was first/.test(l.msg))!;
  assert.equal(race.level, 30, "info");
  assert.match(race.msg, /expire: another node was first \(JobMarketNotExpirable\)/);
  assert.deepEqual(lines.filter((l) => l.level >= 50).map((l) => l.msg), [], "no error line");
});

test("keeper: leaves a missed lease alone when gas would cost more than the fee", async () => {
  const { jobId } = await postJob(world, { tiles: 1, redundancy: 2, lease: 60, collateral: 10n ** 9n, reward: 10n ** 9n });
  await world.market.portFor(PROVIDER_B).claim(jobId, 1);
  const a = await startNode(world, PROVIDER_A);
  await until(() => statesOf(a, jobId).join() === "0:committed", "A committed");
  world.clock.advance(61);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(events("ReplicaExpired").length, 0);
});

test("a cheater (test-only corruptDigests) is out-voted by a tie-breaker and slashed", async () => {
  process.env.TESSELLATE_ALLOW_TEST_MODES = "1";
  try {
    const { jobId } = await postJob(world, { tiles: 1, redundancy: 2 });
    const a = await startNode(world, PROVIDER_A, { name: "a" });
    const b = await startNode(world, PROVIDER_B, { name: "b", config: { testing: { corruptDigests: true } } });
    await until(() => events("TieBreakerOpened").length === 1, "no quorum: a tie-breaker slot opens");
    const c = await startNode(world, PROVIDER_C, { name: "c" });
    await until(() => events("SegmentAccepted").length === 1, "accepted after the tie-breaker");
    await until(() => statesOf(a, jobId).join() === "0:accepted" && statesOf(c, jobId).join() === "0:accepted" && statesOf(b, jobId).join() === "0:rejected", "verdicts recorded");
    assert.equal(b.store.earnings().slashed, 2n * TOKEN);
    await until(() => c.store.earnings().credited.TieBreakerReward === TOKEN, "tie-breaker paid");
    // The tie-breaker took its slot after both digests were public: it revealed link 1 of the
    // digest chain, which hashes to A's link 0 (blind rounds: a copy of A's digest would not have).
    assert.equal(events("BlindRoundOpened").length, 1);
    const digestOf = (node: typeof a) => node.store.listReplicas({ jobId })[0]!.digest!;
    assert.notEqual(digestOf(c), digestOf(a));
    assert.equal(linkZero(digestOf(c), 1), digestOf(a));
    // Only the accepted replicas' results reach IPFS; the cheater's never does.
    await until(() => [a, c].every((node) => node.store.listReplicas({ jobId })[0]!.published), "accepted results published");
    const cheat = b.store.listReplicas({ jobId })[0]!;
    assert.equal(cheat.published, false);
    assert.equal(world.storage.has(`${cheat.resultCid}/frame-000001.png`), false);
  } finally {
    delete process.env.TESSELLATE_ALLOW_TEST_MODES;
  }
});

test("a direct reveal the contract refuses falls back to commit-then-reveal", async () => {
  const { jobId } = await postJob(world, { tiles: 1, redundancy: 2 });
  const a = await startNode(world, PROVIDER_A, { name: "a" });
  await until(() => statesOf(a, jobId).join() === "0:committed", "A committed");
  let refused = 0;
  const b = await startNode(world, PROVIDER_B, {
    name: "b",
    wrap: (market) => ({
      ...market,
      reveal: async (id, reveals) => {
        if (refused === 0) {
          refused++;
          throw new ContractRevertError("reveal", { name: "JobMarketWrongReplicaState", args: [1n, 0, 1, 1] });
        }
        return market.reveal(id, reveals);
      },
    }),
  });
  await until(() => statesOf(a, jobId).join() === "0:accepted" && statesOf(b, jobId).join() === "0:accepted", "accepted");
  assert.equal(refused, 1);
  assert.equal(world.market.calls.filter((c) => c.method === "commit" && c.from === PROVIDER_B).length, 1, "B committed after the refusal");
});

test("the watcher may poll slowly only while every held replica is rendering and no render slot is free", async () => {
  const { jobId } = await postJob(world, { tiles: 2 });
  // Segment 1 never finishes; with one render slot, segment 0 renders first, then segment 1 blocks.
  const a = await startNode(world, PROVIDER_A, { name: "a", engine: createFakeEngine({ hold: (r) => r.rect.x > 0 }), config: { limits: { maxConcurrentSegments: 1 } } });
  assert.equal(a.worker.onlyRendering(), false, "nothing held yet");
  await until(() => statesOf(a, jobId).includes("1:rendering") && !statesOf(a, jobId).some((s) => s.startsWith("0:") && ["claimed", "rendering", "rendered"].includes(s.slice(2))), "segment 1 rendering, segment 0 sealed");
  const seg0 = statesOf(a, jobId).find((s) => s.startsWith("0:"))!;
  // Segment 0 waits for the chain (accepted: nothing held; committed: it would still need events).
  assert.equal(a.worker.onlyRendering(), seg0 === "0:accepted", `segment 0 is ${seg0}`);
});
