/**
 * The Audit page's event filter, without a browser: each field parsed (problems named by field),
 * and a requester matching its jobs' events and its own credits and withdrawals.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { getAddress, type Hex } from "viem";
import { foldEvents, type FoldEvent } from "@tessellate/sdk";
import { filterEvents, parseEventFilter } from "../lib/audit.ts";

const R1 = getAddress("0x1000000000000000000000000000000000000001");
const R2 = getAddress("0x1000000000000000000000000000000000000002");
const P = getAddress("0xa000000000000000000000000000000000000001");
let n = 0;
const ev = (eventName: string, args: object): FoldEvent => ({ eventName, args, blockNumber: BigInt(++n), logIndex: 0, transactionHash: `0x${n.toString(16).padStart(64, "0")}` as Hex });
const params = (segmentCount: number) => ({
  manifestCid: "bafk",
  segmentCount,
  redundancy: 1,
  quorum: 1,
  rewardPerReplica: 1n,
  collateralPerReplica: 1n,
  leaseDuration: 60,
  revealWindow: 60,
  deadline: 10_000n,
  minReputation: 0,
  maxFeeBps: 0,
});

const events = [
  ev("JobCreated", { jobId: 1n, requester: R1, params: params(1), feeBps: 0, escrow: 1n }),
  ev("JobCreated", { jobId: 2n, requester: R2, params: params(1), feeBps: 0, escrow: 1n }),
  ev("ReplicasClaimed", { jobId: 2n, provider: P, leaseEnd: 100n, slots: [0] }),
  ev("JobCancelled", { jobId: 1n, refunded: 1n }),
  ev("Credited", { account: R1, jobId: 1n, kind: 2, amount: 1n }),
  ev("Withdrawn", { account: R1, amount: 1n }),
];
const state = foldEvents(events, { checks: false });
const names = (list: FoldEvent[]) => list.map((e) => e.eventName);

describe("the Audit page's event filter", () => {
  it("names the field of each bad value", () => {
    const { problems } = parseEventFilter({ job: "x", provider: "0x12", requester: "", eventName: "" });
    assert.match(problems.job!, /whole number/);
    assert.match(problems.provider!, /not an address/);
    assert.equal(problems.requester, undefined);
    assert.deepEqual(parseEventFilter({ job: "#2", provider: P.toLowerCase(), requester: "", eventName: "JobCreated" }).filter, { jobId: 2n, provider: P, eventName: "JobCreated" });
  });

  it("filters by job, type, provider and requester", () => {
    assert.deepEqual(names(filterEvents(events, state, { jobId: 2n })), ["JobCreated", "ReplicasClaimed"]);
    assert.deepEqual(names(filterEvents(events, state, { eventName: "JobCreated" })), ["JobCreated", "JobCreated"]);
    assert.deepEqual(names(filterEvents(events, state, { provider: P })), ["ReplicasClaimed"]);
    // R1's job's events, its refund credit and its withdrawal; none of job 2's.
    assert.deepEqual(names(filterEvents(events, state, { requester: R1 })), ["JobCreated", "JobCancelled", "Credited", "Withdrawn"]);
  });
});
