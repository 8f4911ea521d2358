/**
 * `tessellate job submit <scene> …`: uploads the scene, writes and validates the manifest, shows
 * the plan, the cost and a render-time estimate, pays the escrow (approval or EIP-2612 permit)
 * and posts the job; then, unless `--no-wait`, watches it settle, composites the accepted
 * segments (digest-checked), optionally assembles a video and records the output on-chain, and
 * ends with a summary of what was paid and refunded.
 */
import { copyFile, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, extname, join, relative, resolve, sep } from "node:path";
import { parseSignature, type Address, type Hash } from "viem";
import { jobMarketAbi, renderTokenAbi } from "@tessellate/sdk/contracts.generated";
import { FatalError } from "@tessellate/sdk/errors";
import { estimateJob, type JobEstimate } from "@tessellate/sdk/estimate";
import { measuredEstimate, type MeasuredEstimate } from "@tessellate/sdk/measuredEstimate";
import { encodeManifest, MANIFEST_VERSION, validateManifest, type EngineName, type Manifest } from "@tessellate/sdk/manifest";
import { defaultAuditTerms, jobCost, jobTermsProblems, PLACEHOLDER_SCENE_CID, providersForAudits, SCENE_EXTENSIONS, type JobCost } from "@tessellate/sdk/jobRequest";
import { decodeProtocolEvents, eventsNamed, toProtocolError, type JobParams, type MarketClient } from "@tessellate/sdk/market";
import { permitTypedData, PERMIT_VALIDITY_SECONDS, type Eip712DomainView } from "@tessellate/sdk/permit";
import { AbandonReasonNames, protocolNow, sceneRefusals, Verification, type JobRecord } from "@tessellate/sdk/protocol";
import { frameGroupCount, segmentCount, tileCount } from "@tessellate/sdk/segmentPlan";
import type { AddProgress, Storage } from "@tessellate/sdk/storage";
import { assembleVideo, type AssembleVideoResult } from "@tessellate/sdk/node";
import { scanMarketProviders, tokenSymbol } from "../chainReads.ts";
import { describeEngineVersion, engineVersionsOf, needsCoverage, type JobNeeds, type ProviderScan } from "@tessellate/sdk/providerOffers";
import { UsageError, UsageErrors } from "../errors.ts";
import { describeVerification, formatDuration, formatElapsed, formatSeconds, formatTimestamp, formatTokens, plural, shortAddress } from "../format.ts";
import { silentOutput, type Output } from "../output.ts";
import { auditDefaultedOf, type SubmitOptions } from "../parse.ts";
import { createLiveLine, formatBytes, formatJobProgress, formatTaskProgress } from "../progress.ts";
import { formatSceneDefaults } from "../sceneDefaults.ts";
import { compositeJob, type FetchJobResult } from "./fetch.ts";
import { AUDIT_DRAW_GRACE_MS, waitForJob, type JobOutcome } from "./wait.ts";

export { SCENE_EXTENSIONS } from "@tessellate/sdk/jobRequest";


/** Manifest field → the flag that sets it, to phrase manifest problems as flag problems. */
const MANIFEST_FLAGS: Record<string, string> = {
  "engine.version": "--engine-version",
  "scene.entry": "--entry",
  "scene.sizeBytes": "<scene>",
  "output.width": "--size",
  "output.height": "--size",
  "frames.start": "--frames",
  "frames.end": "--frames",
  "segmentation.tilesX": "--tiles",
  "segmentation.tilesY": "--tiles",
  "segmentation.framesPerSegment": "--frames-per-segment",
  "settings.samples": "--samples",
  "settings.seed": "--seed",
  "settings.maxBounces": "--max-bounces",
  "verification.mode": "--verification",
  "verification.toleranceBps": "--tolerance",
};

export interface PreparedScene {
  /** Folder to upload. */
  dir: string;
  /** Entry file relative to `dir`. */
  entry: string;
  sizeBytes: number;
  files: number;
  /** Removes the temporary folder a single file was wrapped in. */
  cleanup(): Promise<void>;
}

