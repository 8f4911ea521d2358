/**
 * Scenario driver for contract tests: deploys the real Ignition module, funds and stakes
 * providers, and speaks the protocol in its own verbs (postJob, claim = request + resolve, commitAll, revealAll),
 * so that full-flow tests read like the path of a job.
 */
import { expect } from "chai";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { ContractTransactionResponse, Log } from "ethers";
import { network } from "hardhat";
import TessellateModule from "../../../ignition/modules/Tessellate.ts";
import { commitmentOf as sdkCommitmentOf } from "../../../sdk/src/commitment.ts";
import { roundDigest } from "../../../sdk/src/protocol/digestChain.ts";
import { unpackSlots } from "../../../sdk/src/protocol/slots.ts";
import type { JobMarket, ProviderRegistry, RenderToken } from "../../../types/ethers-contracts/index.ts";

export const { ethers, ignition, networkHelpers } = await network.create();

export const UNIT = 10n ** 18n;
export const REWARD = 10n * UNIT;
export const COLLATERAL = 20n * UNIT;
export const LEASE = 600;
export const REVEAL_WINDOW = 300;
export const FEE_BPS = 100n;
export const STAKE = 1_000n * UNIT;

export { CreditKind, ReplicaState, SegmentStatus } from "../../../sdk/src/contracts.generated.ts";

export interface Slot {
  segment: number;
  replica: number;
}

export interface Deployment {
  token: RenderToken;
  registry: ProviderRegistry;
  market: JobMarket;
  admin: HardhatEthersSigner;
  requester: HardhatEthersSigner;
  keeper: HardhatEthersSigner;
  providers: HardhatEthersSigner[];
  outsider: HardhatEthersSigner;
}

/** Deploys the protocol and registers five providers with STAKE each. Use with loadFixture. */
export async function deployFixture(): Promise<Deployment> {
  const { token, registry, market } = (await ignition.deploy(TessellateModule, {
    parameters: { Tessellate: { unbondingDelay: 3600n, feeBps: FEE_BPS, minLease: 30n, minRevealWindow: 30n } },
  })) as unknown as { token: RenderToken; registry: ProviderRegistry; market: JobMarket };
  const [admin, requester, keeper, outsider, ...rest] = await ethers.getSigners();
  const providers = rest.slice(0, 5);
  await token.transfer(requester.address, 1_000_000n * UNIT);
  await token.transfer(keeper.address, 1_000n * UNIT);
  await token.transfer(outsider.address, 1_000n * UNIT);
  for (const [i, provider] of providers.entries()) {
    await token.transfer(provider.address, 10_000n * UNIT);
    await registry.connect(provider).register(`bafyprofile${i}`);
    await token.connect(provider).approve(await registry.getAddress(), ethers.MaxUint256);
    await registry.connect(provider).stake(STAKE);
  }
  await token.connect(requester).approve(await market.getAddress(), ethers.MaxUint256);
  return { token, registry, market, admin, requester, keeper, providers, outsider };
}

/** The two JobMarketExtensionBlueprint parts, for tests that deploy a JobMarket themselves. */
export async function extensionBlueprint(): Promise<[string, string]> {
  const factory = await ethers.getContractFactory("JobMarketExtensionBlueprint");
  const parts = await Promise.all([0, 1].map(async (part) => (await factory.deploy(part)).getAddress()));
  return [parts[0]!, parts[1]!];
}

export type JobParams = Parameters<JobMarket["createJob"]>[0];

/** Job parameters with sensible test defaults; deadline one day ahead. */
export async function jobParams(overrides: Partial<Record<keyof JobParams, unknown>> = {}) {
  const now = await networkHelpers.time.latest();
  return {
    manifestCid: "bafymanifest",
    segmentCount: 4,
    redundancy: 2,
    quorum: 2,
    rewardPerReplica: REWARD,
    collateralPerReplica: COLLATERAL,
    leaseDuration: LEASE,
    revealWindow: REVEAL_WINDOW,
    deadline: now + 86_400,
    minReputation: 0,
    maxFeeBps: 1_000,
    verification: 0,
    toleranceBps: 0,
    auditBps: 0,
    ...overrides,
  } as JobParams;
}

