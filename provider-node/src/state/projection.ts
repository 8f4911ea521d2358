/**
 * Applies protocol events, in chain order, to the local state. The market's side — jobs,
 * segments, replica slots — is the sdk's event fold (`createFold` from `@tessellate/sdk/protocol`,
 * the same fold the CLI's audit trusts): this file loads the fold's records of the jobs and
 * segments a batch touches, folds the batch, and persists the records (and their rows in
 * `market_segments` / `market_slots`). On top of it, it moves this node's own replicas through
 * their state machine and records this account's earnings.
 *
 * Pure bookkeeping (no I/O besides the state file), idempotent (events at or before the fold's
 * saved position are skipped), and run by the chain watcher inside the same transaction that
 * moves the checkpoint.
 */
import { isAddressEqual, type Address } from "viem";
import { compareEvents, createFold, CreditKindNames, emptyState, ReplicaState as ChainReplicaState, sortEvents, unpackSlot, type FoldEvent, type SegmentRecord } from "@tessellate/sdk/protocol";
import type { ChainEvent, Logger } from "../ports.ts";
import { reached, type ReplicaState } from "./replicaStateMachine.ts";
import type { ReplicaRow, StateStore } from "./stateStore.ts";

/** What changed, so the worker knows what to look at. */
export interface ProjectionEffects {
  newJobs: bigint[];
  /** Jobs where a slot became claimable again (abandon, expiry of an open segment, tie-breaker). */
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

/** Segments an event names (`segment`, `segments`, or packed `slots`). */
function segmentsNamed(args: Record<string, unknown>): number[] {
  const out: number[] = [];
  if (args.segment !== undefined) out.push(Number(args.segment));
  if (Array.isArray(args.segments)) for (const s of args.segments) out.push(Number(s));
  if (Array.isArray(args.slots)) for (const packed of args.slots) out.push(unpackSlot(packed as bigint).segment);
  return out;
}

export function applyEvents(store: StateStore, events: ChainEvent[], me: Address, log: Logger, effects = emptyEffects()): ProjectionEffects {
  const position = store.market.foldPosition();
  const fresh = sortEvents(events.filter((e) => position === undefined || compareEvents(e, position) > 0));
  if (fresh.length === 0) return effects;
  const mine = (who: Address) => isAddressEqual(who, me);

  // The fold's records of every job and segment the batch names.
  const named = new Map<bigint, Set<number>>();
  for (const e of fresh) {
    const args = e.args as Record<string, unknown>;
    if (args.jobId === undefined) continue;
    const jobId = BigInt(args.jobId as bigint);
    const set = named.get(jobId) ?? new Set<number>();
    for (const s of segmentsNamed(args)) set.add(s);
    named.set(jobId, set);
  }
  const state = emptyState();
  for (const [jobId, segments] of named) {
    const job = store.market.loadFoldJob(jobId, segments);
    if (job) state.jobs.set(jobId, job);
  }
  const touchedSegments = new Map<bigint, Set<number>>();

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
  /** The fold's record of a slot after the current transaction. */
  const slotAfter = (jobId: bigint, segment: number, replica: number) => state.jobs.get(jobId)?.segments.get(segment)?.replicas[replica];

  const onTransaction = (touched: ReadonlySet<SegmentRecord>, txEvents: readonly FoldEvent[]) => {
    for (const event of txEvents as ChainEvent[]) applyToNode(event);
    const accepting = txEvents.some((e) => e.eventName === "SegmentAccepted");
    for (const job of state.jobs.values()) {
      for (const seg of touched) {
        if (job.segments.get(seg.index) !== seg) continue;
        const set = touchedSegments.get(job.jobId) ?? new Set<number>();
        touchedSegments.set(job.jobId, set.add(seg.index));
        // Acceptances (SegmentAccepted, or a late reveal that agrees) settle the agreeing replicas in the fold.
        seg.replicas.forEach((rep, k) => {
          if (rep.verdict !== "accepted" || !mine(rep.provider) || !store.findActiveReplica(job.jobId, seg.index, k)) return;
          advance(job.jobId, seg.index, k, "accepted", accepting ? "SegmentAccepted" : "ReplicasRevealed after SegmentAccepted");
          effects.earningsChanged = true;
        });
      }
    }
  };

  /** This node's replicas, the jobs table and this account's earnings. */
  const applyToNode = (event: ChainEvent) => {
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
            maxFeeBps: params.maxFeeBps,
            verification: params.verification,
            toleranceBps: params.toleranceBps,
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
        if (!mine(provider)) break;
        for (const { segment, replica } of event.args.slots.map(unpackSlot)) {
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
        if (!mine(provider)) break;
        for (const { segment, replica } of event.args.slots.map(unpackSlot)) {
          // A claimed row that the chain says is committed: this node lost its state file after
          // committing. It renders again and recomputes its derived salt (worker: recoverCommitted).
          if (store.findActiveReplica(jobId, segment, replica)?.state === "claimed") advance(jobId, segment, replica, "recovering", "ReplicasCommitted (local result lost)");
          else advance(jobId, segment, replica, "committed", "ReplicasCommitted");
        }
        break;
      }
      case "RevealsOpened": {
        const { jobId, segments } = event.args;
        for (const row of store.listReplicas({ jobId, states: ["committed", "committing"] })) {
          if (segments.includes(row.segment)) effects.changedReplicas.add(row.id);
        }
        break;
      }
      case "ReplicasRevealed": {
        const { jobId, provider } = event.args;
        if (!mine(provider)) break;
        for (const { segment, replica } of event.args.slots.map(unpackSlot)) advance(jobId, segment, replica, "revealed", "ReplicasRevealed");
        break;
      }
      case "ReplicaRejected": {
        const { jobId, segment, replica, provider, slashed } = event.args;
        if (mine(provider)) {
          advance(jobId, segment, replica, "rejected", "ReplicaRejected", { slashed });
          recordSlash(store, event, jobId, slashed);
          effects.earningsChanged = true;
        }
        break;
      }
      case "ReplicaExpired": {
        const { jobId, segment, replica, provider, slashed } = event.args;
        // `expire` on an open segment reopens the slot; `closeSegments` expires it and closes the
        // segment in the same transaction (the fold tells them apart).
        if (slotAfter(jobId, segment, replica)?.state === ChainReplicaState.Empty) effects.reopenedJobs.add(jobId);
        if (mine(provider)) {
          advance(jobId, segment, replica, "expired", "ReplicaExpired", { slashed });
          recordSlash(store, event, jobId, slashed);
          effects.earningsChanged = true;
        }
        break;
      }
      case "ReplicaAbandoned": {
        const { jobId, segment, replica, provider } = event.args;
        effects.reopenedJobs.add(jobId);
        if (mine(provider)) advance(jobId, segment, replica, "abandoned", "ReplicaAbandoned");
        break;
      }
      case "ReplicaReleased": {
        const { jobId, segment, replica, provider } = event.args;
        if (mine(provider)) advance(jobId, segment, replica, "released", "ReplicaReleased");
        break;
      }
      case "TieBreakerOpened":
      case "AuditOpened": // an audit slot, or the escalation's two, to be claimed
      case "AuditDisputed":
        effects.reopenedJobs.add(event.args.jobId);
        break;
      case "Credited":
        if (mine(event.args.account)) {
          store.recordEarning({
            jobId: event.args.jobId,
            kind: CreditKindNames[event.args.kind] ?? `kind${event.args.kind}`,
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
  };

  createFold(state, { checks: false, onTransaction }).apply(fresh);
  for (const job of state.jobs.values()) store.market.saveFoldJob(job, touchedSegments.get(job.jobId) ?? []);
  store.market.setFoldPosition(fresh[fresh.length - 1]);
  return effects;
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
