"use client";
/**
 * One job as the sdk's event fold sees it, kept live: its creation found and the market's and
 * registry's events read from there through the dApp's History (lib/history.ts, bounded block
 * ranges), applied to an incremental fold (`createFold`); every new block is read once.
 * The job's manifest is fetched from the gateway and decoded by the sdk.
 */
import { useEffect, useRef, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useBlockNumber, usePublicClient } from "wagmi";
import { createFold, fetchManifest, type FoldEvent, type JobRecord, type Manifest } from "@tessellate/sdk";
import { gatewayCat } from "./composite.ts";
import { findJobCreation, rpcHistory } from "./history.ts";
import { useRuntimeConfig } from "./runtime.tsx";

export interface JobState {
  job?: JobRecord;
  /** This job's events, in chain order. */
  events: FoldEvent[];
  /** The last block read. */
  block?: bigint;
  error?: string;
}

export function useJobState(jobId: bigint | undefined): JobState {
  const rc = useRuntimeConfig();
  const client = usePublicClient();
  const latest = useBlockNumber({ watch: true });
  const fold = useRef<ReturnType<typeof createFold> | null>(null);
  const next = useRef<bigint | undefined>(undefined);
  const running = useRef(false);
  const [state, setState] = useState<JobState>({ events: [] });

  useEffect(() => {
    fold.current = null;
    next.current = undefined;
    setState({ events: [] });
  }, [jobId, rc.addresses.market]);

  useEffect(() => {
    if (jobId === undefined || !client || latest.data === undefined || running.current) return;
    running.current = true;
    const to = latest.data;
    void (async () => {
      try {
        const history = rpcHistory(client, rc.addresses);
        if (next.current === undefined) {
          // Find the creation block: newest ranges first.
          const created = await findJobCreation(history, jobId, to);
          if (!created) {
            setState({ events: [], block: to, error: `no JobCreated event for job ${jobId}` });
            return;
          }
          next.current = created.blockNumber;
          fold.current = createFold(undefined, { checks: false });
        }
        const events = next.current <= to ? await history.events({ fromBlock: next.current, toBlock: to }) : [];
        next.current = to + 1n;
        fold.current!.apply(events);
        const job = fold.current!.state.jobs.get(jobId);
        const mine = events.filter((e) => (e.args as { jobId?: bigint }).jobId === jobId);
        // A fresh JobRecord reference each update, so React re-renders what depends on it.
        setState((s) => ({ job: job ? { ...job } : undefined, events: [...s.events, ...mine], block: to }));
      } catch (error) {
        setState((s) => ({ ...s, error: error instanceof Error ? error.message.split("\n")[0] : String(error) }));
      } finally {
        running.current = false;
      }
    })();
  }, [jobId, client, latest.data, rc.addresses.market, rc.addresses.registry]);

  return state;
}

/** The job's manifest, from the gateway, decoded by the sdk. */
export function useManifest(manifestCid: string | undefined) {
  const rc = useRuntimeConfig();
  return useQuery({
    queryKey: ["manifest", manifestCid],
    enabled: manifestCid !== undefined,
    staleTime: Infinity,
    queryFn: async (): Promise<Manifest> => {
      return fetchManifest(gatewayCat(rc.ipfsGatewayUrl), manifestCid!, { signal: AbortSignal.timeout(15_000) });
    },
  });
}
