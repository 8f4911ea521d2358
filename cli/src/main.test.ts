import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runCli } from "./main.ts";
import { collectingOutput } from "./output.ts";

const SCENE = join(import.meta.dirname, "../../scenes/builtin-sample");
const MAIN = join(import.meta.dirname, "main.ts");

/** Runs the program with a runtime whose connection must never be reached. */
async function run(args: string[], env: Record<string, string> = {}) {
  const output = collectingOutput();
  let connected = false;
  const code = await runCli(["node", "tessellate", ...args], {
    env,
    output,
    connect: async () => {
      connected = true;
      throw new Error("no chain in this test");
    },
  });
  return { code, stdout: output.lines.join("\n"), stderr: output.progressText(), connected };
}

describe("tessellate program", () => {
  it("exits 2 naming the flag for each documented input mistake, before touching the chain", async () => {
    const base = ["job", "submit", SCENE, "--reward", "1.5", "--size", "160x120"];
    const cases: Array<[string[], RegExp]> = [
      [["--size", "160by120"], /--size: "160by120" is not WIDTHxHEIGHT — write the image size in pixels as e.g. --size 160x120/],
      [["--frames", "8-1"], /--frames: the last frame 1 comes before the first frame 8/],
      [["--tiles", "200x2"], /--tiles: 200x2 tiles is out of range|--tiles: 200 tiles across/],
      [["--size", "4x4", "--tiles", "8x1"], /--tiles: 8 tiles across is more than the image width of 4 pixels/],
      [["--reward", "0"], /--reward: must be more than zero/],
      [["--deadline", "2001-01-01T00:00:00Z"], /--deadline: 2001-01-01T00:00:00.000Z is in the past/],
    ];
    for (const [extra, pattern] of cases) {
      const result = await run([...base, ...extra]);
      assert.equal(result.code, 2, `${extra.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.equal(result.connected, false);
    }
  });

  it("exits 2 on configuration mistakes and on what commander rejects", async () => {
    const badUrl = await run(["--rpc-url", "not-a-url", "job", "status", "1"]);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /--rpc-url: "not-a-url" is not an http\(s\) URL/);
    const badEnv = await run(["audit"], { TESSELLATE_MARKET_ADDRESS: "0x12" });
    assert.equal(badEnv.code, 2);
    assert.match(badEnv.stderr, /TESSELLATE_MARKET_ADDRESS: "0x12" is not an address/);
    const badId = await run(["job", "status", "one"]);
    assert.equal(badId.code, 2);
    assert.match(badId.stderr, /<jobId>: "one" is not a number/);
    const unknown = await run(["job", "submit", SCENE, "--colour", "red"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--colour'/);
    const missing = await run(["job", "fetch", "1"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /required option '--out <dir>'/);
  });

  it("exits 1 when a command fails at run time", async () => {
    const result = await run(["job", "status", "1"]);
    assert.equal(result.code, 1);
    assert.equal(result.connected, true);
    assert.match(result.stderr, /no chain in this test/);
  });

  it("shows help with examples and exits 0", async () => {
    const result = await run(["job", "submit", "--help"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /--frames-per-segment <n>/);
    assert.match(result.stdout, /tessellate job submit scenes\/builtin-sample/);
  });

  it("runs as a binary under Node's type stripping", () => {
    const version = spawnSync(process.execPath, [MAIN, "--version"], { encoding: "utf8" });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), "0.1.0");
    const bad = spawnSync(process.execPath, [MAIN, "job", "submit", SCENE, "--size", "160by120", "--reward", "1"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^error: --size: "160by120" is not WIDTHxHEIGHT/);
  });
});
