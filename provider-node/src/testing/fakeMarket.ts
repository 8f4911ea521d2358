/**
 * An in-memory JobMarket + ProviderRegistry for unit tests of the provider node: the protocol's
 * rules as IJobMarket documents them (claims chosen by the market, leases, commit–reveal, quorum,
 * one tie-breaker, abandon, expire with keeper fee, cancellation, closeSegments, pull payments),
 * with the sdk's protocol module deciding what is claimable, expirable and closable, what a
 * keeper earns and how reputation scores (so the fake and the real market share those rules),
 * with the same typed contract errors the sdk's market client raises (`ContractRevertError`).
 * Every write mines one block whose events {@link FakeMarket.events} returns, decoded like the
 * real client's. Time comes from the given clock. Not a replacement for the contract tests.
 */
import { keccak256, toHex, type Address, type Hex } from "viem";
import { commitmentOf, linkZero, MAX_BLIND_ROUND, onChainJobParams, type CommitInput, type JobParams, type JobParamsOnChain, type RevealInput, type Slot } from "@tessellate/sdk";
import { ContractRevertError, type ContractError, type ContractErrorName } from "@tessellate/sdk/contractErrors";
import { RetryableError } from "@tessellate/sdk/errors";
import {
  CreditKind,
  expirableReason,
  abandonForfeit,
  countsAsAbandoned,
  isClosable,
  isSegmentClaimableBy,
  jobMarketConstants,
  JobStatus as ChainJobStatus,
  keeperFee,
  packSlot,
  unpackSlot,
  ReplicaState as ChainReplicaState,
  reputationScore,
  SegmentStatus as ChainSegmentStatus,
} from "@tessellate/sdk/protocol";
import {
  type ChainEvent,
  type ChainEventNamed,
  type Clock,
  type JobView,
  type MarketPort,
  type ProviderView,
  type ReplicaView,
  type SegmentView,
  type TxResult,
} from "../ports.ts";

const MAX_TIE_BREAKERS = jobMarketConstants.MAX_TIE_BREAKERS;

interface FakeReplica {
  provider: Address;
  state: number;
  leaseEnd: bigint;
  commitment?: Hex;
  /** Once revealed: link 0 of the revealed digest's chain (what the contract compares). */
  digest?: Hex;
  revealRound?: number;
}

interface FakeSegment {
  status: number;
  /** A claim ever touched it (the contract's slot count is 0 until then). */
  touched: boolean;
  slots: number;
  tieBreakers: number;
  /** Blind round (sdk digestChain.ts). */
  round: number;
  revealDeadline: bigint;
  accepted?: Hex;
  replicas: (FakeReplica | undefined)[];
}

interface FakeJob {
  requester: Address;
  params: JobParamsOnChain;
  status: number;
  segments: FakeSegment[];
  createdBlock: bigint;
  /** Claim tickets waiting to resolve, oldest first (JobMarket's claim queue). */
  waiting: { provider: Address; count: number; seedBlock: bigint }[];
  /** When each provider last gave a slot back (the contract's re-draw cooldown, one lease). */
  lastGiveBack: Map<string, bigint>;
}

interface FakeProvider {
  registered: boolean;
  staked: bigint;
  locked: bigint;
  accepted: number;
  rejected: number;
  expired: number;
  abandoned: number;
}

type Method = keyof MarketPort;

export class FakeMarket {
  readonly clock: Clock;
  private jobs = new Map<bigint, FakeJob>();
  private providers = new Map<string, FakeProvider>();
  private balances = new Map<string, bigint>();
  private readonly log: ChainEvent[] = [];
  private block = 1n;
  private pending: ChainEvent[] = [];
  private readonly pendingCredits = new Map<string, { account: Address; jobId: bigint; kind: number; amount: bigint }>();
  private readonly failures = new Map<string, { error: () => Error; times: number }>();
  /** Calls of each write method, for assertions. */
  readonly calls: { method: string; from: Address; args: unknown[] }[] = [];

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Chain time in seconds. */
  now(): bigint {
    return BigInt(Math.floor(this.clock.now() / 1000));
  }

