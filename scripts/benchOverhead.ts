/**
 * `npm run bench:overhead` — what the marketplace costs on top of rendering (a benchmark that
 * prints figures, not a test; no timed assertion).
 *
 * The same segments are rendered directly and through the marketplace:
 *  - direct: `createBuiltinEngine().render(...)` of every frame of every segment, one segment after
 *    the other, with the limits the provider grants a render (threads = --threads, memory = the
 *    provider's default, time limit = its default renderTimeoutSeconds), on a quiet machine (the
 *    network is not running). It runs before the network starts and again after it stopped; the
 *    baseline is the mean of the two, and both are printed, because the machine may be shared.
 *    A third pass runs while the network is up but idle (provider polling, nothing to do), to show
 *    what the network's background activity costs a render (--no-idle-pass skips it);
 *  - marketplace: the whole local network (Hardhat node, Ignition deployment, embedded IPFS) with
 *    ONE provider daemon at r = 1, configured with TESSELLATE_CPU_THREADS = --threads and
 *    TESSELLATE_MAX_CONCURRENT_SEGMENTS = --concurrent (1) and TESSELLATE_TILES_PER_RENDER =
 *    --tiles-per-render and TESSELLATE_MAX_TILES_PER_RENDER = --max-tiles-per-render (unset: the
 *    provider's defaults, 4 and 16), so it renders like the direct pass:
 *    one engine run at a time, same thread count, except that the tiles of one job and frame range
 *    a render slot holds share one engine process (the summary counts the provider's engine
 *    calls). The job is posted by `submitJob` from @tessellate/cli
 *    (scene upload and manifest first, not timed); the time runs from the `createJob` call to the
 *    moment the last `SegmentAccepted` event reaches this process. A small warm-up job goes first
 *    (--no-warm-up skips it): the figures are those of a provider that has run a job before.
 * Ratio = marketplace / direct. Target: <= 1.10 for segments of >= 5 s of render time.
 *
 * Defaults (about 6 s per segment on one thread of the machine this was written on): the builtin
 * sample scene (scenes/builtin-sample), 160x120, frames 1-4, 1x1 tiles (one frame per segment:
 * 4 segments), 768 samples, seed 7, 4 bounces, 1 thread. A warning is printed when the direct time
 * per segment comes out under 5 s (raise --samples).
 *
 * Where the overhead goes: events are stamped on arrival through an `eth_subscribe("logs")`
 * WebSocket subscription to the Hardhat node (push, no polling cadence); the provider's own log
 * lines (pino, ms timestamps) mark when each render started ("rendering") and when its result was
 * uploaded and saved ("rendered", with the engine's render seconds). The phases add up exactly to
 * the marketplace total. "Ratio from protocol steps alone" = (direct + everything outside the
 * provider's render) / direct: the ratio with the render-speed noise of a shared machine taken out.
 * CPU figures (Linux /proc) show how busy the machine was in each window and what the chain, the
 * provider and this process (which hosts the embedded IPFS node) used.
 *
 * Engine CPU: POV-Ray and Blender run in the bubblewrap sandbox, whose bwrap exits without reaping
 * its PID 1, so their CPU never reaches the reaped-children counters of the process that started
 * them (cutime/cstime of /proc/<pid>/stat stay at zero). The sandbox measures it itself: a shell
 * inside it starts the engine, waits for it and writes its `times` (provider-node/src/sandbox/
 * sandbox.ts). Direct renders here add it up through the sandbox's `onUsage`; the provider counts it
 * in its metric `tessellate_provider_engine_cpu_seconds_total`, read from its /metrics before and
 * after the job. The builtin engine renders in worker threads of the process, so its CPU is the
 * process's own.
 *
 * Engines (--engine): builtin (default, as above); povray: --scene camera2 (default: POV-Ray's
 * animation sample with its .ini, 30 frames, cyclic clock) or one of the sample stills chess2,
 * abyss, biscuit, woodbox (POV-Ray's examples/advanced, at the size the CLI reads from the scene: 320x240),
 * 2x2 tiles; blender: the adapter's test scene (fixtures/blender/makeScene.py, Cycles, frames
 * 1-4), 2x2 tiles, 16 samples. For those it also renders the job directly as its author would
 * (every frame at full size, all frames in one engine process) and prints the marketplace / that
 * ratio, issue 12's per-tile overhead (target <= 1.25), in CPU seconds (the engine's, and all
 * of it: engine + provider + chain + IPFS) and in wall time. Segments of several frames
 * (--frames-per-segment) are rendered in one engine process.
 *
 * Flags: --engine builtin|povray|blender  --scene camera2|chess2|abyss|biscuit|woodbox (povray)  --frames-per-segment N (1)
 *        --frames A-B (1-4; povray: the .ini's)  --size WxH (160x120; povray: the scene's)  --tiles CxR (1x1; 2x2)  --samples N (768; blender 16)
 *        --threads N (1)  --concurrent N (1: the provider's render slots)  --tiles-per-render N  --max-tiles-per-render N (the provider's defaults)  --seed N (7)
 *        --port-base P (chain P, IPFS API P+1 / gateway P+2, provider API P+3)  --no-idle-pass  --no-warm-up  --keep (keep the temp folder with logs)
 * Ports: chain 8961, IPFS API 5961 / gateway 5962, provider API 7961 (shifted by TESSELLATE_TEST_PORT_OFFSET), or --port-base.
 * Exit code 0 when the figures were produced (target met or not), non-zero on errors.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseSubmitOptions, readSceneDefaults, silentOutput, submitJob } from "@tessellate/cli";
import { segmentAt, segmentCount, type MarketClient, type Segment } from "@tessellate/sdk";
import { DEFAULTS } from "@tessellate/provider-node/config/defaults";
import { createBuiltinEngine } from "@tessellate/provider-node/engines/builtin/index";
import { createBlenderEngine } from "@tessellate/provider-node/engines/blender/index";
import { createPovrayEngine } from "@tessellate/provider-node/engines/povray/index";
import type { Engine, RenderLimits } from "@tessellate/provider-node/engines/engine";
import type { EngineUsage } from "@tessellate/provider-node/sandbox/sandbox";
import { availableParallelism } from "node:os";
import {
  usage,
  cpuBetween,
  cpuSample,
  jobEvents,
  mean,
  nowMs,
  observeMarket,
  readProviderLog,
  runBench,
  s,
  slotSegment,
  startBenchNetwork,
  sum,
  table,
  type BenchRun,
  type CpuSample,
  type ProviderLogLine,
} from "./bench/harness.ts";
import { DEVNET_ROLES } from "./devnet/accounts.ts";
import { testPort } from "./devnet/ports.ts";

const ROOT = join(import.meta.dirname, "..");
const SCENE = join(ROOT, "scenes/builtin-sample");
const TARGET_RATIO = 1.1;
const MIN_SEGMENT_SECONDS = 5;

const { values } = usage(() => parseArgs({
  options: {
    engine: { type: "string", default: "builtin" },
    scene: { type: "string" },
    frames: { type: "string" },
    "frames-per-segment": { type: "string", default: "1" },
    size: { type: "string" },
    tiles: { type: "string" },
    samples: { type: "string" },
    threads: { type: "string", default: "1" },
    concurrent: { type: "string", default: "1" },
    "tiles-per-render": { type: "string" },
    "max-tiles-per-render": { type: "string" },
    "port-base": { type: "string" },
    seed: { type: "string", default: "7" },
    "idle-pass": { type: "boolean", default: true },
    "warm-up": { type: "boolean", default: true },
    keep: { type: "boolean", default: false },
  },
  allowNegative: true,
}));
const threads = Number(values.threads);
if (!Number.isInteger(threads) || threads < 1) {
  console.error("--threads must be a positive integer");
  process.exit(2);
}
/** The provider's render slots (TESSELLATE_MAX_CONCURRENT_SEGMENTS); the direct passes stay one segment at a time. */
const concurrent = Number(values.concurrent);
if (!Number.isInteger(concurrent) || concurrent < 1 || concurrent > 64) {
  console.error("--concurrent must be an integer from 1 to 64");
  process.exit(2);
}
/** The provider's limits.tilesPerRender (TESSELLATE_TILES_PER_RENDER) when given; else the provider's own default. */
const tilesPerRender = values["tiles-per-render"] === undefined ? undefined : Number(values["tiles-per-render"]);
if (tilesPerRender !== undefined && (!Number.isInteger(tilesPerRender) || tilesPerRender < 1 || tilesPerRender > 64)) {
  console.error("--tiles-per-render must be an integer from 1 to 64");
  process.exit(2);
}
/** The provider's limits.maxTilesPerRender (TESSELLATE_MAX_TILES_PER_RENDER) when given; else the provider's own default. */
const maxTilesPerRender = values["max-tiles-per-render"] === undefined ? undefined : Number(values["max-tiles-per-render"]);
if (maxTilesPerRender !== undefined && (!Number.isInteger(maxTilesPerRender) || maxTilesPerRender < 1 || maxTilesPerRender > 64)) {
  console.error("--max-tiles-per-render must be an integer from 1 to 64");
  process.exit(2);
}
/** --port-base P: chain P, IPFS API P+1, gateway P+2, provider API P+3; else the fixed test ports. */
const portBase = values["port-base"] === undefined ? undefined : Number(values["port-base"]);
if (portBase !== undefined && (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65_532)) {
  console.error("--port-base must be a port from 1024 to 65532 (four consecutive ports are used)");
  process.exit(2);
}
const PORTS =
  portBase === undefined
    ? { chainPort: testPort(8961), ipfsApiPort: testPort(5961), ipfsGatewayPort: testPort(5962), providerPort: testPort(7961) }
    : { chainPort: portBase, ipfsApiPort: portBase + 1, ipfsGatewayPort: portBase + 2, providerPort: portBase + 3 };

