/** The New job form's checks (lib/newJob.ts): every problem lands on its field, with the sdk's words. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { jobMarketConstants } from "@tessellate/sdk";
import { checkNewJob, findEntry, hasProblems, manifestDraft, NEW_JOB_DEFAULTS, sceneFilesOf, type NewJobForm } from "../lib/newJob.ts";

const form = (overrides: Partial<NewJobForm> = {}): NewJobForm => ({ ...NEW_JOB_DEFAULTS, engineVersion: "1.0.0", reward: "1.5", collateral: "3", ...overrides });
const scene = { entry: "scene.json", sizeBytes: 2560 };
const options = { decimals: 18, feeBps: 100 };

describe("New job form checks", () => {
  it("a complete form has no problem, a plan and the escrow the contract pulls", () => {
    const check = checkNewJob(form(), scene, options);
    assert.deepEqual(check.problems, {});
    assert.equal(check.segments, 4);
    // 2 replicas + the auditor's unit per segment: an exact job at quorum = redundancy is audited by default.
    assert.equal(check.cost?.escrow, 4n * 3n * (1_500_000_000_000_000_000n + 15_000_000_000_000_000n));
    assert.equal(check.terms?.deadlineInSeconds, 7200);
    assert.equal(check.terms?.auditBps, 4000);
    assert.equal(hasProblems(check), false);
  });

  it("an empty audit rate and collateral take job submit's defaults: audits at 40 % and 4 × the reward, off where too few providers can take the job", () => {
    const defaults = checkNewJob(form({ collateral: "" }), scene, { ...options, eligibleProviders: 5 });
    assert.deepEqual(defaults.problems, {});
    assert.equal(defaults.terms?.auditBps, 4000);
    assert.equal(defaults.terms?.collateralPerReplica, 6_000_000_000_000_000_000n);
    assert.deepEqual(defaults.audit, { auditBps: 4000, collateralPerReplica: 6_000_000_000_000_000_000n, auditDefaulted: true, collateralDefaulted: true });
    const few = checkNewJob(form({ collateral: "" }), scene, { ...options, eligibleProviders: 3 });
    assert.equal(few.terms?.auditBps, 0);
    assert.equal(few.terms?.collateralPerReplica, 3_000_000_000_000_000_000n);
    assert.match(few.audit?.reason ?? "", /3 registered providers can take this job; an audit and its escalation need 5/);
    assert.equal(few.cost?.escrow, 4n * 2n * (1_500_000_000_000_000_000n + 15_000_000_000_000_000n));
    const off = checkNewJob(form({ audit: "0" }), scene, { ...options, eligibleProviders: 9 });
    assert.equal(off.terms?.auditBps, 0, "0 turns audits off");
    assert.equal(checkNewJob(form({ verification: "tolerant" }), scene, options).terms?.auditBps, 0, "a tolerant job is never audited");
    assert.match(checkNewJob(form({ audit: "4k" }), scene, options).problems.audit?.[0] ?? "", /not a whole number/);
  });

  it("explains a missing scene and a missing engine version before anything is sent", () => {
    const check = checkNewJob(form({ engineVersion: "" }), undefined, options);
    assert.match(check.problems.scene?.[0] ?? "", /no scene yet/);
    assert.match(check.problems.engineVersion?.[0] ?? "", /no engine version/);
    assert.equal(check.segments, 4, "the plan is still drawn");
  });

  it("puts the manifest schema's messages on the fields that set them", () => {
    const check = checkNewJob(form({ tilesX: "200", frameEnd: "0", samples: "0" }), scene, options);
    assert.match(check.problems.tilesX?.[0] ?? "", /^segmentation\.tilesX: .* — /);
    assert.match(check.problems.frameEnd?.[0] ?? "", /comes before the first frame/);
    assert.match(check.problems.samples?.[0] ?? "", /settings\.samples: must be ≥ 1/);
    assert.equal(check.manifest, undefined);
  });

  it("puts the sdk's job terms problems on the terms fields", () => {
    const check = checkNewJob(form({ quorum: "1", collateral: "1", leaseSeconds: "10", verification: "tolerant", tolerance: String(jobMarketConstants.MAX_TOLERANCE_BPS + 1) }), scene, options);
    assert.match(check.problems.quorum?.[0] ?? "", /majority/);
    assert.match(check.problems.collateral?.[0] ?? "", /less than the reward/);
    assert.match(check.problems.leaseSeconds?.[0] ?? "", /must be from 30 s/);
    assert.match(check.problems.tolerance?.[0] ?? "", /must be an integer from 1 to/);
    assert.equal(check.terms, undefined);
  });

  it("checks lease and reveal window against the market's own minimums when read", () => {
    const minimums = { minLease: 600, minRevealWindow: 600 };
    const check = checkNewJob(form(), scene, { ...options, minimums });
    assert.match(check.problems.leaseSeconds?.[0] ?? "", /600 s \(this market's minimum lease\)/);
    assert.match(check.problems.revealWindowSeconds?.[0] ?? "", /600 s/);
    assert.deepEqual(checkNewJob(form({ leaseSeconds: "600", revealWindowSeconds: "600" }), scene, { ...options, minimums }).problems, {});
  });

  it("explains text that is not a number or an amount", () => {
    const check = checkNewJob(form({ redundancy: "two", reward: "1,5", deadlineHours: "soon" }), scene, options);
    assert.match(check.problems.redundancy?.[0] ?? "", /not a whole number/);
    assert.match(check.problems.reward?.[0] ?? "", /not an amount/);
    assert.match(check.problems.deadlineHours?.[0] ?? "", /not a number of hours/);
    assert.equal(check.cost, undefined);
  });

  it("builds the manifest the CLI builds for the same choices", () => {
    assert.deepEqual(manifestDraft(form(), scene, "bafyroot"), {
      version: 1,
      engine: { name: "builtin", version: "1.0.0" },
      scene: { cid: "bafyroot", entry: "scene.json", sizeBytes: 2560 },
      output: { width: 160, height: 120, format: "png" },
      frames: { start: 1, end: 1 },
      settings: { samples: 16, seed: 1, maxBounces: 4 },
      segmentation: { tilesX: 2, tilesY: 2, framesPerSegment: 1 },
      verification: { mode: "exact" },
    });
    assert.deepEqual(Object.keys((manifestDraft(form({ engine: "povray" }), scene).settings as object)), ["seed"]);
  });

  it("finds the entry file and drops the picked folder's own name from the paths", () => {
    const file = (name: string, rel: string) => Object.assign(new File(["x"], name), { webkitRelativePath: rel });
    assert.deepEqual(sceneFilesOf([file("scene.json", "sample/scene.json"), file("a.png", "sample/tex/a.png")]).map((f) => f.path), ["scene.json", "tex/a.png"]);
    assert.deepEqual(sceneFilesOf([new File(["x"], "one.pov")]).map((f) => f.path), ["one.pov"]);
    assert.deepEqual(findEntry([{ path: "scene.json" }, { path: "README.md" }], [".json"]), { entry: "scene.json" });
    assert.match(findEntry([{ path: "a.json" }, { path: "b.json" }], [".json"]).problem ?? "", /several scene files/);
    assert.match(findEntry([{ path: "sub/a.json" }], [".json"]).problem ?? "", /no \.json file at its top level/);
  });
});
