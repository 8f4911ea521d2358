/**
 * Pixels must be bit-identical on every machine, so the tracer may use only IEEE-exact operations.
 * Math.sin/cos/tan/exp/pow/log/random/atan/hypot/cbrt (and `**`, which is Math.pow) are computed by
 * platform-dependent approximations or are not seeded; none may appear in the engine's source.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, it } from "node:test";

const FORBIDDEN_MATH = /\bMath\s*\.\s*(sin|cos|tan|exp|pow|log|random|atan|hypot|cbrt|asin|acos|sinh|cosh|tanh|asinh|acosh|atanh|expm1|log1p|log2|log10|atan2)\b/;

/** Source without comments (JSDoc opens with `/**`, which is not exponentiation). */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

describe("tracer source", () => {
  it("uses no platform-dependent Math functions and no ** operator", async () => {
    const files = (await readdir(import.meta.dirname, { recursive: true }))
      .filter((file) => file.endsWith(".ts") && !file.endsWith(".test.ts"))
      .sort();
    assert.ok(files.includes("shade.ts") && files.includes("intersect.ts"), `unexpected file list ${files.join(", ")}`);
    for (const file of files) {
      const code = stripComments(await readFile(path.join(import.meta.dirname, file), "utf8"));
      code.split("\n").forEach((line, i) => {
        assert.doesNotMatch(line, FORBIDDEN_MATH, `${file}:${i + 1} uses a forbidden Math function`);
        assert.doesNotMatch(line, /\*\*/, `${file}:${i + 1} uses the ** operator`);
      });
    }
  });

  it("would catch a forbidden call", () => {
    assert.match(stripComments("const x = Math.pow(2, 3); /** doc */"), FORBIDDEN_MATH);
    assert.match(stripComments("const y = 2 ** 3;"), /\*\*/);
    assert.doesNotMatch(stripComments("/** doc */\nconst z = 1; // Math.sin in a comment"), FORBIDDEN_MATH);
  });
});
