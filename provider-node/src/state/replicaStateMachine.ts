/**
 * The life of one replica this node holds, as one table of legal transitions. The state store's
 * `transition` is the only code that changes a replica's state, and it asks {@link checkTransition}
 * first, inside the same database transaction, so an illegal move never reaches the disk.
 *
 * ```
 * claimed ─▶ rendering ─▶ rendered ─▶ committing ─▶ committed ─▶ revealing ─▶ revealed ─▶ accepted | rejected
 *    ▲           │           │ ▲          │  ▲                       │  ▲         ▲
 *    └───────────┘           │ │          └──┘ (commit did not land)  └──┘ (reveal did not land)
 *   (restart: render again)  │ └────────────────────────────────────── revealing (direct reveal did not land)
 *                            └─▶ revealing (direct reveal: every other slot of the segment is already
 *                                committed, so the contract takes the reveal without a commitment)
 * claimed ─▶ recovering ─▶ committed   (the state file was lost: the chain says this node committed;
 *                                        render again, recompute the derived salt, check the commitment)
 * claimed, recovering ─▶ revealed       (the state file was lost and the chain says it was revealed)
 * any state before `revealed` ─▶ abandoned (given back before the lease ended; only before committing)
 *                              ─▶ expired   (lease or reveal window missed, seized by a keeper)
 *                              ─▶ released  (segment closed or failed without a verdict)
 *                              ─▶ failed    (given up locally; the chain's verdict may still follow)
 * ```
 */
import { FatalError } from "@tessellate/sdk/errors";

export const REPLICA_STATES = [
  "claimed", // slot assigned on-chain, lease running; nothing rendered yet
  "rendering", // the engine is working on it (in this process)
  "rendered", // result on IPFS; digest, salt and result CID saved; commitment not sent
  "committing", // commit transaction possibly in flight (on restart: ask replicaOf)
  "committed", // commitment stored on-chain; waiting for the segment's reveal window
  "recovering", // committed on-chain but digest and result CID lost locally: rendering again to recover them
  "revealing", // reveal transaction possibly in flight (on restart: ask replicaOf)
  "revealed", // digest public; waiting for the quorum decision
  "accepted", // settled: digest agreed, reward credited, collateral back
  "rejected", // settled: digest lost the quorum, collateral slashed
  "released", // settled without a verdict: collateral back (segment failed or closed)
  "expired", // lease or reveal window missed: collateral slashed
  "abandoned", // given back before the lease ended: collateral back
  "failed", // given up locally (e.g. the lease ran out before the commit); awaiting the chain's verdict
] as const;

export type ReplicaState = (typeof REPLICA_STATES)[number];

/** States from which nothing more happens. */
export const TERMINAL_STATES: ReadonlySet<ReplicaState> = new Set(["accepted", "rejected", "released", "expired", "abandoned"]);

/** States that still hold collateral and need the node's attention (everything not terminal). */
export const ACTIVE_STATES: readonly ReplicaState[] = REPLICA_STATES.filter((s) => !TERMINAL_STATES.has(s));

/** Legal next states. A transition to the current state is never legal (callers check first). */
export const TRANSITIONS: Readonly<Record<ReplicaState, readonly ReplicaState[]>> = {
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

export function isReplicaState(value: string): value is ReplicaState {
  return (REPLICA_STATES as readonly string[]).includes(value);
}

export function canTransition(from: ReplicaState, to: ReplicaState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * @throws FatalError `REPLICA_ILLEGAL_TRANSITION` naming both states and the legal ones.
 */
export function checkTransition(from: ReplicaState, to: ReplicaState, what = "replica"): void {
  if (!canTransition(from, to)) {
    const legal = TRANSITIONS[from];
    throw new FatalError(
      "REPLICA_ILLEGAL_TRANSITION",
      `${what}: cannot go from ${from} to ${to} (from ${from} it may go to ${legal.length ? legal.join(", ") : "nothing: it is final"})`,
    );
  }
}

/** Position of a state along the happy path, for "has it got at least this far" questions. */
const ORDER: Record<ReplicaState, number> = {
  claimed: 0,
  rendering: 1,
  rendered: 2,
  committing: 3,
  committed: 4,
  recovering: 4,
  revealing: 5,
  revealed: 6,
  accepted: 7,
  rejected: 7,
  released: 7,
  expired: 7,
  abandoned: 7,
  failed: 7,
};

/** True when `state` is `target` or lies beyond it on the happy path (any final state counts as beyond). */
export function reached(state: ReplicaState, target: ReplicaState): boolean {
  return ORDER[state] >= ORDER[target];
}
