/**
 * Claimed tiles of one job rendered in one engine call (worker/tileGroup.ts): launches counted with
 * a fake engine and with the real POV-Ray, each tile still its own digest, commit and reveal; a
 * failing group falls back to one render per tile; aborts reach every member; one render slot
 * holds up to limits.tilesPerRender tiles of a job, as many as its lease leaves room for.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { encodeManifest, parseManifest, segmentAt, segmentCount, type Manifest } from "@tessellate/sdk";
import { FatalError } from "@tessellate/sdk/errors";
import { AbandonReason } from "@tessellate/sdk/protocol";
import { createPovrayEngine } from "../engines/povray/index.ts";
import { fixturePath, testLimits } from "../engines/fixtures/engineTesting.ts";
import { createLogger } from "../logger.ts";
import { runSandboxed } from "../sandbox/sandbox.ts";
import { EngineError } from "../sandbox/engineError.ts";
import { createFakeEngine } from "../testing/fakeEngine.ts";
import { PROVIDER_A, PROVIDER_B, REQUESTER, TOKEN, createWorld, postJob, startNode, statesOf, until, type World } from "../testing/harness.ts";
import { renderSegment, type RenderSegmentInput } from "./renderSegment.ts";
import { TileGroup } from "./tileGroup.ts";

let world: World;
beforeEach(async () => {
  world = await createWorld();
});
afterEach(() => world.cleanup());

const events = (name: string) => world.market.allEvents().filter((e) => e.eventName === name);
const digestsOf = (node: Awaited<ReturnType<typeof startNode>>, jobId: bigint) =>
  node.store
    .listReplicas({ jobId })
    .sort((a, b) => a.segment - b.segment)
    .map((row) => row.digest);

test("four tiles held are one engine launch; each tile is committed and revealed with the digest of rendering it alone", async () => {
  const { jobId } = await postJob(world, { tiles: 4, redundancy: 2 });
  const together = createFakeEngine({ tiles: true });
  const a = await startNode(world, PROVIDER_A, { engine: together, name: "a" });
  await until(() => statesOf(a, jobId).join() === "0:committed,1:committed,2:committed,3:committed", "A committed its four tiles");
  assert.equal(together.tileRequests.length, 1, "one launch for the four tiles");
  assert.equal(together.tileRequests[0]!.tiles.length, 4);
  assert.equal(together.tileRequests[0]!.limits.threads, 4, "the threads of the four renders it replaces");
  assert.equal(together.requests.length, 0, "no tile rendered on its own");
  const alone = createFakeEngine();
  const b = await startNode(world, PROVIDER_B, { engine: alone, name: "b" });
  await until(() => events("SegmentAccepted").length === 4, "every segment accepted: the digests agree");
  assert.equal(alone.requests.length, 4, "B renders tile by tile");
  assert.deepEqual(digestsOf(a, jobId), digestsOf(b, jobId));
  assert.equal(new Set(digestsOf(a, jobId)).size, 4, "four different tiles");
});

test("when the group's render fails, every tile renders on its own and only the bad one is given back, with its own error", async () => {
  const { jobId } = await postJob(world, { tiles: 4, redundancy: 1 });
  const engine = createFakeEngine({
    tiles: true,
    fail: (r) => (r.rect.x === 4 ? new EngineError("ENGINE_FAILED", "Parse Error: tile 1 is broken", { exitCode: 1, signal: null, lastLines: [] }) : undefined),
  });
  const a = await startNode(world, PROVIDER_A, { engine });
  await until(() => statesOf(a, jobId).join() === "0:accepted,1:abandoned,2:accepted,3:accepted", "three accepted, the bad tile given back");
  assert.equal(engine.tileRequests.length, 1);
  assert.deepEqual(engine.requests.map((r) => r.rect.x).sort((x, y) => x - y), [0, 4, 8, 12], "then each tile alone");
  const abandoned = events("ReplicaAbandoned");
  assert.equal(abandoned.length, 1);
  assert.equal((abandoned[0]!.args as { reason: number }).reason, AbandonReason.SceneFault);
  assert.match((abandoned[0]!.args as { detail: string }).detail, /^cannot render: Parse Error: tile 1 is broken/);
});

test("a lease running out during the group's render stops it and gives every tile back, none rendered again", async () => {
  const { jobId } = await postJob(world, { tiles: 3, redundancy: 1, lease: 60 });
  const engine = createFakeEngine({ tiles: true });
  engine.close();
  const a = await startNode(world, PROVIDER_A, { engine });
  await until(() => statesOf(a, jobId).join() === "0:rendering,1:rendering,2:rendering" && engine.tileRequests.length === 1, "rendering together");
  const leaseEnd = a.store.listReplicas({ jobId })[0]!.leaseEnd;
  world.clock.advance(leaseEnd - Number(world.market.now()) - 4); // inside the 5 s commit margin
  await until(() => statesOf(a, jobId).join() === "0:abandoned,1:abandoned,2:abandoned", "every tile given back by its lease watchdog");
  assert.equal(engine.tileRequests.length, 1);
  assert.equal(engine.requests.length, 0, "an aborted tile is not rendered on its own");
  for (const row of a.store.listReplicas({ jobId })) assert.match(row.lastError ?? "", /lease ends/);
});

// ---------------------------------------------------------------------------------------------
// One render slot holding several tiles (limits.tilesPerRender).

const claimCounts = (from: string) => world.market.calls.filter((c) => c.method === "claim" && c.from === from).map((c) => c.args[1]);

test("a node with one render slot claims the four tiles of a job at once and renders them in one engine launch, with that slot's threads", async () => {
  const { jobId } = await postJob(world, { tiles: 4, redundancy: 1 });
  const engine = createFakeEngine({ tiles: true });
  const a = await startNode(world, PROVIDER_A, { engine, config: { limits: { maxConcurrentSegments: 1, cpuThreads: 2 } } });
  await until(() => events("SegmentAccepted").length === 4, "every segment accepted");
  assert.deepEqual(claimCounts(PROVIDER_A), [4], "one claim of four tiles: the slot holds limits.tilesPerRender (4 by default)");
  assert.equal(engine.tileRequests.length, 1, "one launch for the four tiles");
  assert.equal(engine.tileRequests[0]!.tiles.length, 4);
  assert.equal(engine.tileRequests[0]!.limits.threads, 2, "the one slot's threads, not four slots'");
  assert.equal(engine.requests.length, 0, "no tile rendered on its own");
  assert.equal(new Set(digestsOf(a, jobId)).size, 4, "four different tiles, each with its own digest");
});

test("with tilesPerRender 1 a node with one render slot claims and renders tile by tile", async () => {
  await postJob(world, { tiles: 4, redundancy: 1 });
  const engine = createFakeEngine({ tiles: true });
  await startNode(world, PROVIDER_A, { engine, config: { limits: { maxConcurrentSegments: 1, tilesPerRender: 1 } } });
  await until(() => events("SegmentAccepted").length === 4, "every segment accepted");
  assert.deepEqual(claimCounts(PROVIDER_A), [1, 1, 1, 1]);
  assert.equal(engine.tileRequests.length, 0);
  assert.equal(engine.requests.length, 4);
});

// Tiles per slot from the estimate (render.ts tilesPerSlot): the fewest tiles whose render makes
// one launch at most LAUNCH_SHARE (a twentieth) of the group's, between limits.tilesPerRender and
// limits.maxTilesPerRender. The harness's fake tiles (4x4 pixels, 1 sample) are estimated at
// 16 ÷ (benchmarkScore × 1000) s each.

test("a job of cheap tiles under an engine whose launch dominates is claimed and rendered in one launch of up to maxTilesPerRender (16) tiles", async () => {
  // benchmark score 1000: 16 µs per tile, far below a 0.5 s launch: the cap.
  await postJob(world, { tiles: 20, redundancy: 1 });
  const engine = createFakeEngine({ tiles: true, launchSeconds: 0.5 });
  await startNode(world, PROVIDER_A, { engine, config: { limits: { maxConcurrentSegments: 1 } } });
  await until(() => events("SegmentAccepted").length === 20, "every segment accepted");
  assert.deepEqual(claimCounts(PROVIDER_A), [16, 4], "the slot takes 16 tiles, then the 4 left");
  assert.deepEqual(engine.tileRequests.map((r) => r.tiles.length), [16, 4], "two launches for 20 tiles, not five of four");
  assert.equal(engine.requests.length, 0, "no tile rendered on its own");
});

test("tiles estimated at 1 s under a 0.4 s launch are held 14 per slot: the fewest whose render makes a launch at most a twentieth", async () => {
  // benchmark score 0.016: 1 s per tile, 0.6 s of it the tile's own: ceil(0.4 / (0.05 × 0.6)) = 14.
  await postJob(world, { tiles: 20, redundancy: 1 });
  const engine = createFakeEngine({ tiles: true, launchSeconds: 0.4 });
  engine.close(); // nothing finishes, so no measured render moves the estimate
  await startNode(world, PROVIDER_A, { engine, config: { benchmarkScore: 0.016, limits: { maxConcurrentSegments: 1 } } });
  await until(() => engine.tileRequests.length === 1, "the first launch");
  assert.deepEqual(claimCounts(PROVIDER_A), [14]);
  assert.equal(engine.tileRequests[0]!.tiles.length, 14);
  engine.open();
  await until(() => events("SegmentAccepted").length === 20, "every segment accepted");
});

test("a job of expensive tiles keeps groups at limits.tilesPerRender: a launch is already a small part of one tile's render", async () => {
  // benchmark score 0.0016: 10 s per tile against a 0.5 s launch: ceil(0.5 / (0.05 × 9.5)) = 2, so the floor of 4
  // (the 600 s lease has room for 29).
  await postJob(world, { tiles: 20, redundancy: 1 });
  const engine = createFakeEngine({ tiles: true, launchSeconds: 0.5 });
  engine.close();
  await startNode(world, PROVIDER_A, { engine, config: { benchmarkScore: 0.0016, limits: { maxConcurrentSegments: 1 } } });
  await until(() => engine.tileRequests.length === 1, "the first launch");
  assert.deepEqual(claimCounts(PROVIDER_A), [4], "four tiles claimed, not 16");
  assert.equal(engine.tileRequests[0]!.tiles.length, 4);
  engine.open();
  await until(() => events("SegmentAccepted").length === 20, "every segment accepted");
});

test("a launch measured in one warm-up render, not its wall time as a tile's, makes the next job's 16 cheap tiles one launch", { timeout: 20_000 }, async () => {
  // A "blender" engine whose every launch takes 400 ms although its constant says 0.1 s (a busy
  // machine): the warm-up tile's 0.4 s, taken as the tile's estimate (0.4 s, of which 0.3 s its
  // own), would hold ceil(0.1 / (0.05 × 0.3)) = 7 tiles per slot. Learned from the call (launch ≈
  // 0.4 s, pixels 4 × the benchmark's 0.13 ms), a tile's own pixels are ~0.5 ms: the cap, 16.
  const engine = createFakeEngine({ name: "blender", tiles: true, tileFrames: true, launchSeconds: 0.1, launchMs: 400 });
  const node = await startNode(world, PROVIDER_A, { engine, config: { engines: ["blender"], limits: { maxConcurrentSegments: 1 } } });
  const warmUp = await postJob(world, { tiles: 1, redundancy: 1, engine: "blender" });
  await until(() => events("SegmentAccepted").length === 1, "the warm-up tile accepted");
  assert.equal(engine.requests.length, 1, "the warm-up: one launch");
  const calls = JSON.parse(node.store.getMeta("engineLaunchCalls") ?? "{}");
  assert.equal(calls["blender@1.0.0"]?.length, 1, "the node recorded the warm-up's engine call");
  const { jobId } = await postJob(world, { tiles: 16, redundancy: 1, engine: "blender" });
  await until(() => events("SegmentAccepted").length === 17, "every tile of the job accepted");
  assert.deepEqual(claimCounts(PROVIDER_A).slice(1), [16], "one claim of all 16 tiles");
  assert.deepEqual(engine.tileRequests.map((r) => r.tiles.length), [16], "one launch for the 16 tiles");
  assert.ok(jobId > warmUp.jobId);
  const after = JSON.parse(node.store.getMeta("engineLaunchCalls") ?? "{}");
  assert.equal(after["blender@1.0.0"]?.length, 2, "the group's call recorded once, not once per tile");
});

test("limits.maxTilesPerRender caps the tiles a slot holds of a cheap job", async () => {
  // 16 µs per tile against a 0.5 s launch would take 16; the cap is 6.
  await postJob(world, { tiles: 8, redundancy: 1 });
  const engine = createFakeEngine({ tiles: true, launchSeconds: 0.5 });
  engine.close();
  await startNode(world, PROVIDER_A, { engine, config: { limits: { maxConcurrentSegments: 1, maxTilesPerRender: 6 } } });
  await until(() => engine.tileRequests.length === 1, "the first launch");
  assert.deepEqual(claimCounts(PROVIDER_A), [6]);
  assert.equal(engine.tileRequests[0]!.tiles.length, 6);
  engine.open();
  await until(() => events("SegmentAccepted").length === 8, "every segment accepted");
});

test("a launch that dominates still holds no more tiles than the lease leaves room for", async () => {
  // 1 s per tile (score 0.016) under a 2 s launch: the cap (16) is wanted, but a 25 s lease less
  // the 5 s commit margin holds floor(20 / (1 s × 2)) = 10 renders one after the other.
  await postJob(world, { tiles: 16, redundancy: 1, lease: 25 });
  const engine = createFakeEngine({ tiles: true, launchSeconds: 2 });
  engine.close();
  await startNode(world, PROVIDER_A, { engine, config: { benchmarkScore: 0.016, limits: { maxConcurrentSegments: 1 } } });
  await until(() => engine.tileRequests.length === 1, "the first launch");
  assert.deepEqual(claimCounts(PROVIDER_A), [10]);
  assert.equal(engine.tileRequests[0]!.tiles.length, 10);
  engine.open();
  await until(() => events("SegmentAccepted").length === 16, "every segment accepted");
});

test("a slot holds only as many tiles as the lease leaves room for, their estimated renders one after the other", async () => {
  // 4x4-pixel tiles at benchmark score 0.001: an estimated 16 s each, × 2 (safety factor) = 32 s;
  // a 80 s lease less the 5 s commit margin has room for two.
  await postJob(world, { tiles: 4, redundancy: 1, lease: 80 });
  const engine = createFakeEngine({ tiles: true });
  engine.close();
  await startNode(world, PROVIDER_A, { engine, config: { benchmarkScore: 0.001, limits: { maxConcurrentSegments: 1 } } });
  await until(() => engine.tileRequests.length === 1, "the first launch");
  assert.deepEqual(claimCounts(PROVIDER_A), [2], "two tiles claimed, not four");
  assert.equal(engine.tileRequests[0]!.tiles.length, 2);
  engine.open();
  await until(() => events("SegmentAccepted").length === 4, "every segment accepted");
});

/** A job of 2 tiles × frames 1–2, one frame per segment: segments 0–1 are frame 1, 2–3 frame 2. */
async function postTwoFrameJob(redundancy = 1): Promise<bigint> {
  const sceneBytes = new TextEncoder().encode(JSON.stringify({ version: 1, note: "fake scene" }));
  const sceneCid = await world.storage.addEntries({ "scene.json": sceneBytes });
  const job: Manifest = parseManifest({
    version: 1,
    engine: { name: "builtin", version: "1.0.0" },
    scene: { cid: sceneCid, entry: "scene.json", sizeBytes: sceneBytes.length },
    output: { width: 8, height: 4, format: "png" },
    frames: { start: 1, end: 2 },
    settings: { samples: 1, seed: 1, maxBounces: 0 },
    segmentation: { tilesX: 2, tilesY: 1, framesPerSegment: 1 },
    verification: { mode: "exact" },
  });
  return createJobOf(job, redundancy);
}