async function walk(dir: string): Promise<{ files: string[]; bytes: number }> {
  const files: string[] = [];
  let bytes = 0;
  const visit = async (abs: string): Promise<void> => {
    for (const entry of await readdir(abs, { withFileTypes: true })) {
      const path = join(abs, entry.name);
      if (entry.isDirectory()) await visit(path);
      else if (entry.isFile()) {
        files.push(relative(dir, path).split(sep).join("/"));
        bytes += (await stat(path)).size;
      }
    }
  };
  await visit(dir);
  return { files, bytes };
}

/**
 * The scene upload's status line: bytes the IPFS node has stored of the total and the rate, then
 * the blocks it has pinned (a large scene takes a while to pin), then the summary.
 */
export function uploadProgressLine(progress: Omit<AddProgress, "stage"> & { stage?: AddProgress["stage"] | "done" }, totalBytes: number, elapsedMs: number, ascii: boolean): string {
  const seconds = Math.max(elapsedMs, 1) / 1000;
  const rate = `${formatBytes(Math.round(progress.bytes / seconds))}/s`;
  if (progress.stage === "done") return `uploaded scene ${formatBytes(totalBytes)} in ${seconds.toFixed(1)} s (${rate})`;
  if (progress.stage === "pinning") return `pinning scene on the IPFS node: ${progress.pinnedBlocks ?? 0} blocks pinned (${formatBytes(totalBytes)} stored)`;
  return `${formatTaskProgress("uploading scene", progress.bytes, totalBytes, "bytes", { ascii })} at ${rate}`;
}

/**
 * Resolves the scene argument: a folder is uploaded as it is; a single file is wrapped in a
 * temporary folder. The entry is `--entry`, or the folder's one scene file for the engine.
 * @throws UsageError naming `<scene>` or `--entry`.
 */
