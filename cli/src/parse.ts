/**
 * Parsing and checking of command-line values. Every parser names the flag it read, says what
 * was wrong and how to write it instead; {@link parseSubmitOptions} collects every problem of a
 * `job submit` command line at once and throws them together (exit code 2).
 */
import { DEFAULT_TOLERANCE_BPS } from "@tessellate/sdk/fingerprint";
import { DEFAULT_VERIFICATION, ENGINE_NAMES, MANIFEST_LIMITS, VERIFICATION_MODES, type EngineName, type VerificationMode } from "@tessellate/sdk/manifest";
import { jobMarketConstants } from "@tessellate/sdk/protocol";
import { defaultAuditTerms, jobTermsProblems, MAX_UINT96, quorumRange, type JobTerms } from "@tessellate/sdk/jobRequest";
import { parseUnits } from "viem";
import { UsageError, UsageErrors } from "./errors.ts";
import { TOKEN_DECIMALS } from "./format.ts";
import type { SceneDefaults } from "./sceneDefaults.ts";

/** The flag that sets each of the sdk's job terms, to report `jobTermsProblems` as flag problems. */
const TERMS_FLAGS: Record<keyof JobTerms, string> = {
  redundancy: "--redundancy",
  quorum: "--quorum",
  rewardPerReplica: "--reward",
  collateralPerReplica: "--collateral",
  leaseSeconds: "--lease",
  revealWindowSeconds: "--reveal-window",
  deadlineInSeconds: "--deadline",
  minReputation: "--min-reputation",
  verification: "--verification",
  toleranceBps: "--tolerance",
  auditBps: "--audit",
};

/** Defaults of `job submit`, in one place. Money (`--reward`) and the image size have none. */
export const SUBMIT_DEFAULTS = {
  engine: "builtin",
  frames: "1",
  tiles: "1x1",
  framesPerSegment: "1",
  redundancy: "2",
  samples: "16",
  seed: "1",
  maxBounces: "4",
  lease: "300",
  revealWindow: "120",
  deadline: "2h",
  minReputation: "0",
  /** Tolerant jobs only, in parts of 10,000 (the verification mode's default depends on the engine: DEFAULT_VERIFICATION). */
  tolerance: String(DEFAULT_TOLERANCE_BPS),
  fps: "24",
  /** Thousands of samples per second: roughly one current CPU core on the builtin engine. */
  benchmarkScore: "1000",
} as const;

/** A deadline relative to the chain's clock when the job is posted, or an absolute time. */
export type DeadlineSpec = { kind: "relative"; seconds: number } | { kind: "absolute"; timestamp: number };

/** A `job submit` command line, checked. */
export interface SubmitOptions {
  /** Scene folder, or a single scene file (wrapped in a folder when uploaded). */
  scene: string;
  /** Entry file inside the scene folder; found automatically when the folder holds one scene file. */
  entry?: string;
  engine: EngineName;
  /** Exact engine version for the manifest; detected from the local engine when absent. */
  engineVersion?: string;
  width: number;
  height: number;
  frames: { start: number; end: number };
  tilesX: number;
  tilesY: number;
  framesPerSegment: number;
  redundancy: number;
  quorum: number;
  /** Token base units paid to each agreeing replica. */
  reward: bigint;
  /** Token base units each replica locks; at least the reward. */
  collateral: bigint;
  /** Engine settings for the manifest (validated again by the manifest schema). */
  settings: Record<string, unknown>;
  leaseSeconds: number;
  revealWindowSeconds: number;
  /** Whether the lease / reveal window are the CLI's defaults (raised to a deployment's minimum then), not the user's. */
  timingDefaulted?: { lease: boolean; revealWindow: boolean };
  deadline: DeadlineSpec;
  minReputation: number;
  /** Highest protocol fee (basis points) the job accepts; absent: the market's current fee. */
  maxFeeBps?: number;
  verification: VerificationMode;
  /** Tolerant jobs: the share of compared fingerprint blocks (parts of 10,000) that may differ; absent in exact jobs. */
  toleranceBps?: number;
  /** Share of accepted segments re-rendered by a drawn auditor before payment (parts of 10,000); 0 = none. */
  auditBps: number;
  /**
   * Present when `auditBps` (and with it the collateral, unless given) is the tools' default, not
   * the user's: `job submit` settles it against the providers able to take the job
   * (sdk `defaultAuditTerms`); `offReason` says why audits are off when they are.
   */
  auditDefaulted?: { collateralGiven: boolean; offReason?: string; overridable?: boolean };
  /** Folder the composited frames are written to. */
  out: string;
  /** Watch progress and composite when done (false with `--no-wait`). */
  wait: boolean;
  /** Pay with an EIP-2612 permit instead of an approval transaction. */
  permit: boolean;
  /** Video file to assemble with ffmpeg after compositing, when given ("" = `job-<id>.mp4` in the output folder). */
  video?: string;
  fps: number;
  /** Record the output folder's CID on-chain after compositing. */
  recordOutput: boolean;
  /** Benchmark score assumed for the render-time estimate (thousands of samples per second). */
  benchmarkScore: number;
  /** The scene's own settings, used for what the command line left out (shown in the plan). */
  sceneDefaults?: SceneDefaults;
}

