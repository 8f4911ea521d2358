/**
 * Jobs whose scene cannot be rendered are claimed at most once, and jobs whose scene cannot be
 * fetched never: an endless POV-Ray scene (the real engine in its sandbox) that runs into the lease
 * margin is given back and the job skipped (re-tried at most once, and only after a measured change:
 * jobs/renderSpeed.ts DeferredJobs), instead of being claimed, burnt and abandoned again every half
 * minute until its deadline.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { afterEach, beforeEach, test } from "node:test";
import { encodeManifest, parseManifest, segmentCount, type Manifest } from "@tessellate/sdk";
import { createPovrayEngine } from "../engines/povray/index.ts";
import { PROVIDER_A, REQUESTER, TOKEN, createWorld, startNode, statesOf, until, type World } from "../testing/harness.ts";

const ENDLESS = join(import.meta.dirname, "../engines/fixtures/povray/endless");
const MISSING_CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";

let world: World;
beforeEach(async () => {
  world = await createWorld();
});
afterEach(() => world.cleanup());

const claimsOf = (who: string, jobId: bigint) => world.market.calls.filter((c) => c.method === "claim" && c.from === who && c.args[0] === jobId).length;

async function post(manifest: Manifest, lease: number): Promise<bigint> {
  const manifestCid = await world.storage.addBytes(encodeManifest(manifest));
  return world.market.createJob(REQUESTER, {
    manifestCid,
    segmentCount: segmentCount(manifest),
    redundancy: 1,
    quorum: 1,
    rewardPerReplica: TOKEN,
    collateralPerReplica: 2n * TOKEN,
    leaseDuration: lease,
    revealWindow: 300,
    deadline: world.market.now() + 86_400n,
    minReputation: 0,
    maxFeeBps: 1_000,
  });
}

function manifestOf(engine: { name: string; version: string }, scene: { cid: string; entry: string }, settings: Record<string, unknown>): Manifest {
  return parseManifest({
    version: 1,
    engine,
    scene: { ...scene, sizeBytes: 200 },
    output: { width: 16, height: 12, format: "png" },
    frames: { start: 1, end: 1 },
    settings,
    segmentation: { tilesX: 1, tilesY: 1, framesPerSegment: 1 },
    verification: { mode: "exact" },
  });
}

test("an endless POV-Ray scene is claimed once: the lease runs into its margin, the slot is given back, the job skipped until something measured changes", { timeout: 90_000 }, async () => {
  const povray = createPovrayEngine();
  const info = await povray.detect();
  assert.ok(info, "POV-Ray is installed (Debian package povray)");
  const sceneCid = await world.storage.addFolder(ENDLESS);
  const lease = 12;
  const jobId = await post(manifestOf(info, { cid: sceneCid, entry: "scene.pov" }, { antialias: false, initialClock: 0, finalClock: 0, quality: 9 }), lease);
  // An idle machine: the overrun is not the load's doing.
  const a = await startNode(world, PROVIDER_A, { engine: povray, loadPerCore: () => 0.2, config: { engines: ["povray"], limits: { commitMarginSeconds: 3, renderTimeSafetyFactor: 1 } } });

  await until(() => statesOf(a, jobId).join() === "0:abandoned", "the endless render given back before its lease ends", lease * 1000 + 15_000);
  const job = a.store.getJob(jobId)!;
  assert.equal(job.decision, "skipped");
  // One overrun is one measurement: a single re-trial stays possible, but only once something
  // measured changes (renders 25 % faster, or the load at the overrun fell), and the reason says so.
  assert.equal(job.final, false);
  assert.match(job.reason!, /a render of segment 0 ran \d+ s without finishing inside the lease of 12 s \(measured at load 0\.2 per core, speed factor 1; re-tried \(1 of 1 re-trials left\) once the speed factor from other renders falls to 0\.75 or below \(25 % faster\)\)$/);
  // Before, the node claimed the reopened slot again at once. Past the give-back cooldown (lease
  // end + one lease) and a lease after the overrun, an idle node with an unchanged speed still does not.
  await new Promise((r) => setTimeout(r, 2 * lease * 1000));
  assert.equal(claimsOf(PROVIDER_A, jobId), 1, "claimed once");
  assert.deepEqual(statesOf(a, jobId), ["0:abandoned"]);
  assert.equal(world.market.allEvents().filter((e) => e.eventName === "ReplicaExpired").length, 0, "never left to expire");
});

test("an endless scene that overran its lease under load is re-tried once after the load falls, then skipped for good", { timeout: 120_000 }, async () => {
  const povray = createPovrayEngine();
  const info = await povray.detect();
  assert.ok(info, "POV-Ray is installed (Debian package povray)");
  const sceneCid = await world.storage.addFolder(ENDLESS);
  const lease = 12;
  const jobId = await post(manifestOf(info, { cid: sceneCid, entry: "scene.pov" }, { antialias: false, initialClock: 0, finalClock: 0, quality: 9 }), lease);
  let load = 5; // load average 10 on 2 cores, as when the end-to-end test skipped a job for good
  const a = await startNode(world, PROVIDER_A, { engine: povray, loadPerCore: () => load, config: { engines: ["povray"], limits: { commitMarginSeconds: 3, renderTimeSafetyFactor: 1 } } });

  await until(() => statesOf(a, jobId).join() === "0:abandoned", "the first render given back", lease * 1000 + 15_000);
  let job = a.store.getJob(jobId)!;
  assert.equal(job.final, false);
  assert.match(job.reason!, /measured at load 5 per core, speed factor 1; re-tried \(1 of 1 re-trials left\) once .* or the load falls below 1\.5 per core \(or by a quarter\)\)$/);
  await new Promise((r) => setTimeout(r, 2_000));
  assert.equal(claimsOf(PROVIDER_A, jobId), 1, "still loaded: no re-trial");
  load = 0.3;
  await until(() => claimsOf(PROVIDER_A, jobId) === 2, "one re-trial once the load fell (after the cooldown)", 3 * lease * 1000);
  await until(() => a.store.getJob(jobId)!.final, "the re-trial overran too: the skip is final", 2 * lease * 1000);
  job = a.store.getJob(jobId)!;
  assert.match(job.reason!, /measured at load 0\.3 per core, speed factor 1; no re-trial left \(1 of 1 made\)\)$/);
  load = 0;
  await new Promise((r) => setTimeout(r, 2 * lease * 1000));
  assert.equal(claimsOf(PROVIDER_A, jobId), 2, "never more than one re-trial");
  assert.equal(world.market.allEvents().filter((e) => e.eventName === "ReplicaExpired").length, 0, "never left to expire");
});

test("a scene that runs out of the memory limit says so, in the log, the abandon and the skip", { timeout: 90_000 }, async () => {
  const povray = createPovrayEngine();
  const info = await povray.detect();
  assert.ok(info, "POV-Ray is installed");
  // Parsing fills an array of 50 million vectors: far more than the 256 MiB the engine may use.
  const scene = `#version 3.7;\n#declare N = 50000000;\n#declare A = array[N];\n#declare I = 0;\n#while (I < N)\n  #declare A[I] = <I, I, I>;\n  #declare I = I + 1;\n#end\ncamera { location <0,0,-5> look_at <0,0,0> }\nsphere { <0,0,0>, 1 pigment { rgb 1 } }\n`;
  const sceneCid = await world.storage.addEntries({ "scene.pov": new TextEncoder().encode(scene) });
  const jobId = await post(manifestOf(info, { cid: sceneCid, entry: "scene.pov" }, { antialias: false, initialClock: 0, finalClock: 0, quality: 9 }), 120);
  const a = await startNode(world, PROVIDER_A, { engine: povray, config: { engines: ["povray"], limits: { memoryBytes: 256 * 1024 * 1024 } } });
  await until(() => statesOf(a, jobId).join() === "0:abandoned", "given back", 60_000);
  const row = a.store.listReplicas({ jobId })[0];
  assert.match(row.lastError!, /ran out of the 0\.25 GiB memory limit \(limits\.memoryBytes/);
  assert.match(a.store.getJob(jobId)!.reason!, /ran out of the 0\.25 GiB memory limit/);
});

test("a scene posted without its include file is given back with POV-Ray's cause, not 'Render failed'", { timeout: 90_000 }, async () => {
  const povray = createPovrayEngine();
  const info = await povray.detect();
  assert.ok(info, "POV-Ray is installed");
  // Posted as a single file: the drums.inc next to it on the requester's disk was left behind.
  const scene = `#version 3.7;\n#include "drums.inc"\ncamera { location <0,0,-5> look_at <0,0,0> }\nobject { Drums }\n`;
  const sceneCid = await world.storage.addEntries({ "drums.pov": new TextEncoder().encode(scene) });
  const jobId = await post(manifestOf(info, { cid: sceneCid, entry: "drums.pov" }, { antialias: false, initialClock: 0, finalClock: 0, quality: 9 }), 120);
  const a = await startNode(world, PROVIDER_A, { engine: povray, config: { engines: ["povray"] } });
  await until(() => statesOf(a, jobId).join() === "0:abandoned", "given back", 60_000);
  const row = a.store.listReplicas({ jobId })[0];
  assert.match(row.lastError!, /Parse Error: Cannot open include file drums\.inc/);
  assert.doesNotMatch(row.lastError!, /Render failed/);
  assert.match(a.store.getJob(jobId)!.reason!, /Cannot open include file drums\.inc/);
});

test("a scene CID nobody provides is never claimed", async () => {
  const jobId = await post(manifestOf({ name: "builtin", version: "1.0.0" }, { cid: MISSING_CID, entry: "scene.json" }, { samples: 1, seed: 1, maxBounces: 0 }), 600);
  const a = await startNode(world, PROVIDER_A);
  await until(() => a.store.getJob(jobId)?.manifest !== null, "the manifest known");
  // An idle node ticks once a second (IDLE_TICK_MS): five ticks with the manifest known is time enough to have claimed.
  const known = a.worker.ticks;
  await until(() => a.worker.ticks > known + 5, "five more ticks", 20_000);
  assert.equal(claimsOf(PROVIDER_A, jobId), 0, "no claim while the scene cannot be fetched");
  assert.notEqual(a.store.getJob(jobId)!.decision, "accepted");
});

test("a scene without its entry file is skipped for good before any claim", async () => {
  const sceneCid = await world.storage.addEntries({ "other.json": new TextEncoder().encode("{}") });
  const jobId = await post(manifestOf({ name: "builtin", version: "1.0.0" }, { cid: sceneCid, entry: "scene.json" }, { samples: 1, seed: 1, maxBounces: 0 }), 600);
  const a = await startNode(world, PROVIDER_A);
  await until(() => a.store.getJob(jobId)?.decision === "skipped", "skipped");
  const job = a.store.getJob(jobId)!;
  assert.equal(job.final, true);
  assert.match(job.reason!, /has no entry file scene\.json/);
  const skippedAt = a.worker.ticks;
  await until(() => a.worker.ticks > skippedAt + 5, "five more ticks", 20_000);
  assert.equal(claimsOf(PROVIDER_A, jobId), 0);
});
