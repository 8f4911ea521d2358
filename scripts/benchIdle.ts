/**
 * `npm run bench:idle` — what an idle network costs: the local network (Hardhat node, Ignition
 * deployment, embedded IPFS in this process) with one provider daemon (builtin engine) and no
 * job. After a settling period it samples the CPU seconds (Linux /proc: user + system, all
 * threads) of the provider, the chain node and this process over a window, and prints CPU-s per
 * second of each and in total. A benchmark that prints figures, not a test (no timed assertion).
 *
 * Flags: --settle S (5)  --window S (20)  --keep (keep the temp folder with logs)
 * Ports: chain 8971, IPFS API 5971 / gateway 5972, provider API 7971 (+ TESSELLATE_TEST_PORT_OFFSET).
 */
import { parseArgs } from "node:util";
import { cpuBetween, cpuSample, pause, runBench, startBenchNetwork, table, usage } from "./bench/harness.ts";
import { DEVNET_ROLES } from "./devnet/accounts.ts";
import { testPort } from "./devnet/ports.ts";
import { availableParallelism } from "node:os";

const PORTS = { chainPort: testPort(8971), ipfsApiPort: testPort(5971), ipfsGatewayPort: testPort(5972), providerPort: testPort(7971) };
const { values } = usage(() => parseArgs({ options: { settle: { type: "string", default: "5" }, window: { type: "string", default: "20" }, keep: { type: "boolean", default: false } } }));
const settleMs = Number(values.settle) * 1000;
const windowMs = Number(values.window) * 1000;
if (!(settleMs >= 0 && windowMs > 0)) usage(() => { throw new Error("--settle and --window take seconds, e.g. --window 20"); });

await runBench("idle", { keep: values.keep }, async (run) => {
  const network = await startBenchNetwork(run, PORTS);
  const provider = await network.startProvider({ account: DEVNET_ROLES.firstProvider, httpPort: PORTS.providerPort, env: { TESSELLATE_ENGINES: "builtin" } });
  const pids = { provider: provider.process.pid, chain: network.chain.process.pid, "bench (IPFS node)": process.pid };
  run.progress.set(`idle network: settling ${values.settle} s`, { force: true });
  await pause(settleMs, run.signal);
  run.progress.set(`idle network: measuring ${values.window} s`, { force: true });
  const a = cpuSample(pids);
  await pause(windowMs, run.signal);
  const b = cpuSample(pids);
  const c = cpuBetween(a, b, availableParallelism());
  const rows = [["process", "CPU-s", "CPU-s per second"]];
  let total = 0;
  for (const [name, cpu] of Object.entries(c.processes)) {
    total += cpu;
    rows.push([name, cpu.toFixed(2), (cpu / c.wallSeconds).toFixed(3)]);
  }
  rows.push(["total", total.toFixed(2), (total / c.wallSeconds).toFixed(3)]);
  run.print(`bench:idle — one provider (builtin), no job, ${c.wallSeconds.toFixed(1)} s window after ${values.settle} s settling; machine busy ${c.busyCores.toFixed(2)} cores`);
  for (const line of table(rows)) run.print(`  ${line}`);
});
