"use client";
/**
 * The Job page's re-check of its revealed replicas, as the Audit page and `tessellate audit` make
 * it (the sdk's `checkRevealedCommitments`): each reveal's commitment recomputed from its reveal
 * transaction's calldata and compared with its commit transaction's. Run again when a reveal
 * arrives; each transaction is read from the RPC once.
 */
import { useMemo, useRef } from "react";
import { useQuery } from "@tanstack/react-query";
import { usePublicClient } from "wagmi";
import type { Hex } from "viem";
import { checkRevealedCommitments, replicaKey, replicaReveals, type FoldEvent, type JobRecord, type RevealVerdict } from "@tessellate/sdk";

export interface JobRevealCheck {
  /** The reveal transaction of each revealed slot (`jobId:segment:replica`). */
  revealTx: ReadonlyMap<string, Hex>;
  /** What the re-check found per revealed slot; missing while it runs. */
  verdicts: ReadonlyMap<string, RevealVerdict>;
  error?: string;
}

export function useRevealCheck(job: JobRecord | undefined, events: readonly FoldEvent[]): JobRevealCheck {
  const client = usePublicClient();
  const inputs = useRef(new Map<Hex, Hex>());
  const reveals = useMemo(() => replicaReveals(events), [events]);
  const revealTx = useMemo(() => new Map(reveals.map((r) => [replicaKey(r.jobId, r.segment, r.replica), r.revealTx])), [reveals]);
  const check = useQuery({
    queryKey: ["reveal-check", job?.jobId.toString(), reveals.length],
    enabled: client !== undefined && job !== undefined && reveals.length > 0,
    staleTime: Infinity,
    retry: false,
    queryFn: () =>
      checkRevealedCommitments({ jobs: new Map([[job!.jobId, job!]]) }, events, async (hash) => {
        const known = inputs.current.get(hash);
        if (known) return known;
        const input = (await client!.getTransaction({ hash })).input;
        inputs.current.set(hash, input);
        return input;
      }),
  });
  return { revealTx, verdicts: check.data?.verdicts ?? new Map(), ...(check.error ? { error: check.error.message.split("\n")[0] } : {}) };
}
