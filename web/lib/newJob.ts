/**
 * The New job form as data: what a person typed → the manifest draft and the job's terms, with
 * every problem attached to the field that causes it. The rules are the sdk's (manifest schema,
 * `jobTermsProblems`, segment plan, `jobCost`); this module only parses the text fields and maps
 * the sdk's field paths onto the form's fields. Pure: unit-tested in web/test/newJob.test.ts.
 */
import { parseUnits } from "viem";
import {
  DEFAULT_TOLERANCE_BPS,
  defaultAuditTerms,
  MANIFEST_VERSION,
  jobCost,
  jobTermsProblems,
  PLACEHOLDER_SCENE_CID,
  segmentCount,
  validateManifest,
  type EngineName,
  type JobCost,
  type JobTerms,
  type Manifest,
  type TimingMinimums,
  type VerificationMode,
} from "@tessellate/sdk";

/** The form's text fields, as typed. */
export interface NewJobForm {
  engine: EngineName;
  engineVersion: string;
  width: string;
  height: string;
  frameStart: string;
  frameEnd: string;
  tilesX: string;
  tilesY: string;
  framesPerSegment: string;
  samples: string;
  seed: string;
  maxBounces: string;
  redundancy: string;
  quorum: string;
  reward: string;
  collateral: string;
  leaseSeconds: string;
  revealWindowSeconds: string;
  deadlineHours: string;
  minReputation: string;
  verification: VerificationMode;
  /** Tolerant jobs: parts of 10,000 of the compared fingerprint blocks that may differ. */
  tolerance: string;
  /** Parts of 10,000 of accepted segments a drawn auditor re-renders before payment; 0 = none; empty = the default. */
  audit: string;
}

export type FormField = keyof NewJobForm | "scene";

/** The CLI's defaults (`job submit`), so a job posted from either starts from the same terms. */
export const NEW_JOB_DEFAULTS: NewJobForm = {
  engine: "builtin",
  engineVersion: "",
  width: "160",
  height: "120",
  frameStart: "1",
  frameEnd: "1",
  tilesX: "2",
  tilesY: "2",
  framesPerSegment: "1",
  samples: "16",
  seed: "1",
  maxBounces: "4",
  redundancy: "2",
  quorum: "2",
  reward: "",
  collateral: "",
  leaseSeconds: "300",
  revealWindowSeconds: "120",
  deadlineHours: "2",
  minReputation: "0",
  verification: "exact",
  tolerance: String(DEFAULT_TOLERANCE_BPS),
  // Empty: the tools' default (sdk defaultAuditTerms) — audits and the collateral that goes with them.
  audit: "",
};

/** Which engine settings the form shows per engine. */
export const ENGINE_FORM_SETTINGS: Record<EngineName, Array<"samples" | "seed" | "maxBounces">> = {
  builtin: ["samples", "seed", "maxBounces"],
  blender: ["samples", "seed"],
  povray: ["seed"],
};

/** The scene as picked: its entry file and total size (the CID comes with the upload). */
export interface PickedScene {
  entry: string;
  sizeBytes: number;
}


/** Manifest field path → the form field that sets it. */
const MANIFEST_FIELDS: Record<string, FormField> = {
  "engine.name": "engine",
  "engine.version": "engineVersion",
  "scene.entry": "scene",
  "scene.sizeBytes": "scene",
  "scene.cid": "scene",
  "output.width": "width",
  "output.height": "height",
  "frames.start": "frameStart",
  "frames.end": "frameEnd",
  "segmentation.tilesX": "tilesX",
  "segmentation.tilesY": "tilesY",
  "segmentation.framesPerSegment": "framesPerSegment",
  segmentation: "tilesX",
  "settings.samples": "samples",
  "settings.seed": "seed",
  "settings.maxBounces": "maxBounces",
  "verification.mode": "verification",
  "verification.toleranceBps": "tolerance",
};

const TERMS_FIELDS: Record<keyof JobTerms, FormField> = {
  redundancy: "redundancy",
  quorum: "quorum",
  rewardPerReplica: "reward",
  collateralPerReplica: "collateral",
  leaseSeconds: "leaseSeconds",
  revealWindowSeconds: "revealWindowSeconds",
  deadlineInSeconds: "deadlineHours",
  minReputation: "minReputation",
  verification: "verification",
  toleranceBps: "tolerance",
  auditBps: "audit",
};

export interface NewJobCheck {
  /** Problems per form field, each "what is wrong — how to fix it". */
  problems: Partial<Record<FormField, string[]>>;
  /** The manifest with the placeholder scene CID, when it is valid. */
  manifest?: Manifest;
  segments?: number;
  terms?: JobTerms;
  cost?: JobCost;
  /** The audit rate and collateral the job would get, when the fields that decide them are valid; `defaulted`: from empty fields. */
  audit?: { auditBps: number; collateralPerReplica: bigint; auditDefaulted: boolean; collateralDefaulted: boolean; reason?: string };
}

