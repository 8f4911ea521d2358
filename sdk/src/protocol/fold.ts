/**
 * THE event fold of the protocol: events in, state out, no I/O, browser-safe. Every reader of the
 * chain (the CLI's audit, wait, cancel, fetch and status, the provider's projection, the dApp)
 * builds its jobs, segments, replicas, balances, stakes and reputations with it.
 *
 * This is what an auditor trusts: every job's escrow (`JobCreated.escrow` minus the escrow-funded
 * `Credited` kinds Reward, Fee and Refund), every internal balance (Σ Credited − Σ Withdrawn),
 * every stake (Staked − StakeWithdrawn − StakeSlashed), locked collateral (CollateralLocked −
 * CollateralUnlocked − StakeSlashed), every segment's and replica slot's state, and reputation
 * counters. `compare.ts` then holds this against the contracts' views.
 *
 * The fold mirrors JobMarket's transitions one event at a time. Two things need care:
 * - `ReplicaExpired` reopens the slot when `expire` is called on an open segment, but settles it
 *   when `closeSegments` expires it (the segment closes in the same transaction). Events are
 *   therefore applied one transaction at a time, with the transaction's `SegmentClosed` events
 *   known in advance.
 * - Acceptance: `SegmentAccepted` names the accepted result's replica and the bitmask of the
 *   replicas that agree with it (Exact: equal digests; Tolerant: fingerprints within the job's
 *   tolerance, compared on-chain, never re-decided here); those are settled and paid, the other
 *   revealed ones are settled by their `ReplicaRejected`. A replica revealing after acceptance is
 *   paid unless a `ReplicaRejected` for it follows in the same transaction. Events of earlier
 *   contract versions (`SegmentAccepted` with digest and CID, `ReplicaAccepted`) are read too.
 * - Every revealed replica's digest, result CID and fingerprint come from `ReplicasRevealed`, so
 *   every agreeing replica's result is known (see `acceptedCandidates` in views.ts): whoever
 *   completed the quorum does not choose the accepted result.
 * - Claims, commits and reveals arrive batched (`ReplicasClaimed`, `ReplicasCommitted`,
 *   `RevealsOpened`, `ReplicasRevealed`, slots packed as `segment << 8 | replica`); the
 *   per-replica events of earlier contract versions are read too.
 * - Once a segment is settled and none of its replicas can still reveal, the contract clears its
 *   replica slots (`replicaOf` reads Empty, `acceptedSeal` zero). The records here keep the
 *   replicas' history (who held what, how it ended) and mark the segment `cleared`; the views the
 *   contract should report are derived in views.ts.
 * - Commitments are not in the events (only in calldata): a replica still Committed has an
 *   unknown seal unless the caller fills `commitment` in (see `applyCommitments`).
 *
 * With `checks` on (the default), events that contradict the state built so far (a commit to an
 * empty slot, more escrow paid out than was escrowed, a `staked` total that does not add up…) are
 * recorded as anomalies and the fold goes on, so one report lists everything. Readers that trust
 * their RPC and only want the state (the provider node) turn them off.
 */
import { getAddress, keccak256, type Address, type Hex } from "viem";
import { CreditKindNames, JobStatus as JOB_STATUS, JobStatusNames, ReplicaState as REPLICA_STATE, ReplicaStateNames, SegmentStatus as SEGMENT_STATUS, SegmentStatusNames, Verification, jobMarketConstants } from "../contracts.generated.ts";
import type { JobParamsOnChain } from "../market.ts";
import { linkZero } from "./digestChain.ts";
import { sortEvents } from "./events.ts";
import { isInPlay, isSegmentDone } from "./predicates.ts";
import { jobEscrow, sealOf, unitPrice, unitsPerSegment } from "./price.ts";
import { countsAsAbandoned, earnsCredit, reputationScore, type ReputationCounters } from "./reputation.ts";
import { unpackSlot } from "./slots.ts";

export type CreditKindName = (typeof CreditKindNames)[number];
/** Kinds paid out of a job's escrow (the others come from seized collateral). */
export const ESCROW_FUNDED_KINDS: ReadonlySet<CreditKindName> = new Set(["Reward", "Fee", "Refund", "RefusalFee"]);

export const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000" as Address;
/** An empty seal (bytes20 zero), as `replicaOf` and `segmentOf` report it. */
export const ZERO_SEAL = "0x0000000000000000000000000000000000000000" as Hex;

// ---------------------------------------------------------------------------------- input

/** One decoded protocol event with its position, as the sdk's `decodeProtocolEvents` gives it (or built by hand in tests). */
export interface FoldEvent {
  eventName: string;
  args: object;
  blockNumber: bigint;
  logIndex: number;
  transactionHash: Hex;
}

// ---------------------------------------------------------------------------------- output

/** One replica slot, as the events say it is. */
export interface ReplicaRecord {
  /** Holder; the zero address while the slot is empty (as `replicaOf` reports it). */
  provider: Address;
  /** IJobMarket.ReplicaState. */
  state: number;
  leaseEnd: bigint;
  /** First 160 bits of the commitment while committed (undefined while the commitment is unknown), of the digest once revealed. */
  seal?: Hex;
  commitment?: Hex;
  /** Transaction of the commit (its calldata holds the commitment). */
  commitTx?: Hex;
  digest?: Hex;
  resultCid?: string;
  /** Tolerant jobs: the 256-byte fingerprint the replica revealed. */
  fingerprint?: Hex;
  /** Furthest step the current holder reached: 1 claimed, 2 committed, 3 revealed (0 when empty). */
  stage: number;
  /** Blind round the replica revealed in (digestChain.ts); set with the reveal. */
  revealRound?: number;
  /** How a settled replica ended. */
  verdict?: "accepted" | "rejected" | "expired" | "released";
}

