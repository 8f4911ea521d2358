/**
 * An RPC outage on a real chain, told in two lines: the provider node talks to a real Hardhat node
 * through a small JSON-RPC relay that the test cuts for a few seconds and restores. The node's log
 * during the outage must hold one warn line when it starts, one info line when it ends, no
 * error-level line and no viem request dump — where it used to print error lines with full dumps
 * every second.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import { MemoryStorage } from "@tessellate/sdk/testing/memoryStorage";
import { devnetAccount, DEVNET_ROLES } from "../../../scripts/devnet/accounts.ts";
import { deployProtocol, startChain, type DeployedProtocol, type RunningChain } from "../../../scripts/devnet/chain.ts";
import { testPort } from "../../../scripts/devnet/ports.ts";
import { resolveConfig } from "../config/config.ts";
import { createLogger } from "../logger.ts";
import { startProviderNode, type ProviderNode } from "../main.ts";

const CHAIN_PORT = testPort(8671);
const RELAY_PORT = testPort(8672);

let chain: RunningChain;
let deployed: DeployedProtocol;
let dir: string;
let node: ProviderNode | undefined;
let relay: Relay;

/** Forwards JSON-RPC POSTs to the chain; `cut()` closes the port (connections refused), `restore()` reopens it. */
class Relay {
  private server: Server | undefined;
  readonly port: number;
  private readonly target: string;
  constructor(port: number, target: string) {
    this.port = port;
    this.target = target;
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  async restore(): Promise<void> {
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      try {
        const answer = await fetch(this.target, { method: "POST", headers: { "content-type": "application/json" }, body: Buffer.concat(chunks) });
        res.writeHead(answer.status, { "content-type": "application/json" }).end(Buffer.from(await answer.arrayBuffer()));
      } catch {
        res.destroy();
      }
    });
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(this.port, "127.0.0.1", () => resolve()));
    this.server = server;
  }
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "tessellate-rpc-outage-"));
  chain = await startChain({ port: CHAIN_PORT });
  deployed = await deployProtocol({ rpcUrl: chain.rpcUrl, deploymentId: "test-rpc-outage" });
  relay = new Relay(RELAY_PORT, chain.rpcUrl);
  await relay.restore();
});

after(async () => {
  await node?.stop();
  await relay?.cut();
  await chain?.stop();
  await rm(dir, { recursive: true, force: true });
  await rm(join(import.meta.dirname, "../../../ignition/deployments/test-rpc-outage"), { recursive: true, force: true });
});

test("an RPC outage logs one warn line when it starts and one info line when it ends, no errors, no dumps", { timeout: 120_000 }, async () => {
  const lines: { level: number; msg: string; [key: string]: unknown }[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line.trim()) lines.push(JSON.parse(line));
      done();
    },
  });
  const waitForLine = async (what: string, match: (l: (typeof lines)[number]) => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!lines.some(match)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for the log line: ${what}\n${lines.map((l) => `${l.level} ${l.msg}`).join("\n")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const config = resolveConfig({
    rpcUrl: relay.url,
    contracts: { market: deployed.market, registry: deployed.registry, token: deployed.token },
    dataDir: join(dir, "provider"),
    engines: ["builtin"],
    benchmarkScore: 1_000,
    logLevel: "info",
    chain: { pollingIntervalMs: 100 },
    http: { enabled: false },
  });
  node = await startProviderNode(config, { account: devnetAccount(DEVNET_ROLES.firstProvider + 6), storage: new MemoryStorage(), logger: createLogger("info", sink) });
  await waitForLine("the node running", (l) => l.msg === "provider node running", 30_000);
  await new Promise((r) => setTimeout(r, 1_500)); // the withdraw check and a few ticks run while the RPC is fine
  const start = lines.length;

  await relay.cut();
  const ticksAtCut = node.worker.ticks;
  await new Promise((r) => setTimeout(r, 5_000)); // ~50 polling intervals of the watcher, and worker ticks
  assert.ok(node.worker.ticks > ticksAtCut, "the worker kept ticking during the outage");
  await relay.restore();
  await waitForLine("the recovery", (l) => /chain RPC reachable again/.test(l.msg), 30_000);
  await new Promise((r) => setTimeout(r, 1_000));

  const during = lines.slice(start);
  const shown = during.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.err ?? "")}`).join("\n");
  assert.deepEqual(during.filter((l) => l.level >= 50).map((l) => l.msg), [], `no error-level line:\n${shown}`);
  assert.deepEqual(during.filter((l) => l.level === 40).map((l) => l.msg), ["chain RPC unreachable; calls back off and retry (one line until it recovers)"], `one warn line:\n${shown}`);
  const recovered = during.filter((l) => /chain RPC reachable again/.test(l.msg));
  assert.equal(recovered.length, 1, shown);
  assert.equal(recovered[0].level, 30, "info");
  assert.ok((recovered[0].downSeconds as number) >= 4, `it says how long (${recovered[0].downSeconds} s)`);
  for (const line of during) {
    const text = JSON.stringify(line);
    assert.ok(text.length < 600 && !/Request body|Version: viem/.test(text), `a short line without viem's dump: ${text}`);
  }
  assert.match(String(during.find((l) => l.level === 40)!.err), /HTTP request failed/);
});
