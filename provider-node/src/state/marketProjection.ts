/**
 * The market projection in the node's state file: the sdk event fold's records of every job and
 * touched segment (`fold_jobs`, `fold_segments`; state/projection.ts folds each batch of events
 * onto them) and the same segments and slots as queryable rows (`market_segments`,
 * `market_slots`) for the keeper, the claim logic and reveal windows. The node's own replicas,
 * jobs and earnings are in stateStore.ts; both share one SQLite file and its transactions.
 */
import type { DatabaseSync, SQLInputValue } from "node:sqlite";
import type { Address, Hex } from "viem";
import { expirableReason, isHeld, isSegmentClaimableBy, ReplicaStateNames, SegmentStatusNames, type JobRecord, type SegmentRecord } from "@tessellate/sdk/protocol";
import { jsonWithBigints, parseWithBigints } from "./json.ts";
import { preparedStatements, type PreparedStatements } from "./statements.ts";

type Row = Record<string, SQLInputValue>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS market_slots (
  job_id INTEGER NOT NULL,
  segment INTEGER NOT NULL,
  replica INTEGER NOT NULL,
  provider TEXT NOT NULL,
  state TEXT NOT NULL,
  lease_end INTEGER NOT NULL,
  digest TEXT,
  PRIMARY KEY (job_id, segment, replica)
);
CREATE INDEX IF NOT EXISTS market_slots_by_state ON market_slots (state);
CREATE TABLE IF NOT EXISTS market_segments (
  job_id INTEGER NOT NULL,
  segment INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'open',
  reveal_deadline INTEGER NOT NULL DEFAULT 0,
  accepted_digest TEXT,
  slots INTEGER,
  PRIMARY KEY (job_id, segment)
);
CREATE TABLE IF NOT EXISTS fold_jobs (
  job_id INTEGER PRIMARY KEY,
  record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS fold_segments (
  job_id INTEGER NOT NULL,
  segment INTEGER NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (job_id, segment)
);
`;

export interface MarketSlotRow {
  jobId: bigint;
  segment: number;
  replica: number;
  provider: Address;
  state: "claimed" | "committed" | "revealed" | "settled" | "empty";
  leaseEnd: number;
  /** Revealed digest, once revealed. */
  digest: Hex | null;
}

export class MarketProjection {
  private readonly db: DatabaseSync;
  private readonly sql: PreparedStatements;

  constructor(db: DatabaseSync) {
    this.db = db;
    this.db.exec(SCHEMA);
    this.sql = preparedStatements(db);
  }


  /** Position (block, log index) of the last event the fold applied, or undefined on a fresh file. */
  foldPosition(): { blockNumber: bigint; logIndex: number } | undefined {
    const value = (this.sql("SELECT value FROM meta WHERE key = ?").get("foldPosition") as { value: string } | undefined)?.value;
    if (value === undefined) return undefined;
    const [block, logIndex] = value.split(":");
    return { blockNumber: BigInt(block), logIndex: Number(logIndex) };
  }

  setFoldPosition(position: { blockNumber: bigint; logIndex: number }): void {
    this.sql("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run("foldPosition", `${position.blockNumber}:${position.logIndex}`);
  }

  /** The fold's record of a job, with the records of the given segments (those it holds; the others stay untouched ones). */
  loadFoldJob(jobId: bigint, segments: Iterable<number>): JobRecord | undefined {
    const row = this.sql("SELECT record FROM fold_jobs WHERE job_id = ?").get(jobId) as { record: string } | undefined;
    if (!row) return undefined;
    const job = { ...(parseWithBigints(row.record) as Omit<JobRecord, "segments">), segments: new Map<number, SegmentRecord>() };
    const get = this.sql("SELECT record FROM fold_segments WHERE job_id = ? AND segment = ?");
    for (const index of segments) {
      const seg = get.get(jobId, index) as { record: string } | undefined;
      if (seg) job.segments.set(index, parseWithBigints(seg.record) as SegmentRecord);
    }
    return job;
  }

  /**
   * Saves the fold's record of a job and of the given segments, and writes those segments and
   * their slots as `market_segments` / `market_slots` rows (state names in lower case).
   */
  saveFoldJob(job: JobRecord, segments: Iterable<number>): void {
    const { segments: all, ...header } = job;
    this.sql("INSERT INTO fold_jobs (job_id, record) VALUES (?, ?) ON CONFLICT(job_id) DO UPDATE SET record = excluded.record").run(job.jobId, jsonWithBigints(header));
    const putRecord = this.sql("INSERT INTO fold_segments (job_id, segment, record) VALUES (?, ?, ?) ON CONFLICT(job_id, segment) DO UPDATE SET record = excluded.record");
    const putSegment = this.sql(
      "INSERT INTO market_segments (job_id, segment, status, reveal_deadline, accepted_digest, slots) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(job_id, segment) DO UPDATE SET status = excluded.status, reveal_deadline = excluded.reveal_deadline, accepted_digest = excluded.accepted_digest, slots = excluded.slots",
    );
    const putSlot = this.sql(
      "INSERT INTO market_slots (job_id, segment, replica, provider, state, lease_end, digest) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(job_id, segment, replica) DO UPDATE SET provider = excluded.provider, state = excluded.state, lease_end = excluded.lease_end, digest = excluded.digest",
    );
    for (const index of segments) {
      const seg = all.get(index);
      if (!seg) continue;
      putRecord.run(job.jobId, index, jsonWithBigints(seg));
      putSegment.run(job.jobId, index, SegmentStatusNames[seg.status].toLowerCase(), seg.revealDeadline, seg.accepted?.digest ?? null, seg.slots === 0 ? null : seg.slots);
      seg.replicas.forEach((rep, k) => putSlot.run(job.jobId, index, k, rep.provider, ReplicaStateNames[rep.state].toLowerCase(), rep.leaseEnd, rep.digest ?? null));
    }
  }

  getSlot(jobId: bigint, segment: number, replica: number): MarketSlotRow | undefined {
    const row = this.sql("SELECT * FROM market_slots WHERE job_id = ? AND segment = ? AND replica = ?").get(jobId, segment, replica) as Row | undefined;
    return row && toSlot(row);
  }

  /**
   * The segment's blind round as the fold has it (0 for a segment it has not seen): which link of
   * its digest chain a reveal carries (sdk digestChain.ts). It cannot change between a replica's
   * claim and its reveal (a round starts only when a slot opens after a reveal of the current
   * round), and the claim's event is folded after the round's.
   */
  roundOf(jobId: bigint, segment: number): number {
    const row = this.sql("SELECT record FROM fold_segments WHERE job_id = ? AND segment = ?").get(jobId, segment) as { record: string } | undefined;
    return row ? ((parseWithBigints(row.record) as Partial<SegmentRecord>).round ?? 0) : 0;
  }

  /** Slots of a segment in the projection. */
  slotsOf(jobId: bigint, segment: number): MarketSlotRow[] {
    return (this.sql("SELECT * FROM market_slots WHERE job_id = ? AND segment = ? ORDER BY replica").all(jobId, segment) as Row[]).map(toSlot);
  }

  /** A segment as projected; `slots` is null until a tie-breaker changes it from the job's redundancy. */
  getSegment(jobId: bigint, segment: number): { status: string; revealDeadline: number; acceptedDigest: Hex | null; slots: number | null } {
    const row = this.sql("SELECT status, reveal_deadline, accepted_digest, slots FROM market_segments WHERE job_id = ? AND segment = ?").get(jobId, segment) as Row | undefined;
    return {
      status: (row?.status as string) ?? "open",
      revealDeadline: Number(row?.reveal_deadline ?? 0),
      acceptedDigest: (row?.accepted_digest as Hex | null) ?? null,
      slots: row?.slots === null || row?.slots === undefined ? null : Number(row.slots),
    };
  }

  /**
   * Other providers' slots that anyone may expire at chain time `now` (seconds): a lease that
   * passed without a commit, or a reveal window that passed without a reveal.
   */
  expirableSlots(now: number, except: Address): (MarketSlotRow & { reason: "lease" | "reveal" })[] {
    const rows = this
      .sql(
        `SELECT s.*, g.reveal_deadline FROM market_slots s LEFT JOIN market_segments g ON g.job_id = s.job_id AND g.segment = s.segment
         WHERE lower(s.provider) <> lower(?) AND s.state IN ('claimed', 'committed')
         ORDER BY s.job_id, s.segment, s.replica`,
      )
      .all(except) as Row[];
    const out: (MarketSlotRow & { reason: "lease" | "reveal" })[] = [];
    for (const row of rows) {
      const slot = toSlot(row);
      const reason = expirableReason({ revealDeadline: BigInt(Number(row.reveal_deadline ?? 0)) }, { state: replicaStateOf(slot.state), leaseEnd: BigInt(slot.leaseEnd) }, BigInt(now));
      if (reason) out.push({ ...slot, reason });
    }
    return out;
  }

  /**
   * Segments of audited jobs that reached quorum before block `before` and wait for their audit
   * draw (`auditSegments`), among those where `provider` holds a replica: its pay waits for it.
   */
  verifyingSegments(provider: Address, before: bigint): { jobId: bigint; segment: number }[] {
    const rows = this.sql(
      `SELECT DISTINCT g.job_id, g.segment FROM market_segments g JOIN market_slots s ON s.job_id = g.job_id AND s.segment = g.segment
       WHERE g.status = 'verifying' AND g.reveal_deadline < ? AND lower(s.provider) = lower(?) ORDER BY g.job_id, g.segment`,
    ).all(before, provider) as Row[];
    return rows.map((r) => ({ jobId: BigInt(r.job_id as number), segment: Number(r.segment) }));
  }

  /**
   * How many segments of a job `provider` could still claim according to the projection (the
   * sdk's `isSegmentClaimableBy`: open, not every slot held, none of it `provider`'s, and not one
   * it gave back and is still cooling down on — without `at`, every give-back counts). The
   * contract decides; this only spares claims that cannot succeed.
   */
  claimableSegments(jobId: bigint, provider: Address, redundancy: number, segmentCount: number, at?: { now: bigint; leaseDuration: number }): number {
    const segments = this.sql("SELECT segment, status, slots FROM market_segments WHERE job_id = ?").all(jobId) as Row[];
    const slotRows = (this.sql("SELECT * FROM market_slots WHERE job_id = ?").all(jobId) as Row[]).map(toSlot);
    let blocked = 0;
    for (const g of segments) {
      const replicas = slotRows.filter((s) => s.segment === Number(g.segment)).map((s) => ({ provider: s.provider, state: replicaStateOf(s.state), leaseEnd: BigInt(s.leaseEnd) }));
      const seg = {
        status: SegmentStatusNames.findIndex((name) => name.toLowerCase() === g.status),
        slots: g.slots === null ? 0 : Number(g.slots),
        assigned: replicas.filter((r) => isHeld(r)).length,
        revealDeadline: 0n,
      };
      if (!isSegmentClaimableBy(seg, replicas, provider, redundancy, at)) blocked++;
    }
    return Math.max(0, segmentCount - blocked);
  }

  /** Slots of a segment held (claimed, committed or revealed) by anyone. */
  heldSlots(jobId: bigint, segment: number): MarketSlotRow[] {
    return (this.sql("SELECT * FROM market_slots WHERE job_id = ? AND segment = ? AND state IN ('claimed', 'committed', 'revealed')").all(jobId, segment) as Row[]).map(toSlot);
  }
}

/** A projected slot's state as the contract's enum value. */
function replicaStateOf(state: MarketSlotRow["state"]): number {
  return ReplicaStateNames.findIndex((name) => name.toLowerCase() === state);
}

function toSlot(row: Row): MarketSlotRow {
  return {
    jobId: BigInt(row.job_id as number),
    segment: Number(row.segment),
    replica: Number(row.replica),
    provider: row.provider as Address,
    state: row.state as MarketSlotRow["state"],
    leaseEnd: Number(row.lease_end),
    digest: (row.digest as Hex | null) ?? null,
  };
}
