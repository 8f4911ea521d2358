"use client";
/**
 * The Audit page: the whole market rebuilt from raw logs (from block 0, through the History) by
 * the sdk's fold, next to the contracts' views at the same pinned block; every difference
 * listed (the sdk's `checkEvents` / `compareWithChain`, as `tessellate audit` reports them);
 * per-account balances, stakes and locked collateral side by side; every event, filterable by
 * job, provider, requester and type; and "verify" on any accepted segment, which fetches its
 * result from the gateway and recomputes the pixel digest with the sdk's decoder (no canvas).
 */
import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import Link from "next/link";
import { usePublicClient } from "wagmi";
import type { Address } from "viem";
import { acceptedSegmentOf, SegmentStatus, verifyAcceptedSegment, type AcceptedSegment, type FoldEvent, type SegmentCheck } from "@tessellate/sdk";
import { describeArgs, filterEvents, parseEventFilter, runAudit, type AuditRun } from "../lib/audit.ts";
import { gatewayCat } from "../lib/composite.ts";
import { formatAmount, shortAddress } from "../lib/format.ts";
import { rpcHistory } from "../lib/history.ts";
import { useRuntimeConfig, useToken } from "../lib/runtime.tsx";
import { useManifest } from "../lib/useJobState.ts";
import { EventTable, eventNameColumn } from "./EventTable.tsx";
import { Stat } from "./Stat.tsx";
import { Table, hashColumn, type Column } from "./Table.tsx";

const EVENTS_SHOWN = 200;

export function AuditView() {
  const rc = useRuntimeConfig();
  const client = usePublicClient();
  const { symbol, decimals } = useToken();
  const [run, setRun] = useState<AuditRun>();
  const [progress, setProgress] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const amount = useCallback((x: bigint | undefined) => formatAmount(x, decimals, symbol), [decimals, symbol]);

  const audit = useCallback(async () => {
    if (!client || decimals === undefined) return;
    setBusy(true);
    setError(undefined);
    try {
      const history = rpcHistory(client, rc.addresses);
      setRun(await runAudit({ client, history, addresses: rc.addresses, formatAmount: (x) => `${formatAmount(x, decimals, symbol)} (${x} base units)`, onProgress: setProgress }));
    } catch (e) {
      setError(e instanceof Error ? e.message.split("\n")[0] : String(e));
    } finally {
      setBusy(false);
      setProgress(undefined);
    }
  }, [client, rc.addresses, decimals, symbol]);

  useEffect(() => {
    if (!run && !busy && !error) void audit();
  }, [audit, run, busy, error]);

  return (
    <>
      <h1>Audit</h1>
      <section className="panel">
        <p className="muted">
          Every event of the market and the registry from block 0, folded by the sdk, against what the contracts report at the same block. The same comparison as{" "}
          <code>tessellate audit</code>.
        </p>
        <div className="row">
          <button onClick={() => void audit()} disabled={busy || !client} data-testid="audit-again">
            {busy ? "Auditing…" : run ? "Audit again at the latest block" : "Audit"}
          </button>
          {progress && <span className="muted" data-testid="audit-progress">{progress}</span>}
        </div>
        {error && (
          <p className="tx-error" data-testid="audit-error">
            The audit could not read the chain: {error}
          </p>
        )}
        {run && (
          <dl className="stats" style={{ marginTop: "0.75rem" }}>
            <Stat label="Pinned at block" value={run.block.toString()} testId="audit-block" />
            <Stat label="Events" value={run.events.length.toString()} testId="audit-events" />
            <Stat label="Jobs" value={run.state.jobs.size.toString()} />
            <Stat label="View reads" value={run.reads.toString()} />
            <Stat
              label="Discrepancies"
              value={<Found count={run.discrepancies.length} none="0 — everything reconciles" />}
              testId="audit-discrepancies"
            />
          </dl>
        )}
      </section>
      {run && run.discrepancies.length > 0 && <Discrepancies run={run} />}
      {run && <Seals run={run} />}
      {run && <Reveals run={run} />}
      {run && <Totals run={run} amount={amount} />}
      {run && <Accounts run={run} amount={amount} />}
      {run && <Accepted run={run} />}
      {run && <Events run={run} />}
    </>
  );
}

/** A count that should be 0: a green badge when it is (`none` says so in words), else a warning. */
function Found({ count, none }: { count: number; none?: string }) {
  return <span className={`badge ${count === 0 ? "ok" : "warn"}`}>{count === 0 ? (none ?? "0") : none ? `${count} found` : count.toString()}</span>;
}

