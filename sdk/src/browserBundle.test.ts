/**
 * The sdk's main entry is browser-safe: bundled by esbuild for the browser, nothing from `node:`
 * (or a bare Node built-in such as `fs`) and no node-only package gets in. The bundle then runs in
 * a bare JavaScript context — no `process`, no `Buffer`, no `require` — and computes the same
 * pixel digests and PNG round trips as Node does, so the dApp can verify results itself.
 */
import assert from "node:assert/strict";
import { builtinModules } from "node:module";
import { join } from "node:path";
import { runInNewContext } from "node:vm";
import { describe, it } from "node:test";
import { build, type Plugin } from "esbuild";
import { pixelDigest } from "./pixelDigest.ts";

const SRC = import.meta.dirname;
/** Packages that only run in Node (or only make sense there); none may be bundled into the core. */
const NODE_ONLY_PACKAGES = ["pngjs", "kubo-rpc-client", "esbuild", "commander", "pino", "better-sqlite3", "node-fetch", "undici"];
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, m.split("/")[0]]));

interface BundleReport {
  /** Node built-ins imported, each with the file that imported it. */
  builtins: string[];
  /** Files of node-only packages that got into the bundle. */
  nodeOnlyInputs: string[];
  code: string;
}

/** Bundles `entry` for the browser, recording every Node built-in it imports instead of failing on the first. */
async function bundleForBrowser(entry: string, format: "esm" | "iife" = "esm"): Promise<BundleReport> {
  const builtins: string[] = [];
  const flagNodeImports: Plugin = {
    name: "flag-node-imports",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.startsWith("node:") ? args.path.slice(5) : args.path;
        if (args.path.startsWith("node:") || BUILTINS.has(bare.split("/")[0])) {
          builtins.push(`${args.path} (imported by ${args.importer.replace(`${join(SRC, "../..")}/`, "")})`);
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: "browser",
    format,
    globalName: format === "iife" ? "sdk" : undefined,
    write: false,
    metafile: true,
    logLevel: "silent",
    plugins: [flagNodeImports],
  });
  const nodeOnlyInputs = Object.keys(result.metafile.inputs).filter((file) => NODE_ONLY_PACKAGES.some((pkg) => file.includes(`node_modules/${pkg}/`)));
  return { builtins, nodeOnlyInputs, code: result.outputFiles[0].text };
}

describe("the sdk's browser-safe core", { timeout: 120_000 }, () => {
  it("bundles for the browser without anything from node: or a node-only package", async () => {
    const report = await bundleForBrowser(join(SRC, "index.ts"));
    assert.deepEqual(report.builtins, [], `Node built-ins in @tessellate/sdk:\n${report.builtins.join("\n")}\nmove the module to the node entry (sdk/src/node.ts)`);
    assert.deepEqual(report.nodeOnlyInputs, [], `node-only packages in @tessellate/sdk:\n${report.nodeOnlyInputs.join("\n")}`);
  });

  it("the check catches what the node entry holds", async () => {
    const report = await bundleForBrowser(join(SRC, "node.ts"));
    for (const expected of ["node:crypto", "node:fs/promises", "node:child_process"]) {
      assert.ok(report.builtins.some((line) => line.startsWith(`${expected} `)), `${expected} should be flagged in the node entry: ${report.builtins.join(", ")}`);
    }
    assert.ok(report.nodeOnlyInputs.some((file) => file.includes("kubo-rpc-client")), "kubo-rpc-client is node-only here");
  });

  it("runs without Node's globals and gives the same pixel digest and PNG round trip as Node", async () => {
    const { code } = await bundleForBrowser(join(SRC, "index.ts"), "iife");
    const frame = { width: 3, height: 2, data: Uint8Array.from({ length: 24 }, (_, i) => (i * 37) % 256) };
    const context: Record<string, unknown> = {
      // What a browser has; deliberately no process, Buffer, require or module.
      TextEncoder,
      TextDecoder,
      URL,
      crypto: globalThis.crypto,
      console,
      setTimeout,
      clearTimeout,
      frameData: frame.data,
    };
    runInNewContext(
      `${code}
       const frame = { width: 3, height: 2, data: new Uint8Array(frameData) };
       const png = sdk.encodePng(frame);
       const decoded = sdk.decodePng(png);
       globalThis.result = { digest: sdk.pixelDigest([frame]), pngDigest: sdk.pngDigest([png]), same: decoded.data.every((v, i) => v === frame.data[i]), salt: sdk.randomSalt() };`,
      context,
    );
    const result = context.result as { digest: string; pngDigest: string; same: boolean; salt: string };
    assert.equal(result.digest, pixelDigest([frame]));
    assert.equal(result.pngDigest, result.digest);
    assert.equal(result.same, true);
    assert.match(result.salt, /^0x[0-9a-f]{64}$/);
    // The known answer of pixelDigest.test.ts, computed in the bare context.
    const known = { width: 2, height: 1, data: new Uint8Array([255, 0, 0, 255, 0, 0, 255, 128]) };
    context.knownData = known.data;
    runInNewContext(`${code}\nglobalThis.knownDigest = sdk.pixelDigest([{ width: 2, height: 1, data: new Uint8Array(knownData) }]);`, context);
    assert.equal(context.knownDigest, "0xcc1ad2039d12a828cf9de73c801cba875027992685d3c2ba0ff43a13451e3b40");
  });
});
