/**
 * The audit's re-check of revealed replicas, off chain: for every replica that committed and
 * then revealed, the commitment its provider sent (the commit transaction's calldata; the
 * `ReplicasCommitted` event does not carry it) is recomputed from what its reveal transaction's
 * calldata carried (digest, salt and, in a tolerant job, the fingerprint) with the sdk's
 * `commitmentOf`, and the revealed digest is compared with the one `ReplicasRevealed` logged. The
 * contract makes the first check at reveal on the commitment's first 160 bits (the seal it
 * stores); this makes it again on all 256 from the raw transactions, trusting neither the
 * contract's storage nor its events. Browser-safe: the caller passes how to read a
 * transaction's input (viem's `getTransaction`), so `tessellate audit` and the dApp's Audit and
 * Job pages run this same code.
 *
 * A replica revealed directly (every other slot already sealed, so it never committed) has no
 * commitment to check. A commit or reveal sent through another contract (a multisig, a batcher)
 * cannot be decoded here: that replica stays unchecked, and is counted as such.
 */
import { getAddress, type Address, type Hex } from "viem";
import { commitmentOf } from "../commitment.ts";
import { Verification } from "../contracts.generated.ts";
import { commitmentsFromCalldata, marketCallArgs } from "./commitments.ts";
import { replicaKey, type Discrepancy } from "./compare.ts";
import type { FoldEvent, JobRecord, ProtocolState } from "./fold.ts";
import { unpackSlot } from "./slots.ts";

/** What a reveal call carried for one replica. */
export interface RevealedInput {
  digest: Hex;
  salt: Hex;
  resultCid: string;
  /** Only in a tolerant job's reveal. */
  fingerprint?: Hex;
}

/** The reveals a `reveal(jobId, reveals)` call's input carries, by `jobId:segment:replica`; undefined when the input is not such a call. */
export function revealsFromCalldata(input: Hex): Map<string, RevealedInput> | undefined {
  const args = marketCallArgs(input, "reveal");
  if (!args) return undefined;
  const [jobId, reveals] = args as [bigint, ReadonlyArray<{ segment: number; replica: number; digest: Hex; salt: Hex; resultCid: string; fingerprint?: Hex }>];
  const found = new Map<string, RevealedInput>();
  for (const r of reveals) {
    found.set(replicaKey(jobId, r.segment, r.replica), { digest: r.digest, salt: r.salt, resultCid: r.resultCid, ...(r.fingerprint !== undefined ? { fingerprint: r.fingerprint } : {}) });
  }
  return found;
}

/** One reveal of a replica, with the commit it opened (none for a direct reveal). */
export interface ReplicaReveal {
  jobId: bigint;
  segment: number;
  replica: number;
  provider: Address;
  /** The digest `ReplicasRevealed` logged. */
  digest: Hex;
  revealTx: Hex;
  /** The transaction that committed this holding of the slot; undefined for a direct reveal. */
  commitTx?: Hex;
  /** The commitment when an event carried it (the single-replica `ReplicaCommitted`). */
  commitment?: Hex;
}

/**
 * Every reveal in the events, paired with the latest commit of the same slot before it (a slot
 * whose lease expired is claimed and committed again by another provider), in chain order.
 */
export function replicaReveals(events: readonly FoldEvent[]): ReplicaReveal[] {
  const commits = new Map<string, { tx: Hex; commitment?: Hex }>();
  const out: ReplicaReveal[] = [];
  for (const e of events) {
    const a = e.args as Record<string, unknown>;
    switch (e.eventName) {
      case "ReplicasCommitted":
        for (const packed of a.slots as readonly bigint[]) {
          const { segment, replica } = unpackSlot(packed);
          commits.set(replicaKey(a.jobId as bigint, segment, replica), { tx: e.transactionHash });
        }
        break;
      case "ReplicaCommitted":
        commits.set(replicaKey(a.jobId as bigint, Number(a.segment), Number(a.replica)), { tx: e.transactionHash, commitment: a.commitment as Hex });
        break;
      case "ReplicasRevealed":
      case "ReplicaRevealed": {
        const jobId = a.jobId as bigint;
        const slots =
          e.eventName === "ReplicasRevealed"
            ? (a.slots as readonly bigint[]).map((packed, i) => ({ ...unpackSlot(packed), digest: (a.digests as readonly Hex[])[i]! }))
            : [{ segment: Number(a.segment), replica: Number(a.replica), digest: a.digest as Hex }];
        for (const { segment, replica, digest } of slots) {
          const key = replicaKey(jobId, segment, replica);
          const commit = commits.get(key);
          commits.delete(key);
          out.push({
            jobId,
            segment,
            replica,
            provider: getAddress(a.provider as string),
            digest,
            revealTx: e.transactionHash,
            ...(commit ? { commitTx: commit.tx } : {}),
            ...(commit?.commitment ? { commitment: commit.commitment } : {}),
          });
        }
        break;
      }
    }
  }
  return out;
}