/**
 * One of the calldata checks: what it compares, its own counts, then the two that should be 0 —
 * what could not be checked (a call through another contract) and what did not match.
 */
function CheckPanel(props: {
  title: string;
  testId: string;
  intro: ReactNode;
  children: ReactNode;
  unchecked: { label: string; count: number; testId: string };
  mismatches: { label: string; count: number; none: string; testId: string };
}) {
  return (
    <section className="panel" data-testid={props.testId}>
      <h2>{props.title}</h2>
      <p className="muted">{props.intro}</p>
      <dl className="stats">
        {props.children}
        <Stat label={props.unchecked.label} value={<Found count={props.unchecked.count} />} testId={props.unchecked.testId} />
        <Stat label={props.mismatches.label} value={<Found count={props.mismatches.count} none={props.mismatches.none} />} testId={props.mismatches.testId} />
      </dl>
    </section>
  );
}

/** The committed-seal check: every known seal against `replicaOf`, commitments of still-Committed replicas read from their commit calldata. */
function Seals({ run }: { run: AuditRun }) {
  const { seals } = run;
  return (
    <CheckPanel
      title="Committed seals"
      testId="audit-seals"
      intro={
        <>
          Each replica&apos;s seal on chain (<code>replicaOf</code>, <code>acceptedSeal</code>) against the one the events and the commit transactions say it should hold: the
          commitments of replicas still committed are read from their <code>commit</code> transactions&apos; calldata, as <code>tessellate audit</code> does.
        </>
      }
      unchecked={{ label: "Unchecked (not a direct commit call)", count: seals.unchecked, testId: "audit-seals-unchecked" }}
      mismatches={{ label: "Seal discrepancies", count: seals.discrepancies.length, none: "0 — every seal matches", testId: "audit-seal-discrepancies" }}
    >
      <Stat label="Seals compared" value={seals.compared.toString()} testId="audit-seals-compared" />
      <Stat label="Committed, awaiting reveal" value={seals.pending.toString()} testId="audit-seals-pending" />
      <Stat label="Commitments read from calldata" value={`${seals.fromCalldata} (${seals.transactions} transactions)`} testId="audit-seals-calldata" />
    </CheckPanel>
  );
}

/** Every revealed replica's commitment recomputed from its reveal transaction and compared with its commit transaction's. */
function Reveals({ run }: { run: AuditRun }) {
  const { reveals } = run;
  return (
    <CheckPanel
      title="Revealed commitments"
      testId="audit-reveals"
      intro={
        <>
          For every reveal, the commitment recomputed from the digest and salt its <code>reveal</code> transaction carried (the sdk&apos;s <code>commitmentOf</code>), against
          the commitment its provider&apos;s <code>commit</code> transaction sent — all 256 bits, where the contract compares the first 160 — and the digest against the
          one <code>ReplicasRevealed</code> logged, as <code>tessellate audit</code> does.
        </>
      }
      unchecked={{ label: "Unchecked (not a direct market call)", count: reveals.unchecked, testId: "audit-reveals-unchecked" }}
      mismatches={{ label: "Mismatches", count: reveals.discrepancies.length, none: "0 — every reveal opens its commitment", testId: "audit-reveal-discrepancies" }}
    >
      <Stat label="Reveals" value={reveals.reveals.toString()} testId="audit-reveals-total" />
      <Stat label="Commitments recomputed and matched" value={reveals.matched.toString()} testId="audit-reveals-matched" />
      <Stat label="Revealed directly (no commitment)" value={reveals.direct.toString()} testId="audit-reveals-direct" />
    </CheckPanel>
  );
}

function Discrepancies({ run }: { run: AuditRun }) {
  return (
    <section className="panel">
      <h2>Discrepancies</h2>
      <Table
        testId="discrepancy-list"
        rows={run.discrepancies}
        rowKey={(_, i) => String(i)}
        rowProps={() => ({ className: "differs" })}
        columns={[
          { header: "Source", cell: (d) => d.source },
          { header: "Subject", cell: (d) => d.subject },
          { header: "Field", cell: (d) => d.field },
          { header: "The events say", cell: (d) => d.expected },
          { header: "The other side says", cell: (d) => d.actual },
        ]}
      />
    </section>
  );
}

