/**
 * A job request before it is sent: the terms `createJob` checks (redundancy, quorum, reward,
 * collateral, lease, reveal window, deadline, minimum reputation, verification mode) checked here
 * first with the bounds generated from JobMarket.sol, so a mistake costs no transaction; what the
 * job costs up front; and the exact parameters Tessellate adds content to IPFS with, so a browser
 * upload gets the CIDs the CLI gets. Browser-safe: the dApp's New job page and the CLI share it.
 */
import { jobMarketConstants } from "./contracts.generated.ts";
import { unitPrice, unitsPerSegment } from "./protocol/price.ts";
import { DEFAULT_TOLERANCE_BPS } from "./fingerprint.ts";
import type { EngineName, VerificationMode } from "./manifest.ts";

/** Scene file extensions per engine, to find the entry file of a scene folder. */
export const SCENE_EXTENSIONS: Readonly<Record<EngineName, readonly string[]>> = {
  builtin: [".json"],
  povray: [".pov"],
  blender: [".blend"],
};

/** uint96: the width of the reward and collateral fields of a job. */
export const MAX_UINT96 = (1n << 96n) - 1n;

/** The terms of a job, as a person or a command line gives them (durations in seconds). */
export interface JobTerms {
  redundancy: number;
  quorum: number;
  /** Token base units paid to each agreeing replica. */
  rewardPerReplica: bigint;
  /** Token base units each replica locks. */
  collateralPerReplica: bigint;
  leaseSeconds: number;
  revealWindowSeconds: number;
  /** Seconds from now (the chain's clock when posted) to the deadline. */
  deadlineInSeconds: number;
  minReputation: number;
  verification: VerificationMode;
  /** Tolerant jobs: the share of compared fingerprint blocks (parts of 10,000) that may differ; absent or 0 in exact jobs. */
  toleranceBps?: number;
  /** Share of accepted segments a drawn auditor re-renders before anyone is paid (parts of 10,000); absent or 0: no audits. */
  auditBps?: number;
}

/** One problem of a job's terms: the field, what is wrong, how to fix it. */
export interface JobTermsProblem {
  field: keyof JobTerms;
  problem: string;
  fix: string;
}

/** The quorums a redundancy allows: a strict majority of the replicas, at most all of them. */
export function quorumRange(redundancy: number): { min: number; max: number } {
  return { min: Math.floor(redundancy / 2) + 1, max: redundancy };
}

const isInt = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n);

/** A deployment's shortest lease and reveal window (JobMarket's `minLease()`, `minRevealWindow()`). */
export interface TimingMinimums {
  minLease: number;
  minRevealWindow: number;
}

/** The lowest minimums any deployment may have (JobMarket.TIMING_FLOOR): what can be checked
 * before the market is known. A market read from the chain may ask for more. */
export const TIMING_FLOOR_MINIMUMS: TimingMinimums = {
  minLease: jobMarketConstants.TIMING_FLOOR,
  minRevealWindow: jobMarketConstants.TIMING_FLOOR,
};

/**
 * Every problem of the given terms that `createJob` would revert on. Fields left undefined are not checked; rules between two fields only
 * when both are valid, so one mistake is reported once.
 */
