/**
 * Runs every `*.test.ts` of the workspace packages (sdk, ipfs-node, provider-node, cli, web) and the
 * end-to-end suite with Node's own test runner, which prints its `# pass N / # fail N` summary.
 * Usage: node scripts/testPackages.ts [path-prefix ...]   (a prefix narrows the run)
 */
import { spawnSync } from "node:child_process";
import { globSync } from "node:fs";

const roots = ["sdk/src", "ipfs-node/src", "provider-node/src", "cli/src", "test/e2e", "web/test"];
const prefixes = process.argv.slice(2);
const files = roots
  .flatMap((root) => globSync(`${root}/**/*.test.ts`))
  .filter((file) => prefixes.length === 0 || prefixes.some((prefix) => file.startsWith(prefix)))
  .sort();

if (files.length === 0) {
  console.error(`No test files found under ${roots.join(", ")}${prefixes.length ? ` matching ${prefixes.join(", ")}` : ""}.`);
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ["--test", "--test-reporter=spec", `--test-concurrency=${process.env.TEST_CONCURRENCY ?? "2"}`, ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
