import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UsageError, UsageErrors } from "../errors.ts";
import { parseSubmitOptions } from "../parse.ts";
import { checkTimingMinimums } from "./submit.ts";

/** A market whose deployment asks for 10-minute windows (the public-network default). */
const publicMarket = { minLease: async () => 600, minRevealWindow: async () => 600 };

describe("job submit: lease and reveal window against the deployed minimums", () => {
  it("refuses a lease below the market's minimum, naming --lease and the minimum read from the chain", async () => {
    const error = await checkTimingMinimums(publicMarket, { leaseSeconds: 300, revealWindowSeconds: 600 }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof UsageError, String(error));
    assert.match(error.message, /--lease/);
    assert.match(error.message, /600 s \(this market's minimum lease\)/);
    assert.match(error.message, /--lease 10m/);
  });

  it("names both flags when both are too short", async () => {
    const error = await checkTimingMinimums(publicMarket, { leaseSeconds: 30, revealWindowSeconds: 30 }).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof UsageErrors, String(error));
    assert.match(error.message, /--lease/);
    assert.match(error.message, /--reveal-window/);
  });

  it("accepts windows at the minimums, and the devnet's 30 s", async () => {
    await checkTimingMinimums(publicMarket, { leaseSeconds: 600, revealWindowSeconds: 600 });
    await checkTimingMinimums({ minLease: async () => 30, minRevealWindow: async () => 30 }, { leaseSeconds: 30, revealWindowSeconds: 30 });
  });

  it("raises the CLI's own defaults (5m lease, 2m reveal window) to the market's minimums instead of refusing them", async () => {
    const options = parseSubmitOptions("scenes/builtin-sample", { size: "8x4", reward: "1" });
    assert.deepEqual(options.timingDefaulted, { lease: true, revealWindow: true });
    const timing = await checkTimingMinimums(publicMarket, options);
    assert.equal(timing.leaseSeconds, 600);
    assert.equal(timing.revealWindowSeconds, 600);
    assert.match(timing.raised.join("\n"), /lease 10m .*this market's minimum, above the default 5m/);
    // A value the user gave is never changed: it is refused.
    const given = parseSubmitOptions("scenes/builtin-sample", { size: "8x4", reward: "1", lease: "5m" });
    await assert.rejects(checkTimingMinimums(publicMarket, given), /--lease/);
  });
});
