/**
 * Compiles the contracts from scratch and fails on any compiler warning in this project's own
 * sources (Hardhat has no warnings-as-errors switch). Warnings inside node_modules (for example
 * solc's generic note on OpenZeppelin's transient-storage reentrancy guard) are reported, not fatal.
 * Usage: node scripts/buildContracts.ts
 */
import { spawnSync } from "node:child_process";

const result = spawnSync("hardhat", ["build", "--force"], { encoding: "utf8", shell: false });
const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
process.stdout.write(output);
if (result.status !== 0) process.exit(result.status ?? 1);

const ownWarnings = output
  .split(/\n(?=Warning:)/)
  .filter((block) => block.startsWith("Warning:") && /-->\s+\.\/contracts\//.test(block));
if (ownWarnings.length > 0) {
  console.error(`\n${ownWarnings.length} compiler warning(s) in contracts/ — warnings are errors in this project.`);
  process.exit(1);
}
console.log("contracts compiled with no warnings in contracts/");
