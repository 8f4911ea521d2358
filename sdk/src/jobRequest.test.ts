import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { canBeAudited, DEFAULT_AUDIT_BPS, defaultAuditTerms, folderAddEntries, jobCost, jobTermsProblems, kuboAddQuery, MAX_UINT96, providersForAudits, quorumRange, type JobTerms } from "./jobRequest.ts";
import { jobMarketConstants } from "./contracts.generated.ts";

const good: JobTerms = {
  redundancy: 3,
  quorum: 2,
  rewardPerReplica: 10n,
  collateralPerReplica: 20n,
  leaseSeconds: 300,
  revealWindowSeconds: 120,
  deadlineInSeconds: 7200,
  minReputation: 0,
  verification: "exact",
};
const fields = (terms: Partial<JobTerms>) => jobTermsProblems(terms).map((p) => p.field);

describe("jobTermsProblems: what createJob would refuse, before anything is sent", () => {
  it("accepts sensible terms", () => assert.deepEqual(jobTermsProblems(good), []));

  it("the quorum must be a strict majority of the replicas and at most all of them", () => {
    assert.deepEqual(quorumRange(3), { min: 2, max: 3 });
    assert.deepEqual(quorumRange(2), { min: 2, max: 2 });
    assert.deepEqual(fields({ ...good, quorum: 1 }), ["quorum"]);
    assert.deepEqual(fields({ ...good, quorum: 4 }), ["quorum"]);
    assert.match(jobTermsProblems({ ...good, redundancy: 2, quorum: 1 })[0]!.fix, /use quorum 2/);
    assert.deepEqual(fields({ ...good, redundancy: 6 }), ["redundancy"], "a bad redundancy is reported once, not again as a bad quorum");
  });

  it("the reward is positive, the collateral at least the reward, both fit uint96", () => {
    assert.deepEqual(fields({ ...good, rewardPerReplica: 0n }), ["rewardPerReplica"]);
    assert.deepEqual(fields({ ...good, collateralPerReplica: 9n }), ["collateralPerReplica"]);
    assert.deepEqual(fields({ ...good, rewardPerReplica: MAX_UINT96 + 1n, collateralPerReplica: MAX_UINT96 + 1n }), ["rewardPerReplica", "collateralPerReplica"]);
  });

  it("lease, reveal window and deadline use the contract's generated bounds", () => {
    assert.deepEqual(fields({ ...good, leaseSeconds: jobMarketConstants.TIMING_FLOOR - 1 }), ["leaseSeconds"]);
    assert.deepEqual(fields({ ...good, revealWindowSeconds: jobMarketConstants.MAX_REVEAL_WINDOW + 1 }), ["revealWindowSeconds"]);
    assert.deepEqual(fields({ ...good, deadlineInSeconds: 419 }), ["deadlineInSeconds"], "less than one lease plus one reveal window");
    assert.deepEqual(fields({ ...good, deadlineInSeconds: 420 }), []);
    assert.deepEqual(fields({ ...good, deadlineInSeconds: jobMarketConstants.MAX_JOB_DURATION + 1 }), ["deadlineInSeconds"]);
    assert.deepEqual(fields({ ...good, minReputation: jobMarketConstants.MAX_REPUTATION + 1 }), ["minReputation"]);
  });

  it("takes tolerant verification with a tolerance from 1 to the contract's maximum, and no tolerance in exact mode", () => {
    const max = jobMarketConstants.MAX_TOLERANCE_BPS;
    assert.deepEqual(fields({ ...good, verification: "tolerant", toleranceBps: 2500 }), []);
    assert.deepEqual(fields({ ...good, verification: "tolerant", toleranceBps: max }), []);
    assert.deepEqual(fields({ ...good, verification: "tolerant", toleranceBps: max + 1 }), ["toleranceBps"]);
    assert.deepEqual(fields({ ...good, verification: "tolerant", toleranceBps: 0 }), ["toleranceBps"]);
    assert.deepEqual(fields({ ...good, verification: "exact", toleranceBps: 0 }), []);
    const [problem] = jobTermsProblems({ ...good, verification: "exact", toleranceBps: 2500 });
    assert.match(problem!.problem, /only to tolerant verification/);
  });

  it("takes audits only where the contract does: exact, quorum = redundancy <= 2, collateral >= 2 rewards, rate <= 10,000", () => {
    const audited = { ...good, redundancy: 2, quorum: 2, auditBps: 3333 };
    assert.deepEqual(fields(audited), []);
    assert.deepEqual(fields({ ...audited, redundancy: 1, quorum: 1 }), []);
    assert.deepEqual(fields({ ...audited, auditBps: 10_001 }), ["auditBps"]);
    assert.deepEqual(fields({ ...audited, redundancy: 3, quorum: 2 }), ["auditBps"]);
    assert.deepEqual(fields({ ...audited, redundancy: 3, quorum: 3 }), ["auditBps"]);
    assert.deepEqual(fields({ ...audited, verification: "tolerant", toleranceBps: 2500 }), ["auditBps"]);
    assert.deepEqual(fields({ ...audited, collateralPerReplica: 19n }), ["auditBps"]);
    assert.match(jobTermsProblems({ ...audited, collateralPerReplica: 19n })[0]!.fix, /2 × the reward/);
    assert.deepEqual(fields({ ...good, auditBps: 0 }), [], "0: no audits, any terms");
  });

  it("an audited job escrows one more unit per segment (the auditor's)", () => {
    assert.equal(jobCost(3, 2, 100n, 100, 3333).escrow, 3n * 3n * 101n);
    assert.equal(jobCost(3, 2, 100n, 100).escrow, 3n * 2n * 101n);
  });

  it("checks only the fields given", () => assert.deepEqual(jobTermsProblems({ quorum: 2 }), []));
  it("checks the lease and reveal window against a deployment's own minimums", () => {
    const market = { minLease: 600, minRevealWindow: 900 };
    const problems = jobTermsProblems({ leaseSeconds: 300, revealWindowSeconds: 600 }, market);
    assert.deepEqual(problems.map((p) => p.field), ["leaseSeconds", "revealWindowSeconds"]);
    assert.match(problems[0]!.problem, /from 600 s \(this market's minimum lease\)/);
    assert.match(problems[1]!.problem, /from 900 s \(this market's minimum reveal window\)/);
    assert.deepEqual(jobTermsProblems({ leaseSeconds: 600, revealWindowSeconds: 900 }, market), []);
  });
});

describe("defaultAuditTerms: the audit rate and collateral the tools propose", () => {
  const reward = 10n;
  const exact = { verification: "exact" as const, redundancy: 2, quorum: 2, rewardPerReplica: reward };

  it("audits a job that can be audited at 40 % with collateral 4 × the reward, terms createJob accepts", () => {
    const t = defaultAuditTerms(exact, providersForAudits(2));
    assert.deepEqual(t, { auditBps: DEFAULT_AUDIT_BPS, collateralPerReplica: 40n, defaulted: true });
    assert.equal(DEFAULT_AUDIT_BPS, 4000);
    assert.deepEqual(jobTermsProblems({ ...exact, collateralPerReplica: t.collateralPerReplica, auditBps: t.auditBps }), []);
  });

  it("turns default audits off, collateral 2 × the reward, where they could not work, and says why", () => {
    const cases: Array<[Parameters<typeof defaultAuditTerms>[0], number | undefined, RegExp]> = [
      [{ ...exact, verification: "tolerant" }, 10, /tolerant jobs cannot be audited/],
      [{ ...exact, redundancy: 3, quorum: 2 }, 10, /quorum = redundancy ≤ 2, this job has 2 of 3/],
      [{ ...exact, redundancy: 3, quorum: 3 }, 10, /quorum = redundancy ≤ 2, this job has 3 of 3/],
      [exact, 4, /4 registered providers can take this job; an audit and its escalation need 5 \(2 replicas \+ 3 auditors\)/],
      [{ ...exact, collateralPerReplica: 19n }, 10, /collateral ≥ 2 × the reward/],
    ];
    for (const [terms, eligible, reason] of cases) {
      const t = defaultAuditTerms(terms, eligible);
      assert.equal(t.auditBps, 0);
      assert.equal(t.collateralPerReplica, terms.collateralPerReplica ?? 20n);
      assert.match(t.reason ?? "", reason);
      assert.equal(t.overridable, eligible === 4, "only a network too small for a dispute would still take an audit rate the requester gives");
    }
    assert.equal(defaultAuditTerms({ ...exact, redundancy: 1, quorum: 1 }, 4).auditBps, DEFAULT_AUDIT_BPS, "r = 1 needs 4 providers");
    assert.equal(defaultAuditTerms(exact).auditBps, DEFAULT_AUDIT_BPS, "providers not known yet: on");
    assert.equal(canBeAudited({ verification: "exact", redundancy: 0, quorum: 0 }), false);
  });

  it("keeps what the requester gave: the rate, and a collateral at or above the contract's minimum", () => {
    assert.deepEqual(defaultAuditTerms({ ...exact, auditBps: 0 }, 10), { auditBps: 0, collateralPerReplica: 20n, defaulted: false });
    assert.deepEqual(defaultAuditTerms({ ...exact, auditBps: 2500 }, 1), { auditBps: 2500, collateralPerReplica: 40n, defaulted: false });
    assert.deepEqual(defaultAuditTerms({ ...exact, collateralPerReplica: 20n }, 10), { auditBps: DEFAULT_AUDIT_BPS, collateralPerReplica: 20n, defaulted: true });
  });
});

describe("jobCost", () => {
  it("escrows segments × redundancy × (reward + fee rounded down)", () => {
    const cost = jobCost(4, 2, 1_000_001n, 100);
    assert.equal(cost.replicas, 8n);
    assert.equal(cost.feePerReplica, 10_000n);
    assert.equal(cost.escrow, 8n * 1_010_001n);
    assert.equal(cost.rewards + cost.fees, cost.escrow);
  });
});

describe("folder adds", () => {
  it("lists the root, then each folder's entries sorted by name, breadth first (as the CLI's storage sends them)", () => {
    const entries = folderAddEntries("scene", [
      { path: "b.json", content: 1 },
      { path: "tex/z.png", content: 2 },
      { path: "a.json", content: 3 },
      { path: "tex/deep/x.bin", content: 4 },
      { path: "c/y", content: 5 },
    ]);
    assert.deepEqual(entries, [
      { path: "scene" },
      { path: "scene/a.json", content: 3 },
      { path: "scene/b.json", content: 1 },
      { path: "scene/c" },
      { path: "scene/tex" },
      { path: "scene/c/y", content: 5 },
      { path: "scene/tex/deep" },
      { path: "scene/tex/z.png", content: 2 },
      { path: "scene/tex/deep/x.bin", content: 4 },
    ]);
  });

  it("adds as CIDv1 with raw leaves", () => {
    const query = kuboAddQuery();
    assert.equal(query.get("cid-version"), "1");
    assert.equal(query.get("raw-leaves"), "true");
    assert.equal(query.get("pin"), "true");
    assert.equal(kuboAddQuery({ pin: false }).get("pin"), "false");
  });
});
