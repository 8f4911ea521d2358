import assert from "node:assert/strict";
import { test } from "node:test";
import { FatalError } from "@tessellate/sdk/errors";
import {
  ACTIVE_STATES,
  REPLICA_STATES,
  TERMINAL_STATES,
  TRANSITIONS,
  canTransition,
  checkTransition,
  reached,
  type ReplicaState,
} from "./replicaStateMachine.ts";

/** The whole table, written out once more by hand: a change to the machine must change this too. */
const EXPECTED: Record<ReplicaState, ReplicaState[]> = {
  claimed: ["rendering", "recovering", "revealed", "abandoned", "expired", "released", "failed"],
  rendering: ["rendered", "claimed", "abandoned", "expired", "released", "failed"],
  rendered: ["committing", "committed", "revealing", "revealed", "abandoned", "expired", "released", "failed"],
  committing: ["committed", "rendered", "expired", "released", "failed"],
  committed: ["revealing", "revealed", "expired", "released", "failed"],
  recovering: ["committed", "revealed", "expired", "released", "failed"],
  revealing: ["revealed", "committed", "rendered", "expired", "released", "failed"],
  revealed: ["accepted", "rejected", "released"],
  accepted: [],
  rejected: [],
  released: [],
  expired: [],
  abandoned: [],
  failed: ["expired", "released"],
};

test("every pair of states is legal exactly when the table says so", () => {
  for (const from of REPLICA_STATES) {
    for (const to of REPLICA_STATES) {
      const legal = EXPECTED[from].includes(to);
      assert.equal(canTransition(from, to), legal, `${from} -> ${to}`);
      if (legal) assert.doesNotThrow(() => checkTransition(from, to));
      else assert.throws(() => checkTransition(from, to), (e: unknown) => e instanceof FatalError && e.code === "REPLICA_ILLEGAL_TRANSITION");
    }
  }
  assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...REPLICA_STATES].sort());
});

test("the happy path is legal step by step, with or without a commitment", () => {
  const path: ReplicaState[] = ["claimed", "rendering", "rendered", "committing", "committed", "revealing", "revealed", "accepted"];
  for (let i = 1; i < path.length; i++) assert.ok(canTransition(path[i - 1], path[i]), `${path[i - 1]} -> ${path[i]}`);
  const direct: ReplicaState[] = ["claimed", "rendering", "rendered", "revealing", "revealed", "rejected"];
  for (let i = 1; i < direct.length; i++) assert.ok(canTransition(direct[i - 1], direct[i]), `${direct[i - 1]} -> ${direct[i]}`);
});

test("a committed replica can no longer be abandoned, and nothing leaves a final state", () => {
  for (const from of ["committing", "committed", "recovering", "revealing", "revealed"] as const) assert.equal(canTransition(from, "abandoned"), false);
  for (const state of TERMINAL_STATES) assert.deepEqual(TRANSITIONS[state], [], state);
  assert.deepEqual([...ACTIVE_STATES].sort(), REPLICA_STATES.filter((s) => !TERMINAL_STATES.has(s)).sort());
});

test("no state is a transition to itself, and every active state can reach a final one", () => {
  for (const from of REPLICA_STATES) assert.equal(canTransition(from, from), false, from);
  for (const start of ACTIVE_STATES) {
    const seen = new Set<ReplicaState>([start]);
    const queue = [start];
    while (queue.length) for (const next of TRANSITIONS[queue.shift()!]) if (!seen.has(next)) (seen.add(next), queue.push(next));
    assert.ok([...seen].some((s) => TERMINAL_STATES.has(s)), `${start} cannot end`);
  }
});

test("the error names both states and what is legal", () => {
  assert.throws(() => checkTransition("revealed", "abandoned", "replica 7/3/1"), /replica 7\/3\/1: cannot go from revealed to abandoned \(from revealed it may go to accepted, rejected, released\)/);
  assert.throws(() => checkTransition("accepted", "claimed"), /it is final/);
});

test("reached orders the happy path", () => {
  assert.ok(reached("revealed", "committed"));
  assert.ok(reached("committed", "committed"));
  assert.ok(!reached("committing", "committed"));
  assert.ok(reached("accepted", "revealed"));
});
