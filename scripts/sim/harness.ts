/**
 * Set-up and printing shared by the simulations that drive the real contracts on Hardhat's
 * in-process chain (scripts/simCollusion.ts, scripts/simAudits.ts): the project's Ignition
 * deployment, impersonated claimer addresses registered and staked, a seeded generator, a
 * progress line and a plain-text table. Each script keeps its own config and strategy.
 */
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { network } from "hardhat";
import TessellateModule from "../../ignition/modules/Tessellate.ts";
import type { JobMarket, ProviderRegistry, RenderToken } from "../../types/ethers-contracts/index.ts";

export type Connection = Awaited<ReturnType<typeof network.create>>;

export interface Market {
  token: RenderToken;
  registry: ProviderRegistry;
  market: JobMarket;
  treasury: HardhatEthersSigner;
  /** Posts the jobs; holds 10^26 token units approved to the market. */
  requester: HardhatEthersSigner;
  operator: HardhatEthersSigner;
}

/** Deploys the protocol with the project's Ignition module and funds the requester. */
export async function deployMarket({ ethers, ignition }: Connection): Promise<Market> {
  const { token, registry, market } = (await ignition.deploy(TessellateModule, {
    parameters: { Tessellate: { unbondingDelay: 3600n, feeBps: 100n } },
  })) as unknown as { token: RenderToken; registry: ProviderRegistry; market: JobMarket };
  const [treasury, requester, operator] = await ethers.getSigners();
  await token.transfer(requester.address, 10n ** 26n);
  await token.connect(requester).approve(market.target, ethers.MaxUint256);
  return { token, registry, market, treasury, requester, operator };
}

/**
 * `count` impersonated addresses (`tessellate.sim.claimer:<i>`), each registered and staking
 * `stake` (equal stake: the draw treats them alike).
 */
export async function stakedClaimers({ ethers, networkHelpers }: Connection, m: Market, count: number, stake: bigint): Promise<HardhatEthersSigner[]> {
  const claimers: HardhatEthersSigner[] = [];
  for (let i = 0; i < count; i++) {
    const address = ethers.getAddress(ethers.keccak256(ethers.toUtf8Bytes(`tessellate.sim.claimer:${i}`)).slice(0, 42));
    await networkHelpers.impersonateAccount(address);
    await networkHelpers.setBalance(address, 10n ** 24n);
    const signer = await ethers.getSigner(address);
    await m.token.connect(m.treasury).transfer(address, stake);
    await m.token.connect(signer).approve(m.registry.target, ethers.MaxUint256);
    await m.registry.connect(signer).register(`bafysimclaimer${i}`);
    await m.registry.connect(signer).stake(stake);
    claimers.push(signer);
    progress(`setup: claimer ${i + 1}/${count} registered and staked`);
  }
  return claimers;
}

/** A small seeded generator (mulberry32): the same seed replays the same run. */
export function generator(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A progress line on stderr (rewritten in place on a terminal). */
export function progress(line: string) {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
  else if (line) process.stderr.write(`${line}\n`);
}

/** Prints `body` under `header`; the first `left` columns are left-aligned, the rest right-aligned. */
export function table(header: string[], body: string[][], left: number) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(line(header));
  console.log(widths.map((n) => "-".repeat(n)).join("  "));
  for (const b of body) console.log(line(b));
}

/**
 * The 95 % Wilson score interval of a proportion of x in n. It treats the segments of a row as
 * independent draws; segments of one job are not quite (they share the claim order), so read it
 * as the noise floor, not an exact bound.
 */
export function wilson(x: number, n: number): [number, number] {
  const z = 1.96;
  const p = x / n;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / (1 + (z * z) / n);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

/**
 * A script's configuration from its SIM_* variables, or exit 2 naming each bad variable
 * (`shares` reads SIM_SHARES, `claimRate` SIM_CLAIM_RATE) and pointing at the script's usage.
 */
export function configOrExit<T>(parsed: { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } }, script: string): T {
  if (parsed.success) return parsed.data;
  const envName = (key: PropertyKey) => `SIM_${String(key).replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
  for (const issue of parsed.error.issues) console.error(`${envName(issue.path[0])}: ${issue.message} (see the usage at the top of ${script})`);
  process.exit(2);
}

/**
 * Posts an Exact job for a simulation: `segmentCount` segments at `redundancy` / `quorum`, leases
 * of 3 days and reveal windows of a day (time never runs out inside a run), a 30-day deadline.
 * Returns its id.
 */
export async function postSimJob(
  m: Pick<Market, "market" | "requester">,
  now: number,
  terms: { manifestCid: string; segmentCount: number; redundancy: number; quorum: number; reward: bigint; collateral: bigint; auditBps?: number },
): Promise<bigint> {
  await (await m.market.connect(m.requester).createJob({
    manifestCid: terms.manifestCid,
    segmentCount: terms.segmentCount,
    redundancy: terms.redundancy,
    quorum: terms.quorum,
    rewardPerReplica: terms.reward,
    collateralPerReplica: terms.collateral,
    leaseDuration: 3 * 86_400,
    revealWindow: 86_400,
    deadline: now + 30 * 86_400,
    minReputation: 0,
    maxFeeBps: 100,
    verification: 0,
    toleranceBps: 0,
    auditBps: terms.auditBps ?? 0,
  })).wait();
  return m.market.jobCount();
}