function Totals({ run, amount }: { run: AuditRun; amount: (x: bigint | undefined) => string }) {
  const v = run.views;
  const rows: [string, bigint, bigint | undefined][] = [
    ["In escrow (market.totalEscrow)", run.state.totalEscrow, v.totalEscrow],
    ["Credited, not withdrawn (market.totalBalances)", run.state.totalBalances, v.totalBalances],
    ["Staked (registry.totalStaked)", run.state.totalStaked, v.totalStaked],
    ["Tokens the market holds (= escrow + balances)", run.state.totalEscrow + run.state.totalBalances, v.marketTokenBalance],
    ["Tokens the registry holds (= stakes)", run.state.totalStaked, v.registryTokenBalance],
  ];
  const differs = ([, events, view]: (typeof rows)[number]) => view !== undefined && view !== events;
  return (
    <section className="panel">
      <h2>Totals</h2>
      <Table
        testId="audit-totals"
        rows={rows}
        rowKey={([label]) => label}
        rowProps={(row) => ({ className: differs(row) ? "differs" : undefined })}
        columns={[
          { header: "", cell: ([label]) => label },
          { header: "From events", cell: ([, events]) => amount(events) },
          {
            header: `Contract at block ${run.block}`,
            cell: (row) => (
              <>
                {amount(row[2])} {differs(row) && <span className="badge warn">differs</span>}
              </>
            ),
          },
        ]}
      />
    </section>
  );
}

function Accounts({ run, amount }: { run: AuditRun; amount: (x: bigint | undefined) => string }) {
  const accounts = useMemo(() => [...new Set<Address>([...run.state.balances.keys(), ...run.state.providers.keys()])].sort(), [run]);
  /** A value from events, with the contract's beside it when they differ. */
  const compared = (header: string, testId: string, values: (account: Address) => [events: bigint | undefined, view: bigint | undefined]): Column<Address> => {
    const differs = ([events, view]: [bigint | undefined, bigint | undefined]) => events !== undefined && view !== undefined && events !== view;
    return {
      header,
      cellProps: (account) => ({ "data-testid": testId, "data-differs": differs(values(account)) ? "yes" : "no" }),
      cell: (account) => {
        const [events, view] = values(account);
        return (
          <>
            {events === undefined ? "—" : amount(events)}
            {differs([events, view]) && (
              <>
                {" "}
                <span className="badge warn">contract: {amount(view)}</span>
              </>
            )}
          </>
        );
      },
    };
  };
  return (
    <section className="panel">
      <h2>Accounts</h2>
      <p className="muted">Balances (Σ Credited − Σ Withdrawn), stakes and locked collateral rebuilt from events; a contract value that differs is shown next to it.</p>
      <Table
        testId="audit-accounts"
        rows={accounts}
        rowKey={(account) => account}
        rowProps={(account) => ({ "data-testid": `account-${account}` })}
        columns={[
          {
            header: "Account",
            cell: (account) => (
              <Link href={`/provider/${account}`} className="mono" title={account}>
                {shortAddress(account)}
              </Link>
            ),
          },
          compared("Market balance", "account-balance", (account) => [run.state.balances.get(account) ?? (run.views.balances.has(account) ? 0n : undefined), run.views.balances.get(account)]),
          compared("Staked", "account-staked", (account) => [run.state.providers.get(account)?.staked, run.views.providers.get(account)?.staked]),
          compared("Locked", "account-locked", (account) => [run.state.providers.get(account)?.locked, run.views.providers.get(account)?.locked]),
          compared("Unbonding", "account-unbonding", (account) => [run.state.providers.get(account)?.unbonding, run.views.providers.get(account)?.unbonding]),
        ]}
      />
    </section>
  );
}

/** One accepted segment of the Audit page: where its result is, and the sdk's accepted result (alternatives included). */
type AcceptedRow = { jobId: bigint; manifestCid: string; index: number; digest: string; resultCid: string; result: AcceptedSegment };

