"use client";
/**
 * One write, in the steps a person sees: simulate (a revert is decoded and shown before the
 * wallet opens) → waiting for the wallet → pending (hash) → confirmed or reverted. Afterwards
 * every cached read is refetched so the page shows the new state. `run` resolves with the
 * receipt of a confirmed transaction, undefined otherwise.
 */
import { useCallback, useState } from "react";
import { useConfig } from "wagmi";
import { waitForTransactionReceipt, writeContract } from "wagmi/actions";
import { useQueryClient } from "@tanstack/react-query";
import type { Hash, TransactionReceipt } from "viem";
import { describeError, type DescribedError } from "./txError.ts";
import { useRuntimeConfig } from "./runtime.tsx";

export type TxPhase =
  | { step: "idle" }
  | { step: "simulating" }
  | { step: "wallet" }
  | { step: "pending"; hash: Hash }
  | { step: "confirmed"; hash: Hash; blockNumber: bigint }
  | { step: "reverted"; hash: Hash }
  | { step: "failed"; error: DescribedError; hash?: Hash };

/** What `simulateContract` returns; its `request` is what the wallet signs. */
type Simulated = { request: Parameters<typeof writeContract>[1] };

export function useTransaction(label: string) {
  const config = useConfig();
  const { pollingIntervalMs } = useRuntimeConfig();
  const queryClient = useQueryClient();
  const [phase, setPhase] = useState<TxPhase>({ step: "idle" });

  const run = useCallback(
    async (simulate: () => Promise<Simulated>): Promise<TransactionReceipt | undefined> => {
      setPhase({ step: "simulating" });
      let simulated: Simulated;
      try {
        simulated = await simulate();
      } catch (error) {
        setPhase({ step: "failed", error: describeError(error, label) });
        return undefined;
      }
      setPhase({ step: "wallet" });
      let hash: Hash;
      try {
        hash = await writeContract(config, simulated.request);
      } catch (error) {
        setPhase({ step: "failed", error: describeError(error, label) });
        return undefined;
      }
      setPhase({ step: "pending", hash });
      try {
        const receipt = await waitForTransactionReceipt(config, { hash, pollingInterval: pollingIntervalMs });
        await queryClient.invalidateQueries();
        if (receipt.status === "success") {
          setPhase({ step: "confirmed", hash, blockNumber: receipt.blockNumber });
          return receipt;
        }
        setPhase({ step: "reverted", hash });
        return undefined;
      } catch (error) {
        setPhase({ step: "failed", error: describeError(error, label), hash });
        return undefined;
      }
    },
    [config, label, pollingIntervalMs, queryClient],
  );

  const busy = phase.step === "simulating" || phase.step === "wallet" || phase.step === "pending";
  return { label, phase, run, busy, reset: () => setPhase({ step: "idle" }) };
}