/** Posts `job` on the fake market (quorum = redundancy, 600 s lease, 300 s reveal window, one day). */
async function createJobOf(job: Manifest, redundancy: number): Promise<bigint> {
  const manifestCid = await world.storage.addBytes(encodeManifest(job));
  return world.market.createJob(REQUESTER, {
    manifestCid,
    segmentCount: segmentCount(job),
    redundancy,
    quorum: redundancy,
    rewardPerReplica: TOKEN,
    collateralPerReplica: 2n * TOKEN,
    leaseDuration: 600,
    revealWindow: 300,
    deadline: world.market.now() + 86_400n,
    minReputation: 0,
    maxFeeBps: 1_000,
  });
}

test("a slot holding tiles of two frame ranges renders each range in one launch, one after the other; while one renders the watcher may poll slowly", async () => {
  const jobId = await postTwoFrameJob();
  const engine = createFakeEngine({ tiles: true });
  engine.close();
  const a = await startNode(world, PROVIDER_A, { engine, config: { limits: { maxConcurrentSegments: 1 } } });
  await until(() => engine.tileRequests.length === 1 && statesOf(a, jobId).filter((s) => s.endsWith(":claimed")).length === 2, "one range rendering, the other two tiles waiting");
  assert.deepEqual(claimCounts(PROVIDER_A), [4], "the slot holds all four tiles");
  assert.equal(engine.tileRequests[0]!.tiles.length, 2);
  assert.equal(a.worker.onlyRendering(), true, "the waiting tiles wait for the render's end, not for a tick or an event");
  engine.open();
  await until(() => events("SegmentAccepted").length === 4, "every segment accepted");
  assert.equal(engine.tileRequests.length, 2, "one launch per frame range");
  assert.ok(engine.tileRequests.every((r) => r.first === r.last && r.tiles.length === 2));
  assert.notEqual(engine.tileRequests[0]!.first, engine.tileRequests[1]!.first);
  assert.equal(engine.requests.length, 0);
});