  /** Makes the next `times` calls of `method` (any account) fail with `error` before doing anything. */
  failNext(method: Method, error: () => Error = () => new RetryableError("CHAIN_REQUEST_FAILED", `${method} failed: connection refused`), times = 1): void {
    this.failures.set(method, { error, times });
  }

  registerProvider(who: Address, stake: bigint): void {
    this.providers.set(who.toLowerCase(), { registered: true, staked: stake, locked: 0n, accepted: 0, rejected: 0, expired: 0, abandoned: 0 });
  }

  /** Posts a job (escrow is not modelled); returns its id. */
  createJob(requester: Address, input: JobParams): bigint {
    const params = onChainJobParams(input);
    const jobId = BigInt(this.jobs.size + 1);
    const segments = Array.from({ length: params.segmentCount }, () => ({
      status: ChainSegmentStatus.Open,
      touched: false,
      slots: params.redundancy,
      tieBreakers: 0,
      round: 0,
      revealDeadline: 0n,
      replicas: [],
    }));
    this.jobs.set(jobId, { requester, params, status: ChainJobStatus.Open, segments, createdBlock: this.block, waiting: [], lastGiveBack: new Map() });
    this.emit("JobCreated", { jobId, requester, params, feeBps: 100, escrow: 0n });
    this.mine();
    return jobId;
  }

  cancelJob(jobId: bigint): void {
    const job = this.job(jobId);
    job.status = ChainJobStatus.Cancelled;
    this.emit("JobCancelled", { jobId, refunded: 0n });
    this.mine();
  }

  /**
   * `who` requests `count` slots and its ticket is left waiting, as for a node that stopped between
   * its request and the ticket's resolution (the resolution is anyone's next transaction on the job).
   */
  leaveTicketWaiting(who: Address, jobId: bigint, count: number): void {
    this.requestClaim(who, jobId, count);
    this.mine();
  }

  /** Mines an empty block (time passes on the clock, not here). */
  mineEmpty(): void {
    this.mine();
  }

  /** All events so far (for assertions). */
  allEvents(): ChainEvent[] {
    return [...this.log];
  }

