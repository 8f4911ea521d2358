import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_TOLERANCE_BPS } from "@tessellate/sdk/fingerprint";
import { UsageError, UsageErrors, exitCodeOf, EXIT_CODES } from "./errors.ts";
import { parseDeadline, parseDuration, parseFrameRange, parseSize, parseSubmitOptions, parseTokenAmount, type RawSubmitOptions } from "./parse.ts";

const NOW = 1_700_000_000;
const BASE: RawSubmitOptions = { size: "160x120", frames: "1-8", tiles: "2x2", reward: "1.5", collateral: "3" };

/** The messages of a submit command line that must fail. */
function problemsOf(raw: RawSubmitOptions, scene: string | undefined = "scenes/builtin-sample"): string[] {
  try {
    parseSubmitOptions(scene, raw, NOW);
  } catch (error) {
    assert.ok(error instanceof UsageErrors, `expected UsageErrors, got ${error}`);
    assert.equal(exitCodeOf(error), EXIT_CODES.usage);
    return error.problems.map((p) => p.message);
  }
  assert.fail("the command line was accepted");
}

describe("job submit arguments", () => {
  it("accepts the documented example and fills the defaults", () => {
    const o = parseSubmitOptions(
      "scenes/builtin-sample",
      { ...BASE, framesPerSegment: "1", redundancy: "2", quorum: "2", samples: "16", seed: "1", maxBounces: "4", lease: "300", revealWindow: "120", deadline: "2h", minReputation: "0", out: "out/" },
      NOW,
    );
    assert.deepEqual([o.width, o.height, o.frames, o.tilesX, o.tilesY], [160, 120, { start: 1, end: 8 }, 2, 2]);
    assert.equal(o.reward, 1_500_000_000_000_000_000n);
    assert.equal(o.collateral, 3_000_000_000_000_000_000n);
    assert.deepEqual(o.settings, { samples: 16, seed: 1, maxBounces: 4 });
    assert.deepEqual(o.deadline, { kind: "relative", seconds: 7200 });
    assert.equal(o.wait, true);
    assert.equal(o.permit, false);
    assert.equal(o.engine, "builtin");
  });

  it("defaults Blender jobs to tolerant verification at the sdk's default tolerance, the others to exact", () => {
    const blender = parseSubmitOptions("s.blend", { ...BASE, engine: "blender", samples: "8" }, NOW);
    assert.equal(blender.verification, "tolerant");
    assert.equal(blender.toleranceBps, DEFAULT_TOLERANCE_BPS);
    const builtin = parseSubmitOptions("s", BASE, NOW);
    assert.equal(builtin.verification, "exact");
    assert.equal(builtin.toleranceBps, undefined);
    assert.equal(parseSubmitOptions("s", { ...BASE, engine: "povray" }, NOW).verification, "exact");
    const chosen = parseSubmitOptions("s", { ...BASE, verification: "tolerant", tolerance: "1000" }, NOW);
    assert.deepEqual([chosen.verification, chosen.toleranceBps], ["tolerant", 1000]);
    assert.equal(parseSubmitOptions("s.blend", { ...BASE, engine: "blender", samples: "8", verification: "exact" }, NOW).verification, "exact");
    assert.match(problemsOf({ ...BASE, engine: "blender", verification: "exact", tolerance: "1000" }).join("\n"), /--tolerance: applies only to tolerant verification, and this job is exact —/);
    assert.match(problemsOf({ ...BASE, verification: "tolerant", tolerance: "0" }).join("\n"), /--tolerance: must be an integer from 1 to/);
    assert.match(problemsOf({ ...BASE, verification: "tolerant", tolerance: "a lot" }).join("\n"), /--tolerance: "a lot" is not a whole number/);
  });

  it("--audit sets the job's audit rate; the sdk's audit rules name --audit", () => {
    const given = parseSubmitOptions("s", { ...BASE, audit: "3333" }, NOW);
    assert.equal(given.auditBps, 3333);
    assert.equal(given.auditDefaulted, undefined, "a rate the user gave is not a default job submit may turn off");
    assert.equal(parseSubmitOptions("s", { ...BASE, audit: "0" }, NOW).auditBps, 0);
    assert.match(problemsOf({ ...BASE, audit: "10001" }).join("\n"), /--audit: /);
    assert.match(problemsOf({ ...BASE, audit: "3333", redundancy: "3" }).join("\n"), /--audit: needs a quorum equal to the redundancy/);
    assert.match(problemsOf({ ...BASE, audit: "3333", verification: "tolerant" }).join("\n"), /--audit: needs exact verification/);
  });

  it("defaults the quorum to a majority and the collateral to twice the reward on a job that cannot be audited", () => {
    const o = parseSubmitOptions("s", { size: "16x16", reward: "2", redundancy: "3" }, NOW);
    assert.equal(o.quorum, 2);
    assert.equal(o.collateral, 4_000_000_000_000_000_000n);
    assert.equal(o.auditBps, 0);
    assert.match(o.auditDefaulted?.offReason ?? "", /audits need quorum = redundancy ≤ 2, this job has 2 of 3/);
  });

  it("audits an exact job at quorum = redundancy by default, at 40 % with collateral 4 × the reward (issue 10 property 4's defaults)", () => {
    const o = parseSubmitOptions("s", { size: "16x16", reward: "2" }, NOW);
    assert.equal(o.redundancy, 2);
    assert.equal(o.quorum, 2);
    assert.equal(o.auditBps, 4000);
    assert.equal(o.collateral, 8_000_000_000_000_000_000n);
    assert.deepEqual(o.auditDefaulted, { collateralGiven: false });
    const r1 = parseSubmitOptions("s", { size: "16x16", reward: "2", redundancy: "1" }, NOW);
    assert.equal(r1.auditBps, 4000, "r = 1 plus audits: the trusted-provider setting");
    // A collateral the user gave is kept: at 2 × the reward (the contract's minimum) audits stay on,
    // below it they go off rather than refuse terms the user never asked to be audited.
    const atMinimum = parseSubmitOptions("s", { size: "16x16", reward: "2", collateral: "4" }, NOW);
    assert.equal(atMinimum.auditBps, 4000);
    assert.equal(atMinimum.collateral, 4_000_000_000_000_000_000n);
    const below = parseSubmitOptions("s", { size: "16x16", reward: "2", collateral: "3" }, NOW);
    assert.equal(below.auditBps, 0);
    assert.match(below.auditDefaulted?.offReason ?? "", /collateral ≥ 2 × the reward/);
    assert.equal(parseSubmitOptions("s", { size: "16x16", reward: "2", verification: "tolerant" }, NOW).auditBps, 0);
  });

  it("names --size and shows how to write it when the size is malformed", () => {
    const [message] = problemsOf({ ...BASE, size: "160by120" });
    assert.match(message, /^--size: "160by120" is not WIDTHxHEIGHT — .*--size 160x120/);
  });

  it("rejects a reversed frame range and suggests the right order", () => {
    const [message] = problemsOf({ ...BASE, frames: "8-1" });
    assert.match(message, /^--frames: the last frame 1 comes before the first frame 8 — .*--frames 1-8/);
  });

  it("rejects more tiles than pixels", () => {
    const [message] = problemsOf({ ...BASE, size: "4x4", tiles: "8x2" });
    assert.match(message, /^--tiles: 8 tiles across is more than the image width of 4 pixels — use at most 4 tiles across/);
  });

  it("rejects a zero reward and a collateral below the reward", () => {
    assert.match(problemsOf({ ...BASE, reward: "0" })[0], /^--reward: must be more than zero — give the reward each agreeing replica is paid, e.g. 1.5 tokens/);
    assert.match(problemsOf({ ...BASE, reward: "2", collateral: "1" })[0], /^--collateral: is less than the reward — .*raise the collateral or lower the reward/);
    assert.match(problemsOf({ ...BASE, reward: "1.5x" })[0], /^--reward: "1.5x" is not an amount of tokens/);
  });

  it("rejects a deadline in the past or too close", () => {
    assert.match(problemsOf({ ...BASE, deadline: "2020-01-01T00:00:00Z" })[0], /^--deadline: 2020-01-01T00:00:00.000Z is in the past — give a duration from now like --deadline 2h/);
    assert.match(problemsOf({ ...BASE, deadline: "60s" })[0], /^--deadline: is only 60 s away, less than one lease plus one reveal window \(420 s\)/);
    assert.match(problemsOf({ ...BASE, deadline: "-2h" })[0], /^--deadline: .* is in the past/);
  });

  it("rejects a quorum that is not a majority", () => {
    assert.match(problemsOf({ ...BASE, redundancy: "3", quorum: "1" })[0], /^--quorum: 1 does not fit redundancy 3: .* — use a quorum from 2 to 3/);
  });

  it("reports every problem at once, and a missing scene, size and reward", () => {
    const messages = problemsOf({ frames: "8-1", tiles: "0x2" }, "");
    assert.ok(messages.some((m) => m.startsWith("<scene>: is missing")));
    assert.ok(messages.some((m) => m.startsWith("--size: is missing")));
    assert.ok(messages.some((m) => m.startsWith("--reward: is missing")));
    assert.ok(messages.some((m) => m.startsWith("--frames:")));
    assert.ok(messages.some((m) => m.startsWith("--tiles:")));
  });

  it("rejects engine settings the engine does not take", () => {
    const messages = problemsOf({ ...BASE, engine: "povray", samples: "64", maxBounces: "3" });
    assert.ok(messages.some((m) => m.startsWith("--samples: the povray engine takes no sample count")));
    assert.ok(messages.some((m) => m.startsWith("--max-bounces:")));
    assert.match(problemsOf({ ...BASE, engine: "cycles" })[0], /^--engine: "cycles" is not an engine — use one of builtin, povray, blender/);
  });

  it("refuses --record-output and --video with --no-wait", () => {
    const messages = problemsOf({ ...BASE, wait: false, recordOutput: true, video: true });
    assert.deepEqual(messages.map((m) => m.split(":")[0]), ["--record-output", "--video"]);
  });

  it("merges --settings JSON and reports bad JSON", () => {
    const o = parseSubmitOptions("s", { ...BASE, engine: "povray", settings: '{"quality":7}' }, NOW);
    assert.deepEqual(o.settings, { quality: 7 });
    assert.match(problemsOf({ ...BASE, settings: "{nope" })[0], /^--settings: is not JSON/);
  });
});

