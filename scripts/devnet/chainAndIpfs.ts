/**
 * `npm run devnet:chain`: only the chain (Hardhat node, protocol deployed with Ignition) and the
 * embedded IPFS node, with funded devnet accounts — no providers, no job. Combine it by hand with
 * `npm run devnet:provider` (one per terminal) and the `tessellate` CLI. Ctrl-C stops both.
 * Writes .devnet/network.json (RPC URL, IPFS URLs, addresses) for the other scripts.
 */
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { devnetPrivateKey, DEVNET_ROLES } from "./accounts.ts";
import { startNetwork } from "./network.ts";
import { requesterExportLines } from "./requesterEnv.ts";

const ROOT = join(import.meta.dirname, "../..");
const network = await startNetwork({
  dir: join(ROOT, ".devnet"),
  chainPort: 8545,
  ipfsApiPort: 5001,
  ipfsGatewayPort: 8080,
  deploymentId: "chain-31337",
  onStep: (m) => console.log(`· ${m}`),
});
spawnSync(process.execPath, [join(ROOT, "scripts/generateBindings.ts")], { stdio: "inherit" });
console.log(
  [
    "",
    `chain    ${network.rpcUrl}`,
    `IPFS     API ${network.ipfsApiUrl}   gateway ${network.gatewayUrl}`,
    `market   ${network.addresses.market}`,
    `registry ${network.addresses.registry}`,
    `token    ${network.addresses.token}`,
    "",
    "Start providers in other terminals:   npm run devnet:provider -- --account 2   (3, 4, …)",
    "Act as the requester:",
    ...requesterExportLines({ ...network, privateKey: devnetPrivateKey(DEVNET_ROLES.requester) }).map((line) => `  ${line}`),
    "  npx tessellate job submit scenes/builtin-sample --engine builtin --size 160x120 --frames 1-8 --tiles 2x2 --redundancy 2 --reward 2 --collateral 4 --out out/",
    "(devnet keys are public test keys: never use them on a real network)",
    "Ctrl-C stops the chain and IPFS.",
  ].join("\n"),
);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await network.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