  /** A MarketPort acting as `account`. */
  portFor(account: Address, pollingIntervalMs = 10): MarketPort {
    const self = this;
    const guard = <T>(method: Method, body: () => T): Promise<T> => {
      const failure = self.failures.get(method);
      if (failure && failure.times > 0) {
        failure.times--;
        return Promise.reject(failure.error());
      }
      try {
        return Promise.resolve(body());
      } catch (error) {
        self.pending = [];
        self.pendingCredits.clear();
        return Promise.reject(error);
      }
    };
    const write = <T extends object>(method: Method, args: unknown[], body: () => T): Promise<T & TxResult> =>
      guard(method, () => {
        self.calls.push({ method, from: account, args });
        // A revert undoes everything, as on-chain.
        const snapshot = structuredClone({ jobs: self.jobs, providers: self.providers, balances: self.balances });
        let result: T;
        try {
          result = body();
        } catch (error) {
          ({ jobs: self.jobs, providers: self.providers, balances: self.balances } = snapshot);
          throw error;
        }
        const hash = self.mine();
        return { ...result, hash, gasUsed: 100_000n };
      });
    return {
      account,
      pollingIntervalMs,
      blockNumber: () => guard("blockNumber", () => self.block - 1n),
      blockHash: (n) => guard("blockHash", () => blockHash(n)),
      events: (from, to) => guard("events", () => self.log.filter((e) => e.blockNumber >= from && e.blockNumber <= to)),
      latestTimestamp: () => guard("latestTimestamp", () => self.now()),
      gasPrice: () => guard("gasPrice", () => 1_000_000_000n),
      jobOf: (jobId) => guard("jobOf", () => self.jobView(jobId)),
      segmentOf: (jobId, segment) => guard("segmentOf", () => self.segmentView(jobId, segment)),
      replicaOf: (jobId, segment, replica) => guard("replicaOf", () => self.replicaView(jobId, segment, replica)),
      providerOf: (who) => guard("providerOf", () => self.providerView(who)),
      freeStake: (who) => guard("freeStake", () => self.freeStakeOf(who)),
      marketBalanceOf: (who) => guard("marketBalanceOf", () => self.balances.get(who.toLowerCase()) ?? 0n),
      claim: (jobId, count) => write("claim", [jobId, count], () => {
        const slots = self.claim(account, jobId, count);
        return { slots, unfilled: count - slots.length };
      }),
      resolveClaims: (jobId) => write("resolveClaims", [jobId], () => ({ resolved: self.resolveDue(jobId) })),
      commit: (jobId, commits) => write("commit", [jobId, commits], () => (self.commit(account, jobId, commits), {})),
      reveal: (jobId, reveals) => write("reveal", [jobId, reveals], () => (self.reveal(account, jobId, reveals), {})),
      abandon: (jobId, slots, reason, detail) => write("abandon", [jobId, slots, reason, detail], () => (self.abandon(account, jobId, slots, reason, detail), {})),
      expire: (jobId, slots) => write("expire", [jobId, slots], () => (self.expire(account, jobId, slots), {})),
      closeSegments: (jobId, segments) => write("closeSegments", [jobId, segments], () => (self.closeSegments(jobId, segments), {})),
      auditSegments: () => {
        throw new Error("the fake market does not model audited jobs (auditBps > 0); test them on the real contracts");
      },
      withdraw: () => write("withdraw", [], () => (self.withdraw(account), {})),
    };
  }

  // ------------------------------------------------------------------------------------ views

  jobView(jobId: bigint): JobView {
    const job = this.job(jobId);
    return { requester: job.requester, status: job.status, ...job.params };
  }

  segmentView(jobId: bigint, segment: number): SegmentView {
    const s = this.segment(this.job(jobId), jobId, segment);
    const held = s.replicas.filter((r) => r && r.state !== ChainReplicaState.Empty && r.state !== ChainReplicaState.Settled);
    return {
      status: s.status,
      slots: s.slots,
      assigned: held.length,
      committed: held.filter((r) => r!.state >= ChainReplicaState.Committed).length,
      revealed: held.filter((r) => r!.state === ChainReplicaState.Revealed).length,
      tieBreakers: s.tieBreakers,
      revealDeadline: s.revealDeadline,
      round: s.round,
    };
  }

  replicaView(jobId: bigint, segment: number, replica: number): ReplicaView {
    const r = this.segment(this.job(jobId), jobId, segment).replicas[replica];
    return {
      provider: r?.provider ?? "0x0000000000000000000000000000000000000000",
      state: r?.state ?? ChainReplicaState.Empty,
      leaseEnd: r?.leaseEnd ?? 0n,
      seal: ((r?.state === ChainReplicaState.Revealed ? r.digest : r?.commitment)?.slice(0, 42) ?? "0x") as Hex,
    };
  }

  providerView(who: Address): ProviderView {
    const p = this.providers.get(who.toLowerCase());
    return {
      registered: p?.registered ?? false,
      staked: p?.staked ?? 0n,
      locked: p?.locked ?? 0n,
      unbonding: 0n,
      accepted: p?.accepted ?? 0,
      rejected: p?.rejected ?? 0,
      expired: p?.expired ?? 0,
      abandoned: p?.abandoned ?? 0,
      score: p ? score(p) : 0,
    };
  }

  freeStakeOf(who: Address): bigint {
    const p = this.providers.get(who.toLowerCase());
    return p ? p.staked - p.locked : 0n;
  }

  balanceOf(who: Address): bigint {
    return this.balances.get(who.toLowerCase()) ?? 0n;
  }