/** What the re-check found for one reveal. */
export type RevealVerdict =
  | { kind: "matched"; commitment: Hex; resultCid: string }
  | { kind: "direct"; resultCid?: string }
  | { kind: "unchecked"; why: string }
  | { kind: "mismatch"; discrepancies: Discrepancy[] };

export interface RevealCheck {
  /** Every reveal in the events. */
  reveals: number;
  /** Reveals whose commitment was recomputed from the reveal's calldata and matched. */
  matched: number;
  /** Reveals that never committed (direct reveals): nothing to check. */
  direct: number;
  /** Reveals whose commit or reveal transaction is not a direct call of the market. */
  unchecked: number;
  /** Transactions read. */
  transactions: number;
  /** Per reveal (key `jobId:segment:replica`, the latest reveal of the slot), what was found. */
  verdicts: Map<string, RevealVerdict>;
  discrepancies: Discrepancy[];
}

/** Whether the job settles by fingerprint (its commitments then bind the fingerprint too). */
function isTolerant(job: JobRecord | undefined): boolean {
  return job?.params.verification === Verification.Tolerant;
}

/**
 * Re-checks every reveal in `events` against its commitment, reading the commit and reveal
 * transactions (`transactionInput`, at most `concurrency`, default 8, at a time). `state` (the
 * fold of the same events, or just the jobs they are about) tells each job's verification mode. Errors of `transactionInput` propagate.
 */
export async function checkRevealedCommitments(
  state: Pick<ProtocolState, "jobs">,
  events: readonly FoldEvent[],
  transactionInput: (hash: Hex) => Promise<Hex>,
  options: { concurrency?: number } = {},
): Promise<RevealCheck> {
  const reveals = replicaReveals(events);
  const wanted = new Set<Hex>();
  for (const r of reveals) {
    wanted.add(r.revealTx);
    if (r.commitTx && !r.commitment) wanted.add(r.commitTx);
  }
  const inputs = new Map<Hex, Hex>();
  const hashes = [...wanted];
  let next = 0;
  const worker = async () => {
    while (next < hashes.length) {
      const hash = hashes[next++]!;
      inputs.set(hash, await transactionInput(hash));
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, hashes.length) }, worker));

  const check: RevealCheck = { reveals: reveals.length, matched: 0, direct: 0, unchecked: 0, transactions: hashes.length, verdicts: new Map(), discrepancies: [] };
  const decodedReveals = new Map<Hex, Map<string, RevealedInput> | undefined>();
  for (const r of reveals) {
    const key = replicaKey(r.jobId, r.segment, r.replica);
    const subject = `job ${r.jobId} segment ${r.segment} replica ${r.replica}`;
    if (!decodedReveals.has(r.revealTx)) decodedReveals.set(r.revealTx, revealsFromCalldata(inputs.get(r.revealTx)!));
    const revealed = decodedReveals.get(r.revealTx)?.get(key);
    const verdict = ((): RevealVerdict => {
      if (!r.commitTx) return revealed ? { kind: "direct", resultCid: revealed.resultCid } : { kind: "direct" };
      if (!revealed) return { kind: "unchecked", why: `reveal transaction ${r.revealTx} is not a direct reveal call` };
      const committed = r.commitment ?? commitmentsFromCalldata(inputs.get(r.commitTx)!)?.get(key);
      if (!committed) return { kind: "unchecked", why: `commit transaction ${r.commitTx} is not a direct commit call` };
      const found: Discrepancy[] = [];
      if (revealed.digest.toLowerCase() !== r.digest.toLowerCase()) {
        found.push({ source: "calldata", subject, field: "revealed digest", expected: `${r.digest} (ReplicasRevealed)`, actual: `${revealed.digest} (reveal calldata)` });
      }
      const recomputed = commitmentOf(revealed.digest, revealed.salt, r.provider, r.jobId, r.segment, isTolerant(state.jobs.get(r.jobId)) ? revealed.fingerprint : undefined);
      if (recomputed.toLowerCase() !== committed.toLowerCase()) {
        found.push({ source: "calldata", subject, field: "commitment", expected: `${committed} (commit calldata)`, actual: `${recomputed} (recomputed from the reveal's digest and salt)` });
      }
      return found.length === 0 ? { kind: "matched", commitment: committed, resultCid: revealed.resultCid } : { kind: "mismatch", discrepancies: found };
    })();
    check.verdicts.set(key, verdict);
    if (verdict.kind === "matched") check.matched++;
    else if (verdict.kind === "direct") check.direct++;
    else if (verdict.kind === "unchecked") check.unchecked++;
    else check.discrepancies.push(...verdict.discrepancies);
  }
  return check;
}
