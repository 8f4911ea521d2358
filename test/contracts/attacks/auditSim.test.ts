/**
 * Issue 10, properties 4 and 5 (docs/collusion.md §4, §5): `npm run sim:audits`, the smallest
 * runs, so CI runs the script. The attack: an operator that holds every replica of a segment
 * reveals the same garbage from all of them (and from any audit slot it is drawn to); before
 * audits it was paid for every such segment (sim:collusion: E[cheat profit] = +C per replica).
 * The script throws (exit 1) if the operator's market balance or stake moved other than the
 * contract's events say, or if a segment ends neither accepted nor audited to the end. The
 * chain's block hashes (hence the draws) change run to run with the block timestamps, so the
 * sample sizes below make every asserted outcome near-certain rather than seeded.
 */
import { expect } from "chai";
import { spawnSync } from "node:child_process";

function simAudits(env: Record<string, string>) {
  return spawnSync("npx", ["hardhat", "run", "scripts/simAudits.ts"], { encoding: "utf8", env: { ...process.env, ...env } });
}

/** The table row of share f and redundancy r: its cells, split on runs of two or more spaces. */
function row(stdout: string, f: string, r: number): string[] {
  const line = stdout.split("\n").find((l) => new RegExp(`^${f.replace(".", "\\.")} +${r} +\\d+/\\d+ `).test(l));
  expect(line, `a row for f=${f} r=${r} in\n${stdout}`).to.not.equal(undefined);
  return line!.trim().split(/ {2,}/);
}

describe("npm run sim:audits (the script, smallest run)", function () {
  this.timeout(180_000);

  it("prints a row per share and redundancy with the measured profit next to the model, and the verdict line", function () {
    const run = simAudits({ SIM_SEGMENTS: "8", SIM_JOBS: "1", SIM_SHARES: "0.33", SIM_REDUNDANCIES: "1,2" });
    expect(run.status, `${run.stdout}\n${run.stderr}`).to.equal(0);
    for (const r of [1, 2]) {
      const cells = row(run.stdout, "0.33", r);
      expect(cells[3]).to.match(/^\d+\/8$/);
      expect(cells[10], "the model at f = 3/10 with the default terms: 1 − 0.4 (0.7)(0.91)(1 + 4)").to.equal("-0.274");
    }
    expect(run.stdout).to.match(/Every row's measured expected profit of cheating negative: (yes|no)/);
    expect(run.stdout).to.include("E[cheat profit]/replica");
  });

  it("every segment audited and no colluding auditor (one operator address, r = 1): every captured segment is caught and loses its collateral", function () {
    // The attack stopped: a lone trusted provider (r = 1) reveals garbage. With auditBps 10,000
    // every segment is audited, and the operator's one address cannot audit its own segment, so
    // the auditor is honest and the escalation too: paid 0, lost m x reward = 4, per replica −4.
    const run = simAudits({ SIM_SEGMENTS: "64", SIM_JOBS: "2", SIM_SHARES: "0.1", SIM_REDUNDANCIES: "1", SIM_AUDIT_BPS: "10000", SIM_STRICT: "1" });
    expect(run.status, `${run.stdout}\n${run.stderr}`).to.equal(0);
    const [, , , captured, audited, caught, accepted, , profit] = row(run.stdout, "0.1", 1);
    const n = Number(captured!.split("/")[0]);
    expect(n, "the uniform draw gave the operator's address some of the 128 segments (0.9^128 that it gets none)").to.be.greaterThan(0);
    expect([Number(audited), Number(caught), Number(accepted)]).to.deep.equal([n, n, 0]);
    expect(profit).to.equal("-4.000");
    expect(run.stdout).to.include("Every row's measured expected profit of cheating negative: yes");
  });

  it("KNOWN HOLE (docs/collusion.md §4, racing for the audit slot): the racer's own ticket takes the audit slot of every captured segment it draws, so none is caught", function () {
    // Measured, not fixed: when the auditor is drawn so that the operator cannot queue ahead of it,
    // this test flips (caught > 0, profit negative) — the attack test of that fix.
    const run = simAudits({ SIM_SEGMENTS: "32", SIM_JOBS: "2", SIM_SHARES: "0.33", SIM_REDUNDANCIES: "1", SIM_STRATEGIES: "racer", SIM_AUDIT_BPS: "10000" });
    const [, , , captured, audited, caught, accepted, , profit, , , , strategy] = row(run.stdout, "0.33", 1);
    const n = Number(captured!.split("/")[0]);
    expect(strategy).to.equal("racer");
    expect(n, "the operator's 3 addresses captured some of the 64 segments").to.be.greaterThan(0);
    expect([Number(audited), Number(caught), Number(accepted)], "every captured segment audited, none caught, all garbage paid").to.deep.equal([n, 0, n]);
    expect(profit).to.equal("+1.000");
    expect(run.status, "SIM_STRICT unset: the verdict is printed, not enforced").to.equal(0);
  });

  it("SIM_STRICT=1 exits 1 when audits are too rare to make cheating lose (auditBps 1: the garbage is paid)", function () {
    const run = simAudits({ SIM_SEGMENTS: "64", SIM_JOBS: "1", SIM_SHARES: "0.33", SIM_REDUNDANCIES: "1", SIM_AUDIT_BPS: "1", SIM_STRICT: "1" });
    expect(run.status, `${run.stdout}\n${run.stderr}`).to.equal(1);
    const [, , , captured, audited, caught, accepted, , profit] = row(run.stdout, "0.33", 1);
    const n = Number(captured!.split("/")[0]);
    // About 19 captured segments, each audited with probability 1 / 10,000: nearly always none is.
    expect(Number(audited)).to.be.lessThanOrEqual(1);
    expect(Number(accepted)).to.equal(n - Number(caught));
    expect(Number(profit)).to.be.greaterThan(0.5, "the garbage is paid: +1 per replica when nothing is audited");
    expect(run.stdout).to.include("Every row's measured expected profit of cheating negative: no");
  });
});