  // ------------------------------------------------------------------------------------ protocol

  /** Request then resolution in the next block, as the sdk's `claim` does; returns `who`'s new slots. */
  private claim(who: Address, jobId: bigint, count: number) {
    const before = this.log.length + this.pending.length;
    this.requestClaim(who, jobId, count);
    this.mine();
    this.resolveDue(jobId);
    return [...this.log.slice(before), ...this.pending]
      .filter((e) => e.eventName === "ReplicasClaimed" && e.args.provider === who)
      .flatMap((e) => (e.args as { slots: readonly bigint[]; leaseEnd: bigint }).slots.map((packed) => ({ ...unpackSlot(packed), leaseEnd: (e.args as { leaseEnd: bigint }).leaseEnd })));
  }

  /** JobMarket.requestClaim: checks, locks `count` x collateral, resolves due tickets, queues this one. */
  private requestClaim(who: Address, jobId: bigint, count: number): void {
    const job = this.job(jobId);
    if (job.status !== ChainJobStatus.Open) throw revert("JobMarketJobNotOpen", jobId);
    const leaseEnd = this.now() + BigInt(job.params.leaseDuration);
    if (leaseEnd > job.params.deadline) throw revert("JobMarketClaimWindowClosed", jobId, job.params.deadline - BigInt(job.params.leaseDuration));
    if (this.block <= job.createdBlock) throw revert("JobMarketTooEarly", jobId, job.createdBlock + 1n);
    const p = this.providers.get(who.toLowerCase());
    if (!p?.registered) throw revert("ProviderRegistryNotRegistered", who);
    if (score(p) < job.params.minReputation) throw revert("ProviderRegistryReputationTooLow", who);
    const gaveBack = job.lastGiveBack.get(who.toLowerCase());
    if (gaveBack !== undefined && this.now() < gaveBack + BigInt(job.params.leaseDuration)) {
      throw revert("JobMarketGiveBackCooldown", jobId, gaveBack + BigInt(job.params.leaseDuration));
    }
    const need = BigInt(count) * job.params.collateralPerReplica;
    this.resolveDue(jobId);
    if (p.staked - p.locked < need) throw revert("ProviderRegistryInsufficientFreeStake", who, p.staked - p.locked, need);
    p.locked += need;
    job.waiting.push({ provider: who, count, seedBlock: this.block });
    this.emit("ClaimRequested", { jobId, provider: who, count: BigInt(count), seedBlock: this.block });
  }

  /**
   * JobMarket._resolveDue: tickets seeded before this block, oldest first; each takes the lowest
   * claimable segments (the contract draws a random start: tests here must not depend on which),
   * the rest of the ticket lapses unfilled with its collateral back.
   */
  resolveDue(jobId: bigint): number {
    const job = this.job(jobId);
    let resolved = 0;
    while (job.waiting.length > 0 && job.waiting[0].seedBlock < this.block) {
      const ticket = job.waiting.shift()!;
      resolved++;
      const p = this.providers.get(ticket.provider.toLowerCase())!;
      const leaseEnd = this.now() + BigInt(job.params.leaseDuration);
      const claimed: { segment: number; replica: number }[] = [];
      if (job.status === ChainJobStatus.Open && leaseEnd <= job.params.deadline) {
        for (const [segment, s] of job.segments.entries()) {
          if (claimed.length >= ticket.count) break;
          const replicas = s.replicas.filter((r) => r !== undefined);
          const assigned = replicas.filter((r) => r.state !== ChainReplicaState.Empty && r.state !== ChainReplicaState.Settled).length;
          if (!isSegmentClaimableBy({ status: s.status, slots: s.slots, assigned, revealDeadline: s.revealDeadline }, replicas, ticket.provider, job.params.redundancy, { now: this.now(), leaseDuration: job.params.leaseDuration })) continue;
          // Like JobMarket._tryClaim: the lowest empty slot, preferring one that keeps no give-back's record.
          let free = -1;
          for (let k = s.slots - 1; k >= 0; k--) if (!s.replicas[k]) free = k;
          if (free < 0) for (let k = s.slots - 1; k >= 0; k--) if (s.replicas[k]!.state === ChainReplicaState.Empty) free = k;
          if (free >= 0) claimed.push({ segment, replica: free });
        }
      }
      for (const c of claimed) {
        job.segments[c.segment].replicas[c.replica] = { provider: ticket.provider, state: ChainReplicaState.Claimed, leaseEnd };
        job.segments[c.segment].touched = true;
      }
      if (claimed.length) this.emit("ReplicasClaimed", { jobId, provider: ticket.provider, leaseEnd, slots: claimed.map((c) => packSlot(c.segment, c.replica)) });
      const unfilled = ticket.count - claimed.length;
      if (unfilled > 0) {
        p.locked -= BigInt(unfilled) * job.params.collateralPerReplica;
        this.emit("ClaimLapsed", { jobId, provider: ticket.provider, unfilled: BigInt(unfilled), forfeited: 0n });
      }
    }
    return resolved;
  }

