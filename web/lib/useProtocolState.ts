"use client";
/**
 * The whole protocol as the sdk's event fold sees it, kept live for the Provider and Network
 * pages: every market and registry event from block 0 read through the dApp's History
 * (lib/history.ts) and applied to one incremental fold (`createFold`); each new block is read
 * once. The events are kept too, so a page can link a number to the events behind it.
 */
import { useEffect, useRef, useState } from "react";
import { useBlockNumber, usePublicClient } from "wagmi";
import { createFold, type FoldEvent, type ProtocolState } from "@tessellate/sdk";
import { rpcHistory } from "./history.ts";
import { useRuntimeConfig } from "./runtime.tsx";

export interface LiveProtocolState {
  state?: ProtocolState;
  events: FoldEvent[];
  /** The last block read; `version` changes with every update, so memoised views recompute. */
  block?: bigint;
  version: number;
  error?: string;
}

export function useProtocolState(): LiveProtocolState {
  const rc = useRuntimeConfig();
  const client = usePublicClient();
  const latest = useBlockNumber({ watch: true });
  const fold = useRef<ReturnType<typeof createFold> | null>(null);
  const events = useRef<FoldEvent[]>([]);
  const next = useRef(0n);
  const running = useRef(false);
  const [live, setLive] = useState<LiveProtocolState>({ events: [], version: 0 });

  useEffect(() => {
    fold.current = null;
    events.current = [];
    next.current = 0n;
    setLive({ events: [], version: 0 });
  }, [rc.addresses.market, rc.addresses.registry]);

  useEffect(() => {
    if (!client || latest.data === undefined || running.current || latest.data < next.current) return;
    running.current = true;
    const to = latest.data;
    void (async () => {
      try {
        const fresh = await rpcHistory(client, rc.addresses).events({ fromBlock: next.current, toBlock: to });
        fold.current ??= createFold(undefined, { checks: false });
        fold.current.apply(fresh);
        events.current = [...events.current, ...fresh];
        next.current = to + 1n;
        setLive((old) => ({ state: fold.current!.state, events: events.current, block: to, version: old.version + 1 }));
      } catch (error) {
        setLive((old) => ({ ...old, error: error instanceof Error ? error.message.split("\n")[0] : String(error) }));
      } finally {
        running.current = false;
      }
    })();
  }, [client, latest.data, rc.addresses]);

  return live;
}