test("an engine that renders each tile's own frames (Blender) gets the slot's tiles of two frame ranges in one launch, with the digests of rendering each alone", async () => {
  const jobId = await postTwoFrameJob(2);
  const engine = createFakeEngine({ tiles: true, tileFrames: true });
  const a = await startNode(world, PROVIDER_A, { engine, name: "a", config: { limits: { maxConcurrentSegments: 1 } } });
  await until(() => statesOf(a, jobId).every((s) => s.endsWith(":committed")) && statesOf(a, jobId).length === 4, "A committed its four tiles");
  assert.deepEqual(claimCounts(PROVIDER_A), [4]);
  assert.equal(engine.tileRequests.length, 1, "one launch for both frame ranges");
  const [launch] = engine.tileRequests;
  assert.deepEqual([launch!.first, launch!.last], [1, 2]);
  assert.deepEqual(launch!.tiles.map((t) => `${t.rect.x}:${t.first}-${t.last}`).sort(), ["0:1-1", "0:2-2", "4:1-1", "4:2-2"], "each tile with its own frame");
  assert.equal(engine.requests.length, 0);
  const alone = createFakeEngine();
  const b = await startNode(world, PROVIDER_B, { engine: alone, name: "b" });
  await until(() => events("SegmentAccepted").length === 4, "every segment accepted at quorum 2: the digests agree");
  assert.equal(alone.requests.length, 4, "B renders tile by tile");
  assert.deepEqual(digestsOf(a, jobId), digestsOf(b, jobId));
  assert.equal(new Set(digestsOf(a, jobId)).size, 4);
});