  private commit(who: Address, jobId: bigint, commits: CommitInput[]): void {
    const job = this.job(jobId);
    const opened: number[] = [];
    const revealDeadline = this.now() + BigInt(job.params.revealWindow);
    for (const c of commits) {
      const s = this.segment(job, jobId, c.segment);
      const r = this.held(s, who, jobId, c.segment, c.replica);
      if (r.state !== ChainReplicaState.Claimed) throw revert("JobMarketWrongReplicaState", jobId, c.segment, c.replica, r.state);
      if (this.now() > r.leaseEnd) throw revert("JobMarketLeaseExpired", jobId, c.segment, r.leaseEnd);
      r.state = ChainReplicaState.Committed;
      r.commitment = c.commitment;
      const committed = s.replicas.filter((x) => x && (x.state === ChainReplicaState.Committed || x.state === ChainReplicaState.Revealed)).length;
      if (committed === s.slots) {
        s.revealDeadline = revealDeadline;
        opened.push(c.segment);
      }
    }
    this.emit("ReplicasCommitted", { jobId, provider: who, slots: commits.map((c) => packSlot(c.segment, c.replica)) });
    if (opened.length) this.emit("RevealsOpened", { jobId, revealDeadline, segments: opened });
  }

  private reveal(who: Address, jobId: bigint, reveals: RevealInput[]): void {
    const job = this.job(jobId);
    this.emit("ReplicasRevealed", {
      jobId,
      provider: who,
      slots: reveals.map((rv) => packSlot(rv.segment, rv.replica)),
      digests: reveals.map((rv) => rv.digest),
      resultCids: reveals.map((rv) => rv.resultCid),
      fingerprints: reveals.map((rv) => rv.fingerprint ?? "0x"),
    });
    const opened: number[] = [];
    for (const rv of reveals) {
      const s = this.segment(job, jobId, rv.segment);
      const r = this.held(s, who, jobId, rv.segment, rv.replica);
      if (!rv.resultCid) throw revert("JobMarketEmptyResultCid", jobId, rv.segment);
      if (r.state === ChainReplicaState.Claimed) {
        // Direct reveal: every other slot is sealed, so no commitment is needed.
        if (this.now() > r.leaseEnd) throw revert("JobMarketLeaseExpired", jobId, rv.segment, r.leaseEnd);
        const sealed = s.replicas.filter((x, k) => k !== rv.replica && x && (x.state === ChainReplicaState.Committed || x.state === ChainReplicaState.Revealed)).length;
        if (sealed + 1 !== s.slots) throw revert("JobMarketRevealNotOpen", jobId, rv.segment);
        if (s.revealDeadline === 0n) {
          s.revealDeadline = this.now() + BigInt(job.params.revealWindow);
          opened.push(rv.segment);
        }
      } else if (r.state === ChainReplicaState.Committed) {
        if (s.revealDeadline === 0n) throw revert("JobMarketRevealNotOpen", jobId, rv.segment);
        if (this.now() > s.revealDeadline) throw revert("JobMarketRevealWindowClosed", jobId, rv.segment, s.revealDeadline);
        if (commitmentOf(rv.digest, rv.salt, who, jobId, rv.segment) !== r.commitment) throw revert("JobMarketCommitmentMismatch", jobId, rv.segment, rv.replica);
      } else {
        throw revert("JobMarketWrongReplicaState", jobId, rv.segment, rv.replica, r.state);
      }
      r.state = ChainReplicaState.Revealed;
      r.digest = linkZero(rv.digest, s.round);
      r.revealRound = s.round;
      if (s.status === ChainSegmentStatus.Accepted) {
        this.judge(job, jobId, rv.segment, rv.replica, s.accepted!);
        continue;
      }
      const revealed = s.replicas.map((x, k) => ({ x, k })).filter(({ x }) => x?.state === ChainReplicaState.Revealed);
      const agree = revealed.filter(({ x }) => x!.digest === r.digest).length;
      if (agree >= job.params.quorum) {
        s.status = ChainSegmentStatus.Accepted;
        s.accepted = r.digest;
        // Exact only: the accepted result is the lowest-numbered replica of the agreeing group.
        const group = revealed.filter(({ x }) => x!.digest === r.digest).map(({ k }) => k);
        this.emit("SegmentAccepted", { jobId, segment: rv.segment, replica: Math.min(...group), agreeing: group.reduce((m, k) => m | (1 << k), 0) });
        for (const { k } of revealed) this.judge(job, jobId, rv.segment, k, r.digest);
        continue;
      }
      if (revealed.length < s.slots) continue;
      const canEscalate = s.tieBreakers < MAX_TIE_BREAKERS && job.status === ChainJobStatus.Open && this.now() + BigInt(job.params.leaseDuration) <= job.params.deadline
        && this.nextRoundIfRevealed(jobId, rv.segment, s);
      if (canEscalate) {
        s.tieBreakers++;
        s.slots++;
        s.revealDeadline = 0n;
        this.emit("TieBreakerOpened", { jobId, segment: rv.segment, slots: s.slots });
      } else {
        for (const [k, x] of s.replicas.entries()) if (x && x.state !== ChainReplicaState.Settled) this.release(job, jobId, rv.segment, k, x);
        s.status = ChainSegmentStatus.Failed;
        this.emit("SegmentFailed", { jobId, segment: rv.segment });
      }
    }
    if (opened.length) this.emit("RevealsOpened", { jobId, revealDeadline: this.now() + BigInt(job.params.revealWindow), segments: opened });
  }