/** `SubmitOptions.auditDefaulted` for default audit terms (sdk `defaultAuditTerms`'s answer). */
export function auditDefaultedOf(terms: ReturnType<typeof defaultAuditTerms>, collateralGiven: boolean): NonNullable<SubmitOptions["auditDefaulted"]> {
  return { collateralGiven, ...(terms.reason === undefined ? {} : { offReason: terms.reason, overridable: terms.overridable }) };
}

/** Raw `job submit` values as commander hands them over (strings, booleans, undefined). */
export interface RawSubmitOptions {
  entry?: string;
  engine?: string;
  engineVersion?: string;
  size?: string;
  frames?: string;
  tiles?: string;
  framesPerSegment?: string;
  redundancy?: string;
  quorum?: string;
  reward?: string;
  collateral?: string;
  samples?: string;
  seed?: string;
  maxBounces?: string;
  settings?: string;
  lease?: string;
  revealWindow?: string;
  deadline?: string;
  minReputation?: string;
  maxFee?: string;
  verification?: string;
  tolerance?: string;
  audit?: string;
  out?: string;
  wait?: boolean;
  permit?: boolean;
  video?: string | boolean;
  fps?: string;
  recordOutput?: boolean;
  benchmarkScore?: string;
  /** false with `--no-scene-settings`: read nothing from the scene (INI file, .blend settings). */
  sceneSettings?: boolean;
}

/** The verification mode of a job whose command line names none: the engine's (Blender: tolerant); exact for a name that is not an engine. */
export function defaultVerification(engine: string): VerificationMode {
  return (ENGINE_NAMES as readonly string[]).includes(engine) ? DEFAULT_VERIFICATION[engine as EngineName] : "exact";
}

// ------------------------------------------------------------------------------ single values

/** `WIDTHxHEIGHT`, e.g. `160x120`. */
export function parseSize(flag: string, value: string): { width: number; height: number } {
  const match = /^\s*(\d+)\s*[xX×]\s*(\d+)\s*$/.exec(value);
  if (!match) throw new UsageError(flag, `"${value}" is not WIDTHxHEIGHT`, `write the image size in pixels as e.g. ${flag} 160x120`);
  const [width, height] = [Number(match[1]), Number(match[2])];
  for (const [name, n] of [["width", width], ["height", height]] as const) {
    if (n < 1 || n > MANIFEST_LIMITS.maxImageSide) {
      throw new UsageError(flag, `${name} ${n} is out of range`, `use 1 to ${MANIFEST_LIMITS.maxImageSide} pixels per side, e.g. ${flag} 160x120`);
    }
  }
  return { width, height };
}