/** One segment, as the events say it is. */
export interface SegmentRecord {
  index: number;
  /** IJobMarket.SegmentStatus. */
  status: number;
  /** Replica slots opened (redundancy + tie-breakers); 0 while no claim ever touched the segment. */
  slots: number;
  assigned: number;
  committed: number;
  revealed: number;
  tieBreakers: number;
  /** Blind round (digestChain.ts, `BlindRoundOpened`): the link of its digest chain a reveal now carries. */
  round: number;
  revealDeadline: bigint;
  /**
   * The accepted result: its replica (the lowest-numbered one with the highest support, chosen by
   * the contract), that replica's digest, result CID, fingerprint (Tolerant) and seal, and the
   * replicas that agreed with it at acceptance (`agreeing`, slot numbers; late agreeing reveals
   * show as replicas with verdict "accepted"). `replica` is -1 for events of earlier contract
   * versions, which named only a digest and a CID.
   */
  accepted?: { replica: number; digest: Hex; resultCid: string; seal: Hex; fingerprint?: Hex; agreeing: number[]; blockNumber: bigint };
  /** The contract has cleared the replica slots (settled, and no replica can still reveal). */
  cleared: boolean;
  /** Replica records: the current holders, and after settlement how each replica ended. */
  replicas: ReplicaRecord[];
  /** Every slot given back with `abandon`, oldest first: who, why (IJobMarket.AbandonReason) and in what words. */
  givenBack: GiveBackRecord[];
}

/** One `ReplicaAbandoned`: a provider gave a claimed slot back, saying why. */
export interface GiveBackRecord {
  provider: Address;
  replica: number;
  /** IJobMarket.AbandonReason. */
  reason: number;
  detail: string;
  /** Collateral the give-back forfeited to the requester (0 from contracts before the forfeit). */
  forfeited: bigint;
  /** Lease end of the claim given back: the provider may not claim the segment again until it plus one lease. */
  leaseEnd: bigint;
  blockNumber: bigint;
}

/**
 * One claim request (`ClaimRequested`) waiting to resolve: the contract draws its slots from the
 * hash of `seedBlock` in a later block and resolves a job's tickets first-in first-out.
 */
export interface TicketRecord {
  provider: Address;
  count: number;
  seedBlock: bigint;
  requestTx: Hex;
  /** Slots assigned so far (`ReplicasClaimed`); the rest lapse (`ClaimLapsed`). */
  filled: number;
}

/** A job's parameters as its JobCreated event carries them (verification Exact, tolerance 0 for earlier contract versions). */
export type JobParamsRecord = JobParamsOnChain;

/** One job, as the events say it is. */
export interface JobRecord {
  jobId: bigint;
  requester: Address;
  params: JobParamsRecord;
  feeBps: number;
  /** Escrow pulled at creation. */
  escrowCreated: bigint;
  /** Escrow left: created minus the Reward, Fee and Refund credits of this job. */
  escrow: bigint;
  /** IJobMarket.JobStatus. */
  status: number;
  segmentsTouched: number;
  /** Segments any event mentioned; the others are untouched (see {@link segmentOf}). */
  segments: Map<number, SegmentRecord>;
  /** Credits made from this job, by kind. */
  credits: Record<CreditKindName, bigint>;
  /** Credits to the requester, by kind (refunds, compensation). */
  creditsToRequester: Record<CreditKindName, bigint>;
  /** Refund paid by `cancelJob`, when cancelled. */
  cancelRefund?: bigint;
  outputCids: string[];
  /** Claim requests not resolved yet, oldest first (the contract's claim queue). */
  tickets: TicketRecord[];
  /** Whether the job ever saw a ClaimRequested (a contract with claim tickets). */
  ticketed?: boolean;
  /** Slots of this job's tickets that lapsed unfilled, and the collateral their lapses forfeited. */
  lapsedSlots: number;
  lapseForfeited: bigint;
  createdBlock: bigint;
  createdTx: Hex;
  /** Block of the last event of this job. */
  lastBlock: bigint;
}

/** One provider, as the registry's and the market's events say it is. */
export interface ProviderRecord {
  address: Address;
  registered: boolean;
  profileCid?: string;
  staked: bigint;
  locked: bigint;
  unbonding: bigint;
  unbondingReadyAt: bigint;
  /** Counters and score as the last `ReputationUpdated` reported them. */
  reputation: ReputationCounters & { score: number };
  /** Counters counted from the market's replica events (accepted, rejected, expired, abandoned). */
  derived: ReputationCounters;
}

/** An event that contradicts the state built from the events before it. */
export interface Anomaly {
  subject: string;
  problem: string;
  blockNumber: bigint;
  transactionHash: Hex;
}

export interface ProtocolState {
  jobs: Map<bigint, JobRecord>;
  /** Internal market balances: Σ Credited − Σ Withdrawn per account. */
  balances: Map<Address, bigint>;
  providers: Map<Address, ProviderRecord>;
  totalEscrow: bigint;
  totalBalances: bigint;
  totalStaked: bigint;
  feeBps?: number;
  /** A fee scheduled (FeeScheduled) and not yet applied: `applyFee` makes it `feeBps` from `effectiveAt`. */
  pendingFee?: { feeBps: number; effectiveAt: bigint };
  treasury?: Address;
  /** The market's `minCreditReward` (CreditRuleSet at deployment): accepted replicas below it earn no reputation. */
  minCreditReward?: bigint;
  anomalies: Anomaly[];
  eventCount: number;
  firstBlock?: bigint;
  lastBlock?: bigint;
}

// ---------------------------------------------------------------------------------- helpers

/**
 * Fills in commitments learnt elsewhere (a commit transaction's calldata) for replicas still
 * Committed whose seal the events could not give. Keys are `jobId:segment:replica`.
 */
export function applyCommitments(state: ProtocolState, commitments: ReadonlyMap<string, Hex>): number {
  let filled = 0;
  for (const job of state.jobs.values()) {
    for (const seg of job.segments.values()) {
      seg.replicas.forEach((rep, k) => {
        const commitment = commitments.get(`${job.jobId}:${seg.index}:${k}`);
        if (commitment && rep.state === REPLICA_STATE.Committed && rep.commitment === undefined) {
          rep.commitment = commitment;
          rep.seal = sealOf(commitment);
          filled++;
        }
      });
    }
  }
  return filled;
}

/** A segment of a job: the record the events built, or an untouched one. */
export function segmentOf(job: JobRecord, index: number): SegmentRecord {
  return job.segments.get(index) ?? emptySegment(index);
}

