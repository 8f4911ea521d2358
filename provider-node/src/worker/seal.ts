/**
 * Commit and reveal: rendered replicas are committed (or, when every other slot of the segment is
 * sealed, revealed directly), committed ones revealed once their window opens — one batch per job,
 * a spoiled batch retried entry by entry — and a send whose outcome is unknown is settled against
 * `replicaOf`.
 */
import { isAddressEqual, type Address, type Hex } from "viem";
import { commitmentOf } from "@tessellate/sdk";
import { FatalError } from "@tessellate/sdk/errors";
import { ReplicaState as ChainReplicaState } from "@tessellate/sdk/protocol";
import type { ReplicaRow } from "../state/stateStore.ts";
import { chunks, fields, groupByJob, MAX_BATCH, type WorkerContext } from "./context.ts";

/** Longest a rendered replica waits for renders of the same job to share its commit transaction. */
export const COMMIT_BATCH_WAIT_MS = 30_000;

/**
 * Moves a row whose commit or reveal may or may not have landed to where `replicaOf` says the
 * slot is. Returns the row as it is now.
 */
export function resolveUnknown(ctx: WorkerContext, row: ReplicaRow, onChain: { provider: Address; state: number; leaseEnd: bigint }, why: string, fatal?: { error: unknown; single: boolean }): ReplicaRow {
  const { store } = ctx.d;
  const ours = isAddressEqual(onChain.provider, ctx.me) && Number(onChain.leaseEnd) === row.leaseEnd;
  const message = fatal ? (fatal.error as Error).message : undefined;
  const attempt = fatal ? { attempts: row.attempts + 1, lastError: message } : {};
  const gone = () => store.transition(row.id, "failed", { lastError: `the slot is no longer held on-chain${message ? ` (${message})` : ""}` }, why);
  if (row.state === "committing") {
    if (ours && onChain.state === ChainReplicaState.Committed) return store.transition(row.id, "committed", {}, `${why}: replicaOf says the commit landed`);
    if (ours && onChain.state === ChainReplicaState.Claimed) {
      if (fatal?.single && fatal.error instanceof FatalError) return store.transition(row.id, "failed", { lastError: message }, `${why}: commit rejected`);
      return store.transition(row.id, "rendered", attempt, `${why}: replicaOf says the commit did not land`);
    }
    return gone();
  }
  // revealing
  if (ours && onChain.state === ChainReplicaState.Revealed) return store.transition(row.id, "revealed", {}, `${why}: replicaOf says the reveal landed`);
  // A closed window or one not open yet: stay committed; the window may (re)open.
  if (ours && onChain.state === ChainReplicaState.Committed) return store.transition(row.id, "committed", attempt, `${why}: replicaOf says the reveal did not land`);
  if (ours && onChain.state === ChainReplicaState.Claimed && row.commitment === null) {
    ctx.noDirectReveal.add(row.id); // commit first next time
    return store.transition(row.id, "rendered", attempt, `${why}: replicaOf says the direct reveal did not land`);
  }
  return gone();
}

