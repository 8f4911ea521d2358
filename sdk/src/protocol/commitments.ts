/**
 * Commitments of replicas still Committed, read from their commit transactions' calldata (the
 * `ReplicasCommitted` events do not carry them). Filling them in (`applyCommitments`) gives those
 * replicas a known seal, so the audit's `compareWithChain` checks the seal each committed replica
 * holds on chain against the one its provider sent. Browser-safe: the caller passes how to read a
 * transaction's input (viem's `getTransaction`), so the CLI's `tessellate audit` and the dApp's
 * Audit page run this same code.
 *
 * Transactions that did not call `commit` directly (a multisig, a batching contract) cannot be
 * decoded here: their replicas' seals stay unchecked, and are counted as such.
 */
import { decodeFunctionData, type Hex } from "viem";
import { jobMarketAbi, ReplicaState } from "../contracts.generated.ts";
import type { ProtocolState } from "./fold.ts";

export interface PendingCommitments {
  /** Key `jobId:segment:replica` (as `applyCommitments` wants). */
  commitments: Map<string, Hex>;
  /** Replicas still Committed whose commitment the events did not give. */
  pending: number;
  /** Commit transactions read. */
  transactions: number;
  /** Replicas whose commit transaction is not a direct `commit` call (their seal stays unchecked). */
  unchecked: number;
}

/** The arguments of a direct call of the market's `functionName`; undefined when `input` is not one (another function, a multisig, a batching contract). */
export function marketCallArgs(input: Hex, functionName: "commit" | "reveal"): readonly unknown[] | undefined {
  let decoded;
  try {
    decoded = decodeFunctionData({ abi: jobMarketAbi, data: input });
  } catch {
    return undefined;
  }
  return decoded.functionName === functionName ? (decoded.args as readonly unknown[]) : undefined;
}

/** The commitments a `commit(jobId, commits)` call's input carries; undefined when the input is not such a call. */
export function commitmentsFromCalldata(input: Hex): Map<string, Hex> | undefined {
  const args = marketCallArgs(input, "commit");
  if (!args) return undefined;
  const [jobId, commits] = args as [bigint, ReadonlyArray<{ segment: number; replica: number; commitment: Hex }>];
  const found = new Map<string, Hex>();
  for (const c of commits) found.set(`${jobId}:${c.segment}:${c.replica}`, c.commitment);
  return found;
}

/**
 * Reads the commit transactions of every replica still Committed with an unknown commitment,
 * at most `concurrency` (default 8) at a time. Errors of `transactionInput` propagate.
 */
export async function readPendingCommitments(
  state: ProtocolState,
  transactionInput: (hash: Hex) => Promise<Hex>,
  options: { concurrency?: number } = {},
): Promise<PendingCommitments> {
  const wanted = new Map<Hex, string[]>();
  let pending = 0;
  for (const job of state.jobs.values()) {
    for (const seg of job.segments.values()) {
      seg.replicas.forEach((rep, replica) => {
        if (rep.state !== ReplicaState.Committed || rep.commitment !== undefined || !rep.commitTx) return;
        pending++;
        const list = wanted.get(rep.commitTx) ?? [];
        list.push(`${job.jobId}:${seg.index}:${replica}`);
        wanted.set(rep.commitTx, list);
      });
    }
  }
  const commitments = new Map<string, Hex>();
  const hashes = [...wanted.keys()];
  let next = 0;
  const worker = async () => {
    while (next < hashes.length) {
      const hash = hashes[next++]!;
      const found = commitmentsFromCalldata(await transactionInput(hash));
      if (!found) continue;
      // Only the slots this transaction committed according to the events.
      for (const key of wanted.get(hash)!) {
        const commitment = found.get(key);
        if (commitment) commitments.set(key, commitment);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, hashes.length) }, worker));
  return { commitments, pending, transactions: hashes.length, unchecked: pending - commitments.size };
}