export { isSegmentDone };

function emptySegment(index: number): SegmentRecord {
  return { index, status: SEGMENT_STATUS.Open, slots: 0, assigned: 0, committed: 0, revealed: 0, tieBreakers: 0, round: 0, revealDeadline: 0n, cleared: false, replicas: [], givenBack: [] };
}

function emptyReplica(): ReplicaRecord {
  return { provider: ZERO_ADDRESS, state: REPLICA_STATE.Empty, leaseEnd: 0n, seal: ZERO_SEAL, stage: 0 };
}

function zeroCredits(): Record<CreditKindName, bigint> {
  return Object.fromEntries(CreditKindNames.map((k) => [k, 0n])) as Record<CreditKindName, bigint>;
}

export function emptyState(): ProtocolState {
  return {
    jobs: new Map(),
    balances: new Map(),
    providers: new Map(),
    totalEscrow: 0n,
    totalBalances: 0n,
    totalStaked: 0n,
    anomalies: [],
    eventCount: 0,
  };
}

// ---------------------------------------------------------------------------------- the fold

export interface FoldOptions {
  /** Record events that contradict the state built so far as `anomalies` (default true). */
  checks?: boolean;
}

/** Folds a complete list of events (any order: they are sorted into chain order) into a new state. */
export function foldEvents(events: readonly FoldEvent[], options: FoldOptions = {}): ProtocolState {
  const fold = createFold(emptyState(), options);
  fold.apply(events);
  return fold.state;
}

/**
 * An incremental fold: `apply` batches of events in chain order (a batch must hold whole
 * transactions, which whole block ranges always do). `onTransaction`, when given, sees the
 * segments each transaction touched, after the transaction was applied.
 */
export function createFold(state: ProtocolState = emptyState(), options: FoldOptions & { onTransaction?: (touched: ReadonlySet<SegmentRecord>, txEvents: readonly FoldEvent[]) => void } = {}) {
  const checks = options.checks ?? true;
  return {
    state,
    apply(events: readonly FoldEvent[]): void {
      const ordered = sortEvents([...events]);
      let i = 0;
      while (i < ordered.length) {
        let j = i + 1;
        while (j < ordered.length && ordered[j].transactionHash === ordered[i].transactionHash) j++;
        const txEvents = ordered.slice(i, j);
        const touched = applyTransaction(state, txEvents, checks);
        options.onTransaction?.(touched, txEvents);
        i = j;
      }
    },
  };
}

/** Args of the protocol's events (see IJobMarket / IProviderRegistry). */
type A = Record<string, unknown>;

function applyTransaction(state: ProtocolState, txEvents: FoldEvent[], checks: boolean): Set<SegmentRecord> {
  const closedHere = new Set<string>();
  for (const e of txEvents) {
    // A segment closed here (SegmentClosed), or an audit closed by closeSegments (its accepted
    // result stands: SegmentAccepted in the same transaction as its auditors' ReplicaExpired),
    // reopens none of its slots.
    if (e.eventName === "SegmentClosed" || e.eventName === "SegmentAccepted") {
      const a = e.args as A;
      closedHere.add(`${a.jobId}:${a.segment}`);
    }
  }
  const touched = new Set<SegmentRecord>();
  const late = new Map<ReplicaRecord, JobRecord>();
  for (const e of txEvents) applyEvent(state, e, closedHere, touched, late, checks);
  // A replica that revealed into an accepted segment and was not rejected in the same transaction
  // agreed with the accepted result and was paid (JobMarket settles every late reveal at once).
  for (const [rep, job] of late) {
    if (rep.state !== REPLICA_STATE.Revealed) continue;
    rep.state = REPLICA_STATE.Settled;
    rep.verdict = "accepted";
    if (earnsCredit(job, rep.provider, state.minCreditReward ?? 0n)) {
      const p = state.providers.get(rep.provider);
      if (p) p.derived.accepted++;
      else state.providers.set(rep.provider, newProvider(rep.provider, 1));
    }
  }
  // The contract clears a settled segment's slots in the same transaction once none can still reveal.
  for (const seg of touched) {
    const settled = !inPlayOrVerifying(seg.status); // accepted, failed or closed (an audit keeps its replicas)
    if (settled && !seg.replicas.some((r) => r.state === REPLICA_STATE.Committed)) seg.cleared = true;
  }
  return touched;
}

