import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { UsageError, UsageErrors } from "../errors.ts";
import { parseSubmitOptions } from "../parse.ts";
import { auditStaffingWarning, buildManifest, coverageWarning, jobCost, prepareScene, settleAudits, uploadProgressLine } from "./submit.ts";

const CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

describe("job submit preparation", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "tessellate-submit-"));
    await mkdir(join(dir, "one"));
    await writeFile(join(dir, "one", "scene.json"), "{}");
    await writeFile(join(dir, "one", "README.md"), "notes");
    await mkdir(join(dir, "two"));
    await writeFile(join(dir, "two", "a.json"), "{}");
    await writeFile(join(dir, "two", "b.json"), "{}");
    await writeFile(join(dir, "single.pov"), "sphere {}");
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("finds the one scene file of a folder", async () => {
    const scene = await prepareScene(join(dir, "one"), undefined, "builtin");
    assert.equal(scene.entry, "scene.json");
    assert.equal(scene.files, 2);
    assert.equal(scene.sizeBytes, 7);
  });

  it("asks for --entry when a folder holds several scene files or none", async () => {
    await assert.rejects(prepareScene(join(dir, "two"), undefined, "builtin"), (e: unknown) => e instanceof UsageError && e.flag === "--entry" && /several scene files \(a.json, b.json\) — choose one with --entry a.json/.test(e.message));
    await assert.rejects(prepareScene(join(dir, "one"), undefined, "blender"), /no \.blend file/);
    await assert.rejects(prepareScene(join(dir, "one"), "missing.json", "builtin"), /holds no file "missing.json"/);
    assert.equal((await prepareScene(join(dir, "two"), "b.json", "builtin")).entry, "b.json");
  });

  it("wraps a single file in a folder of its own", async () => {
    const scene = await prepareScene(join(dir, "single.pov"), undefined, "povray");
    assert.equal(scene.entry, "single.pov");
    assert.notEqual(scene.dir, dir);
    await scene.cleanup();
    await assert.rejects(prepareScene(join(dir, "nothing-here"), undefined, "povray"), (e: unknown) => e instanceof UsageError && e.flag === "<scene>");
  });

  it("validates the manifest and reports its problems as flag problems", () => {
    const options = parseSubmitOptions("s", { size: "160x120", frames: "1-8", tiles: "2x2", reward: "1" }, 1_700_000_000);
    const manifest = buildManifest(options, { cid: CID, entry: "scene.json", sizeBytes: 10 }, "1.0.0");
    assert.deepEqual(manifest.settings, { samples: 16, seed: 1, maxBounces: 4 });
    assert.throws(
      () => buildManifest({ ...options, settings: { ...options.settings, colour: "red" } }, { cid: CID, entry: "scene.json", sizeBytes: 10 }, " 1.0.0"),
      (e: unknown) => {
        assert.ok(e instanceof UsageErrors);
        const flags = e.problems.map((p) => p.flag);
        assert.ok(flags.includes("--engine-version"), e.message);
        assert.ok(flags.includes("--settings"), e.message);
        return true;
      },
    );
  });

  it("computes the escrow as segments × redundancy × (reward + fee)", () => {
    const cost = jobCost(32, 2, 1_500_000_000_000_000_000n, 100);
    assert.equal(cost.feePerReplica, 15_000_000_000_000_000n);
    assert.equal(cost.escrow, 64n * 1_515_000_000_000_000_000n);
    assert.equal(cost.rewards + cost.fees, cost.escrow);
  });

  it("shows the scene upload as bytes stored of the total with the rate, then the pin, then a summary", () => {
    const mib = 1024 * 1024;
    assert.equal(uploadProgressLine({ bytes: 75 * mib, stage: "storing" }, 300 * mib, 5_000, true), "uploading scene [#####...............] 75 MiB / 300 MiB at 15 MiB/s");
    assert.equal(uploadProgressLine({ bytes: 300 * mib, stage: "pinning", pinnedBlocks: 812 }, 300 * mib, 20_000, true), "pinning scene on the IPFS node: 812 blocks pinned (300 MiB stored)");
    assert.equal(uploadProgressLine({ bytes: 300 * mib, stage: "done" }, 300 * mib, 40_000, true), "uploaded scene 300 MiB in 40.0 s (7.5 MiB/s)");
  });
});

