"use client";
/**
 * /job/new: pick a scene (file, folder or drop), choose an engine version that registered
 * providers run, set the job's terms; see the segment plan, the cost and every problem inline;
 * then upload the scene and the manifest to IPFS (with progress), approve the escrow, create the
 * job and go to its page. Every rule is the sdk's (see lib/newJob.ts).
 */
import { useRef, useState, type ReactNode } from "react";
import { useRouter } from "next/navigation";
import { useAccount, useConfig, usePublicClient } from "wagmi";
import { signTypedData, simulateContract } from "wagmi/actions";
import { parseSignature } from "viem";
import {
  SCENE_EXTENSIONS,
  DEFAULT_AUDITED_COLLATERAL_MULTIPLE,
  DEFAULT_COLLATERAL_MULTIPLE,
  DEFAULT_VERIFICATION,
  ENGINE_NAMES,
  Verification,
  decodeProtocolEvents,
  encodeManifest,
  estimateJob,
  eventsNamed,
  permitTypedData,
  PERMIT_VALIDITY_SECONDS,
  onChainJobParams,
  validateManifest,
  type EngineName,
  type JobParams,
} from "@tessellate/sdk";
import { jobMarketAbi, renderTokenAbi, useReadMarket, useReadToken } from "../lib/contracts.ts";
import { useEngineOffers } from "../lib/engineOffers.ts";
import { formatAmount, formatBps, formatDuration } from "../lib/format.ts";
import { addBytes, addSceneFolder, type UploadProgress } from "../lib/ipfsUpload.ts";
import { checkNewJob, ENGINE_FORM_SETTINGS, findEntry, hasProblems, manifestDraft, NEW_JOB_DEFAULTS, sceneFilesOf, type FormField, type NewJobForm, type SceneFile } from "../lib/newJob.ts";
import { useRuntimeConfig, useToken } from "../lib/runtime.tsx";
import { useTransaction } from "../lib/useTransaction.ts";
import { SegmentPlan } from "./SegmentPlan.tsx";
import { TxStatus } from "./TxStatus.tsx";

