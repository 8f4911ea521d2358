/**
 * Tolerant verification on-chain (issue 11): replicas commit to their exact digest and to
 * keccak256 of a 256-byte fingerprint; the reveal carries the fingerprint, and agreement is
 * counted by the contract (flat-and-equal blocks left out, d · 10,000 ≤ n · toleranceBps).
 * Honest renders from different CPUs (a few blocks apart) settle with nobody slashed; a cheaper
 * render (a fingerprint different almost everywhere) loses its collateral like a wrong digest.
 */
import { expect } from "chai";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import {
  COLLATERAL,
  REWARD,
  SegmentStatus,
  type Deployment,
  type Slot,
  claim,
  commitmentOf,
  deployFixture,
  digestOf,
  ethers,
  expectConservation,
  fingerprintOf,
  networkHelpers,
  postJob,
  saltOf,
} from "./helpers/driver.ts";

const TOLERANT = 1;
const EXACT = 0;

/** What one replica rendered: its own exact digest (CPUs differ in pixels) and its fingerprint. */
interface Render {
  digest: string;
  fingerprint: string;
}

const honestOn = (cpu: string, changed = 0, flat = 0): Render => ({
  digest: digestOf(`segment:0:${cpu}`),
  fingerprint: fingerprintOf("segment:0", changed, flat),
});
const cheap: Render = { digest: digestOf("segment:0:16-samples"), fingerprint: fingerprintOf("segment:0:16-samples") };

async function commitTolerant(d: Deployment, p: HardhatEthersSigner, jobId: bigint, slot: Slot, r: Render) {
  const commitment = commitmentOf(r.digest, saltOf(p, slot), p.address, jobId, slot.segment, r.fingerprint);
  return d.market.connect(p).commit(jobId, [{ ...slot, commitment }]);
}

function revealInput(p: HardhatEthersSigner, slot: Slot, r: Render, peers: string[] = []) {
  return {
    ...slot,
    digest: r.digest,
    salt: saltOf(p, slot),
    resultCid: `bafyresult-${p.address.slice(2, 8)}`,
    fingerprint: r.fingerprint,
    peerFingerprints: peers,
  };
}

/** `peerFingerprints` as a provider node builds it: entry k is replica k's revealed fingerprint, "0x" elsewhere. */
function peers(revealed: [Slot, Render][]): string[] {
  const out: string[] = [];
  for (const [slot, r] of revealed) {
    while (out.length <= slot.replica) out.push("0x");
    out[slot.replica] = r.fingerprint;
  }
  return out;
}