function applyEvent(state: ProtocolState, e: FoldEvent, closedHere: ReadonlySet<string>, touched: Set<SegmentRecord>, late: Map<ReplicaRecord, JobRecord>, checks: boolean): void {
  state.eventCount++;
  if (state.firstBlock === undefined || e.blockNumber < state.firstBlock) state.firstBlock = e.blockNumber;
  if (state.lastBlock === undefined || e.blockNumber > state.lastBlock) state.lastBlock = e.blockNumber;
  const a = e.args as A;
  const anomaly = (subject: string, problem: string) => {
    if (checks) state.anomalies.push({ subject, problem, blockNumber: e.blockNumber, transactionHash: e.transactionHash });
  };

  // ------------------------------------------------------------ lookups
  const jobOf = (): JobRecord | undefined => {
    const jobId = BigInt(a.jobId as bigint);
    const job = state.jobs.get(jobId);
    if (!job) anomaly(`job ${jobId}`, `${e.eventName} for a job no JobCreated event created`);
    else if (e.blockNumber > job.lastBlock) job.lastBlock = e.blockNumber;
    return job;
  };
  const segmentIn = (job: JobRecord, at: unknown = a.segment): SegmentRecord => {
    const index = Number(at);
    let seg = job.segments.get(index);
    if (!seg) {
      seg = emptySegment(index);
      job.segments.set(index, seg);
    }
    if (index >= job.params.segmentCount) anomaly(`job ${job.jobId} segment ${index}`, `${e.eventName} for a segment beyond the job's ${job.params.segmentCount}`);
    touched.add(seg);
    return seg;
  };
  const replicaIn = (job: JobRecord, seg: SegmentRecord, k: number = Number(a.replica)): ReplicaRecord => {
    while (seg.replicas.length <= k) seg.replicas.push(emptyReplica());
    const rep = seg.replicas[k];
    const provider = a.provider === undefined ? undefined : getAddress(a.provider as string);
    if (provider && rep.state !== REPLICA_STATE.Empty && rep.provider !== provider && e.eventName !== "ReplicaClaimed") {
      anomaly(replicaSubject(job, seg, k), `${e.eventName} names provider ${provider}, but the slot is held by ${rep.provider}`);
    }
    return rep;
  };
  const provider = (address: unknown): ProviderRecord => {
    const key = getAddress(address as string);
    let p = state.providers.get(key);
    if (!p) {
      p = newProvider(key, 0);
      state.providers.set(key, p);
    }
    return p;
  };
  const expectState = (job: JobRecord, seg: SegmentRecord, k: number, rep: ReplicaRecord, allowed: number[]) => {
    if (!allowed.includes(rep.state)) {
      anomaly(replicaSubject(job, seg, k), `${e.eventName} on a slot that is ${ReplicaStateNames[rep.state]} (expected ${allowed.map((s) => ReplicaStateNames[s]).join(" or ")})`);
    }
  };
  const settleAccepted = (job: JobRecord, rep: ReplicaRecord) => {
    rep.state = REPLICA_STATE.Settled;
    rep.verdict = "accepted";
    if (earnsCredit(job, rep.provider, state.minCreditReward ?? 0n)) provider(rep.provider).derived.accepted++;
  };
  const reopen = (seg: SegmentRecord, k: number, wasCommitted: boolean) => {
    seg.replicas[k] = emptyReplica();
    seg.assigned--;
    if (wasCommitted) {
      seg.committed--;
      seg.revealDeadline = 0n;
    }
  };

  const claimSlot = (job: JobRecord, seg: SegmentRecord, k: number, who: unknown, leaseEnd: bigint) => {
    if (seg.slots === 0) {
      seg.slots = job.params.redundancy;
      job.segmentsTouched++;
    }
    if (!isInPlay(seg.status)) anomaly(segmentSubject(job, seg), `claimed while ${SegmentStatusNames[seg.status]}`);
    if (k >= seg.slots) anomaly(replicaSubject(job, seg, k), `claimed slot ${k} of a segment with ${seg.slots} slots`);
    const rep = replicaIn(job, seg, k);
    expectState(job, seg, k, rep, [REPLICA_STATE.Empty]);
    const holder = getAddress(who as string);
    if (seg.replicas.some((r, i) => i !== k && r.state !== REPLICA_STATE.Empty && r.provider === holder)) {
      anomaly(replicaSubject(job, seg, k), `${holder} was given a second replica of one segment`);
    }
    seg.replicas[k] = { provider: holder, state: REPLICA_STATE.Claimed, leaseEnd, seal: ZERO_SEAL, stage: 1 };
    seg.assigned++;
  };
  const commitSlot = (job: JobRecord, seg: SegmentRecord, k: number, commitment: Hex | undefined) => {
    const rep = replicaIn(job, seg, k);
    expectState(job, seg, k, rep, [REPLICA_STATE.Claimed]);
    rep.state = REPLICA_STATE.Committed;
    rep.commitment = commitment;
    rep.commitTx = e.transactionHash;
    rep.seal = commitment === undefined ? undefined : sealOf(commitment);
    rep.stage = 2;
    seg.committed++;
  };
  const openReveal = (job: JobRecord, seg: SegmentRecord, revealDeadline: bigint) => {
    if (seg.committed !== seg.slots) anomaly(segmentSubject(job, seg), `reveal opened with ${seg.committed} of ${seg.slots} slots committed`);
    seg.revealDeadline = revealDeadline;
  };
  const revealSlot = (job: JobRecord, seg: SegmentRecord, k: number, digest: Hex, resultCid: string | undefined, fingerprint: Hex | undefined) => {
    const rep = replicaIn(job, seg, k);
    if (rep.state === REPLICA_STATE.Claimed) {
      // Direct reveal (JobMarket._revealOne): every other slot is sealed, so the replica reveals
      // without a commitment; this counts as its commit, and the window it opens for the others
      // arrives as RevealsOpened at the end of the same transaction.
      if (seg.committed + 1 !== seg.slots) {
        anomaly(replicaSubject(job, seg, k), `revealed without a commitment while ${seg.slots - seg.committed - 1} other slot(s) were unsealed`);
      }
      seg.committed = seg.slots;
    } else {
      expectState(job, seg, k, rep, [REPLICA_STATE.Committed]);
      if (seg.revealDeadline === 0n) anomaly(replicaSubject(job, seg, k), "revealed while the reveal window was not open");
    }
    rep.state = REPLICA_STATE.Revealed;
    rep.digest = digest;
    const tolerant = job.params.verification === Verification.Tolerant;
    if (tolerant && (fingerprint === undefined || fingerprint.length !== 2 + 2 * 256)) {
      anomaly(replicaSubject(job, seg, k), `revealed a fingerprint of ${fingerprint === undefined ? "no" : (fingerprint.length - 2) / 2} bytes in a Tolerant job (256 expected)`);
    }
    // Exact: the market compares link 0 of the digest chain, whatever round the link came from.
    rep.seal = tolerant && fingerprint !== undefined ? sealOf(keccak256(fingerprint)) : sealOf(linkZero(digest, seg.round));
    rep.revealRound = seg.round;
    if (resultCid !== undefined) rep.resultCid = resultCid;
    if (tolerant && fingerprint !== undefined) rep.fingerprint = fingerprint;
    rep.stage = 3;
    seg.revealed++;
    // A reveal into an accepted segment (a late one) is settled at the end of its transaction.
    if (seg.status === SEGMENT_STATUS.Accepted) late.set(rep, job);
  };

  /** The ticket a ReplicasClaimed / ClaimLapsed resolves: the oldest waiting one (FIFO), which must be the provider's. */
  const resolvingTicket = (job: JobRecord, provider: Address): TicketRecord | undefined => {
    const head = job.tickets[0];
    if (!head) {
      // Contracts before claim tickets assigned slots at once (no ClaimRequested ever in the job).
      if (job.ticketed) anomaly(`job ${job.jobId}`, `slots were resolved for ${provider} with no claim request waiting`);
      return undefined;
    }
    if (head.provider !== getAddress(provider)) {
      anomaly(`job ${job.jobId}`, `the oldest waiting ticket is ${head.provider}'s, but ${provider}'s resolved first`);
      return undefined;
    }
    return head;
  };

  switch (e.eventName) {
    // ============================================================ market: jobs
    case "JobCreated": {
      const jobId = BigInt(a.jobId as bigint);
      if (state.jobs.has(jobId)) {
        anomaly(`job ${jobId}`, "created twice");
        return;
      }
      const p = a.params as A;
      const params: JobParamsRecord = {
        manifestCid: String(p.manifestCid),
        segmentCount: Number(p.segmentCount),
        redundancy: Number(p.redundancy),
        quorum: Number(p.quorum),
        rewardPerReplica: BigInt(p.rewardPerReplica as bigint),
        collateralPerReplica: BigInt(p.collateralPerReplica as bigint),
        leaseDuration: Number(p.leaseDuration),
        revealWindow: Number(p.revealWindow),
        deadline: BigInt(p.deadline as bigint),
        minReputation: Number(p.minReputation),
        maxFeeBps: Number(p.maxFeeBps),
        verification: Number(p.verification ?? Verification.Exact),
        toleranceBps: Number(p.toleranceBps ?? 0),
        auditBps: Number(p.auditBps ?? 0),
      };
      const feeBps = Number(a.feeBps);
      const escrow = BigInt(a.escrow as bigint);
      const expected = jobEscrow(params, feeBps);
      if (escrow !== expected) anomaly(`job ${jobId}`, `escrowed ${escrow}, but segments × units per segment × (reward + fee) is ${expected}`);
      state.jobs.set(jobId, {
        jobId,
        requester: getAddress(a.requester as string),
        params,
        feeBps,
        escrowCreated: escrow,
        escrow,
        status: JOB_STATUS.Open,
        segmentsTouched: 0,
        segments: new Map(),
        credits: zeroCredits(),
        creditsToRequester: zeroCredits(),
        outputCids: [],
        tickets: [],
        lapsedSlots: 0,
        lapseForfeited: 0n,
        createdBlock: e.blockNumber,
        createdTx: e.transactionHash,
        lastBlock: e.blockNumber,
      });
      state.totalEscrow += escrow;
      return;
    }
    case "JobCancelled": {
      const job = jobOf();
      if (!job) return;
      if (job.status !== JOB_STATUS.Open) anomaly(`job ${job.jobId}`, "cancelled while not open");
      job.status = JOB_STATUS.Cancelled;
      job.cancelRefund = BigInt(a.refunded as bigint);
      const untouched = BigInt(job.params.segmentCount - job.segmentsTouched);
      const expected = untouched * BigInt(unitsPerSegment(job.params)) * unitPrice(job.params.rewardPerReplica, job.feeBps);
      if (job.cancelRefund !== expected) anomaly(`job ${job.jobId}`, `cancellation refunded ${job.cancelRefund}, but its ${untouched} untouched segments are worth ${expected}`);
      return;
    }
    case "OutputRecorded": {
      const job = jobOf();
      if (job) job.outputCids.push(String(a.outputCid));
      return;
    }

    // ============================================================ market: claim tickets
    case "ClaimRequested": {
      const job = jobOf();
      if (!job) return;
      if (job.status !== JOB_STATUS.Open) anomaly(`job ${job.jobId}`, "a claim was requested while the job was not open");
      if (BigInt(a.seedBlock as bigint) !== e.blockNumber) anomaly(`job ${job.jobId}`, `a ticket seeded by block ${a.seedBlock} was requested in block ${e.blockNumber}`);
      if (e.blockNumber === job.createdBlock) anomaly(`job ${job.jobId}`, "a claim was requested in the job's creation block");
      job.ticketed = true;
      job.tickets.push({ provider: getAddress(a.provider as string), count: Number(a.count), seedBlock: BigInt(a.seedBlock as bigint), requestTx: e.transactionHash, filled: 0 });
      return;
    }
    case "ClaimLapsed": {
      const job = jobOf();
      if (!job) return;
      const ticket = resolvingTicket(job, a.provider as Address);
      if (!ticket) return;
      const unfilled = Number(a.unfilled);
      const forfeited = BigInt(a.forfeited as bigint);
      if (ticket.filled + unfilled !== ticket.count) anomaly(`job ${job.jobId}`, `a ticket of ${ticket.count} slots filled ${ticket.filled} and lapsed ${unfilled}`);
      const most = (BigInt(unfilled) * job.params.collateralPerReplica * BigInt(jobMarketConstants.LAPSE_FORFEIT_BPS)) / 10_000n;
      if (forfeited !== 0n && forfeited !== most) anomaly(`job ${job.jobId}`, `a lapsed ticket forfeited ${forfeited}, not 0 or ${most}`);
      job.lapsedSlots += unfilled;
      job.lapseForfeited += forfeited;
      job.tickets.shift();
      return;
    }

    // ============================================================ market: replicas
    case "ReplicasClaimed": {
      const job = jobOf();
      if (!job) return;
      const ticket = resolvingTicket(job, a.provider as Address);
      if (ticket) {
        ticket.filled += (a.slots as readonly bigint[]).length;
        if (ticket.filled > ticket.count) anomaly(`job ${job.jobId}`, `a ticket of ${ticket.count} slots was given ${ticket.filled}`);
        if (e.blockNumber <= ticket.seedBlock) anomaly(`job ${job.jobId}`, `a ticket seeded by block ${ticket.seedBlock} resolved in block ${e.blockNumber}`);
        if (ticket.filled >= ticket.count) job.tickets.shift();
      }
      for (const packed of a.slots as readonly bigint[]) {
        const { segment, replica } = unpackSlot(packed);
        claimSlot(job, segmentIn(job, segment), replica, a.provider, BigInt(a.leaseEnd as bigint));
      }
      return;
    }
    case "ReplicaClaimed": {
      const job = jobOf();
      if (!job) return;
      claimSlot(job, segmentIn(job), Number(a.replica), a.provider, BigInt(a.leaseEnd as bigint));
      return;
    }
    case "ReplicasCommitted": {
      const job = jobOf();
      if (!job) return;
      for (const packed of a.slots as readonly bigint[]) {
        const { segment, replica } = unpackSlot(packed);
        commitSlot(job, segmentIn(job, segment), replica, undefined);
      }
      return;
    }
    case "ReplicaCommitted": {
      const job = jobOf();
      if (!job) return;
      commitSlot(job, segmentIn(job), Number(a.replica), a.commitment as Hex);
      return;
    }
    case "RevealsOpened": {
      const job = jobOf();
      if (!job) return;
      for (const segment of a.segments as readonly number[]) openReveal(job, segmentIn(job, segment), BigInt(a.revealDeadline as bigint));
      return;
    }
    case "RevealOpened": {
      const job = jobOf();
      if (!job) return;
      openReveal(job, segmentIn(job), BigInt(a.revealDeadline as bigint));
      return;
    }
    case "ReplicasRevealed": {
      const job = jobOf();
      if (!job) return;
      const slots = a.slots as readonly bigint[];
      const digests = a.digests as readonly Hex[];
      // Earlier contract versions carried neither CIDs nor fingerprints in this event.
      const cids = a.resultCids as readonly string[] | undefined;
      const fingerprints = a.fingerprints as readonly Hex[] | undefined;
      if (slots.length !== digests.length) anomaly(`job ${job.jobId}`, `ReplicasRevealed lists ${slots.length} slots but ${digests.length} digests`);
      if (cids && cids.length !== slots.length) anomaly(`job ${job.jobId}`, `ReplicasRevealed lists ${slots.length} slots but ${cids.length} result CIDs`);
      slots.forEach((packed, i) => {
        const { segment, replica } = unpackSlot(packed);
        const fingerprint = fingerprints?.[i];
        revealSlot(job, segmentIn(job, segment), replica, digests[i], cids?.[i], fingerprint === undefined || fingerprint === "0x" ? undefined : fingerprint);
      });
      return;
    }
    case "ReplicaRevealed": {
      const job = jobOf();
      if (!job) return;
      revealSlot(job, segmentIn(job), Number(a.replica), a.digest as Hex, typeof a.resultCid === "string" ? a.resultCid : undefined, undefined);
      return;
    }
    case "SegmentAccepted": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      const audited = job.params.auditBps > 0;
      if (audited ? seg.status === SEGMENT_STATUS.Open || !inPlayOrVerifying(seg.status) : seg.status !== SEGMENT_STATUS.Open) {
        anomaly(segmentSubject(job, seg), `accepted while ${SegmentStatusNames[seg.status]}`);
      }
      // An audit draw that audits nothing clears the quorum block it kept as the reveal deadline.
      if (seg.status === SEGMENT_STATUS.Verifying) seg.revealDeadline = 0n;
      seg.status = SEGMENT_STATUS.Accepted;
      if (a.replica === undefined) {
        // Earlier contract versions: the completing reveal's digest and CID; agreement = equal digests.
        const digest = a.digest as Hex;
        const seal = sealOf(digest);
        const agreeing = seg.replicas.flatMap((r, k) => (r.state === REPLICA_STATE.Revealed && r.seal === seal ? [k] : []));
        seg.accepted = { replica: -1, digest, resultCid: String(a.resultCid), seal, agreeing, blockNumber: e.blockNumber };
      } else {
        const winner = Number(a.replica);
        const mask = Number(a.agreeing);
        const agreeing = seg.replicas.flatMap((_, k) => ((mask >> k) & 1 ? [k] : []));
        const w = replicaIn(job, seg, winner);
        if (!((mask >> winner) & 1)) anomaly(segmentSubject(job, seg), `accepted replica ${winner} is not among the agreeing replicas (mask ${mask})`);
        if (w.state !== REPLICA_STATE.Revealed || w.digest === undefined) anomaly(replicaSubject(job, seg, winner), `accepted as the result while ${ReplicaStateNames[w.state]}`);
        for (const k of agreeing) {
          if (seg.replicas[k]?.state !== REPLICA_STATE.Revealed) anomaly(replicaSubject(job, seg, k), `listed as agreeing while ${ReplicaStateNames[seg.replicas[k]?.state ?? 0]}`);
        }
        if (mask >> seg.replicas.length) anomaly(segmentSubject(job, seg), `agreeing mask ${mask} names slots beyond its ${seg.replicas.length}`);
        seg.accepted = { replica: winner, digest: w.digest ?? ("0x" as Hex), resultCid: w.resultCid ?? "", seal: w.seal ?? ZERO_SEAL, fingerprint: w.fingerprint, agreeing, blockNumber: e.blockNumber };
      }
      if (seg.accepted.agreeing.length < job.params.quorum) anomaly(segmentSubject(job, seg), `accepted with ${seg.accepted.agreeing.length} agreeing reveals, fewer than the quorum of ${job.params.quorum}`);
      for (const k of seg.accepted.agreeing) {
        const r = seg.replicas[k];
        if (r && r.state === REPLICA_STATE.Revealed) settleAccepted(job, r);
      }
      return;
    }
    case "ReplicaAccepted": {
      // Emitted by earlier contract versions; the acceptance itself was applied with SegmentAccepted.
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      const k = Number(a.replica);
      const rep = replicaIn(job, seg);
      if (rep.state === REPLICA_STATE.Revealed) settleAccepted(job, rep);
      else if (rep.verdict !== "accepted") anomaly(replicaSubject(job, seg, k), `ReplicaAccepted for a slot that is ${ReplicaStateNames[rep.state]}`);
      return;
    }
    case "ReplicaRejected": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      const k = Number(a.replica);
      const rep = replicaIn(job, seg);
      expectState(job, seg, k, rep, [REPLICA_STATE.Revealed]);
      if (BigInt(a.slashed as bigint) !== job.params.collateralPerReplica) {
        anomaly(replicaSubject(job, seg, k), `slashed ${a.slashed}, but the collateral per replica is ${job.params.collateralPerReplica}`);
      }
      rep.state = REPLICA_STATE.Settled;
      rep.verdict = "rejected";
      provider(rep.provider === ZERO_ADDRESS ? a.provider : rep.provider).derived.rejected++;
      return;
    }
    case "ReplicaExpired": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      const k = Number(a.replica);
      const rep = replicaIn(job, seg);
      expectState(job, seg, k, rep, [REPLICA_STATE.Claimed, REPLICA_STATE.Committed]);
      provider(a.provider).derived.expired++;
      const wasCommitted = rep.state === REPLICA_STATE.Committed;
      if (isInPlay(seg.status) && !closedHere.has(`${job.jobId}:${seg.index}`)) {
        reopen(seg, k, wasCommitted);
      } else {
        rep.state = REPLICA_STATE.Settled;
        rep.verdict = "expired";
      }
      return;
    }
    case "ReplicaAbandoned": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      const k = Number(a.replica);
      const rep = replicaIn(job, seg);
      expectState(job, seg, k, rep, [REPLICA_STATE.Claimed]);
      if (countsAsAbandoned(Number(a.reason ?? 0))) provider(a.provider).derived.abandoned++;
      const forfeited = BigInt((a.forfeited as bigint | undefined) ?? 0n);
      if (forfeited * 2n > job.params.collateralPerReplica) anomaly(replicaSubject(job, seg, k), `a give-back forfeited ${forfeited}, more than half the collateral of ${job.params.collateralPerReplica}`);
      seg.givenBack.push({ provider: a.provider as Address, replica: k, reason: Number(a.reason ?? 0), detail: String(a.detail ?? ""), forfeited, leaseEnd: rep.leaseEnd, blockNumber: e.blockNumber });
      // The slot reopens but keeps its last holder and lease end (JobMarket.abandon): the cooldown.
      seg.replicas[k] = { provider: rep.provider, state: REPLICA_STATE.Empty, leaseEnd: rep.leaseEnd, seal: ZERO_SEAL, stage: 0 };
      seg.assigned--;
      return;
    }
    case "ReplicaReleased": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      const k = Number(a.replica);
      const rep = replicaIn(job, seg);
      expectState(job, seg, k, rep, [REPLICA_STATE.Claimed, REPLICA_STATE.Committed, REPLICA_STATE.Revealed]);
      rep.state = REPLICA_STATE.Settled;
      rep.verdict = "released";
      return;
    }
    case "SegmentVerifying": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      if (job.params.auditBps === 0) anomaly(segmentSubject(job, seg), "verifying in a job without audits");
      if (seg.status !== SEGMENT_STATUS.Open) anomaly(segmentSubject(job, seg), `verifying while ${SegmentStatusNames[seg.status]}`);
      seg.status = SEGMENT_STATUS.Verifying;
      seg.revealDeadline = e.blockNumber; // the audit draw's seed block (JobMarket._tally)
      return;
    }
    case "AuditOpened": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      const slot = Number(a.slot);
      if (seg.status !== SEGMENT_STATUS.Verifying) anomaly(segmentSubject(job, seg), `audit opened while ${SegmentStatusNames[seg.status]}`);
      if (slot !== seg.slots) anomaly(segmentSubject(job, seg), `audit slot ${slot} opened after ${seg.slots} slots`);
      seg.status = SEGMENT_STATUS.Auditing;
      seg.slots = slot + 1;
      seg.revealDeadline = 0n;
      return;
    }
    case "AuditDisputed": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      const slots = Number(a.slots);
      if (seg.status !== SEGMENT_STATUS.Auditing) anomaly(segmentSubject(job, seg), `audit disputed while ${SegmentStatusNames[seg.status]}`);
      if (slots !== seg.slots + Number(jobMarketConstants.ESCALATION_SLOTS)) anomaly(segmentSubject(job, seg), `audit dispute opened slot count ${slots} after ${seg.slots} slots`);
      seg.status = SEGMENT_STATUS.Disputed;
      seg.slots = slots;
      seg.revealDeadline = 0n;
      return;
    }
    case "TieBreakerOpened": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      const slots = Number(a.slots);
      if (slots !== seg.slots + 1) anomaly(segmentSubject(job, seg), `tie-breaker opened slot count ${slots} after ${seg.slots} slots`);
      seg.slots = slots;
      seg.tieBreakers++;
      seg.revealDeadline = 0n;
      return;
    }
    case "BlindRoundOpened": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      const round = Number(a.round);
      if (round !== seg.round + 1) anomaly(segmentSubject(job, seg), `blind round ${round} opened after round ${seg.round}`);
      if (!seg.replicas.some((r) => r.state === REPLICA_STATE.Revealed && (r.revealRound ?? 0) === seg.round)) {
        anomaly(segmentSubject(job, seg), `blind round ${round} opened while no replica had revealed in round ${seg.round}`);
      }
      seg.round = round;
      return;
    }
    case "SegmentFailed": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      if (seg.status !== SEGMENT_STATUS.Open && seg.status !== SEGMENT_STATUS.Disputed) anomaly(segmentSubject(job, seg), `failed while ${SegmentStatusNames[seg.status]}`);
      seg.status = SEGMENT_STATUS.Failed;
      return;
    }
    case "SegmentClosed": {
      const job = jobOf();
      if (!job) return;
      const seg = segmentIn(job);
      // An audited segment drawn for an audit too late to run is closed unpaid (JobMarket.auditSegments).
      const auditTooLate = seg.status === SEGMENT_STATUS.Verifying && job.params.auditBps > 0;
      if (seg.status !== SEGMENT_STATUS.Open && !auditTooLate) anomaly(segmentSubject(job, seg), `closed while ${SegmentStatusNames[seg.status]}`);
      if (auditTooLate) seg.revealDeadline = 0n;
      if (seg.slots === 0) {
        seg.slots = job.params.redundancy;
        job.segmentsTouched++;
      }
      seg.status = SEGMENT_STATUS.Closed;
      return;
    }

    // ============================================================ market: money
    case "Credited": {
      const account = getAddress(a.account as string);
      const amount = BigInt(a.amount as bigint);
      const kindIndex = Number(a.kind);
      const kind = CreditKindNames[kindIndex];
      state.balances.set(account, (state.balances.get(account) ?? 0n) + amount);
      state.totalBalances += amount;
      if (!kind) {
        anomaly(`account ${account}`, `credited with unknown kind ${kindIndex}`);
        return;
      }
      const job = jobOf();
      if (!job) return;
      job.credits[kind] += amount;
      if (account === job.requester) job.creditsToRequester[kind] += amount;
      if (ESCROW_FUNDED_KINDS.has(kind)) {
        job.escrow -= amount;
        state.totalEscrow -= amount;
        if (job.escrow < 0n) anomaly(`job ${job.jobId}`, `${kind} credits took the escrow below zero (${job.escrow})`);
      }
      return;
    }
    case "Withdrawn": {
      const account = getAddress(a.account as string);
      const amount = BigInt(a.amount as bigint);
      const balance = (state.balances.get(account) ?? 0n) - amount;
      state.balances.set(account, balance);
      state.totalBalances -= amount;
      if (balance < 0n) anomaly(`account ${account}`, `withdrew ${amount}, more than its balance (${balance + amount})`);
      return;
    }
    case "FeeChanged":
      state.feeBps = Number(a.feeBps);
      state.pendingFee = undefined;
      return;
    case "FeeScheduled":
      state.pendingFee = { feeBps: Number(a.feeBps), effectiveAt: BigInt(a.effectiveAt as bigint) };
      return;
    case "TreasuryChanged":
      state.treasury = getAddress(a.treasury as string);
      return;
    case "CreditRuleSet":
      state.minCreditReward = BigInt(a.minCreditReward as bigint);
      return;

    // ============================================================ registry
    case "ProviderRegistered": {
      const p = provider(a.provider);
      if (p.registered) anomaly(`provider ${p.address}`, "registered twice");
      p.registered = true;
      p.profileCid = String(a.profileCid);
      return;
    }
    case "ProfileUpdated":
      provider(a.provider).profileCid = String(a.profileCid);
      return;
    case "Staked": {
      const p = provider(a.provider);
      const amount = BigInt(a.amount as bigint);
      p.staked += amount;
      state.totalStaked += amount;
      checkTotal(p, "staked", p.staked, a.staked, anomaly);
      return;
    }
    case "UnstakeRequested": {
      const p = provider(a.provider);
      p.unbonding += BigInt(a.amount as bigint);
      p.unbondingReadyAt = BigInt(a.readyAt as bigint);
      checkTotal(p, "unbonding", p.unbonding, a.unbonding, anomaly);
      if (p.unbonding + p.locked > p.staked) anomaly(`provider ${p.address}`, `unbonding ${p.unbonding} plus locked ${p.locked} exceeds the stake ${p.staked}`);
      return;
    }
    case "StakeWithdrawn": {
      const p = provider(a.provider);
      const amount = BigInt(a.amount as bigint);
      if (amount !== p.unbonding) anomaly(`provider ${p.address}`, `withdrew ${amount} of stake, but ${p.unbonding} was unbonding`);
      p.staked -= amount;
      p.unbonding = 0n;
      p.unbondingReadyAt = 0n;
      state.totalStaked -= amount;
      checkTotal(p, "staked", p.staked, a.staked, anomaly);
      return;
    }
    case "CollateralLocked": {
      const p = provider(a.provider);
      p.locked += BigInt(a.amount as bigint);
      checkTotal(p, "locked", p.locked, a.locked, anomaly);
      if (p.locked + p.unbonding > p.staked) anomaly(`provider ${p.address}`, `locked ${p.locked} plus unbonding ${p.unbonding} exceeds the stake ${p.staked}`);
      return;
    }
    case "CollateralUnlocked": {
      // The event's `locked` total already reflects a slash applied in the same outcome, so it is not checked here.
      const p = provider(a.provider);
      p.locked -= BigInt(a.amount as bigint);
      if (p.locked < 0n) anomaly(`provider ${p.address}`, `unlocked more collateral than was locked (${p.locked})`);
      return;
    }
    case "StakeSlashed": {
      const p = provider(a.provider);
      const amount = BigInt(a.amount as bigint);
      p.staked -= amount;
      p.locked -= amount;
      state.totalStaked -= amount;
      checkTotal(p, "staked", p.staked, a.staked, anomaly);
      if (p.locked < 0n) anomaly(`provider ${p.address}`, `slashed more collateral than was locked (${p.locked})`);
      return;
    }
    case "ReputationUpdated": {
      const p = provider(a.provider);
      p.reputation = {
        accepted: Number(a.accepted),
        rejected: Number(a.rejected),
        expired: Number(a.expired),
        abandoned: Number(a.abandoned),
        score: Number(a.score),
      };
      const score = reputationScore(p.reputation);
      if (score !== p.reputation.score) anomaly(`provider ${p.address}`, `reported score ${p.reputation.score}, but its counters give ${score}`);
      return;
    }
    default:
      // Token events, role changes and anything newer than this auditor: not part of the books.
      state.eventCount--;
      return;
  }
}