function integer(text: string): number | undefined | "bad" {
  const t = text.trim();
  if (t === "") return undefined;
  return /^-?\d+$/.test(t) ? Number(t) : "bad";
}

function amount(text: string, decimals: number): bigint | undefined | "bad" {
  const t = text.trim();
  if (t === "") return undefined;
  if (!/^\d+(\.\d+)?$/.test(t)) return "bad";
  const [, fraction = ""] = t.split(".");
  if (fraction.length > decimals) return "bad";
  return parseUnits(t, decimals);
}

/** The manifest of the form for `scene` with scene CID `sceneCid` (the sdk validates it). */
export function manifestDraft(form: NewJobForm, scene: PickedScene | undefined, sceneCid = PLACEHOLDER_SCENE_CID): Record<string, unknown> {
  const num = (text: string) => {
    const v = integer(text);
    return v === "bad" ? text : v;
  };
  const settings: Record<string, unknown> = {};
  for (const key of ENGINE_FORM_SETTINGS[form.engine]) {
    const v = num(form[key]);
    if (v !== undefined) settings[key] = v;
  }
  return {
    version: MANIFEST_VERSION,
    engine: { name: form.engine, version: form.engineVersion },
    scene: { cid: sceneCid, entry: scene?.entry ?? "", sizeBytes: scene?.sizeBytes ?? 0 },
    output: { width: num(form.width), height: num(form.height), format: "png" },
    frames: { start: num(form.frameStart), end: num(form.frameEnd) },
    settings,
    segmentation: { tilesX: num(form.tilesX), tilesY: num(form.tilesY), framesPerSegment: num(form.framesPerSegment) },
    verification: form.verification === "tolerant" ? { mode: form.verification, toleranceBps: num(form.tolerance) } : { mode: form.verification },
  };
}

