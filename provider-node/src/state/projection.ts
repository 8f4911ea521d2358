/**
 * Applies protocol events, in chain order, to the local state: jobs, this node's replicas, the
 * market's slots and segments, and this account's earnings. Pure bookkeeping (no I/O besides the
 * state file), idempotent (an event applied twice changes nothing the second time), and run by
 * the chain watcher inside the same transaction that moves the checkpoint.
 */
import { isAddressEqual, type Address } from "viem";
import { CREDIT_KINDS, type ChainEvent, type Logger } from "../ports.ts";
import { reached, type ReplicaState } from "./replicaStateMachine.ts";
import type { ReplicaRow, StateStore } from "./stateStore.ts";

/** What changed, so the worker knows what to look at. */
export interface ProjectionEffects {
  newJobs: bigint[];
  /** Jobs where a slot became claimable again (abandon, expiry, tie-breaker). */
  reopenedJobs: Set<bigint>;
  cancelledJobs: bigint[];
  /** Replica rows of this node that changed state. */
  changedReplicas: Set<number>;
  /** A settlement or credit touched this account. */
  earningsChanged: boolean;
}

export function emptyEffects(): ProjectionEffects {
  return { newJobs: [], reopenedJobs: new Set(), cancelledJobs: [], changedReplicas: new Set(), earningsChanged: false };
}