describe("JobMarket tolerant verification", function () {
  let d: Deployment;

  beforeEach(async function () {
    d = await networkHelpers.loadFixture(deployFixture);
  });

  /** Posts a one-segment Tolerant job and lets the first `renders.length` providers claim and commit. */
  async function tolerantSegment(renders: Render[], overrides: Record<string, unknown> = {}) {
    const jobId = await postJob(d, { segmentCount: 1, verification: TOLERANT, toleranceBps: 2_500, redundancy: renders.length, quorum: Math.floor(renders.length / 2) + 1, ...overrides });
    const held: [HardhatEthersSigner, Slot, Render][] = [];
    for (const [i, r] of renders.entries()) {
      const p = d.providers[i];
      const [slot] = await claim(d, p, jobId, 1);
      held.push([p, slot, r]);
    }
    for (const [p, slot, r] of held) await commitTolerant(d, p, jobId, slot, r);
    return { jobId, held };
  }

  describe("job parameters", function () {
    it("refuses a tolerance outside its bounds, for either mode", async function () {
      await expect(postJob(d, { verification: EXACT, toleranceBps: 1 }))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidTolerance")
        .withArgs(EXACT, 1, 0);
      await expect(postJob(d, { verification: TOLERANT, toleranceBps: 0 }))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidTolerance")
        .withArgs(TOLERANT, 0, 5_000);
      await expect(postJob(d, { verification: TOLERANT, toleranceBps: 5_001 }))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidTolerance")
        .withArgs(TOLERANT, 5_001, 5_000);
      const jobId = await postJob(d, { verification: TOLERANT, toleranceBps: 5_000 });
      const job = await d.market.jobOf(jobId);
      expect([Number(job.verification), Number(job.toleranceBps)]).to.deep.equal([TOLERANT, 5_000]);
    });
  });

  describe("reveal checks", function () {
    it("refuses fingerprints of the wrong size, and any fingerprint in an Exact job", async function () {
      const { jobId, held } = await tolerantSegment([honestOn("avx2"), honestOn("sse41", 3)]);
      const [p, slot, r] = held[0];
      const short = ethers.dataSlice(r.fingerprint, 0, 255);
      await expect(d.market.connect(p).reveal(jobId, [revealInput(p, slot, { ...r, fingerprint: short })]))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidFingerprintLength")
        .withArgs(jobId, 0, 255, 256);
      await expect(d.market.connect(p).reveal(jobId, [revealInput(p, slot, { ...r, fingerprint: "0x" })]))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidFingerprintLength")
        .withArgs(jobId, 0, 0, 256);
      await expect(d.market.connect(p).reveal(jobId, [revealInput(p, slot, { ...r, fingerprint: ethers.concat([r.fingerprint, "0x00"]) })]))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidFingerprintLength")
        .withArgs(jobId, 0, 257, 256);

      const exactJob = await postJob(d, { segmentCount: 1 });
      const [p0, p1] = d.providers;
      const [s0] = await claim(d, p0, exactJob, 1);
      await claim(d, p1, exactJob, 1);
      const e = honestOn("avx2");
      await d.market.connect(p0).commit(exactJob, [{ ...s0, commitment: commitmentOf(e.digest, saltOf(p0, s0), p0.address, exactJob, 0) }]);
      await expect(d.market.connect(p0).reveal(exactJob, [revealInput(p0, s0, e)]))
        .to.be.revertedWithCustomError(d.market, "JobMarketInvalidFingerprintLength")
        .withArgs(exactJob, 0, 256, 0);
    });

    it("refuses a fingerprint other than the one committed to", async function () {
      const { jobId, held } = await tolerantSegment([honestOn("avx2"), honestOn("sse41", 3)]);
      const [p, slot, r] = held[0];
      // The committed digest with another fingerprint (e.g. a copy of a peer's, revealed earlier).
      await expect(d.market.connect(p).reveal(jobId, [revealInput(p, slot, { ...r, fingerprint: fingerprintOf("segment:0", 1) })]))
        .to.be.revertedWithCustomError(d.market, "JobMarketCommitmentMismatch")
        .withArgs(jobId, 0, slot.replica);
    });

    it("refuses a reveal that counts agreement without the peers' fingerprints, or with forged ones", async function () {
      const a = honestOn("avx2");
      const b = honestOn("sse41", 3);
      const { jobId, held } = await tolerantSegment([a, b]);
      const [[pa, sa], [pb, sb]] = held;
      await d.market.connect(pa).reveal(jobId, [revealInput(pa, sa, a)]); // first: nothing to compare yet
      await expect(d.market.connect(pb).reveal(jobId, [revealInput(pb, sb, b)]))
        .to.be.revertedWithCustomError(d.market, "JobMarketPeerFingerprintInvalid")
        .withArgs(jobId, 0, sa.replica);
      // A forged peer fingerprint (one that would agree with b) is not what a revealed.
      await expect(d.market.connect(pb).reveal(jobId, [revealInput(pb, sb, b, peers([[sa, b]]))]))
        .to.be.revertedWithCustomError(d.market, "JobMarketPeerFingerprintInvalid")
        .withArgs(jobId, 0, sa.replica);
      await expect(d.market.connect(pb).reveal(jobId, [revealInput(pb, sb, b, peers([[sa, a]]))])).to.emit(d.market, "SegmentAccepted");
    });
  });

  describe("settlement", function () {
    it("settles two honest renders from different CPUs with nobody slashed, where Exact mode opens a tie-breaker", async function () {
      const a = honestOn("avx2");
      const b = honestOn("sse41", 7); // 7 of 256 blocks differ, as the SSE4.1 kernel measured
      const { jobId, held } = await tolerantSegment([a, b]);
      const [[pa, sa], [pb, sb]] = held;
      const first = await d.market.connect(pa).reveal(jobId, [revealInput(pa, sa, a)]);
      await expect(first)
        .to.emit(d.market, "ReplicasRevealed")
        .withArgs(jobId, pa.address, [(BigInt(sa.segment) << 8n) | BigInt(sa.replica)], [a.digest], [`bafyresult-${pa.address.slice(2, 8)}`], [a.fingerprint]);
      const second = await d.market.connect(pb).reveal(jobId, [revealInput(pb, sb, b, peers([[sa, a]]))]);
      await expect(second)
        .to.emit(d.market, "SegmentAccepted")
        .withArgs(jobId, 0, Math.min(sa.replica, sb.replica), 0b11);
      await expect(second).to.not.emit(d.market, "ReplicaRejected");
      await expect(second).to.not.emit(d.market, "TieBreakerOpened");
      expect((await d.market.segmentOf(jobId, 0)).status).to.equal(SegmentStatus.Accepted);
      expect(await d.market.balanceOf(pa.address)).to.equal(REWARD);
      expect(await d.market.balanceOf(pb.address)).to.equal(REWARD);
      for (const p of [pa, pb]) expect((await d.registry.providerOf(p.address)).locked).to.equal(0n);
      await expectConservation(d);

      // The same two renders in Exact mode: their digests differ, so the honest pair disagrees.
      const exactJob = await postJob(d, { segmentCount: 1 });
      const [s0] = await claim(d, pa, exactJob, 1);
      const [s1] = await claim(d, pb, exactJob, 1);
      await d.market.connect(pa).commit(exactJob, [{ ...s0, commitment: commitmentOf(a.digest, saltOf(pa, s0), pa.address, exactJob, 0) }]);
      await d.market.connect(pb).commit(exactJob, [{ ...s1, commitment: commitmentOf(b.digest, saltOf(pb, s1), pb.address, exactJob, 0) }]);
      await d.market.connect(pa).reveal(exactJob, [{ ...revealInput(pa, s0, a), fingerprint: "0x" }]);
      await expect(d.market.connect(pb).reveal(exactJob, [{ ...revealInput(pb, s1, b), fingerprint: "0x" }])).to.emit(d.market, "TieBreakerOpened");
    });

    it("agrees at the tolerance and not one block beyond it (2,500 bps of 200 compared blocks = 50)", async function () {
      // 56 flat blocks equal in both are left out: 200 blocks are compared.
      const base = honestOn("avx2", 0, 56);
      const atLimit = honestOn("sse41", 50, 56);
      const beyond = honestOn("sse41", 51, 56);
      for (const [other, accepted] of [[atLimit, true], [beyond, false]] as const) {
        const { jobId, held } = await tolerantSegment([base, other]);
        const [[pa, sa], [pb, sb]] = held;
        await d.market.connect(pa).reveal(jobId, [revealInput(pa, sa, base)]);
        const tx = d.market.connect(pb).reveal(jobId, [revealInput(pb, sb, other, peers([[sa, base]]))]);
        if (accepted) await expect(tx).to.emit(d.market, "SegmentAccepted");
        else await expect(tx).to.emit(d.market, "TieBreakerOpened");
      }
    });

    it("slashes a cheaper render through the tie-breaker and pays the honest ones", async function () {
      const a = honestOn("avx2");
      const { jobId, held } = await tolerantSegment([a, cheap]);
      const [[pa, sa], [pc, sc]] = held;
      await d.market.connect(pa).reveal(jobId, [revealInput(pa, sa, a)]);
      await expect(d.market.connect(pc).reveal(jobId, [revealInput(pc, sc, cheap, peers([[sa, a]]))])).to.emit(d.market, "TieBreakerOpened");
      const pt = d.providers[2];
      const [st] = await claim(d, pt, jobId, 1);
      const t = honestOn("sse41", 4);
      await commitTolerant(d, pt, jobId, st, t);
      const settle = await d.market.connect(pt).reveal(jobId, [revealInput(pt, st, t, peers([[sa, a], [sc, cheap]]))]);
      await expect(settle)
        .to.emit(d.market, "SegmentAccepted")
        .withArgs(jobId, 0, sa.replica, (1 << sa.replica) | (1 << st.replica));
      await expect(settle).to.emit(d.market, "ReplicaRejected").withArgs(jobId, 0, sc.replica, pc.address, COLLATERAL);
      expect((await d.registry.providerOf(pc.address)).staked).to.be.lessThan((await d.registry.providerOf(pa.address)).staked);
      await expectConservation(d);
    });

    it("accepts by support, never by who completed the quorum, and judges a late reveal against the accepted replica (r=3, q=2)", async function () {
      const a = honestOn("avx2");
      const b = honestOn("sse41", 5);
      const late = honestOn("avx", 2);
      const { jobId, held } = await tolerantSegment([a, b, late]);
      const [[pa, sa], [pb, sb], [pl, sl]] = held;
      await d.market.connect(pb).reveal(jobId, [revealInput(pb, sb, b)]);
      const done = await d.market.connect(pa).reveal(jobId, [revealInput(pa, sa, a, peers([[sb, b]]))]);
      await expect(done)
        .to.emit(d.market, "SegmentAccepted")
        .withArgs(jobId, 0, Math.min(sa.replica, sb.replica), (1 << sa.replica) | (1 << sb.replica));
      const winner = Math.min(sa.replica, sb.replica) === sa.replica ? ([sa, a] as [Slot, Render]) : ([sb, b] as [Slot, Render]);
      // The late reveal is compared with the accepted replica, whose fingerprint it must pass.
      await expect(d.market.connect(pl).reveal(jobId, [revealInput(pl, sl, late)]))
        .to.be.revertedWithCustomError(d.market, "JobMarketPeerFingerprintInvalid")
        .withArgs(jobId, 0, winner[0].replica);
      await d.market.connect(pl).reveal(jobId, [revealInput(pl, sl, late, peers([winner]))]);
      expect(await d.market.balanceOf(pl.address)).to.equal(REWARD);
      await expectConservation(d);
    });
  });
});
