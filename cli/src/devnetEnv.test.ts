/**
 * What the devnet prints under "Act as the requester", pasted into a shell as printed, drives the
 * `tessellate` binary against the devnet — here one on non-default ports, so nothing works by
 * falling back to the CLI's defaults. Once the lines used the provider's variable names and the
 * CLI read others: pasted, they did not reach the CLI.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEVNET_ROLES, devnetPrivateKey } from "../../scripts/devnet/accounts.ts";
import { startNetwork, type Network } from "../../scripts/devnet/network.ts";
import { testPort } from "../../scripts/devnet/ports.ts";
import { requesterExportLines } from "../../scripts/devnet/requesterEnv.ts";

const DEPLOYMENT = "test-cli-devnet-env";
const ROOT = join(import.meta.dirname, "../..");
const MAIN = join(import.meta.dirname, "main.ts");
const SCENE = join(ROOT, "scenes/builtin-sample");

let dir: string;
let network: Network | undefined;

/** Runs `script` in bash with nothing but PATH and HOME from this process: only what it exports reaches the CLI. */
function shell(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const tessellate = (args: string) => `${JSON.stringify(process.execPath)} ${JSON.stringify(MAIN)} ${args}`;

describe("the devnet's requester lines", { timeout: 180_000 }, () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "tessellate-devnet-env-"));
    network = await startNetwork({
      dir: join(dir, "network"),
      chainPort: testPort(8736),
      ipfsApiPort: testPort(5736),
      ipfsGatewayPort: testPort(5737),
      deploymentId: DEPLOYMENT,
      requesterTokens: 1_000,
      providerTokens: 10,
    });
  });

  after(async () => {
    await network?.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(join(ROOT, "ignition/deployments", DEPLOYMENT), { recursive: true, force: true });
    await rm(join(ROOT, ".devnet", `ignition-${DEPLOYMENT}.json`), { force: true });
  });

  it("pasted into a shell, point the CLI at the devnet's chain, IPFS node, contracts and requester key", async () => {
    const net = network!;
    assert.notEqual(net.rpcUrl, "http://127.0.0.1:8545", "the test runs on a non-default port");
    const lines = requesterExportLines({ ...net, privateKey: devnetPrivateKey(DEVNET_ROLES.requester) });
    assert.ok(lines.every((line) => line.startsWith("export ")), lines.join("\n"));

    const submitted = await shell(
      [
        ...lines,
        tessellate(`job submit ${JSON.stringify(SCENE)} --engine builtin --engine-version 1.0.0 --size 16x12 --frames 1-1 --tiles 1x1 --redundancy 1 --quorum 1 --reward 1 --collateral 2 --no-wait`),
      ].join("\n"),
    );
    assert.equal(submitted.code, 0, `${submitted.stdout}\n${submitted.stderr}`);
    assert.match(submitted.stdout, /posted {5}job 1 /);

    const status = await shell([...lines, tessellate("job status 1")].join("\n"));
    assert.equal(status.code, 0, `${status.stdout}\n${status.stderr}`);
    assert.match(status.stdout, /^0 +frame 1 +16×12@0,0 +Open/m);
  });

  it("the CLI's former names are refused, naming the shared one", async () => {
    const old = await shell(`export TESSELLATE_IPFS_API=${network!.ipfsApiUrl}\n${tessellate("job status 1")}`);
    assert.equal(old.code, 2, `${old.stdout}\n${old.stderr}`);
    assert.match(old.stderr, /TESSELLATE_IPFS_API: is no longer read — rename it to TESSELLATE_IPFS_API_URL/);
  });
});