/** `COLUMNSxROWS` of tiles, e.g. `2x2`. */
export function parseGrid(flag: string, value: string): { x: number; y: number } {
  const match = /^\s*(\d+)\s*[xX×]\s*(\d+)\s*$/.exec(value);
  if (!match) throw new UsageError(flag, `"${value}" is not COLUMNSxROWS`, `write the tiling as tiles across x tiles down, e.g. ${flag} 2x2`);
  const [x, y] = [Number(match[1]), Number(match[2])];
  if (x < 1 || y < 1 || x > MANIFEST_LIMITS.maxTilesPerSide || y > MANIFEST_LIMITS.maxTilesPerSide) {
    throw new UsageError(flag, `${x}x${y} tiles is out of range`, `use 1 to ${MANIFEST_LIMITS.maxTilesPerSide} tiles per side, e.g. ${flag} 2x2`);
  }
  return { x, y };
}

/** An inclusive frame range `FIRST-LAST`, or one frame `N`. */
export function parseFrameRange(flag: string, value: string): { start: number; end: number } {
  const match = /^\s*(\d+)\s*(?:(?:-|\.\.)\s*(\d+)\s*)?$/.exec(value);
  if (!match) {
    throw new UsageError(flag, `"${value}" is not a frame range`, `write FIRST-LAST (inclusive), e.g. ${flag} 1-8, or one frame number, e.g. ${flag} 1`);
  }
  const start = Number(match[1]);
  const end = match[2] === undefined ? start : Number(match[2]);
  if (end < start) {
    throw new UsageError(flag, `the last frame ${end} comes before the first frame ${start}`, `write the range first-last, e.g. ${flag} ${end}-${start}`);
  }
  if (end - start + 1 > MANIFEST_LIMITS.maxFrameCount) {
    throw new UsageError(flag, `${end - start + 1} frames is more than ${MANIFEST_LIMITS.maxFrameCount}`, "split the animation into several jobs");
  }
  return { start, end };
}

/** An integer in `[min, max]`. */
export function parseInteger(flag: string, value: string, min: number, max: number, example?: number): number {
  const trimmed = value.trim();
  if (!/^-?\d+$/.test(trimmed)) {
    throw new UsageError(flag, `"${value}" is not a whole number`, `use an integer from ${min} to ${max}${example === undefined ? "" : `, e.g. ${flag} ${example}`}`);
  }
  const n = Number(trimmed);
  if (n < min || n > max) throw new UsageError(flag, `${n} is out of range`, `use an integer from ${min} to ${max}${example === undefined ? "" : `, e.g. ${flag} ${example}`}`);
  return n;
}

/** A positive number (for rates and scores). */
export function parsePositiveNumber(flag: string, value: string, example: number): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n <= 0) throw new UsageError(flag, `"${value}" is not a positive number`, `e.g. ${flag} ${example}`);
  return n;
}

/**
 * A token amount in tokens (decimal, up to 18 fraction digits) → base units. `allowZero` false
 * rejects 0; amounts above the contracts' 96-bit fields are rejected too.
 */
