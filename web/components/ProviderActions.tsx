"use client";
/** The connected provider's own writes, each simulated first (see lib/useTransaction.ts). */
import { useState, type ReactNode } from "react";
import { useAccount, useConfig } from "wagmi";
import { simulateContract } from "wagmi/actions";
import { parseUnits, type Address } from "viem";
import { providerRegistryAbi, renderTokenAbi, useReadToken } from "../lib/contracts.ts";
import { formatAmount } from "../lib/format.ts";
import { useRuntimeConfig, useToken } from "../lib/runtime.tsx";
import { useTransaction } from "../lib/useTransaction.ts";
import { TxStatus } from "./TxStatus.tsx";

/** One action's form: its title, fields, button and transaction status lines. */
function ActionForm({ title, onSubmit, children }: { title: string; onSubmit: () => Promise<void>; children: ReactNode }) {
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        void onSubmit();
      }}
    >
      <h3>{title}</h3>
      {children}
    </form>
  );
}

/** A token amount typed by a person, with what is wrong with it shown inline. */
function AmountField(props: { name: string; label: string; value: string; onChange(value: string): void; placeholder: string; problem?: string }) {
  return (
    <>
      <label>
        {props.label}
        <input
          data-testid={`${props.name}-amount`}
          inputMode="decimal"
          value={props.value}
          onChange={(e) => props.onChange(e.target.value)}
          placeholder={props.placeholder}
        />
      </label>
      {props.problem && (
        <p className="tx tx-error" data-testid={`${props.name}-problem`}>
          {props.problem}
        </p>
      )}
    </>
  );
}

interface ProviderRecord {
  registered: boolean;
  unbonding: bigint;
}

/** Parses a token amount typed by a person; undefined and a reason when it is not one. */
function parseAmount(text: string, decimals: number | undefined): { value?: bigint; problem?: string } {
  const trimmed = text.trim();
  if (trimmed === "") return {};
  if (decimals === undefined) return { problem: "reading the token's decimals…" };
  if (!/^\d+(\.\d+)?$/.test(trimmed)) return { problem: "write an amount like 10 or 2.5" };
  const value = parseUnits(trimmed, decimals);
  if (value === 0n) return { problem: "the amount must be more than zero" };
  return { value };
}