export function jobTermsProblems(terms: Partial<JobTerms>, minimums: TimingMinimums = TIMING_FLOOR_MINIMUMS): JobTermsProblem[] {
  const c = jobMarketConstants;
  const problems: JobTermsProblem[] = [];
  const push = (field: keyof JobTerms, problem: string, fix: string) => problems.push({ field, problem, fix });

  const r = terms.redundancy;
  const redundancyOk = isInt(r) && r >= 1 && r <= c.MAX_REDUNDANCY;
  if (r !== undefined && !redundancyOk) push("redundancy", `must be an integer from 1 to ${c.MAX_REDUNDANCY}, got ${r}`, "use 2 or 3 replicas per segment (each replica is rendered by a different provider)");
  const q = terms.quorum;
  if (q !== undefined) {
    if (!isInt(q) || q < 1) push("quorum", `must be a positive integer, got ${q}`, "use a majority of the replicas, e.g. 2 of 3");
    else if (redundancyOk) {
      const { min, max } = quorumRange(r);
      if (q < min || q > max) {
        push("quorum", `${q} does not fit redundancy ${r}: the quorum must be a majority of the replicas and at most all of them`, min === max ? `use quorum ${min}` : `use a quorum from ${min} to ${max}`);
      }
    }
  }
  const reward = terms.rewardPerReplica;
  const rewardOk = reward !== undefined && reward > 0n && reward <= MAX_UINT96;
  if (reward !== undefined && !rewardOk) push("rewardPerReplica", reward <= 0n ? "must be more than zero" : "is larger than the market can hold (uint96)", "give the reward each agreeing replica is paid, e.g. 1.5 tokens");
  const collateral = terms.collateralPerReplica;
  if (collateral !== undefined) {
    if (collateral < 0n || collateral > MAX_UINT96) push("collateralPerReplica", "is not an amount the market can hold (0 to uint96)", "give the collateral each replica locks, at least the reward");
    else if (rewardOk && collateral < reward) {
      push("collateralPerReplica", "is less than the reward", "collateral per replica must be at least the reward (so copying a result never pays): raise the collateral or lower the reward");
    }
  }
  const lease = terms.leaseSeconds;
  const leaseOk = isInt(lease) && lease >= minimums.minLease && lease <= c.MAX_LEASE;
  if (lease !== undefined && !leaseOk) push("leaseSeconds", `must be from ${minimums.minLease} s (this market's minimum lease) to ${c.MAX_LEASE / 86_400} days, got ${lease} s`, `give each provider time to render one segment and commit, at least ${minimums.minLease} s`);
  const reveal = terms.revealWindowSeconds;
  const revealOk = isInt(reveal) && reveal >= minimums.minRevealWindow && reveal <= c.MAX_REVEAL_WINDOW;
  if (reveal !== undefined && !revealOk) push("revealWindowSeconds", `must be from ${minimums.minRevealWindow} s (this market's minimum reveal window) to ${c.MAX_REVEAL_WINDOW / 86_400} days, got ${reveal} s`, `give at least ${minimums.minRevealWindow} s`);
  const deadline = terms.deadlineInSeconds;
  if (deadline !== undefined) {
    if (!Number.isFinite(deadline) || deadline <= 0) push("deadlineInSeconds", "is not in the future", "give the job time, e.g. 2 h from now");
    else if (leaseOk && revealOk && deadline < lease + reveal) {
      push("deadlineInSeconds", `is only ${deadline} s away, less than one lease plus one reveal window (${lease + reveal} s)`, "give the providers time, e.g. 2 h");
    } else if (deadline > c.MAX_JOB_DURATION) {
      push("deadlineInSeconds", `is more than ${c.MAX_JOB_DURATION / 86_400} days away`, `the market accepts jobs of at most ${c.MAX_JOB_DURATION / 86_400} days: choose an earlier deadline`);
    }
  }
  const rep = terms.minReputation;
  if (rep !== undefined && (!isInt(rep) || rep < 0 || rep > c.MAX_REPUTATION)) {
    push("minReputation", `must be an integer from 0 to ${c.MAX_REPUTATION}, got ${rep}`, `0 lets any provider claim; ${c.MAX_REPUTATION} is a perfect score`);
  }
  const tolerance = terms.toleranceBps;
  if (terms.verification === "tolerant" && tolerance !== undefined && (!isInt(tolerance) || tolerance < 1 || tolerance > c.MAX_TOLERANCE_BPS)) {
    push("toleranceBps", `must be an integer from 1 to ${c.MAX_TOLERANCE_BPS} parts of 10,000, got ${tolerance}`, `${DEFAULT_TOLERANCE_BPS} (the default) accepts honest renders from different processors and refuses cheaper ones (docs/tolerant.md)`);
  }
  if (terms.verification === "exact" && tolerance !== undefined && tolerance !== 0) {
    push("toleranceBps", "applies only to tolerant verification (exact mode compares pixel digests)", "leave the tolerance out, or choose tolerant verification");
  }
  const audit = terms.auditBps;
  if (audit !== undefined && audit !== 0) {
    const multiple = BigInt(c.AUDIT_COLLATERAL_MULTIPLE);
    if (!isInt(audit) || audit < 0 || audit > c.BPS) push("auditBps", `must be an integer from 0 to ${c.BPS} parts of 10,000, got ${audit}`, "3333 audits one accepted segment in three");
    else if (terms.verification !== "exact") push("auditBps", "needs exact verification (an auditor's link of the digest chain is compared with the accepted one)", "choose exact verification, or leave audits out");
    else if (terms.redundancy !== undefined && terms.quorum !== undefined && (terms.redundancy > c.MAX_AUDITED_REDUNDANCY || terms.quorum !== terms.redundancy)) {
      push("auditBps", `needs a quorum equal to the redundancy, at most ${c.MAX_AUDITED_REDUNDANCY} (the auditor and two escalation auditors need free slots), got ${terms.quorum} of ${terms.redundancy}`, `use redundancy 1 or 2 with the same quorum`);
    } else if (terms.collateralPerReplica !== undefined && terms.rewardPerReplica !== undefined && terms.collateralPerReplica < terms.rewardPerReplica * multiple) {
      push("auditBps", `needs collateral of at least ${multiple} × the reward (a losing auditor pays the two escalation auditors)`, `raise the collateral to ${multiple} × the reward or more`);
    }
  }
  return problems;
}