  /** JobMarketBase._nextRoundIfRevealed: a slot opening after a reveal of the current round starts the next round; false at the last round. */
  private nextRoundIfRevealed(jobId: bigint, segment: number, s: FakeSegment): boolean {
    if (!s.replicas.some((x) => x?.state === ChainReplicaState.Revealed && x.revealRound === s.round)) return true;
    if (s.round === MAX_BLIND_ROUND) return false;
    s.round++;
    this.emit("BlindRoundOpened", { jobId, segment, round: s.round });
    return true;
  }

  private judge(job: FakeJob, jobId: bigint, segment: number, k: number, accepted: Hex): void {
    const r = job.segments[segment].replicas[k]!;
    const p = this.providers.get(r.provider.toLowerCase())!;
    if (r.digest === accepted) {
      p.locked -= job.params.collateralPerReplica;
      p.accepted++;
      this.credit(r.provider, jobId, k < job.params.redundancy ? CreditKind.Reward : CreditKind.TieBreakerReward, job.params.rewardPerReplica);
    } else {
      p.locked -= job.params.collateralPerReplica;
      p.staked -= job.params.collateralPerReplica;
      p.rejected++;
      this.credit(job.requester, jobId, CreditKind.Compensation, job.params.collateralPerReplica);
      this.emit("ReplicaRejected", { jobId, segment, replica: k, provider: r.provider, slashed: job.params.collateralPerReplica });
    }
    r.state = ChainReplicaState.Settled;
  }