/** Reads every file of a dropped folder (the File System entries API; `webkitGetAsEntry`). */
async function filesOfDrop(items: DataTransferItemList): Promise<SceneFile[]> {
  const out: SceneFile[] = [];
  const entries = [...items].map((item) => item.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  const fileOf = (entry: FileSystemFileEntry) => new Promise<File>((resolve, reject) => entry.file(resolve, reject));
  const readAll = async (dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> => {
    const reader = dir.createReader();
    const all: FileSystemEntry[] = [];
    for (;;) {
      const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
      if (batch.length === 0) return all;
      all.push(...batch);
    }
  };
  const walk = async (entry: FileSystemEntry, prefix: string) => {
    if (entry.isFile) out.push({ path: prefix + entry.name, file: await fileOf(entry as FileSystemFileEntry) });
    else if (entry.isDirectory) for (const child of await readAll(entry as FileSystemDirectoryEntry)) await walk(child, `${prefix}${entry.name}/`);
  };
  if (entries.length === 1 && entries[0]!.isDirectory) {
    // One folder dropped: it is the scene folder (its own name is not part of the CID).
    for (const child of await readAll(entries[0] as FileSystemDirectoryEntry)) await walk(child, "");
  } else {
    for (const entry of entries) await walk(entry, "");
  }
  return out;
}

function Problems({ field, problems }: { field: FormField; problems: Partial<Record<FormField, string[]>> }) {
  const list = problems[field];
  if (!list?.length) return null;
  return (
    <ul className="problems" data-testid={`problem-${field}`}>
      {list.map((p) => (
        <li key={p}>{p}</li>
      ))}
    </ul>
  );
}

function Field(props: { field: keyof NewJobForm; label: ReactNode; form: NewJobForm; set(field: keyof NewJobForm, value: string): void; problems: Partial<Record<FormField, string[]>>; hint?: ReactNode; inputMode?: "numeric" | "decimal" }) {
  return (
    <div className="field">
      <label>
        {props.label}
        <input data-testid={`field-${props.field}`} inputMode={props.inputMode ?? "numeric"} value={props.form[props.field]} onChange={(e) => props.set(props.field, e.target.value)} aria-invalid={props.problems[props.field] ? true : undefined} />
      </label>
      {props.hint && <p className="muted hint" data-testid={`hint-${props.field}`}>{props.hint}</p>}
      <Problems field={props.field} problems={props.problems} />
    </div>
  );
}

type Step =
  | { step: "idle" }
  | { step: "scene"; progress: UploadProgress }
  | { step: "manifest" }
  | { step: "paying" }
  | { step: "signing" }
  | { step: "failed"; message: string };

/** Render-time estimates are rough: "under 1 s" rather than "0 s". */
function roughSeconds(seconds: number): string {
  return seconds < 1 ? "under 1 s" : formatDuration(seconds);
}

function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

export function NewJob() {
  const rc = useRuntimeConfig();
  const router = useRouter();
  const config = useConfig();
  const client = usePublicClient();
  const account = useAccount();
  const { symbol, decimals } = useToken();
  const offers = useEngineOffers();
  const feeBps = useReadMarket({ address: rc.addresses.market, functionName: "feeBps" });
  const minLease = useReadMarket({ address: rc.addresses.market, functionName: "minLease", query: { staleTime: Infinity } });
  const minRevealWindow = useReadMarket({ address: rc.addresses.market, functionName: "minRevealWindow", query: { staleTime: Infinity } });
  const minimums = minLease.data !== undefined && minRevealWindow.data !== undefined ? { minLease: minLease.data, minRevealWindow: minRevealWindow.data } : undefined;
  const me = account.address;
  const balance = useReadToken({ address: rc.addresses.token, functionName: "balanceOf", args: me ? [me] : undefined, query: { enabled: !!me } });
  const allowance = useReadToken({ address: rc.addresses.token, functionName: "allowance", args: me ? [me, rc.addresses.market] : undefined, query: { enabled: !!me } });
  // EIP-2612: a token with `eip712Domain()` and `nonces` takes a permit signature instead of an approve transaction.
  const permitDomain = useReadToken({ address: rc.addresses.token, functionName: "eip712Domain", query: { staleTime: Infinity, retry: false } });
  const permitNonce = useReadToken({ address: rc.addresses.token, functionName: "nonces", args: me ? [me] : undefined, query: { enabled: !!me, retry: false } });
  const canPermit = permitDomain.data !== undefined && permitNonce.data !== undefined;
  const approveTx = useTransaction("Approve escrow");
  const createTx = useTransaction("Create job");

  const [form, setForm] = useState<NewJobForm>(NEW_JOB_DEFAULTS);
  const [files, setFiles] = useState<SceneFile[]>([]);
  const [chosenEntry, setChosenEntry] = useState<string>("");
  const [dragging, setDragging] = useState(false);
  const [step, setStep] = useState<Step>({ step: "idle" });
  const [uploaded, setUploaded] = useState<{ sceneCid: string; manifestCid: string } | undefined>();
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);

  const set = (field: keyof NewJobForm, value: string) => {
    setForm((f) => ({ ...f, [field]: value }));
    setUploaded(undefined);
  };
  const pickFiles = (picked: SceneFile[]) => {
    setFiles(picked);
    setChosenEntry("");
    setUploaded(undefined);
    setStep({ step: "idle" });
  };

  // Engine versions that registered providers advertise, per engine.
  const offered = offers.data?.offers ?? [];
  const versions = offered.filter((o) => o.name === form.engine);
  const providersOf = (engine: string) => new Set(offered.filter((o) => o.name === engine).flatMap((o) => o.providers)).size;
  const engineVersion = form.engineVersion || versions[0]?.version || "";
  const effective: NewJobForm = { ...form, engineVersion };

  // The scene: entry file and size.
  const found = findEntry(files, SCENE_EXTENSIONS[form.engine]);
  const candidates = files.filter((f) => !f.path.includes("/") && SCENE_EXTENSIONS[form.engine].some((ext) => f.path.toLowerCase().endsWith(ext)));
  const entry = chosenEntry && files.some((f) => f.path === chosenEntry) ? chosenEntry : found.entry;
  const sizeBytes = files.reduce((sum, f) => sum + f.file.size, 0);
  const scene = files.length > 0 && entry ? { entry, sizeBytes } : undefined;

  const eligibleProviders = offers.data?.eligibleFor({ engine: form.engine, version: engineVersion, verification: form.verification });
  const check = checkNewJob(effective, scene, { decimals, feeBps: feeBps.data, minimums, eligibleProviders });
  const auditHint = check.audit?.auditDefaulted
    ? check.audit.auditBps > 0
      ? `Empty: the default, ${check.audit.auditBps} (${check.audit.auditBps / 100} %) for this job — ${eligibleProviders ?? "?"} registered providers can take it. 0: no audits.`
      : `Empty: the default, no audits for this job — ${check.audit.reason}.`
    : "A drawn auditor re-renders that share of accepted segments before anyone is paid. Needs quorum = replicas (at most 2) and collateral of at least 2 × the reward. 0: no audits; empty: the default.";
  const collateralHint = check.audit?.collateralDefaulted
    ? `Empty: ${formatAmount(check.audit.collateralPerReplica, decimals, symbol)}, ${check.audit.auditBps > 0 ? `${DEFAULT_AUDITED_COLLATERAL_MULTIPLE} × the reward with audits` : `${DEFAULT_COLLATERAL_MULTIPLE} × the reward without audits`}. A provider that copies or cheats loses it.`
    : `At least the reward; empty: ${DEFAULT_AUDITED_COLLATERAL_MULTIPLE} × the reward with audits, ${DEFAULT_COLLATERAL_MULTIPLE} × without. A provider that copies or cheats loses it.`;
  const problems = { ...check.problems };
  if (files.length > 0 && !entry && found.problem) problems.scene = [found.problem, ...(problems.scene ?? []).filter((p) => !p.startsWith("no scene yet"))];
  if (files.length > 0 && sizeBytes === 0) problems.scene = ["the scene's files are empty — pick the folder holding the scene and everything it includes"];
  const cost = check.cost;
  const funds = cost && balance.data !== undefined && balance.data < cost.escrow ? `your wallet holds ${formatAmount(balance.data, decimals, symbol)}, but the job escrows ${formatAmount(cost.escrow, decimals, symbol)} — get more tokens, or lower the reward, the redundancy or the number of segments` : undefined;
  const estimate = (() => {
    const scores = offers.data?.benchmarkScores ?? [];
    if (!check.manifest || scores.length === 0 || !check.terms) return undefined;
    const sorted = [...scores].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    return { median, ...estimateJob({ manifest: check.manifest, benchmarkScore: median, redundancy: check.terms.redundancy, rewardPerReplica: check.terms.rewardPerReplica }) };
  })();

  const wrongChain = account.chainId !== rc.chainId;
  const busy = step.step === "scene" || step.step === "manifest" || step.step === "paying" || step.step === "signing" || approveTx.busy || createTx.busy;
  const blocked = hasProblems({ problems }) || !!funds || !me || wrongChain;

  async function submit() {
    if (blocked || !check.terms || !cost || !client || !me || !scene) return;
    approveTx.reset();
    createTx.reset();
    const terms = check.terms;
    try {
      let cids = uploaded;
      if (!cids) {
        setStep({ step: "scene", progress: { sent: 0, total: sizeBytes } });
        const sceneCid = await addSceneFolder(rc.ipfsApiUrl, files, (progress) => setStep({ step: "scene", progress }));
        setStep({ step: "manifest" });
        const validated = validateManifest(manifestDraft(effective, scene, sceneCid));
        if (!validated.ok) throw new Error(validated.problems.map((p) => `${p.path.join(".")}: ${p.problem} — ${p.fix}`).join("; "));
        const manifestCid = await addBytes(rc.ipfsApiUrl, encodeManifest(validated.manifest));
        cids = { sceneCid, manifestCid };
        setUploaded(cids);
      }
      setStep({ step: "paying" });
      const needsFunds = (allowance.data ?? 0n) < cost.escrow;
      const usePermit = needsFunds && canPermit;
      if (needsFunds && !usePermit) {
        const approved = await approveTx.run(() =>
          simulateContract(config, { address: rc.addresses.token, abi: renderTokenAbi, account: me, functionName: "approve", args: [rc.addresses.market, cost.escrow] }),
        );
        if (!approved) return setStep({ step: "idle" });
      }
      // The deadline on the chain's clock (or the wall clock when the chain's last block is older), as the CLI does.
      const block = await client.getBlock();
      const wall = BigInt(Math.floor(Date.now() / 1000));
      const clock = block.timestamp > wall ? block.timestamp : wall;
      const params: JobParams = {
        manifestCid: cids.manifestCid,
        segmentCount: cost.segments,
        redundancy: terms.redundancy,
        quorum: terms.quorum,
        rewardPerReplica: terms.rewardPerReplica,
        collateralPerReplica: terms.collateralPerReplica,
        leaseDuration: terms.leaseSeconds,
        revealWindow: terms.revealWindowSeconds,
        deadline: clock + BigInt(terms.deadlineInSeconds),
        minReputation: terms.minReputation,
        // The fee the page showed is the highest this job accepts (createJob reverts if it rose since).
        maxFeeBps: feeBps.data ?? 0,
        verification: terms.verification === "tolerant" ? Verification.Tolerant : Verification.Exact,
        toleranceBps: terms.verification === "tolerant" ? terms.toleranceBps! : 0,
        auditBps: terms.auditBps ?? 0,
      };
      let receipt;
      if (usePermit) {
        // One signature instead of an approve transaction: the permit rides in createJobWithPermit.
        setStep({ step: "signing" });
        const permitDeadline = clock + PERMIT_VALIDITY_SECONDS;
        let signature;
        try {
          signature = await signTypedData(config, {
            account: me,
            ...permitTypedData(permitDomain.data!, { owner: me, spender: rc.addresses.market, value: cost.escrow, nonce: permitNonce.data!, deadline: permitDeadline }),
          });
        } catch (error) {
          const rejected = (error as { name?: string; code?: number }).name === "UserRejectedRequestError" || (error as { code?: number }).code === 4001;
          return setStep(rejected ? { step: "failed", message: "You rejected the permit signature in your wallet; nothing was sent." } : { step: "failed", message: `the permit could not be signed: ${(error as Error).message.split("\n")[0]}` });
        }
        setStep({ step: "paying" });
        const { r, s: sigS, yParity } = parseSignature(signature);
        receipt = await createTx.run(() =>
          simulateContract(config, { address: rc.addresses.market, abi: jobMarketAbi, account: me, functionName: "createJobWithPermit", args: [onChainJobParams(params), permitDeadline, 27 + (yParity ?? 0), r, sigS] }),
        );
      } else {
        receipt = await createTx.run(() => simulateContract(config, { address: rc.addresses.market, abi: jobMarketAbi, account: me, functionName: "createJob", args: [onChainJobParams(params)] }));
      }
      if (!receipt) return setStep({ step: "idle" });
      const [created] = eventsNamed(decodeProtocolEvents(receipt.logs), "JobCreated");
      router.push(`/job/${created!.args.jobId}`);
    } catch (error) {
      setStep({ step: "failed", message: error instanceof Error ? error.message : String(error) });
    }
  }

  const sym = symbol ?? "tokens";
  return (
    <>
      <h1>New job</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <section className="panel">
          <h2>Scene</h2>
          <div
            className={`dropzone${dragging ? " dragging" : ""}`}
            data-testid="scene-drop"
            onDragOver={(e) => {
              e.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={(e) => {
              e.preventDefault();
              setDragging(false);
              void filesOfDrop(e.dataTransfer.items).then(pickFiles);
            }}
          >
            <p>Drop the scene folder (with everything it includes) or a single scene file here, or</p>
            <div className="row">
              <button type="button" className="secondary" onClick={() => folderInput.current?.click()}>
                Choose a folder
              </button>
              <button type="button" className="secondary" onClick={() => fileInput.current?.click()}>
                Choose a file
              </button>
            </div>
            <input ref={fileInput} data-testid="scene-file" type="file" hidden onChange={(e) => pickFiles(sceneFilesOf([...(e.target.files ?? [])]))} />
            <input
              ref={folderInput}
              data-testid="scene-folder"
              type="file"
              hidden
              multiple
              {...({ webkitdirectory: "", directory: "" } as Record<string, string>)}
              onChange={(e) => pickFiles(sceneFilesOf([...(e.target.files ?? [])]))}
            />
            {files.length > 0 && (
              <p data-testid="scene-summary">
                {files.length} file{files.length === 1 ? "" : "s"}, {formatBytes(sizeBytes)}
                {entry ? (
                  <>
                    ; entry <code data-testid="scene-entry">{entry}</code>
                  </>
                ) : null}
              </p>
            )}
            {candidates.length > 1 && (
              <label>
                Entry file
                <select data-testid="field-entry" value={entry ?? ""} onChange={(e) => setChosenEntry(e.target.value)}>
                  <option value="">choose…</option>
                  {candidates.map((c) => (
                    <option key={c.path} value={c.path}>
                      {c.path}
                    </option>
                  ))}
                </select>
              </label>
            )}
          </div>
          <Problems field="scene" problems={problems} />
        </section>

        <section className="panel">
          <h2>Engine</h2>
          <div className="grid">
            <div className="field">
              <label>
                Engine
                <select data-testid="field-engine" value={form.engine} onChange={(e) => setForm((f) => ({ ...f, engine: e.target.value as EngineName, engineVersion: "", verification: DEFAULT_VERIFICATION[e.target.value as EngineName] }))}>
                  {ENGINE_NAMES.map((name) => (
                    <option key={name} value={name}>
                      {name} — {providersOf(name)} provider{providersOf(name) === 1 ? "" : "s"}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            <div className="field">
              <label>
                Version (compared verbatim with what providers run)
                {versions.length > 0 ? (
                  <select data-testid="field-engineVersion" value={engineVersion} onChange={(e) => set("engineVersion", e.target.value)}>
                    {versions.map((v) => (
                      <option key={v.version} value={v.version}>
                        {v.version} — offered by {v.providers.length} provider{v.providers.length === 1 ? "" : "s"}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input data-testid="field-engineVersion" value={form.engineVersion} onChange={(e) => set("engineVersion", e.target.value)} placeholder="e.g. 3.7.0.10" />
                )}
              </label>
              <p className="muted hint" data-testid="engine-offers">
                {offers.isPending
                  ? "Reading what registered providers advertise…"
                  : offers.error
                    ? `Could not read the providers' profiles: ${offers.error.message}`
                    : versions.length === 0
                      ? `No registered provider advertises ${form.engine} (${offers.data?.registered ?? 0} registered): a job for it would wait until its deadline. Type a version only if you know providers will run it.`
                      : `${offers.data!.registered} provider${offers.data!.registered === 1 ? "" : "s"} registered${offers.data!.unreadable.length ? `; ${offers.data!.unreadable.length} profile(s) unreadable` : ""}.`}
              </p>
              <Problems field="engineVersion" problems={problems} />
            </div>
            {ENGINE_FORM_SETTINGS[form.engine].includes("samples") && <Field field="samples" label="Samples per pixel" form={form} set={set} problems={problems} />}
            {ENGINE_FORM_SETTINGS[form.engine].includes("seed") && <Field field="seed" label="Seed" form={form} set={set} problems={problems} />}
            {ENGINE_FORM_SETTINGS[form.engine].includes("maxBounces") && <Field field="maxBounces" label="Max bounces" form={form} set={set} problems={problems} />}
          </div>
        </section>

        <section className="panel">
          <h2>Frame and segments</h2>
          <div className="grid">
            <Field field="width" label="Width (px)" form={form} set={set} problems={problems} />
            <Field field="height" label="Height (px)" form={form} set={set} problems={problems} />
            <Field field="frameStart" label="First frame" form={form} set={set} problems={problems} />
            <Field field="frameEnd" label="Last frame (inclusive)" form={form} set={set} problems={problems} />
            <Field field="tilesX" label="Tiles across" form={form} set={set} problems={problems} />
            <Field field="tilesY" label="Tiles down" form={form} set={set} problems={problems} />
            <Field field="framesPerSegment" label="Frames per segment" form={form} set={set} problems={problems} />
          </div>
          {check.manifest ? <SegmentPlan plan={check.manifest} /> : <p className="muted">The plan is drawn once size, frames and tiles are valid.</p>}
        </section>

        <section className="panel">
          <h2>Verification and terms</h2>
          <div className="grid">
            <div className="field">
              <label>
                Verification
                <select data-testid="field-verification" value={form.verification} onChange={(e) => set("verification", e.target.value)}>
                  <option value="exact">exact — replicas must agree on every pixel</option>
                  <option value="tolerant">tolerant — image fingerprints agree within the tolerance (Blender's default)</option>
                </select>
              </label>
              <Problems field="verification" problems={problems} />
            </div>
            {form.verification === "tolerant" ? (
              <Field field="tolerance" label="Tolerance (parts of 10,000 of the compared blocks that may differ)" inputMode="numeric" form={form} set={set} problems={problems} hint="2500 accepts honest renders from different CPUs and refuses cheaper ones (docs/tolerant.md)." />
            ) : (
              <Field field="audit" label="Audit rate (parts of 10,000 of accepted segments)" inputMode="numeric" form={form} set={set} problems={problems} hint={auditHint} />
            )}
            <Field field="redundancy" label="Replicas per segment" form={form} set={set} problems={problems} hint="Each replica is rendered by a different provider." />
            <Field field="quorum" label="Quorum (equal digests to accept)" form={form} set={set} problems={problems} />
            <Field field="reward" label={`Reward per replica (${sym})`} inputMode="decimal" form={form} set={set} problems={problems} />
            <Field field="collateral" label={`Collateral per replica (${sym})`} inputMode="decimal" form={form} set={set} problems={problems} hint={collateralHint} />
            <Field field="leaseSeconds" label="Lease (s, claim → commit)" form={form} set={set} problems={problems} hint={minimums ? `This market's minimum: ${formatDuration(minimums.minLease)}.` : undefined} />
            <Field field="revealWindowSeconds" label="Reveal window (s)" form={form} set={set} problems={problems} hint={minimums ? `This market's minimum: ${formatDuration(minimums.minRevealWindow)}.` : undefined} />
            <Field field="deadlineHours" label="Deadline (hours from now)" inputMode="decimal" form={form} set={set} problems={problems} />
            <Field field="minReputation" label="Minimum reputation (0–10000)" form={form} set={set} problems={problems} />
          </div>
        </section>

        <section className="panel">
          <h2>Cost</h2>
          {cost ? (
            <dl className="stats" data-testid="cost">
              <div>
                <dt>Escrow (paid now)</dt>
                <dd data-testid="cost-escrow">{formatAmount(cost.escrow, decimals, symbol)}</dd>
              </div>
              <div>
                <dt>Rewards</dt>
                <dd data-testid="cost-rewards">{formatAmount(cost.rewards, decimals, symbol)}</dd>
              </div>
              <div>
                <dt>Fee ({formatBps(feeBps.data)})</dt>
                <dd data-testid="cost-fees">{formatAmount(cost.fees, decimals, symbol)}</dd>
              </div>
              <div>
                <dt>Replicas</dt>
                <dd>
                  {cost.segments} × {check.terms?.redundancy ?? form.redundancy} = {cost.replicas.toString()}
                </dd>
              </div>
            </dl>
          ) : (
            <p className="muted">The cost is shown once the plan, redundancy and reward are valid.</p>
          )}
          {cost && (
            <p className="muted" data-testid="cost-refundable">
              Refundable: all of the escrow that is not paid out. The fee is charged only on rewards actually paid; segments that fail or are closed
              (cancelled, past the deadline) are refunded whole, and so is the budget of replicas that lose a tie-breaker. Withdraw refunds from the job page.
            </p>
          )}
          {estimate && (
            <p className="muted" data-testid="estimate">
              Estimate (not a quote): ~{roughSeconds(estimate.secondsPerSegment)} per segment, ~{roughSeconds(estimate.totalRenderSeconds)} of rendering for all
              replicas, at the providers&apos; median benchmark {estimate.median}.
            </p>
          )}
          {funds && (
            <p className="tx tx-error" data-testid="problem-funds">
              {funds}
            </p>
          )}
        </section>

        <section className="panel">
          {!me && <p className="tx tx-error">Connect a wallet (top right) to post the job.</p>}
          {me && wrongChain && <p className="tx tx-error">Your wallet is on another network: switch it (top right) to post.</p>}
          {hasProblems({ problems }) && <p className="tx tx-error" data-testid="form-invalid">Fix the fields marked above; nothing is uploaded or sent until then.</p>}
          <button type="submit" data-testid="submit-job" disabled={blocked || busy}>
            {cost && (allowance.data ?? 0n) < cost.escrow ? (canPermit ? "Upload, sign a permit and post" : "Upload, approve and post") : "Upload and post"}
          </button>
          {step.step === "scene" && (
            <p className="tx tx-busy" data-testid="upload-progress">
              Uploading the scene: {formatBytes(step.progress.sent)} of {formatBytes(step.progress.total)}
              <progress value={step.progress.sent} max={step.progress.total || 1} />
            </p>
          )}
          {step.step === "manifest" && <p className="tx tx-busy">Uploading the manifest…</p>}
          {uploaded && (
            <p className="tx tx-ok" data-testid="uploaded">
              Scene <code data-testid="scene-cid">{uploaded.sceneCid}</code>, manifest <code data-testid="manifest-cid">{uploaded.manifestCid}</code>
            </p>
          )}
          {step.step === "failed" && (
            <p className="tx tx-error" role="alert" data-testid="submit-error">
              {step.message}
            </p>
          )}
          {step.step === "signing" && (
            <p className="tx" data-testid="permit-status">
              Sign the permit for {cost ? formatAmount(cost.escrow, decimals, symbol) : "the escrow"} in your wallet (a signature, not a transaction).
            </p>
          )}
          <TxStatus label={approveTx.label} phase={approveTx.phase} />
          <TxStatus label={createTx.label} phase={createTx.phase} />
        </section>
      </form>
    </>
  );
}