/**
 * --engine povray: POV-Ray's animation sample camera2 (its .ini: 30 frames, cyclic clock), 2x2
 * tiles. --engine blender: the adapter's test scene (fixtures/blender/makeScene.py, Cycles,
 * frames 1-4 of its animation), 2x2 tiles, 16 samples. builtin: as before.
 */
const ENGINE = values.engine;
if (ENGINE !== "builtin" && ENGINE !== "povray" && ENGINE !== "blender") {
  console.error("--engine must be builtin, povray or blender");
  process.exit(2);
}
const CAMERA2 = "/usr/share/doc/povray/examples/animations/camera2";
/** POV-Ray's sample stills of issue 12 (they include only POV-Ray's own include files). */
const POVRAY_STILLS = ["chess2", "abyss", "biscuit", "woodbox"];
const POVRAY_ADVANCED = "/usr/share/doc/povray/examples/advanced";
const SCENE_NAME = values.scene ?? (ENGINE === "povray" ? "camera2" : undefined);
if (SCENE_NAME !== undefined && (ENGINE !== "povray" || (SCENE_NAME !== "camera2" && !POVRAY_STILLS.includes(SCENE_NAME)))) {
  console.error(`--scene is for --engine povray: camera2 or one of ${POVRAY_STILLS.join(", ")}`);
  process.exit(2);
}
function sceneOf(engine: string): { scene: string; entry: string } {
  if (engine === "povray" && SCENE_NAME !== "camera2") {
    // A still is submitted as its folder, holding only the .pov (the examples folder has 1.5 MB of other scenes).
    const dir = mkdtempSync(join(tmpdir(), `tessellate-bench-${SCENE_NAME}-`));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    copyFileSync(join(POVRAY_ADVANCED, `${SCENE_NAME}.pov`), join(dir, `${SCENE_NAME}.pov`));
    return { scene: dir, entry: `${SCENE_NAME}.pov` };
  }
  if (engine === "povray") return { scene: CAMERA2, entry: "camera2.pov" };
  if (engine === "blender") {
    const dir = mkdtempSync(join(tmpdir(), "tessellate-bench-blend-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const script = join(ROOT, "provider-node/src/engines/fixtures/blender/makeScene.py");
    execFileSync("blender", ["-b", "--factory-startup", "--python-exit-code", "1", "--python", script, "--", join(dir, "scene.blend"), "scene"], { stdio: "ignore" });
    return { scene: dir, entry: "scene.blend" };
  }
  return { scene: SCENE, entry: "scene.json" };
}
const { scene: SCENE_DIR, entry: SCENE_ENTRY } = sceneOf(ENGINE);
const rawOptions = {
  engine: ENGINE,
  size: values.size ?? (ENGINE === "povray" ? undefined : "160x120"),
  frames: values.frames ?? (ENGINE === "builtin" ? "1-4" : ENGINE === "blender" ? "1-4" : undefined),
  tiles: values.tiles ?? (ENGINE === "builtin" ? "1x1" : "2x2"),
  framesPerSegment: values["frames-per-segment"],
  redundancy: "1",
  quorum: "1",
  reward: "1",
  collateral: "2",
  ...(ENGINE === "povray" ? {} : { samples: values.samples ?? (ENGINE === "builtin" ? "768" : "16"), seed: values.seed }),
  ...(ENGINE === "builtin" ? { maxBounces: "4" } : {}),
  lease: "30m",
  revealWindow: "5m",
  deadline: "2h",
  wait: false,
};
const sceneDefaults = await readSceneDefaults(SCENE_DIR, rawOptions);
const options = usage(() => parseSubmitOptions(SCENE_DIR, rawOptions, undefined, sceneDefaults));
/** CPU seconds of the sandboxed engine runs of this process's direct renders, by the sandbox's own count. */
let directEngineCpu = 0;
const sandbox = { onUsage: (usage: EngineUsage) => void (directEngineCpu += usage.cpuSeconds) };
function createEngine(): Engine {
  return ENGINE === "povray" ? createPovrayEngine({ sandbox }) : ENGINE === "blender" ? createBlenderEngine({ sandbox }) : createBuiltinEngine();
}
/** This process's own CPU seconds (all threads: the builtin engine's workers, PNG crops). */
function selfCpu(): number {
  const usage = process.resourceUsage();
  return (usage.userCPUTime + usage.systemCPUTime) / 1e6;
}
/** CPU of a stretch of direct rendering: the engine's (sandboxed, or in-process) and this process's around it. */
interface DirectCpu {
  engine: number;
  self: number;
}
function directCpuSince(start: { engine: number; self: number }): DirectCpu {
  return { engine: directEngineCpu - start.engine, self: selfCpu() - start.self };
}
/**
 * The CPU a direct render costs its author: the engine's. For the builtin engine that is this
 * process's (it renders in worker threads); for sandboxed engines the sandbox's count (this
 * process's own CPU, module loading and PNG crops, is not what running the engine costs).
 */
function engineCpuOf(cpu: DirectCpu): number {
  return ENGINE === "builtin" ? cpu.self : cpu.engine;
}
function directCpuMark() {
  return { engine: directEngineCpu, self: selfCpu() };
}
/** The provider's engine CPU counter (its /metrics), summed over engines. */
async function providerEngineCpu(apiUrl: string): Promise<number> {
  const text = await (await fetch(`${apiUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  let total = 0;
  for (const m of text.matchAll(/^tessellate_provider_engine_cpu_seconds_total(?:\{[^}]*\})? (\S+)$/gm)) total += Number(m[1]);
  return total;
}
const plan = {
  output: { width: options.width, height: options.height, format: "png" as const },
  frames: options.frames,
  segmentation: { tilesX: options.tilesX, tilesY: options.tilesY, framesPerSegment: options.framesPerSegment },
};
const segments: Segment[] = Array.from({ length: segmentCount(plan) }, (_, i) => segmentAt(plan, i));
/** What the provider gives one render (its defaults, with the thread count we set for it). */
const limits: RenderLimits = {
  threads,
  memoryBytes: DEFAULTS.limits.memoryBytes,
  timeoutMs: DEFAULTS.limits.renderTimeoutSeconds * 1000,
};
const settingsLine = `${ENGINE} engine, ${SCENE_DIR}/${SCENE_ENTRY}, ${options.width}x${options.height}, frames ${options.frames.start}-${options.frames.end}, ${options.tilesX}x${options.tilesY} tiles, ${options.framesPerSegment} frame(s) per segment, ${segments.length} segments, settings ${JSON.stringify(options.settings)}; ${threads} thread(s) per render, provider render slots ${concurrent} (--concurrent) of ${tilesPerRender ?? "the provider's default number of"} (--tiles-per-render) to ${maxTilesPerRender ?? "the provider's default most"} (--max-tiles-per-render) tile(s) of a job each`;

await runBench("overhead", { keep: values.keep }, async (run) => {
  run.print(`bench:overhead — ${settingsLine}`);

  // ---------------------------------------------------------------- direct, before
  const fullFrames = await renderFullFrames(run);
  const before = await renderDirect(run, "direct (before the network)");

  // ---------------------------------------------------------------- marketplace
  const network = await startBenchNetwork(run, PORTS);
  const provider = await network.startProvider({
    account: DEVNET_ROLES.firstProvider,
    httpPort: PORTS.providerPort,
    env: {
      TESSELLATE_ENGINES: ENGINE,
      TESSELLATE_CPU_THREADS: String(threads),
      TESSELLATE_MAX_CONCURRENT_SEGMENTS: String(concurrent),
      ...(tilesPerRender === undefined ? {} : { TESSELLATE_TILES_PER_RENDER: String(tilesPerRender) }),
      ...(maxTilesPerRender === undefined ? {} : { TESSELLATE_MAX_TILES_PER_RENDER: String(maxTilesPerRender) }),
      TESSELLATE_MEMORY_BYTES: String(limits.memoryBytes),
      TESSELLATE_RENDER_TIMEOUT_SECONDS: String(DEFAULTS.limits.renderTimeoutSeconds),
    },
  });
  run.signal.throwIfAborted();
  const observer = await observeMarket(network.rpcUrl, network.addresses.market);
  run.onCleanup(() => observer.stop());

  const pids = { provider: provider.process.pid, chain: network.chain.process.pid };
  // The same renders while the network runs but has nothing to do: separates what the network's
  // background activity (polling) costs the render from what the protocol steps cost.
  const idle = values["idle-pass"] ? await renderDirect(run, "direct (network up and idle)", pids) : undefined;

  const requester = await network.client(DEVNET_ROLES.requester);
  if (values["warm-up"]) await warmUp(run, requester, network.storage, observer);
  let createCalledAt = 0;
  let cpuStart: CpuSample | undefined;
  const timedMarket: MarketClient = {
    ...requester,
    account: requester.account,
    createJob: (params) => {
      cpuStart = cpuSample({ bench: process.pid, ...pids });
      createCalledAt = nowMs();
      return requester.createJob(params);
    },
  };
  const engineCpuBefore = await providerEngineCpu(provider.apiUrl);
  run.progress.set("marketplace: uploading the scene and posting the job", { force: true });
  const posted = await submitJob(options, { market: timedMarket, storage: network.storage, output: silentOutput, signal: run.signal });
  const jobId = posted.jobId;
  const accepted = () => jobEvents(observer.events, jobId, "SegmentAccepted");
  const directTotal = sum(before.map((r) => r.ms));
  const ticker = setInterval(() => {
    const claimed = new Set(jobEvents(observer.events, jobId, "ReplicasClaimed").flatMap((e) => e.event.args.slots.map(slotSegment))).size;
    run.progress.set(
      `marketplace: job ${jobId} · claimed ${claimed}/${segments.length} · accepted ${accepted().length}/${segments.length} · ${s(nowMs() - createCalledAt, 1)} (direct took ${s(directTotal, 1)})`,
    );
  }, 500);
  try {
    await observer.until(() => accepted().length >= segments.length, {
      timeoutMs: 120_000 + 5 * directTotal,
      signal: run.signal,
      what: `the ${segments.length} segments of job ${jobId} to be accepted (provider log: ${provider.logFile})`,
    });
  } finally {
    clearInterval(ticker);
  }
  const cpuEnd = cpuSample({ bench: process.pid, ...pids });
  const marketEngineCpu = (await providerEngineCpu(provider.apiUrl)) - engineCpuBefore;
  const acceptedEvents = accepted();
  const endAt = Math.max(...acceptedEvents.map((e) => e.at));
  const marketTotal = endAt - createCalledAt;
  const created = jobEvents(observer.events, jobId, "JobCreated")[0];
  const claims = jobEvents(observer.events, jobId, "ReplicasClaimed");
  await new Promise((r) => setTimeout(r, 300)); // let the provider's last log lines reach the file
  const log = readProviderLog(provider.logFile).filter((l) => l.jobId === String(jobId));
  run.progress.set(`marketplace: ${segments.length}/${segments.length} accepted in ${s(marketTotal)}; stopping the network`, { force: true });
  observer.stop();
  await network.stop();

  // ---------------------------------------------------------------- direct, after
  const after = await renderDirect(run, "direct (after the network stopped)");
  run.progress.done();

  // ---------------------------------------------------------------- per-segment timeline
  const rows = segments.map((seg) => {
    const claimedAt = claims.find((c) => c.event.args.slots.some((p) => slotSegment(p) === seg.index))?.at ?? Number.NaN;
    const acceptedAt = acceptedEvents.find((e) => e.event.args.segment === seg.index)?.at ?? Number.NaN;
    const rendering = findLine(log, "rendering", seg.index);
    const rendered = findLine(log, "rendered", seg.index);
    const renderMs = (rendered?.seconds ?? Number.NaN) * 1000;
    return {
      seg,
      claimedAt,
      acceptedAt,
      renderStartAt: rendering?.time ?? Number.NaN,
      renderedAt: rendered?.time ?? Number.NaN,
      renderMs,
      direct: [before[seg.index].ms, after[seg.index].ms],
    };
  });
  const byClaim = [...rows].sort((a, b) => a.claimedAt - b.claimedAt);
  const phases = {
    post: created.at - createCalledAt,
    firstClaim: byClaim[0].claimedAt - created.at,
    betweenClaims: sum(byClaim.slice(1).map((r, k) => r.claimedAt - byClaim[k].acceptedAt)),
    claimToRender: sum(rows.map((r) => r.renderStartAt - r.claimedAt)),
    render: sum(rows.map((r) => r.renderMs)),
    upload: sum(rows.map((r) => r.renderedAt - r.renderStartAt - r.renderMs)),
    reveal: sum(rows.map((r) => r.acceptedAt - r.renderedAt)),
  };
  const directMean = rows.map((r) => mean(r.direct));
  const direct = sum(directMean);
  const ratio = marketTotal / direct;
  const perSegment = direct / segments.length;
  const met = ratio <= TARGET_RATIO;
  const cores = availableParallelism();

  // ---------------------------------------------------------------- report
  const out = (line = "") => process.stdout.write(`${line}\n`);
  out();
  out(`bench:overhead — ${settingsLine}`);
  out(`events: ${observer.method}; provider phases from its log (${provider.logFile.replace(run.dir, "<tmp>")})`);
  out();
  out("Per segment, in claim order (direct: engine.render; marketplace: from the provider's log and the events)");
  for (const line of table([
    ["segment", "frame", "tile", "direct before", "direct after", "direct mean", ...(idle ? ["direct, net idle"] : []), "provider render", "claimed→start", "fetch+upload", "rendered→accepted"],
    ...byClaim.map((r) => [
      String(r.seg.index),
      r.seg.frames.join(","),
      `${r.seg.tile.width}x${r.seg.tile.height}+${r.seg.tile.x}+${r.seg.tile.y}`,
      s(r.direct[0]),
      s(r.direct[1]),
      s(mean(r.direct)),
      ...(idle ? [s(idle[r.seg.index].ms)] : []),
      s(r.renderMs),
      s(r.renderStartAt - r.claimedAt),
      s(r.renderedAt - r.renderStartAt - r.renderMs),
      s(r.acceptedAt - r.renderedAt),
    ]),
  ])) {
    out(`  ${line}`);
  }
  out();
  out("Where the marketplace time goes (createJob → last SegmentAccepted; the phases add up to the total)");
  const pct = (v: number) => `${((v / marketTotal) * 100).toFixed(1)} %`;
  for (const line of table([
    ["phase", "time", "share", "per segment"],
    ["post: createJob call → JobCreated", s(phases.post), pct(phases.post), ""],
    ["JobCreated → first claim", s(phases.firstClaim), pct(phases.firstClaim), ""],
    ["accepted → next claim (nothing held)", s(phases.betweenClaims), pct(phases.betweenClaims), segments.length > 1 ? s(phases.betweenClaims / (segments.length - 1)) : ""],
    ["claimed → render start", s(phases.claimToRender), pct(phases.claimToRender), s(phases.claimToRender / segments.length)],
    ["render (provider's engine time)", s(phases.render), pct(phases.render), s(phases.render / segments.length)],
    ["scene fetch + result upload to IPFS", s(phases.upload), pct(phases.upload), s(phases.upload / segments.length)],
    ["rendered → SegmentAccepted (direct reveal)", s(phases.reveal), pct(phases.reveal), s(phases.reveal / segments.length)],
    ["total", s(marketTotal), "100.0 %", s(marketTotal / segments.length)],
  ])) {
    out(`  ${line}`);
  }
  const protocol = marketTotal - phases.render;
  out(`  protocol steps (everything but the render): ${s(protocol)} = ${s(protocol / segments.length)} per segment;` +
    ` render under the marketplace vs direct: ${s(phases.render - direct)} (${(((phases.render - direct) / direct) * 100).toFixed(1)} %)`);
  out();
  out("CPU (machine-wide busy cores out of " + cores + ", and CPU seconds of our processes; the rest is other work on the machine)");
  const cpuRows: string[][] = [["window", "wall", "busy cores", "bench process", "sandboxed engine", "provider", "chain", "other processes"]];
  const cpuRow = (label: string, a: CpuSample, b: CpuSample, engineCpu: number) => {
    const c = cpuBetween(a, b, cores);
    const ours = (c.processes.bench ?? 0) + (c.processes.provider ?? 0) + (c.processes.chain ?? 0) + engineCpu;
    const cell = (v: number | undefined) => (v === undefined ? "—" : `${v.toFixed(2)} s`);
    cpuRows.push([label, `${c.wallSeconds.toFixed(1)} s`, c.busyCores.toFixed(2), cell(c.processes.bench), cell(engineCpu), cell(c.processes.provider), cell(c.processes.chain), `${(c.busyCores - ours / c.wallSeconds).toFixed(2)} cores`]);
  };
  cpuRow("direct before (render in bench)", ...before.cpu, before.direct.engine);
  if (idle) cpuRow("direct, network idle (render in bench)", ...idle.cpu, idle.direct.engine);
  cpuRow("marketplace (render in provider)", cpuStart!, cpuEnd, marketEngineCpu);
  cpuRow("direct after (render in bench)", ...after.cpu, after.direct.engine);
  for (const line of table(cpuRows)) out(`  ${line}`);
  out();
  // Issue 12's figure, per engine: the job through the market against the direct render of its
  // frames at full size (all frames in one engine process, no tiles), r = 1, one thread per render
  // and one segment at a time on both sides. CPU: the engine's own (the sandbox counts it) and all
  // of it (engine + provider + chain + this process, which hosts IPFS); wall time for reference.
  const market = cpuBetween(cpuStart!, cpuEnd, cores).processes;
  const marketCpu = {
    engine: marketEngineCpu,
    provider: market.provider ?? Number.NaN,
    chain: market.chain ?? Number.NaN,
    bench: market.bench ?? Number.NaN,
  };
  const marketAll = marketCpu.engine + marketCpu.provider + marketCpu.chain + marketCpu.bench;
  const fullCpu = engineCpuOf(fullFrames.cpu);
  const tilesCpu = mean([before.direct, after.direct].map(engineCpuOf));
  const cpuS = (v: number) => `${v.toFixed(2)} CPU-s`;
  const ratioCpuEngine = ENGINE === "builtin" ? marketCpu.provider / fullCpu : marketCpu.engine / fullCpu;
  const ratioCpuAll = marketAll / fullCpu;
  out(`Per-tile overhead (${ENGINE}${SCENE_NAME ? ` ${SCENE_NAME}` : ""}): the job through the market vs the direct full-frame render (all frames, one process, no tiles)`);
  for (const line of table([
    ["figure", "CPU", "wall"],
    ["direct full frames (1 thread)", cpuS(fullCpu), s(fullFrames.ms)],
    ["direct tiles, segment by segment (mean of before/after)", `${cpuS(tilesCpu)} = ${(tilesCpu / fullCpu).toFixed(3)} ×`, `${s(direct)} = ${(direct / fullFrames.ms).toFixed(3)} ×`],
    ["marketplace: engine", ENGINE === "builtin" ? "(in the provider)" : cpuS(marketCpu.engine), ""],
    ["marketplace: provider node", cpuS(marketCpu.provider), ""],
    ["marketplace: chain", cpuS(marketCpu.chain), ""],
    ["marketplace: this process (IPFS node, requester)", cpuS(marketCpu.bench), ""],
    ["marketplace total", cpuS(marketAll), s(marketTotal)],
    [`ratio, engine only (${ENGINE})`, ratioCpuEngine.toFixed(3), ""],
    [`ratio, all of it (${ENGINE})`, ratioCpuAll.toFixed(3), (marketTotal / fullFrames.ms).toFixed(3)],
    ["target (issue 12)", "<= 1.25", ""],
  ], { leftAligned: [1, 2] })) {
    out(`  ${line}`);
  }
  out(`  per segment, more than the direct full frames: ${cpuS((marketAll - fullCpu) / segments.length)} in all` +
    (ENGINE === "builtin" ? "" : `, of which engine ${cpuS((marketCpu.engine - fullCpu) / segments.length)}, provider node ${cpuS(marketCpu.provider / segments.length)}, chain ${cpuS(marketCpu.chain / segments.length)}`));
  out();
  out("Summary");
  for (const line of table([
    ["figure", "value"],
    ["segments", String(segments.length)],
    ["provider engine calls (its log: renders, less the tiles rendered together)", `${engineCalls(log)} (${log.filter((l) => l.msg === "rendering tiles together").length} group(s) of several tiles)`],
    ["threads per render", String(threads)],
    ["direct total (mean of before/after)", `${s(direct)}  (before ${s(sum(before.map((r) => r.ms)))}, after ${s(sum(after.map((r) => r.ms)))})`],
    ["direct per segment", s(perSegment)],
    ...(idle ? [["direct while the network idles", `${s(sum(idle.map((r) => r.ms)))} (${(sum(idle.map((r) => r.ms)) / direct).toFixed(3)} × quiet)`]] : []),
    ["marketplace total", s(marketTotal)],
    ["overhead", `${s(marketTotal - direct)} (${s((marketTotal - direct) / segments.length)} per segment)`],
    ["ratio marketplace / direct", ratio.toFixed(3)],
    ["ratio from protocol steps alone", `${((direct + protocol) / direct).toFixed(3)}  (= (direct + time outside the render) / direct)`],
    ["target", `<= ${TARGET_RATIO.toFixed(2)} for segments of >= ${MIN_SEGMENT_SECONDS} s`],
    ["result", met ? "target met" : "target missed"],
  ], { leftAligned: [1] })) {
    out(`  ${line}`);
  }
  if (perSegment < MIN_SEGMENT_SECONDS * 1000) {
    out(`  warning: segments took ${s(perSegment)} < ${MIN_SEGMENT_SECONDS} s each here; the target applies to >= ${MIN_SEGMENT_SECONDS} s — raise --samples`);
  }
  const spread = Math.abs(sum(before.map((r) => r.ms)) - sum(after.map((r) => r.ms))) / direct;
  if (spread > 0.05) out(`  note: the two direct passes differ by ${(spread * 100).toFixed(1)} %: the machine is busy, the ratio is uncertain by about that much`);
});

/**
 * The whole job rendered directly, as its author would without the market: every frame at full
 * size, all frames in one engine process where the engine can. Returns wall ms and the CPU
 * seconds of this process and the engine processes it started.
 */
async function renderFullFrames(run: BenchRun): Promise<{ ms: number; cpu: DirectCpu }> {
  const engine = createEngine();
  const outDir = join(run.dir, "direct-full");
  mkdirSync(outDir, { recursive: true });
  run.progress.set("direct full-frame render of every frame", { force: true });
  const common = {
    sceneDir: SCENE_DIR,
    entry: SCENE_ENTRY,
    width: options.width,
    height: options.height,
    rect: { x: 0, y: 0, width: options.width, height: options.height },
    frames: options.frames,
    settings: options.settings,
    limits,
    signal: run.signal,
  };
  const started = nowMs();
  const mark = directCpuMark();
  if (engine.renderFrames && options.frames.end > options.frames.start) {
    await engine.renderFrames({ ...common, first: options.frames.start, last: options.frames.end, outPathOf: (frame) => join(outDir, `frame-${frame}.png`), limits: { ...limits, timeoutMs: limits.timeoutMs * 100 } });
  } else {
    for (let frame = options.frames.start; frame <= options.frames.end; frame++) await engine.render({ ...common, frame, outPath: join(outDir, `frame-${frame}.png`) });
  }
  const ms = nowMs() - started;
  const cpu = directCpuSince(mark);
  run.print(`direct full frames (one process): ${s(ms)}, engine ${engineCpuOf(cpu).toFixed(2)} CPU-s`);
  return { ms, cpu };
}

/**
 * One small job through the market before the measured one (the first frame, one 64x48 tile, same
 * engine and scene), so that the figures are a running provider's: a fresh node process spends
 * its first job compiling code (V8) and warming caches, which a daemon that runs for days pays
 * once. The measured job then finds the scene in the provider's scene cache, as every tile after
 * a scene's first does.
 */
async function warmUp(run: BenchRun, market: MarketClient, storage: Parameters<typeof submitJob>[1]["storage"], observer: Awaited<ReturnType<typeof observeMarket>>): Promise<void> {
  run.progress.set("warm-up: one small job through the market", { force: true });
  const first = options.frames.start;
  const raw = { ...rawOptions, size: "64x48", tiles: "1x1", frames: `${first}-${first}`, framesPerSegment: "1" };
  const small = usage(() => parseSubmitOptions(SCENE_DIR, raw, undefined, sceneDefaults));
  const posted = await submitJob(small, { market, storage, output: silentOutput, signal: run.signal });
  await observer.until(() => jobEvents(observer.events, posted.jobId, "SegmentAccepted").length >= 1, {
    timeoutMs: 300_000,
    signal: run.signal,
    what: `the warm-up job ${posted.jobId} to be accepted`,
  });
}

/** Renders every segment with the engine directly, one after the other; per-segment wall times. */
async function renderDirect(run: BenchRun, label: string, pids: Record<string, number | undefined> = {}): Promise<DirectPass> {
  const engine = createEngine();
  const outDir = join(run.dir, "direct");
  mkdirSync(outDir, { recursive: true });
  const results: Array<{ index: number; ms: number }> = [];
  const cpuStart = cpuSample({ bench: process.pid, ...pids });
  const mark = directCpuMark();
  for (const seg of segments) {
    run.signal.throwIfAborted();
    run.progress.set(`${label}: segment ${seg.index + 1}/${segments.length}${results.length ? ` (last ${s(results.at(-1)!.ms)})` : ""}`, { force: true });
    const started = nowMs();
    if (engine.renderFrames && seg.frames.length > 1) {
      await engine.renderFrames({
        sceneDir: SCENE_DIR,
        entry: SCENE_ENTRY,
        width: options.width,
        height: options.height,
        rect: seg.tile,
        first: seg.frames[0]!,
        last: seg.frames.at(-1)!,
        frames: options.frames,
        settings: options.settings,
        outPathOf: (frame) => join(outDir, `segment-${seg.index}-frame-${frame}.png`),
        limits: { ...limits, timeoutMs: limits.timeoutMs * seg.frames.length },
        signal: run.signal,
      });
    }
    for (const frame of engine.renderFrames && seg.frames.length > 1 ? [] : seg.frames) {
      await engine.render({
        sceneDir: SCENE_DIR,
        entry: SCENE_ENTRY,
        width: options.width,
        height: options.height,
        rect: seg.tile,
        frame,
        frames: options.frames,
        settings: options.settings,
        outPath: join(outDir, `segment-${seg.index}-frame-${frame}.png`),
        limits,
        signal: run.signal,
      });
    }
    results.push({ index: seg.index, ms: nowMs() - started });
  }
  const cpuEnd = cpuSample({ bench: process.pid, ...pids });
  const cpu = directCpuSince(mark);
  run.print(`${label}: ${results.map((r) => s(r.ms)).join(", ")} — total ${s(sum(results.map((r) => r.ms)))}, engine ${engineCpuOf(cpu).toFixed(2)} CPU-s`);
  return Object.assign(results, { cpu: [cpuStart, cpuEnd] as [CpuSample, CpuSample], direct: cpu });
}

type DirectPass = Array<{ index: number; ms: number }> & { cpu: [CpuSample, CpuSample]; direct: DirectCpu };

/** Engine calls of the provider: its renders, counting a group of tiles rendered together once. */
function engineCalls(log: ProviderLogLine[]): number {
  const together = log.filter((l) => l.msg === "rendering tiles together").map((l) => l.segments?.length ?? 1);
  return log.filter((l) => l.msg === "rendering").length - sum(together.map((n) => n - 1));
}

function findLine(log: ProviderLogLine[], msg: string, segment: number): ProviderLogLine | undefined {
  return log.find((l) => l.msg === msg && l.segment === segment);
}