// ---------------------------------------------------------------------------------------------
// TileGroup on its own: members arriving, leaving and aborting.

const manifest = parseManifest({
  version: 1,
  engine: { name: "builtin", version: "1.0.0" },
  scene: { cid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", entry: "scene.json", sizeBytes: 20 },
  output: { width: 12, height: 4, format: "png" },
  frames: { start: 1, end: 2 },
  settings: { samples: 1, seed: 1, maxBounces: 0 },
  segmentation: { tilesX: 3, tilesY: 1, framesPerSegment: 2 },
  verification: { mode: "exact" },
});
const silent = createLogger("silent");

async function inputs(engine: ReturnType<typeof createFakeEngine>, dir: string) {
  return [0, 1, 2].map((index) => {
    const controller = new AbortController();
    const progress: number[] = [];
    const input: RenderSegmentInput = { engine, manifest, segment: segmentAt(manifest, index), sceneDir: dir, outDir: join(dir, `out-${index}`), limits: testLimits, signal: controller.signal, onProgress: (f) => progress.push(f) };
    return { input, controller, progress };
  });
}

test("a member aborted during the group's render is rejected with its reason; the others render alone", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-tilegroup-"));
  try {
    const engine = createFakeEngine({ tiles: true });
    engine.close();
    const members = await inputs(engine, dir);
    const aloneCalls: number[] = [];
    const group = new TileGroup([10, 11, 12], silent, (input) => (aloneCalls.push(input.segment.index), renderSegment(input)));
    const results = members.map((m, i) => group.member(10 + i).render(m.input));
    await until(() => engine.tileRequests.length === 1, "the group's render started");
    members[1]!.controller.abort(new Error("segment 1 settled on-chain"));
    engine.open();
    const settled = await Promise.allSettled(results);
    assert.equal(settled[1]!.status, "rejected");
    assert.match(String((settled[1] as PromiseRejectedResult).reason), /segment 1 settled on-chain/);
    assert.deepEqual(aloneCalls, [0, 2]);
    for (const k of [0, 2]) {
      assert.equal(settled[k]!.status, "fulfilled");
      const direct = await renderSegment({ ...members[k]!.input, engine: createFakeEngine(), outDir: join(dir, `direct-${k}`), signal: undefined });
      assert.equal((settled[k] as PromiseFulfilledResult<{ digest: string }>).value.digest, direct.digest);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the group waits for every member, renders without those that left or were aborted waiting, and reports progress to each", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-tilegroup-"));
  try {
    const engine = createFakeEngine({ tiles: true });
    const members = await inputs(engine, dir);
    const group = new TileGroup([10, 11, 12, 13], silent);
    const first = group.member(10).render(members[0]!.input);
    members[1]!.controller.abort(new Error("lease"));
    const second = group.member(11).render(members[1]!.input);
    await assert.rejects(second, /lease/);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(engine.tileRequests.length, 0, "member 12 has not arrived yet");
    group.member(13).leave(); // its render ended before it got this far
    const third = group.member(12).render(members[2]!.input);
    const [a, c] = await Promise.all([first, third]);
    assert.equal(engine.tileRequests.length, 1);
    assert.deepEqual(engine.tileRequests[0]!.tiles.map((t) => t.rect.x), [0, 8]);
    assert.notEqual(a.digest, c.digest);
    for (const k of [0, 2]) {
      const progress = members[k]!.progress;
      assert.ok(progress.length > 2 && progress.at(-1) === 1, `member ${k}: ${progress.join(", ")}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a group in one render slot that fails renders its members alone one at a time, in that slot's threads", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tessellate-tilegroup-"));
  try {
    const engine = createFakeEngine({ tiles: true, fail: () => new EngineError("ENGINE_FAILED", "broken", { exitCode: 1, signal: null, lastLines: [] }) });
    const members = await inputs(engine, dir);
    let running = 0;
    let most = 0;
    const alone = async (input: RenderSegmentInput) => {
      most = Math.max(most, ++running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return { digest: `0x${String(input.segment.index).padStart(64, "0")}` as `0x${string}`, files: [], seconds: 0 };
    };
    const group = new TileGroup([10, 11, 12], silent, alone, testLimits.threads);
    const results = await Promise.all(members.map((m, i) => group.member(10 + i).render(m.input)));
    assert.equal(engine.tileRequests.length, 1);
    assert.equal(engine.tileRequests[0]!.limits.threads, testLimits.threads, "the group renders with the slot's threads");
    assert.deepEqual(results.map((r) => r.digest.slice(-1)), ["0", "1", "2"]);
    assert.equal(most, 1, "one member at a time: the slot's threads are one render's");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// The real engine: POV-Ray in its sandbox.

test("with POV-Ray, a provider holding the four tiles of a job renders them in one run, with the digests of a provider rendering tile by tile", { timeout: 90_000 }, async () => {
  let launchesA = 0;
  let launchesB = 0;
  const together = createPovrayEngine({ runner: (run) => (launchesA++, runSandboxed(run)) });
  const info = await together.detect();
  assert.ok(info, "POV-Ray is installed (Debian package povray)");
  const alone = { ...createPovrayEngine({ runner: (run) => (launchesB++, runSandboxed(run)) }), renderTiles: undefined };
  const sceneCid = await world.storage.addFolder(fixturePath("povray", "scene"));
  const job: Manifest = parseManifest({
    version: 1,
    engine: info,
    scene: { cid: sceneCid, entry: "scene.pov", sizeBytes: 200 },
    output: { width: 48, height: 32, format: "png" },
    frames: { start: 1, end: 2 },
    settings: { antialias: false, initialClock: 0, finalClock: 1, quality: 9 },
    segmentation: { tilesX: 2, tilesY: 2, framesPerSegment: 2 },
    verification: { mode: "exact" },
  });
  const jobId = await createJobOf(job, 2);
  const config = { engines: ["povray"], limits: { maxConcurrentSegments: 4 } };
  const a = await startNode(world, PROVIDER_A, { engine: together, name: "a", config });
  await until(() => a.store.listReplicas({ jobId }).length === 4, "A holds the four tiles");
  const b = await startNode(world, PROVIDER_B, { engine: alone, name: "b", config });
  await until(() => events("SegmentAccepted").length === 4, "all four segments accepted at quorum 2", 80_000);
  assert.equal(launchesA, 1, "A: one POV-Ray run for the four tiles (frames 1–2)");
  assert.equal(launchesB, 4, "B: one POV-Ray run per tile");
  assert.deepEqual(digestsOf(a, jobId), digestsOf(b, jobId));
  assert.equal(new Set(digestsOf(a, jobId)).size, 4);
});