/**
 * The audit rate the tools propose for a job that can be audited: 40 % of accepted segments, with
 * collateral {@link DEFAULT_AUDITED_COLLATERAL_MULTIPLE} × the reward. The model of
 * docs/collusion.md §4 then gives an operator holding a share f ≤ 1/3 of the claiming addresses a
 * loss on every segment it captures and fills with garbage (−0.19 rewards per replica at f = 0.33,
 * at the worst case of a render that costs its whole reward); `npm run sim:audits` measures it on
 * the contracts with these defaults.
 */
export const DEFAULT_AUDIT_BPS = 4_000;
/** Collateral per replica the tools propose for an audited job, in rewards (the contract's minimum is 2). */
export const DEFAULT_AUDITED_COLLATERAL_MULTIPLE = 4;
/** Collateral per replica the tools propose for a job without audits, in rewards. */
export const DEFAULT_COLLATERAL_MULTIPLE = 2;

/** Whether a job with these terms can be audited at all (exact, quorum = redundancy ≤ `MAX_AUDITED_REDUNDANCY`). */
export function canBeAudited(terms: Pick<JobTerms, "verification" | "redundancy" | "quorum">): boolean {
  return terms.verification === "exact" && terms.quorum === terms.redundancy && terms.redundancy >= 1 && terms.redundancy <= jobMarketConstants.MAX_AUDITED_REDUNDANCY;
}

/**
 * Distinct providers an audited segment may need: its replicas, the auditor and two escalation
 * auditors (a segment's holders cannot audit it). With fewer able to take the job, a disputed
 * audit cannot finish and the accepted result stands at the deadline.
 */
export function providersForAudits(redundancy: number): number {
  return redundancy + 3;
}

/**
 * The audit rate and collateral the tools propose when the requester gave neither or one of them:
 * {@link DEFAULT_AUDIT_BPS} on a job that can be audited, when at least
 * {@link providersForAudits} providers can take it (`eligibleProviders`; undefined = not known
 * yet) and a collateral the requester chose allows it; the collateral follows the audit rate.
 * `reason` says why audits are off when they are; `overridable`, whether an audit rate the
 * requester gives would still be accepted (only a too-small network is).
 */
export function defaultAuditTerms(
  terms: Pick<JobTerms, "verification" | "redundancy" | "quorum" | "rewardPerReplica"> & { collateralPerReplica?: bigint; auditBps?: number },
  eligibleProviders?: number,
): { auditBps: number; collateralPerReplica: bigint; defaulted: boolean; reason?: string; overridable?: boolean } {
  const collateralFor = (auditBps: number) =>
    terms.collateralPerReplica ?? terms.rewardPerReplica * BigInt(auditBps > 0 ? DEFAULT_AUDITED_COLLATERAL_MULTIPLE : DEFAULT_COLLATERAL_MULTIPLE);
  if (terms.auditBps !== undefined) return { auditBps: terms.auditBps, collateralPerReplica: collateralFor(terms.auditBps), defaulted: false };
  const off = (reason: string, overridable = false) => ({ auditBps: 0, collateralPerReplica: collateralFor(0), defaulted: true, reason, overridable });
  if (!canBeAudited(terms)) {
    return off(terms.verification !== "exact"
      ? `${terms.verification} jobs cannot be audited`
      : `audits need quorum = redundancy ≤ ${jobMarketConstants.MAX_AUDITED_REDUNDANCY}, this job has ${terms.quorum} of ${terms.redundancy}`);
  }
  const minimum = terms.rewardPerReplica * BigInt(jobMarketConstants.AUDIT_COLLATERAL_MULTIPLE);
  if (terms.collateralPerReplica !== undefined && terms.collateralPerReplica < minimum) {
    return off(`audits need collateral ≥ ${jobMarketConstants.AUDIT_COLLATERAL_MULTIPLE} × the reward, and the collateral given is less`);
  }
  const needed = providersForAudits(terms.redundancy);
  if (eligibleProviders !== undefined && eligibleProviders < needed) {
    return off(`${eligibleProviders} registered provider${eligibleProviders === 1 ? "" : "s"} can take this job; an audit and its escalation need ${needed} (${terms.redundancy} replica${terms.redundancy === 1 ? "" : "s"} + 3 auditors)`, true);
  }
  return { auditBps: DEFAULT_AUDIT_BPS, collateralPerReplica: collateralFor(DEFAULT_AUDIT_BPS), defaulted: true };
}