function inPlayOrVerifying(status: number): boolean {
  return isInPlay(status) || status === SEGMENT_STATUS.Verifying;
}

function newProvider(address: Address, accepted: number): ProviderRecord {
  return {
    address,
    registered: false,
    staked: 0n,
    locked: 0n,
    unbonding: 0n,
    unbondingReadyAt: 0n,
    reputation: { accepted: 0, rejected: 0, expired: 0, abandoned: 0, score: reputationScore({ accepted: 0, rejected: 0, expired: 0, abandoned: 0 }) },
    derived: { accepted, rejected: 0, expired: 0, abandoned: 0 },
  };
}

function checkTotal(p: ProviderRecord, name: string, ours: bigint, reported: unknown, anomaly: (subject: string, problem: string) => void): void {
  if (reported === undefined) return;
  const theirs = BigInt(reported as bigint);
  if (theirs !== ours) anomaly(`provider ${p.address}`, `event reports ${name} = ${theirs}, but the events so far add up to ${ours}`);
}

export function segmentSubject(job: JobRecord, seg: SegmentRecord): string {
  return `job ${job.jobId} segment ${seg.index}`;
}

export function replicaSubject(job: JobRecord, seg: SegmentRecord, k: number): string {
  return `job ${job.jobId} segment ${seg.index} replica ${k}`;
}