describe("value parsers", () => {
  it("parses durations with and without units", () => {
    assert.equal(parseDuration("--lease", "300"), 300);
    assert.equal(parseDuration("--lease", "5m"), 300);
    assert.equal(parseDuration("--lease", "1h30m"), 5400);
    assert.equal(parseDuration("--lease", "2d"), 172_800);
    assert.throws(() => parseDuration("--lease", "5 minutes"), (e: unknown) => e instanceof UsageError && e.flag === "--lease");
  });

  it("parses sizes, frame ranges, token amounts and deadlines", () => {
    assert.deepEqual(parseSize("--size", "1920X1080"), { width: 1920, height: 1080 });
    assert.deepEqual(parseFrameRange("--frames", "7"), { start: 7, end: 7 });
    assert.deepEqual(parseFrameRange("--frames", "1..3"), { start: 1, end: 3 });
    assert.equal(parseTokenAmount("--reward", ".5"), 500_000_000_000_000_000n);
    assert.equal(parseTokenAmount("--reward", "0.000000000000000001"), 1n);
    assert.throws(() => parseTokenAmount("--reward", "0.0000000000000000001"), /more than 18 decimals/);
    assert.deepEqual(parseDeadline("--deadline", "2030-01-01T00:00:00Z", NOW), { kind: "absolute", timestamp: 1_893_456_000 });
  });
});