export function parseTokenAmount(flag: string, value: string, options: { allowZero?: boolean; example?: string } = {}): bigint {
  const trimmed = value.trim().replace(/_/g, "");
  const example = options.example ?? "1.5";
  if (!/^\d+(\.\d+)?$/.test(trimmed) && !/^\.\d+$/.test(trimmed)) {
    throw new UsageError(flag, `"${value}" is not an amount of tokens`, `write a decimal number of tokens, e.g. ${flag} ${example}`);
  }
  const fraction = trimmed.split(".")[1] ?? "";
  if (fraction.length > TOKEN_DECIMALS) {
    throw new UsageError(flag, `"${value}" has more than ${TOKEN_DECIMALS} decimals`, `the token has ${TOKEN_DECIMALS} decimals: round it, e.g. ${flag} ${example}`);
  }
  const amount = parseUnits(trimmed.startsWith(".") ? `0${trimmed}` : trimmed, TOKEN_DECIMALS);
  if (amount === 0n && !options.allowZero) throw new UsageError(flag, "must be more than 0", `give a positive amount of tokens, e.g. ${flag} ${example}`);
  if (amount > MAX_UINT96) throw new UsageError(flag, `${value} tokens is more than the contracts can hold per replica`, "use a smaller amount");
  return amount;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** A duration: seconds (`300`) or with units (`90s`, `5m`, `2h`, `1d`, `1h30m`). Returns seconds. */
export function parseDuration(flag: string, value: string, example = "5m"): number {
  const trimmed = value.trim().toLowerCase();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const parts = [...trimmed.matchAll(/(\d+)\s*([smhdw])/g)];
  const rebuilt = parts.map((p) => p[0].replace(/\s+/g, "")).join("");
  if (parts.length === 0 || rebuilt !== trimmed.replace(/\s+/g, "")) {
    throw new UsageError(flag, `"${value}" is not a duration`, `write seconds (300) or a number with a unit s, m, h, d or w (e.g. ${flag} ${example})`);
  }
  return parts.reduce((total, p) => total + Number(p[1]) * UNIT_SECONDS[p[2]], 0);
}

/**
 * A job deadline: a duration from now (`2h`, `1d`) or an absolute date (`2030-01-01T12:00:00Z`).
 * An absolute date must be in the future of `nowSeconds` (the local clock; the chain's clock is
 * checked again when the job is posted).
 */
export function parseDeadline(flag: string, value: string, nowSeconds: number): DeadlineSpec {
  const trimmed = value.trim();
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    const ms = Date.parse(trimmed);
    if (Number.isNaN(ms)) throw new UsageError(flag, `"${value}" is not a date`, `write an ISO date like ${flag} 2030-01-01T12:00:00Z, or a duration like ${flag} 2h`);
    const timestamp = Math.floor(ms / 1000);
    if (timestamp <= nowSeconds) {
      throw new UsageError(flag, `${new Date(ms).toISOString()} is in the past`, `give a duration from now like ${flag} 2h, or a date in the future`);
    }
    return { kind: "absolute", timestamp };
  }
  if (/^-/.test(trimmed)) throw new UsageError(flag, `"${value}" is in the past`, `give a duration from now like ${flag} 2h`);
  const seconds = parseDuration(flag, trimmed, "2h");
  if (seconds === 0) throw new UsageError(flag, "a deadline of 0 s from now is already past", `give a duration from now like ${flag} 2h`);
  return { kind: "relative", seconds };
}

/** A JSON object (for `--settings`). */
export function parseJsonObject(flag: string, value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new UsageError(flag, `is not JSON (${(error as Error).message})`, `write a JSON object, e.g. ${flag} '{"samples":64}'`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(flag, "is not a JSON object", `write a JSON object, e.g. ${flag} '{"samples":64}'`);
  }
  return parsed as Record<string, unknown>;
}

/** A non-negative integer id (job id, block number) as a bigint. */
export function parseId(flag: string, value: string): bigint {
  if (!/^\s*\d+\s*$/.test(value)) throw new UsageError(flag, `"${value}" is not a number`, `give a non-negative integer, e.g. ${flag === "<jobId>" ? "tessellate job status 1" : `${flag} 0`}`);
  return BigInt(value.trim());
}

// ------------------------------------------------------------------------------ job submit

/** Engine settings from the common flags: which flags each engine reads. */
export const ENGINE_SETTING_FLAGS: Record<EngineName, Array<"samples" | "seed" | "maxBounces">> = {
  builtin: ["samples", "seed", "maxBounces"],
  blender: ["samples", "seed"],
  povray: ["seed"],
};

/**
 * Checks a `job submit` command line. Every problem is collected and thrown together.
 * @param nowSeconds the local clock, to reject a deadline date in the past
 * @param sceneDefaults the scene's own settings (cli/src/sceneDefaults.ts), for what `raw` leaves out
 * @throws UsageErrors (exit code 2)
 */
