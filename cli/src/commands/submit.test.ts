import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { UsageError, UsageErrors } from "../errors.ts";
import { parseSubmitOptions } from "../parse.ts";
import { buildManifest, jobCost, prepareScene, uploadProgressLine } from "./submit.ts";

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