/** What the requester escrows per replica slot. */
export function unitPrice(reward = REWARD, feeBps = FEE_BPS): bigint {
  return reward + (reward * feeBps) / 10_000n;
}

/** Posts a job as the requester; returns its id. */
export async function postJob(d: Deployment, overrides: Partial<Record<keyof JobParams, unknown>> = {}) {
  const params = await jobParams(overrides);
  const tx = await d.market.connect(d.requester).createJob(params);
  const [event] = await eventsOf(d, tx, "JobCreated");
  return event.args.jobId as bigint;
}

/**
 * Claims up to `count` slots for `provider` as a provider node does: `requestClaim` (its ticket is
 * seeded by that block), then `resolveClaims` in the next block (automine). Returns the slots the
 * ticket got, [] when none was open (the ticket's ClaimLapsed released their collateral).
 */
export async function claim(d: Deployment, provider: HardhatEthersSigner, jobId: bigint, count: number) {
  await d.market.connect(provider).requestClaim(jobId, count);
  const resolve = await d.market.connect(provider).resolveClaims(jobId);
  const claimed = (await eventsOf(d, resolve, "ReplicasClaimed")).filter((e) => e.args.provider === provider.address);
  return claimed.flatMap((e) => unpackSlots(e.args.slots));
}

/** Claims until every slot of the job is held, round-robin over `providers`; returns slots per provider. */
export async function claimEverything(d: Deployment, jobId: bigint, providers: HardhatEthersSigner[]) {
  const held = new Map<HardhatEthersSigner, Slot[]>(providers.map((p) => [p, []]));
  let progress = true;
  while (progress) {
    progress = false;
    const { collateralPerReplica } = await d.market.jobOf(jobId);
    for (const provider of providers) {
      // A request locks collateral for every slot it asks for: ask for what the free stake covers.
      const affordable = Number((await d.registry.freeStake(provider.address)) / collateralPerReplica);
      if (affordable === 0) continue;
      const slots = await claim(d, provider, jobId, Math.min(64, affordable));
      held.get(provider)!.push(...slots);
      progress ||= slots.length > 0;
    }
  }
  return held;
}

export function digestOf(label: string): string {
  return ethers.keccak256(ethers.toUtf8Bytes(`pixels:${label}`));
}

export function saltOf(provider: HardhatEthersSigner, slot: Slot): string {
  return ethers.keccak256(ethers.toUtf8Bytes(`salt:${provider.address}:${slot.segment}:${slot.replica}`));
}

/** The protocol's commitment, from the sdk (the same function the provider node uses); pass the fingerprint in a Tolerant job. */
export function commitmentOf(digest: string, salt: string, provider: string, jobId: bigint, segment: number, fingerprint?: string) {
  return sdkCommitmentOf(digest as `0x${string}`, salt as `0x${string}`, provider as `0x${string}`, jobId, segment, fingerprint as `0x${string}` | undefined);
}

/**
 * A test fingerprint (256 bytes, hex): pseudo-random block bytes for `label`, none flat, with the
 * first `changed` blocks altered (as a render on another CPU alters a few blocks). `flat` leading
 * blocks are flat and equal for every label (a plain background).
 */
export function fingerprintOf(label: string, changed = 0, flat = 0): string {
  const bytes = new Uint8Array(256);
  for (let w = 0; w < 8; w++) bytes.set(ethers.getBytes(ethers.keccak256(ethers.toUtf8Bytes(`fingerprint:${label}:${w}`))), w * 32);
  for (let k = 0; k < 256; k++) bytes[k] = k < flat ? 0x80 : bytes[k] & 0x7f;
  for (let i = 0; i < changed; i++) bytes[flat + i] ^= 0x01;
  return ethers.hexlify(bytes);
}

/**
 * What a provider "renders" for a segment — its pixel digest: honest providers agree on
 * `segment:<n>`. What it commits and reveals is the link of the segment's blind round
 * (sdk digestChain.ts), as the provider node does.
 */
export type Renderer = (slot: Slot) => string;