  private abandon(who: Address, jobId: bigint, slots: Slot[], reason: number, detail: string): void {
    const job = this.job(jobId);
    this.resolveDue(jobId);
    job.lastGiveBack.set(who.toLowerCase(), this.now());
    const max = Number(jobMarketConstants.MAX_ABANDON_DETAIL);
    if (new TextEncoder().encode(detail).length > max) throw revert("JobMarketAbandonDetailTooLong", new TextEncoder().encode(detail).length, max);
    for (const ref of slots) {
      const s = this.segment(job, jobId, ref.segment);
      const r = this.held(s, who, jobId, ref.segment, ref.replica);
      if (r.state !== ChainReplicaState.Claimed) throw revert("JobMarketWrongReplicaState", jobId, ref.segment, ref.replica, r.state);
      if (this.now() > r.leaseEnd) throw revert("JobMarketLeaseExpired", jobId, ref.segment, r.leaseEnd);
      const p = this.providers.get(who.toLowerCase())!;
      const forfeited = abandonForfeit(job.params, r.leaseEnd, this.now());
      p.locked -= job.params.collateralPerReplica;
      p.staked -= forfeited;
      if (countsAsAbandoned(reason)) p.abandoned++;
      if (forfeited > 0n) this.credit(job.requester, jobId, CreditKind.Compensation, forfeited);
      this.emit("ReplicaAbandoned", { jobId, segment: ref.segment, replica: ref.replica, provider: who, reason, detail, forfeited });
      // The slot keeps its last holder and lease end: the cooldown JobMarket._tryClaim checks.
      s.replicas[ref.replica] = { provider: who, state: ChainReplicaState.Empty, leaseEnd: r.leaseEnd };
    }
  }

  private expire(keeper: Address, jobId: bigint, slots: Slot[]): void {
    const job = this.job(jobId);
    this.resolveDue(jobId);
    for (const ref of slots) {
      const s = this.segment(job, jobId, ref.segment);
      const r = s.replicas[ref.replica];
      const reason = r && expirableReason(s, r, this.now());
      if (!r || !reason) throw revert("JobMarketNotExpirable", jobId, ref.segment, ref.replica);
      this.seize(job, jobId, ref.segment, ref.replica, r, keeper);
      if (s.status === ChainSegmentStatus.Open) {
        s.replicas[ref.replica] = undefined;
        if (reason === "reveal") s.revealDeadline = 0n;
        this.nextRoundIfRevealed(jobId, ref.segment, s); // (the fake does not keep a slot shut in the last round)
      } else {
        r.state = ChainReplicaState.Settled;
      }
    }
  }

  private closeSegments(jobId: bigint, segments: number[]): void {
    const job = this.job(jobId);
    this.resolveDue(jobId);
    for (const segment of segments) {
      const s = this.segment(job, jobId, segment);
      const view = this.segmentView(jobId, segment);
      const replicas = s.replicas.map((r) => r ?? { state: ChainReplicaState.Empty, leaseEnd: 0n });
      if (!isClosable(job, { ...view, slots: s.touched ? view.slots : 0, replicas }, this.now())) throw revert("JobMarketSegmentNotClosable", jobId, segment);
      // Like JobMarket.closeSegments: a revealed replica's unit is forfeited (the fake does not model escrow).
      for (const [k, r] of s.replicas.entries()) {
        if (!r || r.state === ChainReplicaState.Empty || r.state === ChainReplicaState.Settled) continue;
        if (expirableReason(s, r, this.now())) {
          this.seize(job, jobId, segment, k, r, job.requester);
        } else {
          this.release(job, jobId, segment, k, r);
        }
        r.state = ChainReplicaState.Settled;
      }
      s.status = ChainSegmentStatus.Closed;
      this.emit("SegmentClosed", { jobId, segment });
    }
  }