/** Checks the whole form: every problem, on its field, before anything is uploaded or sent. */
export function checkNewJob(
  form: NewJobForm,
  scene: PickedScene | undefined,
  options: {
    decimals: number | undefined;
    feeBps: number | undefined;
    /** The market's `minLease()` / `minRevealWindow()`; the floor every market allows when not read yet. */
    minimums?: TimingMinimums;
    /** Registered providers that offer the job's engine version and mode; unknown: default audits stay on. */
    eligibleProviders?: number;
  },
): NewJobCheck {
  const problems: Partial<Record<FormField, string[]>> = {};
  const add = (field: FormField, text: string) => (problems[field] ??= []).push(text);
  let audit: NewJobCheck["audit"];

  if (!scene) add("scene", "no scene yet — drop the scene folder or file here, or choose it");
  if (form.engineVersion.trim() === "") add("engineVersion", "no engine version — pick one that registered providers run");

  const validated = validateManifest(manifestDraft(form, scene));
  if (!validated.ok) {
    for (const p of validated.problems) {
      const path = p.path.map(String).join(".");
      const field = MANIFEST_FIELDS[path] ?? (path.startsWith("settings") ? "samples" : undefined);
      if (field === "scene" && !scene) continue;
      if (field === "engineVersion" && form.engineVersion.trim() === "") continue;
      add(field ?? "scene", `${path}: ${p.problem} — ${p.fix}`);
    }
  }

  const parsed: Partial<JobTerms> = { verification: form.verification };
  if (form.verification === "tolerant") {
    const v = integer(form.tolerance);
    if (v === undefined) add("tolerance", "is missing — give parts of 10,000, e.g. 2500");
    else if (v === "bad") add("tolerance", `"${form.tolerance}" is not a whole number — e.g. 2500`);
    else parsed.toleranceBps = v;
  }
  const ints = [
    ["redundancy", form.redundancy],
    ["quorum", form.quorum],
    ["leaseSeconds", form.leaseSeconds],
    ["revealWindowSeconds", form.revealWindowSeconds],
    ["minReputation", form.minReputation],
  ] as const;
  for (const [key, text] of ints) {
    const v = integer(text);
    if (v === undefined) add(TERMS_FIELDS[key], "is missing — give a whole number");
    else if (v === "bad") add(TERMS_FIELDS[key], `"${text}" is not a whole number — write digits only, e.g. 2`);
    else parsed[key] = v;
  }
  // A tolerant job's audit field is hidden: it takes the default, which is no audits.
  const auditText = form.verification === "tolerant" ? "" : form.audit;
  const givenAudit = integer(auditText);
  if (givenAudit === "bad") add("audit", `"${auditText}" is not a whole number — write digits only, e.g. 4000, or leave it empty for the default`);
  const hours = form.deadlineHours.trim();
  if (hours === "") add("deadlineHours", "is missing — give the hours from now the job may run, e.g. 2");
  else if (!/^\d+(\.\d+)?$/.test(hours)) add("deadlineHours", `"${hours}" is not a number of hours — e.g. 2 or 0.5`);
  else parsed.deadlineInSeconds = Math.round(Number(hours) * 3600);
  if (options.decimals === undefined) add("reward", "reading the token's decimals…");
  else {
    const reward = amount(form.reward, options.decimals);
    if (reward === undefined) add("reward", "is missing — give an amount in tokens, e.g. 1.5");
    else if (reward === "bad") add("reward", `"${form.reward}" is not an amount — write it like 1.5 (at most ${options.decimals} decimals)`);
    else parsed.rewardPerReplica = reward;
    const collateral = amount(form.collateral, options.decimals);
    if (collateral === "bad") add("collateral", `"${form.collateral}" is not an amount — write it like 3 (at most ${options.decimals} decimals), or leave it empty for the default`);
    // Empty audit rate or collateral: the defaults `job submit` proposes, from the same sdk rule.
    if (reward !== undefined && reward !== "bad" && collateral !== "bad" && givenAudit !== "bad" && parsed.redundancy !== undefined && parsed.quorum !== undefined) {
      const d = defaultAuditTerms(
        { verification: form.verification, redundancy: parsed.redundancy, quorum: parsed.quorum, rewardPerReplica: reward, collateralPerReplica: collateral, auditBps: givenAudit },
        options.eligibleProviders,
      );
      parsed.auditBps = d.auditBps;
      parsed.collateralPerReplica = d.collateralPerReplica;
      audit = { auditBps: d.auditBps, collateralPerReplica: d.collateralPerReplica, auditDefaulted: d.defaulted, collateralDefaulted: collateral === undefined, ...(d.reason === undefined ? {} : { reason: d.reason }) };
    }
  }
  for (const p of jobTermsProblems(parsed, options.minimums)) add(TERMS_FIELDS[p.field], `${p.problem} — ${p.fix}`);

  const check: NewJobCheck = { problems, ...(audit ? { audit } : {}) };
  if (validated.ok || Object.keys(problems).every((f) => f === "scene" || f === "engineVersion")) {
    // The plan is drawn as soon as size, frames and tiles are valid, even before a scene is chosen.
    const draft = validateManifest({ ...manifestDraft(form, scene ?? { entry: "scene", sizeBytes: 1 }), engine: { name: form.engine, version: form.engineVersion || "?" } });
    if (draft.ok) {
      check.manifest = draft.manifest;
      check.segments = segmentCount(draft.manifest);
    }
  }
  const complete = ["redundancy", "quorum", "rewardPerReplica", "collateralPerReplica", "leaseSeconds", "revealWindowSeconds", "deadlineInSeconds", "minReputation"].every(
    (k) => parsed[k as keyof JobTerms] !== undefined,
  );
  if (complete && !Object.values(TERMS_FIELDS).some((f) => problems[f])) check.terms = parsed as JobTerms;
  if (check.segments !== undefined && parsed.redundancy !== undefined && parsed.rewardPerReplica !== undefined && options.feeBps !== undefined && !problems.redundancy && !problems.reward) {
    check.cost = jobCost(check.segments, parsed.redundancy, parsed.rewardPerReplica, options.feeBps, parsed.auditBps ?? 0);
  }
  return check;
}

export function hasProblems(check: NewJobCheck): boolean {
  return Object.values(check.problems).some((list) => list && list.length > 0);
}

/** A file of the picked scene, with its path inside the scene folder. */
export interface SceneFile {
  path: string;
  file: File;
}

/**
 * The scene folder's files from a folder pick (`webkitRelativePath` starts with the folder's own
 * name, which is not part of the folder's CID) or a single file (wrapped in a folder like the CLI does).
 */
export function sceneFilesOf(files: File[]): SceneFile[] {
  return files.map((file) => {
    const rel = (file as File & { webkitRelativePath?: string }).webkitRelativePath;
    return { path: rel ? rel.split("/").slice(1).join("/") : file.name, file };
  });
}

/** The scene's entry file for `engine`: the one top-level file with the engine's extension. */
export function findEntry(files: { path: string }[], extensions: readonly string[]): { entry?: string; problem?: string } {
  const candidates = files.filter((f) => !f.path.includes("/") && extensions.some((ext) => f.path.toLowerCase().endsWith(ext)));
  if (candidates.length === 1) return { entry: candidates[0]!.path };
  if (candidates.length === 0) return { problem: `the scene has no ${extensions.join(" or ")} file at its top level — add the scene's main file, or pick the right engine` };
  return { problem: `the scene holds several scene files (${candidates.map((c) => c.path).join(", ")}) — choose the entry below` };
}