export async function prepareScene(scene: string, entry: string | undefined, engine: EngineName): Promise<PreparedScene> {
  let info;
  try {
    info = await stat(scene);
  } catch {
    throw new UsageError("<scene>", `${scene} does not exist`, "give the path of the scene folder (or of a single scene file)");
  }
  const exts = SCENE_EXTENSIONS[engine];
  if (info.isFile()) {
    if (entry !== undefined && entry !== basename(scene)) {
      throw new UsageError("--entry", `"${entry}" is not the scene file ${basename(scene)}`, "leave --entry out when the scene is a single file, or pass the scene's folder");
    }
    const dir = await mkdtemp(join(tmpdir(), "tessellate-scene-"));
    await copyFile(scene, join(dir, basename(scene)));
    if (info.size === 0) throw new UsageError("<scene>", `${scene} is empty`, "give a scene file with content");
    return { dir, entry: basename(scene), sizeBytes: info.size, files: 1, cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
  if (!info.isDirectory()) throw new UsageError("<scene>", `${scene} is neither a file nor a folder`, "give the path of the scene folder or file");
  const { files, bytes } = await walk(scene);
  if (files.length === 0 || bytes === 0) throw new UsageError("<scene>", `${scene} holds no files`, "give the folder holding the scene and everything it includes");
  const keep = { dir: resolve(scene), sizeBytes: bytes, files: files.length, cleanup: async () => undefined };
  if (entry !== undefined) {
    const normalized = entry.replace(/^\.\//, "");
    if (!files.includes(normalized)) {
      throw new UsageError("--entry", `${scene} holds no file "${entry}"`, `give the entry file's path relative to the scene folder${files.length <= 10 ? ` (files: ${files.join(", ")})` : ""}`);
    }
    return { ...keep, entry: normalized };
  }
  const candidates = files.filter((f) => !f.includes("/") && exts.includes(extname(f).toLowerCase()));
  if (candidates.length === 1) return { ...keep, entry: candidates[0] };
  if (candidates.length === 0) {
    throw new UsageError("--entry", `${scene} has no ${exts.join(" or ")} file at its top level for the ${engine} engine`, "name the scene's main file with --entry <path inside the folder>");
  }
  throw new UsageError("--entry", `${scene} holds several scene files (${candidates.join(", ")})`, `choose one with --entry ${candidates[0]}`);
}

/**
 * The manifest of a submission, validated by the sdk's schema; its problems are reported as
 * problems of the flags that set the fields.
 * @throws UsageErrors
 */
export function buildManifest(options: SubmitOptions, scene: { cid: string; entry: string; sizeBytes: number }, engineVersion: string): Manifest {
  const draft = {
    version: MANIFEST_VERSION,
    engine: { name: options.engine, version: engineVersion },
    scene: { cid: scene.cid, entry: scene.entry, sizeBytes: scene.sizeBytes },
    output: { width: options.width, height: options.height, format: "png" },
    frames: options.frames,
    settings: options.settings,
    segmentation: { tilesX: options.tilesX, tilesY: options.tilesY, framesPerSegment: options.framesPerSegment },
    verification: options.verification === "tolerant" ? { mode: options.verification, toleranceBps: options.toleranceBps } : { mode: options.verification },
  };
  const result = validateManifest(draft);
  if (result.ok) return result.manifest;
  throw new UsageErrors(
    result.problems.map((p) => {
      const path = p.path.map(String).join(".");
      const flag = MANIFEST_FLAGS[path] ?? (path.startsWith("settings") ? "--settings" : `manifest ${path}`);
      return new UsageError(flag, `${path}: ${p.problem}`, p.fix);
    }),
  );
}

export { jobCost, type JobCost } from "@tessellate/sdk/jobRequest";

/** The plan and cost block printed before paying. */
export function formatPlan(args: {
  manifest: Manifest;
  manifestCid: string;
  sceneLabel: string;
  scene: { cid: string; entry: string; sizeBytes: number; files: number };
  options: SubmitOptions;
  cost: JobCost;
  feeBps: number;
  estimate: JobEstimate;
  /** The estimate from the providers' measured renders, when some published them (then `estimate` is its). */
  measured?: MeasuredEstimate;
  symbol: string;
}): string[] {
  const { manifest: m, cost, options: o, estimate: e } = args;
  const t = (x: bigint) => formatTokens(x, { symbol: args.symbol });
  const frames = m.frames.end - m.frames.start + 1;
  return [
    `scene      ${args.sceneLabel} → ${args.scene.cid} (${plural(args.scene.files, "file")}, ${formatBytes(args.scene.sizeBytes)}, entry ${args.scene.entry})`,
    `manifest   ${args.manifestCid} (${m.engine.name} ${m.engine.version}, ${m.output.width}×${m.output.height} png, ${describeVerification(m.verification)})`,
    ...formatSceneDefaults(o.sceneDefaults),
    `plan       ${plural(cost.segments, "segment")} = ${plural(tileCount(m), "tile")} (${m.segmentation.tilesX}×${m.segmentation.tilesY}) × ${plural(frameGroupCount(m), "frame group")} (${plural(frames, "frame")} ${m.frames.start}–${m.frames.end}, ${m.segmentation.framesPerSegment} per segment)`,
    `           ${plural(o.redundancy, "replica")} per segment, quorum ${o.quorum}; lease ${formatDuration(o.leaseSeconds)}, reveal window ${formatDuration(o.revealWindowSeconds)}`,
    o.auditBps > 0
      ? `cost       escrow ${t(cost.escrow)} = ${plural(cost.segments, "segment")} × (${plural(o.redundancy, "replica")} + 1 auditor) × (${t(o.reward)} reward + ${t(cost.feePerReplica)} fee at ${args.feeBps / 100}%; accepting at most ${(o.maxFeeBps ?? args.feeBps) / 100}%)`
      : `cost       escrow ${t(cost.escrow)} = ${plural(cost.segments, "segment")} × ${plural(o.redundancy, "replica")} × (${t(o.reward)} reward + ${t(cost.feePerReplica)} fee at ${args.feeBps / 100}%; accepting at most ${(o.maxFeeBps ?? args.feeBps) / 100}%)`,
    `           providers lock ${t(o.collateral)} collateral per replica; unpaid budget is refunded`,
    ...(o.auditBps > 0
      ? [`audits     ${o.auditBps / 100} % of accepted segments are re-rendered by a drawn auditor before anyone is paid; an auditor's unit not used is refunded` +
          (o.auditDefaulted ? ` (the default for this job; --audit 0 turns audits off)` : "")]
      : o.auditDefaulted?.offReason
        ? [`audits     off: ${o.auditDefaulted.offReason}${o.auditDefaulted.overridable ? " (--audit <bp> audits anyway)" : ""}`]
        : []),
    `estimate   ~${formatSeconds(e.secondsPerSegment)} per segment, ~${formatSeconds(e.renderSecondsPerReplica)} to render every segment once, ~${formatSeconds(e.totalRenderSeconds)} for all replicas — ` +
      (args.measured
        ? `an ESTIMATE from ${plural(args.measured.renders, `measured ${m.engine.name} render`)} by ${plural(args.measured.providers, "provider")}, not a quote`
        : `an ESTIMATE at benchmark score ${o.benchmarkScore}, not a quote`),
    args.measured
      ? `           on those past renders this estimate was off by ×${factor(args.measured.calibratedError.median)} (median), ×${factor(args.measured.calibratedError.p90)} (90 %); the benchmark alone by ×${factor(args.measured.benchmarkError.median)}, ×${factor(args.measured.benchmarkError.p90)}`
      : `           no registered provider has published measured ${m.engine.name} render times yet: the benchmark estimate may be off several times`,
  ];
}

/** A miss factor (≥ 1) as people read it: 1.3, 2.4, 16. */
function factor(x: number): string {
  return x >= 10 ? x.toFixed(0) : x.toFixed(1);
}

export interface SubmitDeps {
  market: MarketClient;
  storage: Storage;
  output?: Output;
  /** The registered providers and their profiles (default: the registry's events and views, profiles from IPFS). */
  providers?: () => Promise<ProviderScan>;
  /** The registered providers, lower-case (default: read from the registry's events). */
  registeredProviders?: () => Promise<ReadonlySet<string>>;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  /** Poll interval while waiting (default from the connection). */
  pollIntervalMs?: number;
}

export interface SubmitResult {
  jobId: bigint;
  txHash: Hash;
  blockNumber: bigint;
  sceneCid: string;
  manifestCid: string;
  manifest: Manifest;
  params: JobParams;
  cost: JobCost;
  estimate: JobEstimate;
  /** Set when the command waited for the job. */
  outcome?: JobOutcome;
  fetched?: FetchJobResult;
  outDir?: string;
  video?: AssembleVideoResult;
  outputCid?: string;
}

/**
 * The lease and reveal window against this deployment's minimums (read from the chain: each
 * deployment sets its own, minutes on public networks), before anything is uploaded or paid.
 */
export async function checkTimingMinimums(
  market: Pick<MarketClient, "minLease" | "minRevealWindow">,
  options: Pick<SubmitOptions, "leaseSeconds" | "revealWindowSeconds" | "timingDefaulted">,
): Promise<{ leaseSeconds: number; revealWindowSeconds: number; raised: string[] }> {
  const [minLease, minRevealWindow] = await Promise.all([market.minLease(), market.minRevealWindow()]);
  // A default the user did not choose is raised to this market's minimum instead of refused.
  const raised: string[] = [];
  let { leaseSeconds, revealWindowSeconds } = options;
  if (options.timingDefaulted?.lease && leaseSeconds < minLease) {
    raised.push(`lease ${formatSeconds(minLease)} (this market's minimum, above the default ${formatSeconds(leaseSeconds)})`);
    leaseSeconds = minLease;
  }
  if (options.timingDefaulted?.revealWindow && revealWindowSeconds < minRevealWindow) {
    raised.push(`reveal window ${formatSeconds(minRevealWindow)} (this market's minimum, above the default ${formatSeconds(revealWindowSeconds)})`);
    revealWindowSeconds = minRevealWindow;
  }
  const problems = jobTermsProblems({ leaseSeconds, revealWindowSeconds }, { minLease, minRevealWindow });
  const flags: Record<string, string> = { leaseSeconds: "--lease", revealWindowSeconds: "--reveal-window" };
  const errors = problems.map((p) => new UsageError(flags[p.field] ?? p.field, p.problem, `${p.fix}, e.g. ${flags[p.field]} ${Math.ceil((p.field === "leaseSeconds" ? minLease : minRevealWindow) / 60)}m`));
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new UsageErrors(errors);
  return { leaseSeconds, revealWindowSeconds, raised };
}

/**
 * The warning `job submit` prints (before the upload and the escrow) when no registered provider
 * advertises everything the job needs — the engine, its exact version and the verification mode —
 * with how many offer each; empty when at least one offers it all.
 */
export function coverageWarning(scan: ProviderScan, needs: JobNeeds): string[] {
  const c = needsCoverage(scan, needs);
  if (c.all > 0) return [];
  const versions = engineVersionsOf(scan, needs.engine).versions;
  const offered = versions.length ? ` (${versions.map((v) => `${v.version} by ${v.providers}`).join(", ")})` : "";
  return [
    `WARNING    no registered provider advertises ${needs.engine} ${needs.version} with ${needs.verification} verification: of ${plural(c.registered, "registered provider")}` +
      `${c.unreadable ? ` (${c.unreadable} with an unreadable profile)` : ""}, ${c.engine} offer${c.engine === 1 ? "s" : ""} ${needs.engine}${offered}, ` +
      `${c.engineVersion} offer${c.engineVersion === 1 ? "s" : ""} version ${needs.version}, ${c.verification} render${c.verification === 1 ? "s" : ""} ${needs.verification} jobs`,
    `           nobody may claim this job and its escrow would wait until the deadline — ` +
      (c.engine > 0 && c.engineVersion === 0 ? `use --engine-version ${versions[0]!.version} (or leave it out), ` : "") +
      `or cancel it with \`tessellate job cancel\` once posted`,
  ];
}

/**
 * A default audit rate settled against the providers able to take the job (sdk
 * `defaultAuditTerms`): off, with the collateral the tools propose without audits, when fewer
 * than redundancy + 3 can (a dispute could not finish). A rate the user gave is kept.
 */
export function settleAudits(options: SubmitOptions, eligibleProviders: number): Pick<SubmitOptions, "auditBps" | "collateral" | "auditDefaulted"> {
  const given = options.auditDefaulted;
  if (!given) return { auditBps: options.auditBps, collateral: options.collateral };
  const terms = defaultAuditTerms(
    {
      verification: options.verification,
      redundancy: options.redundancy,
      quorum: options.quorum,
      rewardPerReplica: options.reward,
      ...(given.collateralGiven ? { collateralPerReplica: options.collateral } : {}),
    },
    eligibleProviders,
  );
  return { auditBps: terms.auditBps, collateral: terms.collateralPerReplica, auditDefaulted: auditDefaultedOf(terms, given.collateralGiven) };
}

/** The warning for an audit rate the user asked for on a network too small for a dispute to finish. */
export function auditStaffingWarning(options: Pick<SubmitOptions, "auditBps" | "auditDefaulted" | "redundancy">, eligibleProviders: number): string[] {
  const needed = providersForAudits(options.redundancy);
  if (options.auditBps === 0 || options.auditDefaulted || eligibleProviders >= needed) return [];
  return [
    `WARNING    ${plural(eligibleProviders, "registered provider")} can take this job; an audit and its escalation need ${needed} different providers: ` +
      `an audit nobody can take, or a dispute that cannot finish, leaves the accepted result standing at the deadline`,
  ];
}

/** Posts a job (and, with `options.wait`, sees it through). The market client must sign. */
export async function submitJob(given: SubmitOptions, deps: SubmitDeps): Promise<SubmitResult> {
  const { market, storage } = deps;
  const out = deps.output ?? silentOutput;
  const now = deps.now ?? Date.now;
  const started = now();
  const me = market.account;
  if (!me) throw new FatalError("CHAIN_NO_ACCOUNT", "job submit sends transactions: configure the requester's key");
  const ascii = !out.progress.isTTY;
  const timing = await checkTimingMinimums(market, given);
  let scanned: Promise<ProviderScan> | undefined;
  const scan = () => (scanned ??= (deps.providers ?? (() => scanMarketProviders(market, storage, { signal: deps.signal })))());
  const options: SubmitOptions = { ...given, leaseSeconds: timing.leaseSeconds, revealWindowSeconds: timing.revealWindowSeconds };
  for (const line of timing.raised) out.print(`timing     ${line}`);

  // ------------------------------------------------------------ engine, scene, manifest
  let engineVersion = options.engineVersion;
  if (engineVersion === undefined) {
    // The version providers run, not one found on this machine: only they render the job.
    const offers = engineVersionsOf(await scan(), options.engine);
    const chosen = offers.versions[0];
    if (!chosen) {
      throw new UsageError(
        "--engine-version",
        `no registered provider advertises the ${options.engine} engine (${offers.registered} registered${offers.unreadable ? `, ${offers.unreadable} with an unreadable profile` : ""}), so there is no version to default to`,
        `pass the exact version you expect providers to run, e.g. --engine-version 3.7.0.10`,
      );
    }
    engineVersion = chosen.version;
    out.print(`engine     ${describeEngineVersion(offers, chosen)}`);
  }
  // Before anything is uploaded or paid: would any registered provider take this job at all?
  const needs: JobNeeds = { engine: options.engine, version: engineVersion, verification: options.verification };
  for (const line of coverageWarning(await scan(), needs)) out.print(line);
  const eligible = needsCoverage(await scan(), needs).all;
  Object.assign(options, settleAudits(options, eligible));
  for (const line of auditStaffingWarning(options, eligible)) out.print(line);
  const prepared = await prepareScene(options.scene, options.entry, options.engine);
  // Everything the manifest says is checked before anything is uploaded: a job that would be
  // refused (anti-aliasing or the denoiser in exact mode, an unknown settings key…) costs no upload.
  try {
    buildManifest(options, { cid: PLACEHOLDER_SCENE_CID, entry: prepared.entry, sizeBytes: prepared.sizeBytes }, engineVersion);
  } catch (error) {
    await prepared.cleanup();
    throw error;
  }
  let sceneCid: string;
  try {
    const live = createLiveLine(out.progress);
    const uploadStarted = now();
    sceneCid = await storage.addFolder(prepared.dir, {
      signal: deps.signal,
      onProgress: (progress) => live.set(uploadProgressLine(progress, prepared.sizeBytes, now() - uploadStarted, ascii)),
    });
    live.done(uploadProgressLine({ bytes: prepared.sizeBytes, stage: "done" }, prepared.sizeBytes, now() - uploadStarted, ascii));
  } finally {
    await prepared.cleanup();
  }
  const manifest = buildManifest(options, { cid: sceneCid, entry: prepared.entry, sizeBytes: prepared.sizeBytes }, engineVersion);
  const manifestCid = await storage.addBytes(encodeManifest(manifest), { signal: deps.signal });
  const segments = segmentCount(manifest);

  // ------------------------------------------------------------ cost and plan
  const [feeBps, symbol, balance, chainNow] = await Promise.all([market.feeBps(), tokenSymbol(market), market.tokenBalanceOf(me), market.latestTimestamp()]);
  const cost = jobCost(segments, options.redundancy, options.reward, feeBps, options.auditBps);
  // Measured history first: the providers' published render times for this engine.
  const measured = measuredEstimate(manifest, options.redundancy, (await scan()).providers.flatMap((p) => (p.profile ? [p.profile] : [])), options.reward);
  const estimate = measured?.estimate ?? estimateJob({ manifest, benchmarkScore: options.benchmarkScore, redundancy: options.redundancy, rewardPerReplica: options.reward });
  for (const line of formatPlan({ manifest, manifestCid, sceneLabel: options.scene, scene: { cid: sceneCid, entry: prepared.entry, sizeBytes: prepared.sizeBytes, files: prepared.files }, options, cost, feeBps, estimate, measured, symbol })) {
    out.print(line);
  }
  if (balance < cost.escrow) {
    throw new FatalError(
      "CLI_INSUFFICIENT_FUNDS",
      `${me} holds ${formatTokens(balance, { symbol })}, but the job escrows ${formatTokens(cost.escrow, { symbol })} — get more tokens, or lower --reward, --redundancy or the number of segments`,
    );
  }
  const clock = protocolNow(chainNow, now());
  const deadline = options.deadline.kind === "relative" ? clock + BigInt(options.deadline.seconds) : BigInt(options.deadline.timestamp);
  const earliest = clock + BigInt(options.leaseSeconds + options.revealWindowSeconds);
  if (deadline < earliest) {
    throw new UsageError("--deadline", `${formatTimestamp(deadline, clock)} leaves less than one lease plus one reveal window on the chain's clock`, "give a later deadline, e.g. --deadline 2h");
  }
  const params: JobParams = {
    manifestCid,
    segmentCount: segments,
    redundancy: options.redundancy,
    quorum: options.quorum,
    rewardPerReplica: options.reward,
    collateralPerReplica: options.collateral,
    leaseDuration: options.leaseSeconds,
    revealWindow: options.revealWindowSeconds,
    deadline,
    minReputation: options.minReputation,
    maxFeeBps: options.maxFeeBps ?? feeBps,
    verification: manifest.verification.mode === "tolerant" ? Verification.Tolerant : Verification.Exact,
    toleranceBps: manifest.verification.mode === "tolerant" ? manifest.verification.toleranceBps! : 0,
    auditBps: options.auditBps,
  };

  // ------------------------------------------------------------ pay and post
  let posted: { jobId: bigint; hash: Hash; blockNumber: bigint };
  if (options.permit) {
    posted = await createJobWithPermit(market, params, cost.escrow, clock);
  } else {
    const allowance = await market.allowance(me, market.addresses.market);
    if (allowance < cost.escrow) {
      const approval = await market.approve(market.addresses.market, cost.escrow);
      out.print(`approved   ${formatTokens(cost.escrow, { symbol })} for the market (tx ${approval.hash})`);
    }
    const created = await market.createJob(params);
    posted = { jobId: created.jobId, hash: created.hash, blockNumber: created.receipt.blockNumber };
  }
  out.print(`posted     job ${posted.jobId} (tx ${posted.hash}, block ${posted.blockNumber}), deadline ${formatTimestamp(deadline, clock)}`);

  const result: SubmitResult = { jobId: posted.jobId, txHash: posted.hash, blockNumber: posted.blockNumber, sceneCid, manifestCid, manifest, params, cost, estimate };
  if (!options.wait) {
    out.print(`not waiting: watch it with \`tessellate job status ${posted.jobId}\`, collect it with \`tessellate job fetch ${posted.jobId} --out <dir>\``);
    return result;
  }

  // ------------------------------------------------------------ watch, composite, record
  const live = createLiveLine(out.progress);
  const shownRefusals = new Set<string>();
  let registered: Set<string> | undefined;
  let outcome: JobOutcome;
  try {
    outcome = await waitForJob(
      {
        jobId: posted.jobId,
        fromBlock: posted.blockNumber,
        closeWhenExpired: true,
        drawDueAudits: { afterMs: AUDIT_DRAW_GRACE_MS },
        signal: deps.signal,
        pollIntervalMs: deps.pollIntervalMs,
        onProgress: (p, job) => {
          for (const line of newRefusalLines(job, shownRefusals)) live.log(line);
          live.set(formatJobProgress(p, { ascii }));
        },
        registeredProviders: deps.registeredProviders ?? (async () => {
          registered ??= new Set((await scanMarketProviders(market, storage, { signal: deps.signal, readProfiles: false })).providers.map((p) => p.address.toLowerCase()));
          return registered;
        }),
      },
      { market, now, sleep: deps.sleep },
    );
  } catch (error) {
    live.done();
    if (deps.signal?.aborted) out.print(`stopped watching; job ${posted.jobId} goes on on-chain — \`tessellate job status ${posted.jobId}\``);
    throw error;
  }
  live.done();
  result.outcome = outcome;
  if (outcome.stoppedEarly === "refused") {
    out.print(`REFUSED    every registered provider gave job ${posted.jobId} back because of its scene (reasons above); nobody will render it as it is`);
    out.print(`           get the escrow back with \`tessellate job cancel ${posted.jobId}\`, fix the scene and submit again`);
    return result;
  }
  if (outcome.failed.length > 0) out.print(`FAILED     ${plural(outcome.failed.length, "segment")} found no quorum (${outcome.failed.join(", ")}): their budget was refunded`);
  if (outcome.closed.length > 0) out.print(`closed     ${plural(outcome.closed.length, "segment")} without a result (${outcome.closed.join(", ")}): refunded`);

  const outDir = resolve(options.out || `tessellate-job-${posted.jobId}`);
  result.outDir = outDir;
  if (outcome.accepted.size > 0) {
    result.fetched = await compositeJob({ job: outcome.job, outcome, outDir, signal: deps.signal }, { storage, output: out });
    const complete = result.fetched.report.frames.length === result.fetched.report.totalFrames;
    if (options.video !== undefined) {
      if (!complete) out.print("video      not assembled: some frames are missing");
      else {
        const outPath = options.video === "" ? join(outDir, `job-${posted.jobId}.mp4`) : resolve(options.video);
        result.video = await assembleVideo({ framesDir: outDir, fps: options.fps, outPath, signal: deps.signal });
        out.print(result.video.ok ? `video      ${result.video.outPath} (${result.video.frameCount} frames at ${options.fps} fps)` : `video      ${result.video.message}`);
      }
    }
    if (options.recordOutput) {
      if (!complete) out.print("output     not recorded on-chain: some frames are missing");
      else {
        result.outputCid = await storage.addFolder(outDir, { signal: deps.signal });
        const recorded = await market.recordOutput(posted.jobId, result.outputCid);
        out.print(`output     ${result.outputCid} recorded on-chain (tx ${recorded.hash})`);
      }
    }
  }

  const m = outcome.money;
  const t = (x: bigint) => formatTokens(x, { symbol });
  out.print(`summary    ${outcome.accepted.size}/${segments} segments accepted in ${formatElapsed(now() - started)}`);
  out.print(`           paid ${t(m.paid)} in rewards + ${t(m.fees)} fees; refunded ${t(m.refunded)}${m.compensation > 0n ? `; compensation ${t(m.compensation)}` : ""}; escrow left ${t(m.escrowLeft)}`);
  const owed = await market.marketBalanceOf(me);
  if (owed > 0n) out.print(`           withdrawable balance ${t(owed)} — \`tessellate withdraw\``);
  return result;
}

/** Exit code of a submission: 0 when posted (--no-wait) or fully rendered and composited, else 1. */
export function submitExitCode(result: SubmitResult): number {
  if (!result.outcome) return 0;
  if (!result.outcome.complete) return 1;
  if (!result.fetched) return 1;
  return result.fetched.report.frames.length === result.fetched.report.totalFrames ? 0 : 1;
}

/**
 * Pays with an EIP-2612 permit: signs `Permit(owner, market, escrow, nonce, deadline)` for the
 * token's EIP-712 domain (read from `eip712Domain()`), then calls `createJobWithPermit`.
 */
export async function createJobWithPermit(market: MarketClient, params: JobParams, escrow: bigint, nowSeconds: bigint): Promise<{ jobId: bigint; hash: Hash; blockNumber: bigint }> {
  const { publicClient, walletClient } = market.conn;
  if (!walletClient) throw new FatalError("CHAIN_NO_ACCOUNT", "paying with a permit needs a key");
  const owner = walletClient.account.address as Address;
  const token = market.addresses.token;
  let nonce: bigint;
  let domain: Eip712DomainView;
  try {
    [nonce, domain] = await Promise.all([
      publicClient.readContract({ address: token, abi: renderTokenAbi, functionName: "nonces", args: [owner] }) as Promise<bigint>,
      publicClient.readContract({ address: token, abi: renderTokenAbi, functionName: "eip712Domain" }) as Promise<Eip712DomainView>,
    ]);
  } catch (error) {
    throw new FatalError("CLI_PERMIT_UNSUPPORTED", `the token ${token} does not support EIP-2612 permits (${(error as Error).message.split("\n")[0]}) — leave out --permit to pay with an approval`, { cause: error });
  }
  const permitDeadline = nowSeconds + PERMIT_VALIDITY_SECONDS;
  const signature = await walletClient.signTypedData({
    account: walletClient.account,
    ...permitTypedData(domain, { owner, spender: market.addresses.market, value: escrow, nonce, deadline: permitDeadline }),
  });
  const { r, s, yParity } = parseSignature(signature);
  const posted = await market.createJobWithPermit(params, { deadline: permitDeadline, v: 27 + (yParity ?? 0), r, s });
  return { jobId: posted.jobId, hash: posted.hash, blockNumber: posted.receipt.blockNumber };
}

/** Lines for the scene refusals of `job` not shown yet ("provider 0xab…cd refused segment 3: …"). */
export function newRefusalLines(job: JobRecord, shown: Set<string>): string[] {
  const lines: string[] = [];
  for (const [provider, refusal] of sceneRefusals(job)) {
    const key = `${provider}:${refusal.blockNumber}`;
    if (shown.has(key)) continue;
    shown.add(key);
    lines.push(`refused    ${shortAddress(refusal.provider)} gave segment ${refusal.segment} back: ${AbandonReasonNames[refusal.reason]}${refusal.detail ? ` — ${refusal.detail}` : ""}`);
  }
  return lines;
}