  private withdraw(who: Address): void {
    const amount = this.balances.get(who.toLowerCase()) ?? 0n;
    if (amount === 0n) throw revert("JobMarketNothingToWithdraw", who);
    this.balances.set(who.toLowerCase(), 0n);
    this.emit("Withdrawn", { account: who, amount });
  }

  // ------------------------------------------------------------------------------------ helpers

  private seize(job: FakeJob, jobId: bigint, segment: number, replica: number, r: FakeReplica, keeper: Address): void {
    const p = this.providers.get(r.provider.toLowerCase())!;
    const collateral = job.params.collateralPerReplica;
    p.locked -= collateral;
    p.staked -= collateral;
    p.expired++;
    const fee = keeperFee(collateral);
    this.credit(keeper, jobId, CreditKind.KeeperFee, fee);
    this.credit(job.requester, jobId, CreditKind.Compensation, collateral - fee);
    this.emit("ReplicaExpired", { jobId, segment, replica, provider: r.provider, keeper, slashed: collateral });
  }

  private release(job: FakeJob, jobId: bigint, segment: number, replica: number, r: FakeReplica): void {
    this.providers.get(r.provider.toLowerCase())!.locked -= job.params.collateralPerReplica;
    r.state = ChainReplicaState.Settled;
    this.emit("ReplicaReleased", { jobId, segment, replica, provider: r.provider });
  }

  /** Credits are summed per (account, kind) and emitted at the end of the transaction, like the contract's. */
  private credit(account: Address, jobId: bigint, kind: number, amount: bigint): void {
    this.balances.set(account.toLowerCase(), (this.balances.get(account.toLowerCase()) ?? 0n) + amount);
    const key = `${account.toLowerCase()}:${kind}`;
    const entry = this.pendingCredits.get(key);
    if (entry) entry.amount += amount;
    else this.pendingCredits.set(key, { account, jobId, kind, amount });
  }

  private held(s: FakeSegment, who: Address, jobId: bigint, segment: number, replica: number): FakeReplica {
    const r = s.replicas[replica];
    if (!r || r.state === ChainReplicaState.Empty || r.provider.toLowerCase() !== who.toLowerCase()) throw revert("JobMarketNotReplicaHolder", jobId, segment, replica, who);
    return r;
  }

  private job(jobId: bigint): FakeJob {
    const job = this.jobs.get(jobId);
    if (!job) throw revert("JobMarketUnknownJob", jobId);
    return job;
  }

  private segment(job: FakeJob, jobId: bigint, segment: number): FakeSegment {
    const s = job.segments[segment];
    if (!s) throw revert("JobMarketInvalidSegment", jobId, segment);
    return s;
  }

  private emit<N extends ChainEvent["eventName"]>(eventName: N, args: ChainEventNamed<N>["args"]): void {
    this.pending.push({ eventName, args, blockNumber: this.block, logIndex: this.pending.length, transactionHash: "0x" } as ChainEvent);
  }

  private mine(): Hex {
    for (const credit of this.pendingCredits.values()) this.emit("Credited", credit);
    this.pendingCredits.clear();
    const hash = keccak256(toHex(`tx-${this.block}`));
    for (const event of this.pending) this.log.push({ ...event, transactionHash: hash });
    this.pending = [];
    this.block++;
    return hash;
  }
}

function blockHash(n: bigint): Hex {
  return keccak256(toHex(`block-${n}`));
}

function score(p: FakeProvider): number {
  return reputationScore(p);
}

/** The error the sdk's market client throws for this revert (a ContractRevertError with the decoded `{ name, args }`). */
function revert(name: ContractErrorName, ...args: unknown[]): ContractRevertError {
  return new ContractRevertError("the call", { name, args } as unknown as ContractError);
}
