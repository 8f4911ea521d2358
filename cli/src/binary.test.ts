/**
 * The `tessellate` binary end to end, as a person runs it: a real local chain, the embedded IPFS
 * node behind the Kubo RPC API, the key in TESSELLATE_PRIVATE_KEY. A devnet provider settles the
 * job through the sdk while `job submit` watches; then `job status`, `job fetch` and
 * `audit --verify-results` run against what it left.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseEther, type Address, type Hex } from "viem";
import { startIpfsNode, type IpfsNode } from "@tessellate/ipfs-node";
import { connectChain, type ContractAddresses } from "@tessellate/sdk/chain";
import { commitmentOf, randomSalt } from "@tessellate/sdk/commitment";
import { resultFileName } from "@tessellate/sdk/resultFiles";
import { createKuboStorage } from "@tessellate/sdk/node";
import { decodeManifest, ENGINE_NAMES, engineSettingsSchemas } from "@tessellate/sdk/manifest";
import { createMarketClient, type MarketClient } from "@tessellate/sdk/market";
import { pngDigest } from "@tessellate/sdk/pixelDigest";
import { encodePng } from "@tessellate/sdk/png";
import { segmentAt } from "@tessellate/sdk/segmentPlan";
import type { Storage } from "@tessellate/sdk/storage";
import { deployProtocol, startChain, type RunningChain } from "../../scripts/devnet/chain.ts";
import { devnetAccount, devnetPrivateKey } from "../../scripts/devnet/accounts.ts";
import { testPort } from "../../scripts/devnet/ports.ts";
import { cropRgba, readPngRgba } from "@tessellate/provider-node/engines/crop";
import { createPovrayEngine } from "@tessellate/provider-node/engines/povray/index";
import { renderSegment } from "@tessellate/provider-node/worker/renderSegment";
import { unpackSlot } from "@tessellate/sdk/protocol";
import { findJobCreation } from "./chainReads.ts";
import { estimateJob } from "@tessellate/sdk/estimate";
import { formatSeconds } from "./format.ts";
import { publishTestProfile } from "./testing/profiles.ts";
import { createEngineRegistry } from "../../provider-node/src/engines/registry.ts";

const DEPLOYMENT = "test-cli-binary";
const ROOT = join(import.meta.dirname, "../..");
const PORT = testPort(8732);
const MAIN = join(import.meta.dirname, "main.ts");
const SCENE = join(import.meta.dirname, "../../scenes/builtin-sample");
/** A POV-Ray sample scene as Debian ships it (package povray-examples). */
const POVRAY_SAMPLE = "/usr/share/doc/povray/examples/advanced/biscuit.pov";
/** POV-Ray's animation sample driven by its .ini: 30 frames, clock 0–1, cyclic, anti-aliased. */
const CAMERA2 = "/usr/share/doc/povray/examples/animations/camera2";
const BLENDER_SCENE_SCRIPT = join(import.meta.dirname, "../../provider-node/src/engines/fixtures/blender/makeScene.py");

/** A skip reason when an engine (or a file it needs) is missing; false when the test can run. */
function skipWithout(engine: string, file?: string): string | false {
  const found = spawnSync(engine, ["--version"], { stdio: "ignore" }).error === undefined;
  if (!found) return `${engine} is not installed (apt-get install ${engine}${engine === "povray" ? " povray-includes povray-examples" : ""})`;
  if (file && !existsSync(file)) return `${file} is missing (apt-get install povray-examples)`;
  return false;
}