/** Each slot's segment's blind round now (segmentOf). */
export async function roundsOf(d: Deployment, jobId: bigint, slots: Slot[]): Promise<number[]> {
  const rounds = new Map<number, number>();
  for (const slot of slots) {
    if (!rounds.has(slot.segment)) rounds.set(slot.segment, Number((await d.market.segmentOf(jobId, slot.segment)).round));
  }
  return slots.map((slot) => rounds.get(slot.segment)!);
}

/** The digest a replica reveals in `round`: that link of its pixel digest's chain. */
export function linkOf(pixelDigest: string, round = 0): string {
  return roundDigest(pixelDigest as `0x${string}`, round);
}
export const honest: Renderer = (slot) => digestOf(`segment:${slot.segment}`);
export const cheater: Renderer = (slot) => digestOf(`garbage:${slot.segment}`);

export async function commitAll(
  d: Deployment,
  provider: HardhatEthersSigner,
  jobId: bigint,
  slots: Slot[],
  render: Renderer = honest,
) {
  const rounds = await roundsOf(d, jobId, slots);
  const commits = slots.map((slot, i) => ({
    segment: slot.segment,
    replica: slot.replica,
    commitment: commitmentOf(linkOf(render(slot), rounds[i]), saltOf(provider, slot), provider.address, jobId, slot.segment),
  }));
  return d.market.connect(provider).commit(jobId, commits);
}

/** Reveal inputs of `slots`; `rounds[i]` is slot i's blind round (0 when absent). */
/**
 * Each of `providers`, in order, claims one slot of `jobId` (a one-segment job: they all land on
 * segment 0) and commits what `renders[i]` gives (honest when absent). Returns the slots, in order.
 */
export async function claimAndCommitEach(d: Deployment, jobId: bigint, providers: HardhatEthersSigner[], renders: Renderer[] = []): Promise<Slot[]> {
  const slots: Slot[] = [];
  for (const p of providers) {
    const [slot] = await claim(d, p, jobId, 1);
    if (slot === undefined) throw new Error(`${p.address} landed on no slot of job ${jobId}`);
    slots.push(slot);
  }
  for (const [i, p] of providers.entries()) await commitAll(d, p, jobId, [slots[i]!], renders[i] ?? honest);
  return slots;
}

export function revealInputs(provider: HardhatEthersSigner, slots: Slot[], render: Renderer = honest, rounds: number[] = []) {
  return slots.map((slot, i) => ({
    segment: slot.segment,
    replica: slot.replica,
    digest: linkOf(render(slot), rounds[i] ?? 0),
    salt: saltOf(provider, slot),
    resultCid: `bafyresult-${slot.segment}-${render(slot).slice(2, 10)}`,
    fingerprint: "0x",
    peerFingerprints: [] as string[],
  }));
}

export async function revealAll(
  d: Deployment,
  provider: HardhatEthersSigner,
  jobId: bigint,
  slots: Slot[],
  render: Renderer = honest,
) {
  return d.market.connect(provider).reveal(jobId, revealInputs(provider, slots, render, await roundsOf(d, jobId, slots)));
}

/** Parsed events of `name` emitted by the market in `tx`. */
export async function eventsOf(d: Deployment, tx: ContractTransactionResponse, name: string) {
  const receipt = await tx.wait();
  return (receipt?.logs ?? [])
    .filter((log: Log) => log.address === d.market.target)
    .map((log: Log) => d.market.interface.parseLog(log))
    .filter((parsed) => parsed?.name === name)
    .map((parsed) => parsed!);
}

/** The conservation invariant: market holds escrow + balances; registry holds all stake. */
export async function expectConservation(d: Deployment) {
  const marketHolds = await d.token.balanceOf(d.market.target);
  expect(marketHolds).to.equal((await d.market.totalEscrow()) + (await d.market.totalBalances()));
  expect(await d.token.balanceOf(d.registry.target)).to.equal(await d.registry.totalStaked());
}

/** Withdraws the signer's whole market balance (if any) and returns what it received. */
export async function withdrawAll(d: Deployment, signer: HardhatEthersSigner) {
  const owed = await d.market.balanceOf(signer.address);
  if (owed === 0n) return 0n;
  const before = await d.token.balanceOf(signer.address);
  await d.market.connect(signer).withdraw();
  expect(await d.token.balanceOf(signer.address)).to.equal(before + owed);
  return owed;
}