/** What a job costs up front. */
export interface JobCost {
  segments: number;
  replicas: bigint;
  /** Fee per replica (reward × feeBps / 10 000, rounded down like the contract). */
  feePerReplica: bigint;
  /** Escrow: segments × redundancy × (reward + fee), what `createJob` pulls. */
  escrow: bigint;
  /** The rewards part of the escrow; what is not paid to providers is refunded. */
  rewards: bigint;
  /** The fee part; charged only on rewards actually paid, the rest refunded. */
  fees: bigint;
}

/** Escrow of `segments` segments at `redundancy`, plus one auditor's unit per segment when audited (`auditBps` > 0). */
export function jobCost(segments: number, redundancy: number, reward: bigint, feeBps: number, auditBps = 0): JobCost {
  const replicas = BigInt(segments) * BigInt(unitsPerSegment({ redundancy, auditBps }));
  const unit = unitPrice(reward, feeBps);
  return { segments, replicas, feePerReplica: unit - reward, escrow: replicas * unit, rewards: replicas * reward, fees: replicas * (unit - reward) };
}

/**
 * The query of the Kubo RPC `add` Tessellate sends: CIDv1 with raw leaves, Kubo's default
 * chunker and layout, progress lines streamed. The CLI's storage and the dApp's upload use this one.
 */
export function kuboAddQuery(options: { pin?: boolean; onlyHash?: boolean } = {}): URLSearchParams {
  const query = new URLSearchParams({ "cid-version": "1", "raw-leaves": "true", pin: String(options.pin ?? true), progress: "true", "stream-channels": "true" });
  if (options.onlyHash) {
    query.set("only-hash", "true");
    query.set("pin", "false");
  }
  return query;
}

/** One entry of a folder add: a folder (no content) or a file. */
export interface FolderAddEntry<C> {
  path: string;
  content?: C;
}

/**
 * The entries of a folder add, in the order the CLI's storage sends them: the root folder, then
 * folder by folder (breadth first) its entries sorted by name, every sub-folder listed. `files`
 * are paths relative to the folder (`a.json`, `textures/wood.png`).
 */
export function folderAddEntries<C>(rootName: string, files: { path: string; content: C }[]): FolderAddEntry<C>[] {
  interface Dir {
    dirs: Map<string, Dir>;
    files: Map<string, C>;
  }
  const root: Dir = { dirs: new Map(), files: new Map() };
  for (const file of files) {
    const parts = file.path.split("/");
    let dir = root;
    for (const part of parts.slice(0, -1)) {
      if (!dir.dirs.has(part)) dir.dirs.set(part, { dirs: new Map(), files: new Map() });
      dir = dir.dirs.get(part)!;
    }
    dir.files.set(parts.at(-1)!, file.content);
  }
  const out: FolderAddEntry<C>[] = [{ path: rootName }];
  const pending: { dir: Dir; path: string }[] = [{ dir: root, path: rootName }];
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    const names = [...next.dir.dirs.keys(), ...next.dir.files.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const path = `${next.path}/${name}`;
      const sub = next.dir.dirs.get(name);
      if (sub) {
        out.push({ path });
        pending.push({ dir: sub, path });
      } else out.push({ path, content: next.dir.files.get(name)! });
    }
  }
  return out;
}

/**
 * The multipart body of an `add` of `entries`, as Kubo's clients write it (the path URL-encoded
 * in the file name, folders as `application/x-directory` parts).
 */
export function kuboAddForm(entries: FolderAddEntry<Blob>[]): FormData {
  const form = new FormData();
  for (const entry of entries) {
    const name = encodeURIComponent(entry.path);
    if (entry.content === undefined) form.append("dir", new Blob([], { type: "application/x-directory" }), name);
    else form.append("file", entry.content, name);
  }
  return form;
}

/**
 * A well-formed CID standing in for the scene's while a manifest is checked before the upload
 * (the CLI's submit and the dApp's New job page; the real CID replaces it).
 */
export const PLACEHOLDER_SCENE_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