/** Runs a program to completion; rejects with its output when it fails. */
function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}:\n${output}`))));
  });
}

let chain: RunningChain;
let ipfs: IpfsNode;
let storage: Storage;
let addresses: ContractAddresses;
let provider: MarketClient;
let requester: MarketClient;
let dir: string;
let env: Record<string, string>;

/** Runs the binary; resolves with its exit code and output. */
function tessellate(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The provider: waits for job `jobId`, claims every segment, renders flat tiles, commits and reveals. */
async function settleAsProvider(jobId: bigint): Promise<void> {
  while ((await requester.jobCount()) < jobId) await new Promise((r) => setTimeout(r, 100));
  const { event } = await findJobCreation(requester, jobId);
  const { manifestCid, segmentCount } = (event.args as { params: { manifestCid: string; segmentCount: number } }).params;
  const manifest = decodeManifest(await storage.cat(manifestCid));
  const claimed = await provider.claim(jobId, segmentCount);
  const slots = claimed.events.filter((e) => e.eventName === "ReplicasClaimed").flatMap((e) => (e.args as unknown as { slots: readonly bigint[] }).slots.map(unpackSlot));
  const reveals = [];
  for (const { segment, replica } of slots) {
    const { tile, frames } = segmentAt(manifest, segment);
    const folder = join(dir, `result-${jobId}-${segment}`);
    await mkdir(folder, { recursive: true });
    const pngs: Uint8Array[] = [];
    for (const frame of frames) {
      const png = encodePng({ width: tile.width, height: tile.height, data: new Uint8Array(tile.width * tile.height * 4).fill(segment * 40 + frame) });
      pngs.push(png);
      await writeFile(join(folder, resultFileName(frame)), png);
    }
    const resultCid = await storage.addFolder(folder);
    const digest = pngDigest(pngs) as Hex;
    const salt = randomSalt();
    reveals.push({ segment, replica, digest, salt, resultCid, commitment: commitmentOf(digest, salt, provider.account as Address, jobId, segment) });
  }
  await provider.commit(jobId, reveals.map(({ segment, replica, commitment }) => ({ segment, replica, commitment })));
  await provider.reveal(jobId, reveals.map(({ segment, replica, digest, salt, resultCid }) => ({ segment, replica, digest, salt, resultCid })));
}

describe("the tessellate binary", { timeout: 120_000 }, () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "tessellate-bin-"));
    // One after the other, each assigned as soon as it runs, so `after` stops whatever started
    // even when the other fails (a failed Promise.all would leave a started node unreferenced).
    ipfs = await startIpfsNode({ repoDir: join(dir, "ipfs"), apiPort: 0, gatewayPort: 0 });
    chain = await startChain({ port: PORT });
    const deployed = await deployProtocol({ rpcUrl: chain.rpcUrl, deploymentId: DEPLOYMENT });
    addresses = { token: deployed.token, registry: deployed.registry, market: deployed.market };
    storage = createKuboStorage({ url: ipfs.apiUrl });
    const client = async (i: number) => createMarketClient(await connectChain({ rpcUrl: chain.rpcUrl, addresses, account: devnetAccount(i) }));
    const deployer = await client(0);
    requester = await client(1);
    provider = await client(2);
    await deployer.transferToken(requester.account!, parseEther("100"));
    await deployer.transferToken(provider.account!, parseEther("100"));
    await provider.approve(addresses.registry, parseEther("50"));
    // The provider advertises the engines found here, as a provider node's `register` does.
    const found = Object.fromEntries((await createEngineRegistry().detectAll()).map((info) => [info.name, info.version]));
    await provider.register(await publishTestProfile(storage, provider.account!, found));
    await provider.stake(parseEther("50"));
    env = {
      PATH: process.env.PATH ?? "",
      TESSELLATE_RPC_URL: chain.rpcUrl,
      TESSELLATE_IPFS_API_URL: ipfs.apiUrl,
      TESSELLATE_MARKET_ADDRESS: addresses.market,
      TESSELLATE_REGISTRY_ADDRESS: addresses.registry,
      TESSELLATE_TOKEN_ADDRESS: addresses.token,
      TESSELLATE_PRIVATE_KEY: devnetPrivateKey(1),
    };
  });

  after(async () => {
    await Promise.allSettled([chain?.stop(), ipfs?.stop()]);
    await rm(dir, { recursive: true, force: true });
    await rm(join(ROOT, "ignition/deployments", DEPLOYMENT), { recursive: true, force: true });
    await rm(join(ROOT, ".devnet", `ignition-${DEPLOYMENT}.json`), { force: true });
  });

  it("job submit uploads to IPFS, posts, watches the job settle, composites and records the output", async () => {
    const out = join(dir, "out");
    const [submitted] = await Promise.all([
      tessellate([
        "job", "submit", SCENE, "--engine", "builtin", "--size", "16x12", "--frames", "1-2", "--tiles", "2x1",
        "--redundancy", "1", "--quorum", "1", "--reward", "1.5", "--collateral", "3", "--deadline", "2h",
        "--out", out, "--record-output",
      ]),
      settleAsProvider(1n),
    ]);
    assert.equal(submitted.code, 0, `${submitted.stdout}\n${submitted.stderr}`);
    assert.match(submitted.stdout, /plan {7}4 segments = 2 tiles \(2×1\) × 2 frame groups/);
    assert.match(submitted.stdout, /cost {7}escrow 6.06 RNDR-T = 4 segments × 1 replica × /);
    assert.match(submitted.stdout, /posted {5}job 1 /);
    assert.doesNotMatch(submitted.stdout, /WARNING/, "the registered provider offers builtin at the default version in exact mode");
    assert.match(submitted.stdout, /audits {5}off: 1 registered provider can take this job; an audit and its escalation need 4 \(1 replica \+ 3 auditors\) \(--audit <bp> audits anyway\)/);
    assert.match(submitted.stdout, /an ESTIMATE at benchmark score 1000, not a quote\n +no registered provider has published measured builtin render times yet/);
    assert.match(submitted.stdout, /2 of 2 frames written to/);
    assert.match(submitted.stdout, /output {5}bafy\w+ recorded on-chain/);
    assert.match(submitted.stdout, /summary {4}4\/4 segments accepted/);
    assert.match(submitted.stderr, /job 1 \[#+\] 4\/4 accepted/, "plain progress lines when stderr is not a terminal");
    assert.match(submitted.stderr, /uploaded scene [\d.]+ [KMG]?i?B in [\d.]+ s \([\d.]+ [KMG]?i?B\/s\)/, "the upload's summary, with its rate");
    assert.ok(!submitted.stdout.includes(env.TESSELLATE_PRIVATE_KEY.slice(2)) && !submitted.stderr.includes(env.TESSELLATE_PRIVATE_KEY.slice(2)));
    assert.ok(existsSync(join(out, "frame-000001.png")) && existsSync(join(out, "frame-000002.png")));
  });

  it("job status, job fetch and audit --verify-results read what the job left", async () => {
    const status = await tessellate(["job", "status", "1"]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /escrow +0 RNDR-T left of 6.06 RNDR-T/);
    assert.match(status.stdout, /^1 +frame 1 +8×12@8,0 +Accepted/m);

    const fetched = await tessellate(["job", "fetch", "1", "--out", join(dir, "fetched")]);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.ok(existsSync(join(dir, "fetched", "frame-000002.png")));

    const audit = await tessellate(["audit", "--verify-results"]);
    assert.equal(audit.code, 0, `${audit.stdout}\n${audit.stderr}`);
    assert.match(audit.stdout, /4 of 4 accepted results re-checked/);
    assert.match(audit.stdout, /reveals {10}(\d+) of \1 commitments recomputed from the reveal calldata match the commit calldata/);
    assert.match(audit.stdout, /everything reconciles: 0 discrepancies/);

    const missing = await tessellate(["job", "status", "7"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /job 7 does not exist .* \(it has 1 job, numbered from 1\)/);
  });

  // The option defaults of the real binary once refused every POV-Ray and Blender job ("the
  // povray engine takes no sample count") although the user passed no such flag: these run the
  // commands a user of each engine types, with nothing but what the engine needs.
  it("job submit posts a POV-Ray sample scene with only the flags a POV-Ray user knows", { skip: skipWithout("povray", POVRAY_SAMPLE) }, async () => {
    const posted = await tessellate(["job", "submit", POVRAY_SAMPLE, "--engine", "povray", "--size", "32x24", "--tiles", "2x2", "--reward", "1", "--no-wait"]);
    assert.equal(posted.code, 0, `${posted.stdout}\n${posted.stderr}`);
    assert.match(posted.stdout, /posted {5}job \d+ /);
    assert.doesNotMatch(posted.stderr, /--samples|--max-bounces|--seed/);
  });

  it("job submit posts a .blend file with only the flags a Blender user knows", { skip: skipWithout("blender") }, async () => {
    const blend = join(dir, "cube.blend");
    await run("blender", ["-b", "--factory-startup", "--python", BLENDER_SCENE_SCRIPT, "--", blend, "scene"]);
    const posted = await tessellate(["job", "submit", blend, "--engine", "blender", "--size", "32x24", "--reward", "1", "--no-wait"]);
    assert.equal(posted.code, 0, `${posted.stdout}\n${posted.stderr}`);
    assert.match(posted.stdout, /posted {5}job \d+ /);
    assert.doesNotMatch(posted.stderr, /--samples|--max-bounces|--seed/);
  });

  /** The manifest job `jobId` was posted with. */
  async function manifestOf(jobId: bigint) {
    const { event } = await findJobCreation(requester, jobId);
    return decodeManifest(await storage.cat((event.args as { params: { manifestCid: string } }).params.manifestCid));
  }
  const jobIdOf = (stdout: string) => BigInt(/posted {5}job (\d+) /.exec(stdout)![1]!);

  it("job submit takes an animation's frames, clock and cyclic animation from its .ini; its tiles compose into POV-Ray's direct render of the .ini", { skip: skipWithout("povray", `${CAMERA2}/camera2.ini`) }, async () => {
    const posted = await tessellate(["job", "submit", CAMERA2, "--engine", "povray", "--size", "48x36", "--tiles", "2x2", "--reward", "0.01", "--no-wait"]);
    assert.equal(posted.code, 0, `${posted.stdout}\n${posted.stderr}`);
    assert.match(posted.stdout, /from scene camera2\.ini: .*frames 1–30, clock 0–1 cyclic/);
    assert.match(posted.stdout, /not honoured: Antialias=On \(exact verification renders without anti-aliasing/);
    assert.match(posted.stdout, /plan {7}120 segments = 4 tiles \(2×2\) × 30 frame groups \(30 frames 1–30/);
    const manifest = await manifestOf(jobIdOf(posted.stdout));
    assert.deepEqual(manifest.frames, { start: 1, end: 30 });
    assert.deepEqual({ ...manifest.output, format: undefined }, { width: 48, height: 36, format: undefined }, "--size wins over the default");
    assert.equal(manifest.engine.name, "povray");
    const settings = manifest.settings as Record<string, unknown>;
    assert.equal(settings.cyclic, true);
    assert.equal(settings.initialClock, 0);
    assert.equal(settings.finalClock, 1);
    assert.equal(settings.antialias, false);

    // POV-Ray itself, run on the .ini (anti-aliasing off, as the job renders): the last frame of a
    // cyclic animation stops one step short of clock 1, so it differs from frame 1.
    const direct = join(dir, "camera2-direct");
    await mkdir(direct);
    await new Promise<void>((resolve, reject) => {
      const child = spawn("povray", ["camera2.ini", "-D", "+W48", "+H36", "-A", "+SF30", "+EF30", "+FN8", `+O${join(direct, "frame.png")}`], { cwd: CAMERA2, stdio: "ignore" });
      child.on("error", reject);
      child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`povray exited ${code}`))));
    });
    const [directFile] = await readdir(direct);
    const full = await readPngRgba(join(direct, directFile!));
    const engine = createPovrayEngine();
    for (let tile = 0; tile < 4; tile++) {
      const segment = segmentAt(manifest, 29 * 4 + tile);
      assert.deepEqual(segment.frames, [30]);
      const outDir = join(dir, `camera2-segment-${tile}`);
      const rendered = await renderSegment({ engine, manifest, segment, sceneDir: CAMERA2, outDir, limits: { threads: 1, memoryBytes: 2 * 1024 ** 3, timeoutMs: 60_000 } });
      const pixels = await readPngRgba(rendered.files[0]!);
      assert.ok(Buffer.from(pixels.data).equals(Buffer.from(cropRgba(full, segment.tile).data)), `tile ${tile} of frame 30 differs from POV-Ray's direct render`);
    }
  });

  it("job submit refuses an .ini option a job cannot reproduce before uploading anything", { skip: skipWithout("povray", `${CAMERA2}/camera2.pov`) }, async () => {
    const scene = join(dir, "subset");
    await mkdir(scene);
    await writeFile(join(scene, "scene.pov"), "#version 3.7;\ncamera { location <0,0,-5> look_at 0 }\nsphere { 0, 1 pigment { rgb clock } }\n");
    await writeFile(join(scene, "scene.ini"), "Initial_Frame=1\nFinal_Frame=10\nSubset_Start_Frame=3\n");
    const refused = await tessellate(["job", "submit", scene, "--engine", "povray", "--reward", "0.01", "--no-wait"]);
    assert.equal(refused.code, 2, `${refused.stdout}\n${refused.stderr}`);
    assert.match(refused.stderr, /scene\.ini: sets subset_start_frame=3: renders only part of the animation/);
    assert.doesNotMatch(`${refused.stdout}${refused.stderr}`, /uploaded scene/);
  });

  it("job submit takes a .blend's resolution, frames and samples from the file, and refuses an Eevee scene", { skip: skipWithout("blender") }, async () => {
    const blend = join(dir, "settings.blend");
    await run("blender", ["-b", "--factory-startup", "--python", BLENDER_SCENE_SCRIPT, "--", blend, "scene"]);
    const posted = await tessellate(["job", "submit", blend, "--engine", "blender", "--reward", "0.01", "--no-wait"]);
    assert.equal(posted.code, 0, `${posted.stdout}\n${posted.stderr}`);
    assert.match(posted.stdout, /from scene settings\.blend \(read with Blender\): size 40×30 \(50 %\), frames 1–4, 3 samples, camera Camera/);
    const manifest = await manifestOf(jobIdOf(posted.stdout));
    assert.deepEqual([manifest.output.width, manifest.output.height], [40, 30]);
    assert.deepEqual(manifest.frames, { start: 1, end: 4 });
    assert.equal((manifest.settings as Record<string, unknown>).samples, 3);
    // Blender jobs are tolerant by default (Cycles' pixels depend on the CPU kernel), at the sdk's default tolerance.
    assert.deepEqual(manifest.verification, { mode: "tolerant", toleranceBps: 2500 });
    assert.match(posted.stdout, /png, tolerant verification, tolerance 2500 bp \(25 % of the compared fingerprint blocks may differ\)\)/);

    const eevee = join(dir, "eevee.blend");
    await run("blender", ["-b", "--factory-startup", "--python", BLENDER_SCENE_SCRIPT, "--", eevee, "eevee"]);
    const refused = await tessellate(["job", "submit", eevee, "--engine", "blender", "--reward", "0.01", "--no-wait"]);
    assert.equal(refused.code, 2, `${refused.stdout}\n${refused.stderr}`);
    assert.match(refused.stderr, /eevee\.blend renders with BLENDER_EEVEE; providers render Cycles only/);
    assert.doesNotMatch(`${refused.stdout}${refused.stderr}`, /uploaded scene/);
  });

  it("job submit --help lists every engine's settings keys, from the manifest schema", async () => {
    const help = await tessellate(["job", "submit", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    const block = help.stdout.slice(help.stdout.indexOf("Engine settings"));
    for (const engine of ENGINE_NAMES) {
      assert.match(block, new RegExp(`^  ${engine} `, "m"), engine);
      for (const key of Object.keys(engineSettingsSchemas[engine].shape)) assert.match(block, new RegExp(`^ {11}${key}[ :(]|^  ${engine} +${key}[ :(]`, "m"), `${engine}.${key}`);
    }
    assert.match(block, /cyclic: use true \(a cyclic animation/);
    assert.match(block, /samples \(--samples\): use an integer from 1 to 65536/);
  });

  it("job submit refuses settings the engines cannot honour before uploading anything", { skip: skipWithout("povray", POVRAY_SAMPLE) || skipWithout("blender") }, async () => {
    const antialias = await tessellate(["job", "submit", POVRAY_SAMPLE, "--engine", "povray", "--size", "32x24", "--reward", "0.01", "--settings", '{"antialias":true}', "--no-wait"]);
    assert.equal(antialias.code, 2, `${antialias.stdout}\n${antialias.stderr}`);
    assert.match(antialias.stderr, /settings\.antialias: POV-Ray anti-aliasing .* "exact" verification mode/);
    assert.doesNotMatch(`${antialias.stdout}${antialias.stderr}`, /uploaded scene|posted +job/);

    const blend = join(dir, "refusals.blend");
    await run("blender", ["-b", "--factory-startup", "--python", BLENDER_SCENE_SCRIPT, "--", blend, "scene"]);
    const denoise = await tessellate(["job", "submit", blend, "--engine", "blender", "--reward", "0.01", "--settings", '{"denoise":true}', "--no-wait"]);
    assert.equal(denoise.code, 2, `${denoise.stdout}\n${denoise.stderr}`);
    assert.match(denoise.stderr, /settings\.denoise: the denoiser is refused in tolerant mode too: Debian's Blender 3\.4\.1 is built without OpenImageDenoise/);
    assert.doesNotMatch(`${denoise.stdout}${denoise.stderr}`, /uploaded scene|posted +job/);

    const camera = await tessellate(["job", "submit", blend, "--engine", "blender", "--reward", "0.01", "--settings", '{"camera":"Nope"}', "--no-wait"]);
    assert.equal(camera.code, 2, `${camera.stdout}\n${camera.stderr}`);
    assert.match(camera.stderr, /refusals\.blend has no camera object named "Nope" — use one of "Camera", "SideCamera"/);
    assert.doesNotMatch(`${camera.stdout}${camera.stderr}`, /uploaded scene|posted +job/);
  });

  it("job submit warns before the upload when no registered provider advertises the job's engine version, with how many offer each part", async () => {
    const builtin = (await createEngineRegistry().detectAll()).find((e) => e.name === "builtin")!.version;
    const posted = await tessellate(["job", "submit", SCENE, "--engine", "builtin", "--engine-version", "9.9.9", "--size", "16x12", "--reward", "0.01", "--no-wait"]);
    assert.equal(posted.code, 0, `${posted.stdout}\n${posted.stderr}`);
    const warning = new RegExp(
      `^WARNING +no registered provider advertises builtin 9\\.9\\.9 with exact verification: of 1 registered provider, 1 offers builtin \\(${builtin.replace(/\./g, "\\.")} by 1\\), 0 offer version 9\\.9\\.9, 1 renders exact jobs$`,
      "m",
    );
    assert.match(posted.stdout, warning);
    assert.match(posted.stdout, new RegExp(`nobody may claim this job .* use --engine-version ${builtin.replace(/\./g, "\\.")} \\(or leave it out\\)`));
    // Printed before the plan (which follows the upload) and the escrow.
    assert.ok(posted.stdout.indexOf("WARNING") < posted.stdout.indexOf("plan "), posted.stdout);
    await tessellate(["job", "cancel", String(jobIdOf(posted.stdout))]);
  });

  it("job submit estimates from the render times providers published, and says how far off that was on their past renders", async () => {
    const found = await createEngineRegistry().detectAll();
    const builtin = found.find((e) => e.name === "builtin")!.version;
    // The provider measured its builtin renders at 7, 8 and 9 times its benchmark estimate (score 50).
    const measuredRenders = [{ engine: "builtin", version: builtin, benchmarkScore: 50, ratios: [7, 8, 9] }];
    await provider.updateProfile(await publishTestProfile(storage, provider.account!, Object.fromEntries(found.map((e) => [e.name, e.version])), undefined, { measuredRenders }));
    const posted = await tessellate(["job", "submit", SCENE, "--engine", "builtin", "--size", "16x12", "--reward", "0.01", "--samples", "4", "--no-wait"]);
    assert.equal(posted.code, 0, `${posted.stdout}\n${posted.stderr}`);
    const jobId = jobIdOf(posted.stdout);
    const manifest = await manifestOf(jobId);
    const expected = estimateJob({ manifest, benchmarkScore: 50, redundancy: 2 }).secondsPerSegment * 8;
    const line = /^estimate +~(.+?) per segment, .* an ESTIMATE from 3 measured builtin renders by 1 provider, not a quote$/m.exec(posted.stdout);
    assert.ok(line, posted.stdout);
    assert.equal(line[1], formatSeconds(expected));
    assert.match(posted.stdout, /on those past renders this estimate was off by ×1\.1 \(median\), ×1\.1 \(90 %\); the benchmark alone by ×8\.0, ×8\.8/);
    await tessellate(["job", "cancel", String(jobId)]);
  });

  // Issue 10 property 4's defaults: an exact job is audited at 40 % with collateral 4 × the reward
  // wherever enough providers can take it for a dispute to finish (last: it registers providers).
  it("job submit audits an exact job by default once redundancy + 3 registered providers can take it, collateral 4 × the reward", async () => {
    const deployer = await createMarketClient(await connectChain({ rpcUrl: chain.rpcUrl, addresses, account: devnetAccount(0) }));
    const found = Object.fromEntries((await createEngineRegistry().detectAll()).map((info) => [info.name, info.version]));
    for (const i of [3, 4, 5, 6]) {
      const extra = await createMarketClient(await connectChain({ rpcUrl: chain.rpcUrl, addresses, account: devnetAccount(i) }));
      await deployer.transferToken(extra.account!, parseEther("60"));
      await extra.approve(addresses.registry, parseEther("50"));
      await extra.register(await publishTestProfile(storage, extra.account!, found));
      await extra.stake(parseEther("50"));
    }
    const posted = await tessellate(["job", "submit", SCENE, "--engine", "builtin", "--size", "16x12", "--tiles", "2x1", "--reward", "0.5", "--no-wait"]);
    assert.equal(posted.code, 0, `${posted.stdout}\n${posted.stderr}`);
    assert.match(posted.stdout, /cost {7}escrow 3.03 RNDR-T = 2 segments × \(2 replicas \+ 1 auditor\) × \(0.5 RNDR-T reward/);
    assert.match(posted.stdout, /providers lock 2 RNDR-T collateral per replica/);
    assert.match(posted.stdout, /audits {5}40 % of accepted segments are re-rendered by a drawn auditor before anyone is paid; .* \(the default for this job; --audit 0 turns audits off\)/);
    const job = await requester.jobOf(jobIdOf(posted.stdout));
    assert.equal(job.auditBps, 4000);
    assert.equal(job.collateralPerReplica, parseEther("2"));

    const off = await tessellate(["job", "submit", SCENE, "--engine", "builtin", "--size", "16x12", "--tiles", "2x1", "--reward", "0.5", "--audit", "0", "--no-wait"]);
    assert.equal(off.code, 0, `${off.stdout}\n${off.stderr}`);
    const plain = await requester.jobOf(jobIdOf(off.stdout));
    assert.equal(plain.auditBps, 0);
    assert.equal(plain.collateralPerReplica, parseEther("1"), "no audits: collateral 2 × the reward");
    assert.doesNotMatch(off.stdout, /audits /);
    for (const id of [jobIdOf(posted.stdout), jobIdOf(off.stdout)]) await tessellate(["job", "cancel", String(id)]);
  });

  it("job status lists the segments of a cancelled, fully refunded job as Refunded, not Open", async () => {
    const posted = await tessellate(["job", "submit", SCENE, "--engine", "builtin", "--size", "16x12", "--tiles", "2x1", "--reward", "0.01", "--no-wait"]);
    assert.equal(posted.code, 0, `${posted.stdout}\n${posted.stderr}`);
    const jobId = jobIdOf(posted.stdout);
    const cancelled = await tessellate(["job", "cancel", String(jobId)]);
    assert.equal(cancelled.code, 0, `${cancelled.stdout}\n${cancelled.stderr}`);
    const status = await tessellate(["job", "status", String(jobId)]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^0 +frame 1 +8×12@0,0 +Refunded /m);
    assert.match(status.stdout, /^1 +frame 1 +8×12@8,0 +Refunded /m);
    assert.doesNotMatch(status.stdout, /^\d+ +frame .* Open /m);
  });
});
