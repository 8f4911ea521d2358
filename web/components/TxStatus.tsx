"use client";
/** The state of one write, as a line under its button: what is happening and the transaction. */
import type { TxPhase } from "../lib/useTransaction.ts";
import { useRuntimeConfig } from "../lib/runtime.tsx";

function TxHash({ hash }: { hash: string }) {
  const { explorerUrl } = useRuntimeConfig();
  return explorerUrl ? (
    <a className="hash" href={`${explorerUrl}/tx/${hash}`} target="_blank" rel="noreferrer">
      {hash}
    </a>
  ) : (
    <code className="hash" title="transaction hash">
      {hash}
    </code>
  );
}

export function TxStatus({ label, phase }: { label: string; phase: TxPhase }) {
  if (phase.step === "idle") return null;
  const testId = `tx-${label.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  switch (phase.step) {
    case "simulating":
      return <p className="tx tx-busy" data-testid={testId} data-step="simulating">{label}: checking against the chain…</p>;
    case "wallet":
      return <p className="tx tx-busy" data-testid={testId} data-step="wallet">{label}: confirm in your wallet…</p>;
    case "pending":
      return (
        <p className="tx tx-busy" data-testid={testId} data-step="pending">
          {label}: pending <TxHash hash={phase.hash} />
        </p>
      );
    case "confirmed":
      return (
        <p className="tx tx-ok" data-testid={testId} data-step="confirmed">
          {label}: confirmed in block {phase.blockNumber.toString()} <TxHash hash={phase.hash} />
        </p>
      );
    case "reverted":
      return (
        <p className="tx tx-error" role="alert" data-testid={testId} data-step="reverted">
          {label}: reverted on chain <TxHash hash={phase.hash} />
        </p>
      );
    case "failed":
      return (
        <div className="tx tx-error" role="alert" data-testid={testId} data-step="failed" data-kind={phase.error.kind}>
          <p>{phase.error.message}</p>
          {phase.error.revert && (
            <code className="revert">
              {phase.error.revert.name}({phase.error.revert.args.map((a) => `${a.name}: ${a.value}`).join(", ")})
            </code>
          )}
          {phase.hash && <TxHash hash={phase.hash} />}
        </div>
      );
  }
}