describe("coverageWarning: what job submit says when no registered provider offers what a job needs", () => {
  const profile = (address: `0x${string}`, engines: Array<[string, string]>, verificationModes?: string[]) => ({
    address,
    profileCid: "cid",
    profile: {
      version: 1 as const,
      address,
      engines: engines.map(([name, version]) => ({ name, version, score: 1, seconds: 1 })),
      benchmarkScore: null,
      hardware: { cpus: 1, cpuModel: "t", memoryBytes: 1 },
      limits: { maxConcurrentSegments: 1, cpuThreads: 1, memoryBytes: 1, maxSceneBytes: 1, workHours: "0-24" },
      pricing: { minRewardPerRenderSecondWei: "0" },
      ...(verificationModes ? { verificationModes } : {}),
      updatedAt: "2026-01-01T00:00:00.000Z",
    },
  });
  const scan = {
    blockNumber: 1n,
    providers: [profile("0x00000000000000000000000000000000000000a1", [["povray", "3.7.0.10"]]), profile("0x00000000000000000000000000000000000000b2", [["povray", "3.8.0"]], ["exact"])],
  };

  it("is silent when a provider offers the engine, the version and the mode", () => {
    assert.deepEqual(coverageWarning(scan, { engine: "povray", version: "3.8.0", verification: "exact" }), []);
  });

  it("names the mode nobody renders, with the counts of each part", () => {
    const [line] = coverageWarning(scan, { engine: "povray", version: "3.8.0", verification: "tolerant" });
    assert.equal(line, "WARNING    no registered provider advertises povray 3.8.0 with tolerant verification: of 2 registered providers, 2 offer povray (3.8.0 by 1, 3.7.0.10 by 1), 1 offers version 3.8.0, 0 render tolerant jobs");
  });

  it("suggests the offered version when only the version is missing, and says when nobody runs the engine", () => {
    assert.match(coverageWarning(scan, { engine: "povray", version: "3.6", verification: "exact" }).join("\n"), /0 offer version 3\.6, 2 render exact jobs\n.*use --engine-version 3\.8\.0/);
    assert.match(coverageWarning(scan, { engine: "blender", version: "4.2.0", verification: "exact" }).join("\n"), /0 offer blender, 0 offer version 4\.2\.0/);
  });
});

describe("settleAudits and auditStaffingWarning: the default audit terms against the providers able to take the job", () => {
  const base = { size: "16x16", reward: "2" };

  it("keeps the default audits where redundancy + 3 providers can take the job, and turns them off below, collateral back to 2 × the reward", () => {
    const o = parseSubmitOptions("s", base, 0);
    assert.deepEqual(settleAudits(o, 5), { auditBps: 4000, collateral: 8_000_000_000_000_000_000n, auditDefaulted: { collateralGiven: false } });
    const off = settleAudits(o, 4);
    assert.equal(off.auditBps, 0);
    assert.equal(off.collateral, 4_000_000_000_000_000_000n);
    assert.match(off.auditDefaulted?.offReason ?? "", /4 registered providers can take this job; an audit and its escalation need 5/);
    // A collateral the user gave stays what it was either way.
    const given = parseSubmitOptions("s", { ...base, collateral: "5" }, 0);
    assert.equal(settleAudits(given, 1).collateral, 5_000_000_000_000_000_000n);
  });

  it("never changes a rate the user gave; warns when too few providers could finish its dispute", () => {
    const o = parseSubmitOptions("s", { ...base, audit: "2500" }, 0);
    assert.deepEqual(settleAudits(o, 1), { auditBps: 2500, collateral: o.collateral });
    assert.match(auditStaffingWarning(o, 4).join("\n"), /^WARNING {4}4 registered providers can take this job; an audit and its escalation need 5 different providers: .*accepted result standing/);
    assert.deepEqual(auditStaffingWarning(o, 5), []);
    assert.deepEqual(auditStaffingWarning(parseSubmitOptions("s", { ...base, audit: "0" }, 0), 1), [], "no audits, no warning");
    assert.deepEqual(auditStaffingWarning({ ...parseSubmitOptions("s", base, 0) }, 1), [], "a default rate is turned off instead of warned about");
  });
});