export function ProviderActions(props: {
  address: Address;
  record: ProviderRecord;
  freeStake: bigint | undefined;
  tokenBalance: bigint | undefined;
  unbondingLeft: number | undefined;
}) {
  const { addresses, chainId } = useRuntimeConfig();
  const config = useConfig();
  const account = useAccount();
  const { symbol, decimals } = useToken();
  const allowance = useReadToken({ address: addresses.token, functionName: "allowance", args: [props.address, addresses.registry] });
  const [profileCid, setProfileCid] = useState("");
  const [stakeText, setStakeText] = useState("");
  const [unstakeText, setUnstakeText] = useState("");
  const registerTx = useTransaction("Register");
  const updateTx = useTransaction("Update profile");
  const profileTx = props.record.registered ? updateTx : registerTx;
  const approveTx = useTransaction("Approve");
  const stakeTx = useTransaction("Stake");
  const unstakeTx = useTransaction("Request unstake");
  const withdrawTx = useTransaction("Withdraw stake");
  const wrongChain = account.chainId !== chainId;
  const registry = { address: addresses.registry, abi: providerRegistryAbi, account: props.address } as const;

  const stake = parseAmount(stakeText, decimals);
  const unstake = parseAmount(unstakeText, decimals);
  const stakeProblem =
    stake.problem ??
    (stake.value !== undefined && props.tokenBalance !== undefined && stake.value > props.tokenBalance
      ? `your wallet holds ${formatAmount(props.tokenBalance, decimals, symbol)}`
      : undefined);
  const unstakeProblem =
    unstake.problem ??
    (unstake.value !== undefined && props.freeStake !== undefined && unstake.value > props.freeStake
      ? `only ${formatAmount(props.freeStake, decimals, symbol)} is free (not locked, not unbonding)`
      : undefined);

  async function submitProfile() {
    const cid = profileCid.trim();
    const ok = await profileTx.run(() =>
      simulateContract(config, { ...registry, functionName: props.record.registered ? "updateProfile" : "register", args: [cid] }),
    );
    if (ok) setProfileCid("");
  }

  async function approveAndStake() {
    const amount = stake.value;
    if (amount === undefined) return;
    approveTx.reset();
    stakeTx.reset();
    if ((allowance.data ?? 0n) < amount) {
      const approved = await approveTx.run(() =>
        simulateContract(config, {
          address: addresses.token,
          abi: renderTokenAbi,
          account: props.address,
          functionName: "approve",
          args: [addresses.registry, amount],
        }),
      );
      if (!approved) return;
    }
    const ok = await stakeTx.run(() => simulateContract(config, { ...registry, functionName: "stake", args: [amount] }));
    if (ok) setStakeText("");
  }

  async function requestUnstake() {
    const amount = unstake.value;
    if (amount === undefined) return;
    const ok = await unstakeTx.run(() => simulateContract(config, { ...registry, functionName: "requestUnstake", args: [amount] }));
    if (ok) setUnstakeText("");
  }

  const disabled = wrongChain;
  return (
    <section className="panel" data-testid="provider-actions">
      <h2>Your provider account</h2>
      {wrongChain && <p className="tx tx-error">Your wallet is on another network: switch it (top right) to act.</p>}
      <div className="grid">
        <ActionForm title={props.record.registered ? "Update profile" : "Register"} onSubmit={submitProfile}>
          <label>
            Profile CID (engines, versions, hardware, benchmark — published on IPFS)
            <input data-testid="profile-cid" value={profileCid} onChange={(e) => setProfileCid(e.target.value)} placeholder="bafy…" />
          </label>
          <p className="muted">The provider node publishes its profile and registers by itself; this is for doing it by hand.</p>
          <button type="submit" data-testid="submit-profile" disabled={disabled || profileTx.busy || profileCid.trim() === ""}>
            {props.record.registered ? "Update profile" : "Register"}
          </button>
          <TxStatus label={registerTx.label} phase={registerTx.phase} />
          <TxStatus label={updateTx.label} phase={updateTx.phase} />
        </ActionForm>

        <ActionForm title="Stake" onSubmit={approveAndStake}>
          <AmountField name="stake" label={`Amount (${symbol ?? "tokens"})`} value={stakeText} onChange={setStakeText} placeholder="10" problem={stakeProblem} />
          <p className="muted">Approved for the registry: {formatAmount(allowance.data, decimals, symbol)}</p>
          <button
            type="submit"
            data-testid="submit-stake"
            disabled={disabled || approveTx.busy || stakeTx.busy || stake.value === undefined || stakeProblem !== undefined}
          >
            {stake.value !== undefined && (allowance.data ?? 0n) < stake.value ? "Approve and stake" : "Stake"}
          </button>
          <TxStatus label={approveTx.label} phase={approveTx.phase} />
          <TxStatus label={stakeTx.label} phase={stakeTx.phase} />
        </ActionForm>

        <ActionForm title="Unstake" onSubmit={requestUnstake}>
          <AmountField
            name="unstake"
            label={`Amount (${symbol ?? "tokens"}; free now ${formatAmount(props.freeStake, decimals, symbol)})`}
            value={unstakeText}
            onChange={setUnstakeText}
            placeholder="5"
            problem={unstakeProblem}
          />
          <p className="muted">A new request adds to the one unbonding and restarts the delay.</p>
          <button
            type="submit"
            data-testid="submit-unstake"
            disabled={disabled || unstakeTx.busy || unstake.value === undefined || unstakeProblem !== undefined}
          >
            Request unstake
          </button>
          <TxStatus label={unstakeTx.label} phase={unstakeTx.phase} />
          <div className="row">
            <button
              type="button"
              className="secondary"
              data-testid="submit-withdraw"
              disabled={disabled || withdrawTx.busy || props.record.unbonding === 0n}
              onClick={() => void withdrawTx.run(() => simulateContract(config, { ...registry, functionName: "withdrawStake" }))}
            >
              Withdraw unbonded stake
              {props.unbondingLeft !== undefined && props.unbondingLeft > 0 ? ` (ready in ${Math.ceil(props.unbondingLeft / 60)} min)` : ""}
            </button>
          </div>
          <TxStatus label={withdrawTx.label} phase={withdrawTx.phase} />
        </ActionForm>
      </div>
    </section>
  );
}