export async function commitRendered(ctx: WorkerContext, now: number): Promise<void> {
  const { store } = ctx.d;
  for (const [jobId, rows] of groupByJob(store.listReplicas({ states: ["rendered"] }))) {
    const key = `commit:${jobId}`;
    if (!ctx.ready(key) || store.getJob(jobId)?.status === "cancelled") continue; // cancelled: given back instead
    if (holdForBatch(ctx, jobId, rows, now)) continue;
    const live: ReplicaRow[] = [];
    for (const row of rows) {
      if (now > row.leaseEnd) {
        store.transition(row.id, "failed", { lastError: `lease ended at ${row.leaseEnd} before the commit` }, "lease passed");
        ctx.log.error(fields(row), "lease ended before the commit could be sent; the replica will be expired");
      } else live.push(row);
    }
    // The last replica of a segment to seal reveals directly (one transaction fewer).
    const direct = live.filter((row) => !ctx.noDirectReveal.has(row.id) && othersSealed(ctx, row));
    for (const batch of chunks(direct, MAX_BATCH)) {
      const revealing = store.transaction(() => batch.map((row) => store.transition(row.id, "revealing", {}, "direct reveal: every other slot of the segment is committed")));
      if ((await sendSeal(ctx, "reveal", jobId, revealing)) === "ok") ctx.backoff.succeeded(key);
    }
    const toCommit = live.filter((row) => !direct.includes(row));
    for (const batch of chunks(toCommit, MAX_BATCH)) {
      const committing = store.transaction(() =>
        batch.map((row) =>
          store.transition(row.id, "committing", { commitment: commitmentOf(row.digest!, row.salt!, ctx.me, jobId, row.segment, row.fingerprint ?? undefined) }),
        ),
      );
      const outcome = await sendSeal(ctx, "commit", jobId, committing);
      if (outcome === "ok") ctx.backoff.succeeded(key);
      else if (outcome === "fatal" && committing.length > 1) {
        // One entry spoils the batch: send the still-uncommitted ones one by one to find it.
        for (const row of committing) {
          if (store.getReplica(row.id)!.state !== "rendered") continue;
          await sendSeal(ctx, "commit", jobId, [store.transition(row.id, "committing", {})], true);
        }
      }
    }
  }
}

/**
 * Tolerant jobs: what the contract compares a reveal with — entry k is the fingerprint replica k of
 * the segment revealed (from its ReplicasRevealed event, in the projection's fold record), "0x"
 * where it has none (not revealed, or this replica); after acceptance, the accepted replica's.
 * A peer that revealed in a block the projection has not read yet makes the reveal revert with
 * JobMarketPeerFingerprintInvalid; the next attempt reads it.
 */
export function peerFingerprints(ctx: WorkerContext, row: ReplicaRow): Hex[] {
  const seg = ctx.d.store.market.loadFoldJob(row.jobId, [row.segment])?.segments.get(row.segment);
  if (!seg) return [];
  const peers: Hex[] = seg.replicas.map((rep, k) =>
    k !== row.replica && rep.state === ChainReplicaState.Revealed && rep.fingerprint !== undefined ? rep.fingerprint : "0x",
  );
  const accepted = seg.accepted;
  if (accepted?.fingerprint !== undefined && accepted.replica >= 0 && accepted.replica !== row.replica) {
    while (peers.length <= accepted.replica) peers.push("0x");
    peers[accepted.replica] = accepted.fingerprint;
  }
  while (peers.length > 0 && peers.at(-1) === "0x") peers.pop();
  return peers;
}

/** Whether every other slot of the row's segment is committed or revealed (projection). */
export function othersSealed(ctx: WorkerContext, row: ReplicaRow): boolean {
  const { store } = ctx.d;
  const slots = store.market.getSegment(row.jobId, row.segment).slots ?? store.getJob(row.jobId)?.params.redundancy ?? 0;
  if (slots < 1) return false;
  const sealed = store.market.slotsOf(row.jobId, row.segment).filter((s) => s.replica !== row.replica && (s.state === "committed" || s.state === "revealed"));
  return sealed.length === slots - 1;
}

/**
 * Whether to wait for renders of the same job still in flight, so that one commit carries them
 * all (one base cost per batch): for at most COMMIT_BATCH_WAIT_MS, and never close to a lease end.
 */
export function holdForBatch(ctx: WorkerContext, jobId: bigint, rows: ReplicaRow[], now: number): boolean {
  const rendering = [...ctx.inFlight.values()].some((f) => ctx.d.store.getReplica(f.rowId)?.jobId === jobId);
  if (!rendering) return false;
  const oldest = Math.min(...rows.map((r) => r.updatedAt));
  const earliestLease = Math.min(...rows.map((r) => r.leaseEnd));
  return ctx.d.clock.now() - oldest < COMMIT_BATCH_WAIT_MS && now < earliestLease - 3 * ctx.d.config.limits.commitMarginSeconds;
}