export function parseSubmitOptions(
  scene: string | undefined,
  raw: RawSubmitOptions,
  nowSeconds = Math.floor(Date.now() / 1000),
  sceneDefaults?: SceneDefaults,
): SubmitOptions {
  const problems: UsageError[] = [];
  const attempt = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (error) {
      if (error instanceof UsageError) problems.push(error);
      else throw error;
      return undefined;
    }
  };
  const get = <K extends keyof typeof SUBMIT_DEFAULTS>(key: K, value: string | undefined): string => value ?? SUBMIT_DEFAULTS[key];

  if (!scene) problems.push(new UsageError("<scene>", "is missing", "give the scene folder (or single scene file), e.g. tessellate job submit scenes/builtin-sample ..."));

  const engineName = get("engine", raw.engine);
  const engine = attempt(() => {
    if (!(ENGINE_NAMES as readonly string[]).includes(engineName)) {
      throw new UsageError("--engine", `"${engineName}" is not an engine`, `use one of ${ENGINE_NAMES.join(", ")}`);
    }
    return engineName as EngineName;
  });
  const verificationName = raw.verification ?? defaultVerification(engineName);
  const verification = attempt(() => {
    if (!(VERIFICATION_MODES as readonly string[]).includes(verificationName)) {
      throw new UsageError("--verification", `"${verificationName}" is not a verification mode`, `use ${VERIFICATION_MODES.join(" or ")}`);
    }
    return verificationName as VerificationMode;
  });
  let toleranceBps: number | undefined;
  if (verification === "tolerant") {
    toleranceBps = attempt(() => parseInteger("--tolerance", get("tolerance", raw.tolerance), 0, Number.MAX_SAFE_INTEGER, DEFAULT_TOLERANCE_BPS));
  } else if (verification === "exact" && raw.tolerance !== undefined) {
    problems.push(
      new UsageError(
        "--tolerance",
        `applies only to tolerant verification, and this job is exact${raw.verification === undefined ? ` (the default for ${engineName})` : ""}`,
        "leave --tolerance out, or add --verification tolerant",
      ),
    );
  }
  const engineVersion = raw.engineVersion?.trim();
  if (raw.engineVersion !== undefined && !engineVersion) {
    problems.push(new UsageError("--engine-version", "is empty", "give the exact version string the engine reports, or leave the flag out to take the version registered providers advertise"));
  }

  const size = raw.size === undefined
    ? sceneDefaults?.size !== undefined
      ? attempt(() => parseSize(`--size (from ${sceneDefaults.source})`, `${sceneDefaults.size!.width}x${sceneDefaults.size!.height}`))
      : (problems.push(new UsageError("--size", "is missing", "give the image size in pixels, e.g. --size 160x120")), undefined)
    : attempt(() => parseSize("--size", raw.size!));
  const frames = raw.frames === undefined && sceneDefaults?.frames !== undefined
    ? attempt(() => parseFrameRange(`--frames (from ${sceneDefaults.source})`, `${sceneDefaults.frames!.start}-${sceneDefaults.frames!.end}`))
    : attempt(() => parseFrameRange("--frames", get("frames", raw.frames)));
  const tiles = attempt(() => parseGrid("--tiles", get("tiles", raw.tiles)));
  if (size && tiles) {
    if (tiles.x > size.width) {
      problems.push(new UsageError("--tiles", `${tiles.x} tiles across is more than the image width of ${size.width} pixels`, `use at most ${Math.min(size.width, MANIFEST_LIMITS.maxTilesPerSide)} tiles across, e.g. --tiles ${Math.min(2, size.width)}x${Math.min(tiles.y, size.height)}`));
    }
    if (tiles.y > size.height) {
      problems.push(new UsageError("--tiles", `${tiles.y} tiles down is more than the image height of ${size.height} pixels`, `use at most ${Math.min(size.height, MANIFEST_LIMITS.maxTilesPerSide)} tiles down`));
    }
  }
  const framesPerSegment = attempt(() => parseInteger("--frames-per-segment", get("framesPerSegment", raw.framesPerSegment), 1, MANIFEST_LIMITS.maxFramesPerSegment, 1));

  // The terms createJob checks are parsed here as numbers only; whether they are acceptable is
  // the sdk's jobTermsProblems (the dApp's New job page asks the same), checked below.
  const redundancy = attempt(() => parseInteger("--redundancy", get("redundancy", raw.redundancy), 0, Number.MAX_SAFE_INTEGER, 2));
  const quorum = raw.quorum === undefined
    ? redundancy === undefined ? undefined : quorumRange(redundancy).min
    : attempt(() => parseInteger("--quorum", raw.quorum!, 0, Number.MAX_SAFE_INTEGER, 2));

  const reward = raw.reward === undefined
    ? (problems.push(new UsageError("--reward", "is missing", "give the reward per replica in tokens, e.g. --reward 1.5")), undefined)
    : attempt(() => parseTokenAmount("--reward", raw.reward!, { example: "1.5", allowZero: true }));
  const givenCollateral = raw.collateral === undefined ? undefined : attempt(() => parseTokenAmount("--collateral", raw.collateral!, { example: "3", allowZero: true }));
  const givenAudit = raw.audit === undefined ? undefined : attempt(() => parseInteger("--audit", raw.audit!, 0, jobMarketConstants.BPS, 0));
  // Audits are on by default where a job can be audited, and the collateral follows the audit
  // rate (sdk defaultAuditTerms); `job submit` turns a default audit off when too few providers
  // can take the job.
  const auditTerms = reward === undefined || redundancy === undefined || quorum === undefined || verification === undefined
    || (raw.collateral !== undefined && givenCollateral === undefined) || (raw.audit !== undefined && givenAudit === undefined)
    ? undefined
    : defaultAuditTerms({ verification, redundancy, quorum, rewardPerReplica: reward, collateralPerReplica: givenCollateral, auditBps: givenAudit });
  const collateral = auditTerms?.collateralPerReplica ?? givenCollateral;
  const auditBps = auditTerms?.auditBps ?? givenAudit;

  const settings: Record<string, unknown> = {};
  if (engine) {
    // The scene's own settings first; flags and --settings override them.
    Object.assign(settings, sceneDefaults?.settings ?? {});
    const sceneSamples = typeof sceneDefaults?.settings.samples === "number" ? String(sceneDefaults.settings.samples) : undefined;
    const used = ENGINE_SETTING_FLAGS[engine];
    if (used.includes("samples")) {
      const flag = raw.samples === undefined && sceneSamples !== undefined ? `--samples (from ${sceneDefaults!.source})` : "--samples";
      const v = attempt(() => parseInteger(flag, raw.samples ?? sceneSamples ?? SUBMIT_DEFAULTS.samples, 1, engine === "blender" ? 65_536 : 4096, 16));
      if (v !== undefined) settings.samples = v;
    } else if (raw.samples !== undefined) {
      problems.push(new UsageError("--samples", `the ${engine} engine takes no sample count`, "leave it out (POV-Ray samples one ray per pixel without anti-aliasing)"));
    }
    if (used.includes("seed") && (engine !== "povray" || raw.seed !== undefined)) {
      const max = engine === "blender" ? MANIFEST_LIMITS.maxBlenderSeed : MANIFEST_LIMITS.maxUint32;
      const v = attempt(() => parseInteger("--seed", get("seed", raw.seed), 0, max, 1));
      if (v !== undefined) settings.seed = v;
    }
    if (used.includes("maxBounces")) {
      const v = attempt(() => parseInteger("--max-bounces", get("maxBounces", raw.maxBounces), 0, 16, 4));
      if (v !== undefined) settings.maxBounces = v;
    } else if (raw.maxBounces !== undefined) {
      problems.push(new UsageError("--max-bounces", `the ${engine} engine takes its bounce limits from the scene`, "leave it out, or set them in the scene file"));
    }
    if (raw.settings !== undefined) {
      const extra = attempt(() => parseJsonObject("--settings", raw.settings!));
      if (extra) Object.assign(settings, extra);
    }
  }

  const leaseSeconds = attempt(() => parseDuration("--lease", get("lease", raw.lease), "5m"));
  const revealWindowSeconds = attempt(() => parseDuration("--reveal-window", get("revealWindow", raw.revealWindow), "2m"));
  const deadline = attempt(() => parseDeadline("--deadline", get("deadline", raw.deadline), nowSeconds));
  const minReputation = attempt(() => parseInteger("--min-reputation", get("minReputation", raw.minReputation), 0, Number.MAX_SAFE_INTEGER, 0));
  // The market's own minimum lease and reveal window are checked again against the chain when the job is posted.
  for (const p of jobTermsProblems({
    redundancy,
    quorum,
    rewardPerReplica: reward,
    collateralPerReplica: collateral,
    leaseSeconds,
    revealWindowSeconds,
    deadlineInSeconds: deadline === undefined ? undefined : deadline.kind === "relative" ? deadline.seconds : deadline.timestamp - nowSeconds,
    minReputation,
    verification,
    toleranceBps,
    auditBps,
  })) {
    problems.push(new UsageError(TERMS_FLAGS[p.field], p.problem, p.fix));
  }
  const maxFeeBps = raw.maxFee === undefined ? undefined : attempt(() => parseInteger("--max-fee", raw.maxFee!, 0, jobMarketConstants.MAX_FEE_BPS, 100));
  const fps = attempt(() => parsePositiveNumber("--fps", get("fps", raw.fps), 24));
  const benchmarkScore = attempt(() => parsePositiveNumber("--benchmark-score", get("benchmarkScore", raw.benchmarkScore), 1000));

  if (size && frames && tiles && framesPerSegment) {
    const groups = Math.ceil((frames.end - frames.start + 1) / framesPerSegment);
    const segments = tiles.x * tiles.y * groups;
    if (segments > MANIFEST_LIMITS.maxSegmentCount) {
      problems.push(new UsageError("--tiles", `${segments} segments is more than the market's ${MANIFEST_LIMITS.maxSegmentCount}`, "use fewer tiles or more --frames-per-segment"));
    }
  }
  if (raw.wait === false) {
    if (raw.recordOutput) problems.push(new UsageError("--record-output", "needs the job to be watched to the end", "drop --no-wait, or leave --record-output out"));
    if (raw.video !== undefined) problems.push(new UsageError("--video", "needs the job to be watched to the end", "drop --no-wait, or leave --video out"));
  }
  if (raw.out !== undefined && raw.out.trim() === "") problems.push(new UsageError("--out", "is empty", "give a folder for the frames, e.g. --out out/"));
  if (raw.entry !== undefined && raw.entry.trim() === "") problems.push(new UsageError("--entry", "is empty", "give the scene's main file relative to the scene folder, e.g. --entry scene.json"));

  if (problems.length > 0) throw new UsageErrors(problems);
  return {
    scene: scene!,
    entry: raw.entry,
    engine: engine!,
    engineVersion,
    width: size!.width,
    height: size!.height,
    frames: frames!,
    tilesX: tiles!.x,
    tilesY: tiles!.y,
    framesPerSegment: framesPerSegment!,
    redundancy: redundancy!,
    quorum: quorum!,
    reward: reward!,
    collateral: collateral!,
    settings,
    leaseSeconds: leaseSeconds!,
    revealWindowSeconds: revealWindowSeconds!,
    timingDefaulted: { lease: raw.lease === undefined, revealWindow: raw.revealWindow === undefined },
    deadline: deadline!,
    minReputation: minReputation!,
    maxFeeBps,
    verification: verification!,
    ...(toleranceBps === undefined ? {} : { toleranceBps }),
    auditBps: auditBps!,
    ...(auditTerms?.defaulted ? { auditDefaulted: auditDefaultedOf(auditTerms, givenCollateral !== undefined) } : {}),
    out: raw.out ?? "",
    wait: raw.wait ?? true,
    permit: raw.permit ?? false,
    video: typeof raw.video === "string" ? raw.video : raw.video === true ? "" : undefined,
    fps: fps!,
    recordOutput: raw.recordOutput ?? false,
    benchmarkScore: benchmarkScore!,
    ...(sceneDefaults === undefined ? {} : { sceneDefaults }),
  };
}