export function applyEvents(store: StateStore, events: ChainEvent[], me: Address, log: Logger, effects = emptyEffects()): ProjectionEffects {
  const mine = (who: Address) => isAddressEqual(who, me);

  /** Moves our active row of the slot to `to`, unless it is already there or beyond. */
  const advance = (jobId: bigint, segment: number, replica: number, to: ReplicaState, event: string, fields: Parameters<StateStore["transition"]>[2] = {}) => {
    const row = store.findActiveReplica(jobId, segment, replica);
    if (!row) return;
    if (row.state === to || (reached(row.state, to) && !isFinal(to))) return;
    try {
      const next = store.transition(row.id, to, fields, event);
      effects.changedReplicas.add(row.id);
      logReplica(log, next, to, event);
    } catch (error) {
      log.warn({ jobId: String(jobId), segment, replica, state: row.state, event, err: (error as Error).message }, "chain event does not fit the local replica state; ignored");
    }
  };

  for (const event of events) {
    switch (event.eventName) {
      case "JobCreated": {
        const { jobId, requester, params, feeBps } = event.args;
        store.insertJob({
          jobId,
          requester,
          feeBps,
          createdBlock: event.blockNumber,
          params: {
            manifestCid: params.manifestCid,
            segmentCount: params.segmentCount,
            redundancy: params.redundancy,
            quorum: params.quorum,
            rewardPerReplica: params.rewardPerReplica,
            collateralPerReplica: params.collateralPerReplica,
            leaseDuration: params.leaseDuration,
            revealWindow: params.revealWindow,
            deadline: params.deadline,
            minReputation: params.minReputation,
          },
        });
        effects.newJobs.push(jobId);
        break;
      }
      case "JobCancelled":
        store.setJobStatus(event.args.jobId, "cancelled");
        effects.cancelledJobs.push(event.args.jobId);
        break;
      case "ReplicasClaimed": {
        const { jobId, provider, leaseEnd } = event.args;
        for (const { segment, replica } of event.args.slots.map(unpackSlot)) {
          store.putSlot({ jobId, segment, replica, provider, state: "claimed", leaseEnd: Number(leaseEnd) });
          store.updateSegment(jobId, segment, {});
          if (!mine(provider)) continue;
          const { row, inserted } = store.insertClaim({ jobId, segment, replica, leaseEnd: Number(leaseEnd), claimBlock: event.blockNumber });
          if (inserted) {
            effects.changedReplicas.add(row.id);
            log.info({ jobId: String(jobId), segment, replica, leaseEnd: Number(leaseEnd) }, "replica claimed");
          }
        }
        break;
      }
      case "ReplicasCommitted": {
        const { jobId, provider } = event.args;
        for (const { segment, replica } of event.args.slots.map(unpackSlot)) {
          store.setSlotState(jobId, segment, replica, "committed");
          if (!mine(provider)) continue;
          // A claimed row that the chain says is committed: this node lost its state file after
          // committing. It renders again and recomputes its derived salt (worker: recoverCommitted).
          if (store.findActiveReplica(jobId, segment, replica)?.state === "claimed") advance(jobId, segment, replica, "recovering", "ReplicasCommitted (local result lost)");
          else advance(jobId, segment, replica, "committed", "ReplicasCommitted");
        }
        break;
      }
      case "RevealsOpened": {
        const { jobId, revealDeadline, segments } = event.args;
        for (const segment of segments) store.updateSegment(jobId, segment, { revealDeadline: Number(revealDeadline) });
        for (const row of store.listReplicas({ jobId, states: ["committed", "committing"] })) {
          if (segments.includes(row.segment)) effects.changedReplicas.add(row.id);
        }
        break;
      }
      case "ReplicasRevealed": {
        const { jobId, provider, digests } = event.args;
        for (const [i, { segment, replica }] of event.args.slots.map(unpackSlot).entries()) {
          const digest = digests[i];
          store.setSlotState(jobId, segment, replica, "revealed", digest);
          if (mine(provider)) advance(jobId, segment, replica, "revealed", "ReplicasRevealed");
          // A late reveal of an accepted segment settles at once: paid when it agrees (a
          // disagreeing one gets its own ReplicaRejected event).
          const seg = store.getSegment(jobId, segment);
          if (seg.status === "accepted" && seg.acceptedDigest && sameHex(seg.acceptedDigest, digest)) {
            store.setSlotState(jobId, segment, replica, "settled");
            if (mine(provider)) {
              advance(jobId, segment, replica, "accepted", "ReplicasRevealed after SegmentAccepted");
              effects.earningsChanged = true;
            }
          }
        }
        break;
      }
      case "SegmentAccepted": {
        const { jobId, segment, digest } = event.args;
        store.updateSegment(jobId, segment, { status: "accepted", acceptedDigest: digest });
        // Revealed replicas that agree are paid in this same transaction (see `Credited`);
        // those that disagree get a ReplicaRejected event.
        for (const slot of store.slotsOf(jobId, segment)) {
          if (slot.state !== "revealed" || !slot.digest || !sameHex(slot.digest, digest)) continue;
          store.setSlotState(jobId, segment, slot.replica, "settled");
          if (mine(slot.provider)) {
            advance(jobId, segment, slot.replica, "accepted", "SegmentAccepted");
            effects.earningsChanged = true;
          }
        }
        break;
      }
      case "ReplicaRejected": {
        const { jobId, segment, replica, provider, slashed } = event.args;
        store.setSlotState(jobId, segment, replica, "settled");
        if (mine(provider)) {
          advance(jobId, segment, replica, "rejected", "ReplicaRejected", { slashed });
          recordSlash(store, event, jobId, slashed);
          effects.earningsChanged = true;
        }
        break;
      }
      case "ReplicaExpired": {
        const { jobId, segment, replica, provider, slashed } = event.args;
        const slot = store.getSlot(jobId, segment, replica);
        const seg = store.getSegment(jobId, segment);
        if (seg.status === "open") {
          // The slot reopens; a missed reveal also closes the segment's reveal window again.
          if (slot?.state === "committed") store.updateSegment(jobId, segment, { revealDeadline: 0 });
          store.setSlotState(jobId, segment, replica, "empty");
          effects.reopenedJobs.add(jobId);
        } else {
          store.setSlotState(jobId, segment, replica, "settled");
        }
        if (mine(provider)) {
          advance(jobId, segment, replica, "expired", "ReplicaExpired", { slashed });
          recordSlash(store, event, jobId, slashed);
          effects.earningsChanged = true;
        }
        break;
      }
      case "ReplicaAbandoned": {
        const { jobId, segment, replica, provider } = event.args;
        store.setSlotState(jobId, segment, replica, "empty");
        effects.reopenedJobs.add(jobId);
        if (mine(provider)) advance(jobId, segment, replica, "abandoned", "ReplicaAbandoned");
        break;
      }
      case "ReplicaReleased": {
        const { jobId, segment, replica, provider } = event.args;
        store.setSlotState(jobId, segment, replica, "settled");
        if (mine(provider)) advance(jobId, segment, replica, "released", "ReplicaReleased");
        break;
      }
      case "TieBreakerOpened":
        store.updateSegment(event.args.jobId, event.args.segment, { revealDeadline: 0, slots: event.args.slots });
        effects.reopenedJobs.add(event.args.jobId);
        break;
      case "SegmentFailed":
        store.updateSegment(event.args.jobId, event.args.segment, { status: "failed" });
        break;
      case "SegmentClosed":
        store.updateSegment(event.args.jobId, event.args.segment, { status: "closed" });
        break;
      case "Credited":
        if (mine(event.args.account)) {
          store.recordEarning({
            jobId: event.args.jobId,
            kind: CREDIT_KINDS[event.args.kind] ?? `kind${event.args.kind}`,
            amount: event.args.amount,
            block: event.blockNumber,
            txHash: event.transactionHash,
            logIndex: event.logIndex,
          });
          effects.earningsChanged = true;
        }
        break;
      case "Withdrawn":
        if (mine(event.args.account)) {
          store.recordEarning({ jobId: null, kind: "Withdrawn", amount: event.args.amount, block: event.blockNumber, txHash: event.transactionHash, logIndex: event.logIndex });
          effects.earningsChanged = true;
          log.info({ amount: event.args.amount.toString() }, "earnings withdrawn");
        }
        break;
      default:
        break;
    }
  }
  return effects;
}

/** `segment << 8 | replica`, as the batched events list slots. */
export function unpackSlot(packed: bigint): { segment: number; replica: number } {
  return { segment: Number(packed >> 8n), replica: Number(packed & 0xffn) };
}

function sameHex(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function isFinal(state: ReplicaState): boolean {
  return state === "accepted" || state === "rejected" || state === "released" || state === "expired" || state === "abandoned";
}

function recordSlash(store: StateStore, event: ChainEvent, jobId: bigint, amount: bigint): void {
  store.recordEarning({ jobId, kind: "Slashed", amount, block: event.blockNumber, txHash: event.transactionHash, logIndex: event.logIndex });
}

function logReplica(log: Logger, row: ReplicaRow, to: ReplicaState, event: string): void {
  const fields = { jobId: String(row.jobId), segment: row.segment, replica: row.replica, state: to, event };
  if (to === "rejected" || to === "expired") log.warn({ ...fields, slashed: row.slashed?.toString() }, `replica ${to}`);
  else log.info(fields, `replica ${to}`);
}
