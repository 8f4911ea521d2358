/**
 * `npm run devnet:provider -- --account N [--port P]`: registers (benchmark + profile on IPFS),
 * stakes and runs one provider daemon against the devnet started by `npm run devnet:chain`
 * (read from .devnet/network.json), in the foreground with its log on this terminal.
 * Devnet accounts 2 and up are providers. Ctrl-C stops it gracefully.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { providerEnv } from "./network.ts";

const ROOT = join(import.meta.dirname, "../..");
const { values } = parseArgs({ options: { account: { type: "string", default: "2" }, port: { type: "string" }, stake: { type: "string", default: "1000" } } });
const account = Number(values.account);
if (!Number.isInteger(account) || account < 2 || account > 19) {
  console.error("--account must be a devnet account index from 2 to 19 (0 is the deployer, 1 the requester).");
  process.exit(2);
}
let network;
try {
  network = JSON.parse(readFileSync(join(ROOT, ".devnet/network.json"), "utf8"));
} catch {
  console.error("No running devnet found (.devnet/network.json): start one first with `npm run devnet:chain`.");
  process.exit(2);
}
const httpPort = Number(values.port ?? 7800 + account - 1);
const { env, apiToken } = providerEnv({ ...network, dir: join(ROOT, ".devnet") }, { account, httpPort });
const cli = join(ROOT, "provider-node/src/cli.ts");
const run = (args: string[]) =>
  new Promise<number>((resolve) => spawn(process.execPath, ["--no-warnings", cli, ...args], { stdio: "inherit", env: { ...process.env, ...env } }).on("exit", (code) => resolve(code ?? 1)));

for (const args of [["register"], ["stake", values.stake!]]) {
  const code = await run(args);
  if (code !== 0) process.exit(code);
}
console.log(`provider ${account}: API http://127.0.0.1:${httpPort} (pause/resume bearer token ${apiToken})`);
process.exit(await run(["run"]));
