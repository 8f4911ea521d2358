import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatDuration, formatElapsed, formatTokens } from "./format.ts";
import { createLiveLine, formatJobProgress, formatTaskProgress, renderBar, type JobProgress } from "./progress.ts";

const progress: JobProgress = {
  jobId: 3n,
  segments: 8,
  replicas: 16,
  claimed: 16,
  committed: 12,
  revealed: 9,
  accepted: 4,
  failed: 1,
  closed: 0,
  refunded: 0,
  tieBreakers: 1,
  done: 5,
  elapsedMs: 83_000,
};

function fakeStream(isTTY: boolean, columns?: number) {
  let text = "";
  return { stream: { isTTY, columns, write: (t: string) => ((text += t), true) }, text: () => text };
}

describe("progress formatting", () => {
  it("draws bars", () => {
    assert.equal(renderBar(5, 8, 8, true), "[#####...]");
    assert.equal(renderBar(0, 0, 4, true), "[####]", "nothing to do is done");
    assert.equal(renderBar(3, 4, 4), "[███░]");
  });

  it("shows accepted out of segments, the replica steps, failures and tie-breakers", () => {
    assert.equal(
      formatJobProgress(progress, { barWidth: 8, ascii: true }),
      "job 3 [#####...] 4/8 accepted · replicas claimed 16/16 committed 12/16 revealed 9/16 · 1 failed · 1 tie-breaker · 1:23",
    );
    assert.equal(
      formatJobProgress({ ...progress, failed: 0, tieBreakers: 0, closed: 2 }, { barWidth: 0 }),
      "job 3 4/8 accepted · replicas claimed 16/16 committed 12/16 revealed 9/16 · 2 closed · 1:23",
    );
  });

  it("shows an audited job's draws and audits, and counts the audit slots among the replicas", () => {
    assert.equal(
      formatJobProgress({ ...progress, failed: 0, tieBreakers: 0, replicas: 19, verifying: 2, auditing: 1, audited: 2 }, { barWidth: 0 }),
      "job 3 4/8 accepted · replicas claimed 16/19 committed 12/19 revealed 9/19 · 2 awaiting the audit draw · 1 in audit · 2 audited · 1:23",
    );
  });

  it("shows task progress in bytes", () => {
    assert.equal(formatTaskProgress("uploading scene", 1536, 4096, "bytes", { barWidth: 8, ascii: true }), "uploading scene [###.....] 1.5 KiB / 4.0 KiB");
  });

  it("formats tokens, durations and elapsed times", () => {
    assert.equal(formatTokens(1_500_000_000_000_000_000n), "1.5");
    assert.equal(formatTokens(1_234_567n * 10n ** 18n, { symbol: "RNDR-T" }), "1,234,567 RNDR-T");
    assert.equal(formatTokens(1n), "<0.000001");
    assert.equal(formatTokens(0n), "0");
    assert.equal(formatTokens(-25n * 10n ** 17n), "-2.5");
    assert.equal(formatDuration(3723), "1h 02m 03s");
    assert.equal(formatDuration(42), "42s");
    assert.equal(formatDuration(2 * 86_400 + 3 * 3600), "2d 3h");
    assert.equal(formatElapsed(3_723_000), "1:02:03");
  });
});

describe("live line", () => {
  it("redraws one line in place on a terminal and ends it with a newline", () => {
    const { stream, text } = fakeStream(true, 40);
    const live = createLiveLine(stream);
    live.set("first");
    live.set("second");
    live.log("a message");
    live.done("final");
    assert.equal(text(), "\r\x1b[2Kfirst\r\x1b[2Ksecond\r\x1b[2Ka message\n\r\x1b[2Ksecond\r\x1b[2Kfinal\n");
  });

  it("truncates to the terminal width", () => {
    const { stream, text } = fakeStream(true, 12);
    createLiveLine(stream).set("a line much longer than twelve");
    assert.equal(text(), "\r\x1b[2Ka line muc…");
  });

  it("prints plain lines when not a terminal: only changes, at most once per interval, and the last one at the end", () => {
    let now = 0;
    const { stream, text } = fakeStream(false);
    const live = createLiveLine(stream, { intervalMs: 10_000, now: () => now });
    live.set("1/8");
    live.set("1/8");
    now = 5_000;
    live.set("2/8"); // too soon: held back
    now = 11_000;
    live.set("3/8");
    now = 12_000;
    live.set("4/8");
    live.done();
    assert.equal(text(), "1/8\n3/8\n4/8\n");
  });
});