function Accepted({ run }: { run: AuditRun }) {
  const accepted = useMemo(() => {
    const out: AcceptedRow[] = [];
    for (const job of run.state.jobs.values()) {
      for (const seg of [...job.segments.values()].sort((a, b) => a.index - b.index)) {
        if (seg.status === SegmentStatus.Accepted && seg.accepted) {
          out.push({ jobId: job.jobId, manifestCid: job.params.manifestCid, index: seg.index, digest: seg.accepted.digest, resultCid: seg.accepted.resultCid, result: acceptedSegmentOf(seg)! });
        }
      }
    }
    return out;
  }, [run]);
  return (
    <section className="panel">
      <h2>Accepted segments</h2>
      {accepted.length === 0 ? (
        <p className="muted">No segment has been accepted yet.</p>
      ) : (
        <Table
          testId="audit-accepted"
          rows={accepted}
          rowKey={(a) => `${a.jobId}:${a.index}`}
          columns={[
            { header: "Job", cell: (a) => <Link href={`/job/${a.jobId}`}>#{a.jobId.toString()}</Link> },
            { header: "Segment", cell: (a) => a.index },
            hashColumn<AcceptedRow>("Accepted digest", (a) => a.digest, 14),
            hashColumn<AcceptedRow>("Result", (a) => a.resultCid, 12),
            { header: "Check the pixels", cell: (a) => <Verify {...a} /> },
          ]}
        />
      )}
    </section>
  );
}

/** "Verify": the segment's result fetched from the gateway and its pixel digest (and, Tolerant, fingerprint) recomputed by the sdk. */
function Verify(a: AcceptedRow) {
  const rc = useRuntimeConfig();
  const manifest = useManifest(a.manifestCid);
  const [check, setCheck] = useState<SegmentCheck | { ok: false; problem: string }>();
  const [busy, setBusy] = useState(false);
  const id = `${a.jobId}-${a.index}`;
  const verify = async () => {
    if (!manifest.data) return;
    setBusy(true);
    try {
      setCheck(await verifyAcceptedSegment(manifest.data, a.index, a.result, gatewayCat(rc.ipfsGatewayUrl)));
    } catch (e) {
      setCheck({ ok: false, problem: e instanceof Error ? e.message : String(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button className="secondary" onClick={() => void verify()} disabled={busy || !manifest.data} data-testid={`verify-${id}`} title={manifest.error ? `the manifest could not be read: ${manifest.error.message}` : undefined}>
        {busy ? "Verifying…" : "Verify"}
      </button>{" "}
      {check && (
        <span className={check.ok ? "tx-ok" : "tx-error"} data-testid={`verify-result-${id}`}>
          {check.ok ? (a.result.fingerprint === undefined ? "pixels match the accepted digest" : "pixels match the accepted digest and fingerprint") : check.problem}
        </span>
      )}
      {manifest.error && <span className="tx-error">manifest: {manifest.error.message}</span>}
    </>
  );
}

function Events({ run }: { run: AuditRun }) {
  const [input, setInput] = useState({ job: "", provider: "", requester: "", eventName: "" });
  const { filter, problems } = parseEventFilter(input);
  const names = useMemo(() => [...new Set(run.events.map((e) => e.eventName))].sort(), [run]);
  const shown: FoldEvent[] = useMemo(() => filterEvents(run.events, run.state, filter).reverse(), [run, filter.jobId, filter.provider, filter.requester, filter.eventName]); // eslint-disable-line react-hooks/exhaustive-deps
  const field = (key: keyof typeof input, label: string, placeholder: string) => (
    <label className="field">
      {label}
      <input value={input[key]} placeholder={placeholder} onChange={(e) => setInput({ ...input, [key]: e.target.value })} data-testid={`filter-${key}`} />
      {problems[key] && (
        <ul className="problems">
          <li data-testid={`filter-problem-${key}`}>{problems[key]}</li>
        </ul>
      )}
    </label>
  );
  return (
    <section className="panel">
      <h2>Events</h2>
      <div className="row">
        {field("job", "Job", "e.g. 3")}
        {field("provider", "Provider (or account)", "0x…")}
        {field("requester", "Requester", "0x…")}
        <label className="field">
          Type
          <select value={input.eventName} onChange={(e) => setInput({ ...input, eventName: e.target.value })} data-testid="filter-eventName">
            <option value="">every type</option>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p className="muted" data-testid="events-shown">
        {shown.length} of {run.events.length} events{shown.length > EVENTS_SHOWN ? `, the newest ${EVENTS_SHOWN} shown` : ""}
      </p>
      <EventTable
        testId="audit-event-list"
        events={shown.slice(0, EVENTS_SHOWN)}
        rowProps={(e) => ({ "data-testid": "audit-event", "data-event": e.eventName })}
        columns={[eventNameColumn, { header: "Arguments", cell: (e) => describeArgs(e.args), cellProps: () => ({ className: "args" }) }]}
      />
    </section>
  );
}