export async function revealCommitted(ctx: WorkerContext, now: number): Promise<void> {
  const { store } = ctx.d;
  for (const [jobId, rows] of groupByJob(store.listReplicas({ states: ["committed"] }))) {
    const key = `reveal:${jobId}`;
    if (!ctx.ready(key)) continue;
    const open = rows.filter((row) => {
      const seg = store.market.getSegment(jobId, row.segment);
      return seg.revealDeadline > 0 && now <= seg.revealDeadline;
    });
    for (const batch of chunks(open, MAX_BATCH)) {
      const revealing = store.transaction(() => batch.map((row) => store.transition(row.id, "revealing")));
      const outcome = await sendSeal(ctx, "reveal", jobId, revealing);
      if (outcome === "ok") ctx.backoff.succeeded(key);
      else if (outcome === "fatal" && revealing.length > 1) {
        for (const row of revealing) {
          if (store.getReplica(row.id)!.state !== "committed") continue;
          await sendSeal(ctx, "reveal", jobId, [store.transition(row.id, "revealing")], true);
        }
      }
    }
  }
}

/**
 * A commit or reveal failed (or its outcome is unknown): asks `replicaOf` where the slot really
 * is and moves the row there. When the chain still waits for exactly what failed and the error
 * was fatal for this one replica alone, the replica is given up.
 */
export async function reconcile(ctx: WorkerContext, row: ReplicaRow, error: unknown, single: boolean): Promise<void> {
  const { store, market } = ctx.d;
  let onChain;
  try {
    onChain = await market.replicaOf(row.jobId, row.segment, row.replica);
  } catch {
    // Cannot tell now: assume it did not land; a duplicate send is rejected harmlessly.
    const back = row.state === "committing" || row.commitment === null ? "rendered" : "committed";
    if (back === "rendered" && row.state === "revealing") ctx.noDirectReveal.add(row.id);
    store.transition(row.id, back, { lastError: (error as Error).message }, "outcome unknown");
    return;
  }
  resolveUnknown(ctx, row, onChain, "after a failed send", { error, single });
}

/**
 * Sends one commit or reveal batch (the twins differ only in the call and the names); on failure
 * puts every row where the chain says it is.
 */
export async function sendSeal(ctx: WorkerContext, kind: "commit" | "reveal", jobId: bigint, rows: ReplicaRow[], single = false): Promise<"ok" | "fatal" | "retry"> {
  const { market, store } = ctx.d;
  const pending = kind === "commit" ? "committing" : "revealing";
  try {
    if (kind === "commit") await market.commit(jobId, rows.map((r) => ({ segment: r.segment, replica: r.replica, commitment: r.commitment! })));
    else {
      await market.reveal(
        jobId,
        rows.map((r) => ({
          segment: r.segment,
          replica: r.replica,
          digest: r.digest!,
          salt: r.salt!,
          resultCid: r.resultCid!,
          ...(r.fingerprint === null ? {} : { fingerprint: r.fingerprint, peerFingerprints: peerFingerprints(ctx, r) }),
        })),
      );
    }
    ctx.d.metrics.count(kind === "commit" ? "commits" : "reveals", rows.length);
    ctx.log.info({ jobId: String(jobId), segments: rows.map((r) => r.segment), replicas: rows.length }, kind === "commit" ? "committed" : "revealed");
    await ctx.syncQuietly();
    return "ok";
  } catch (error) {
    ctx.failed(`${kind}:${jobId}`, error, { jobId: String(jobId), segments: rows.map((r) => r.segment) }, kind);
    await ctx.syncQuietly();
    for (const row of rows) {
      const current = store.getReplica(row.id)!;
      if (current.state !== pending) continue;
      await reconcile(ctx, current, error, single);
    }
    return error instanceof FatalError ? "fatal" : "retry";
  }
}
