/**
 * The node's local state, in one SQLite file (`node:sqlite`, WAL, synchronous=FULL; NORMAL for
 * commits of chain events, which the watcher can read again) in the data dir. What it holds:
 *  - `jobs`: every job seen (parameters from `JobCreated`, the manifest, the filter's decision and reason);
 *  - `replicas`: the replicas this node holds, with state, lease, digest, salt, result CID, attempts,
 *    last error and timestamps; `replica_transitions`: every state change, for the record;
 *  - the market projection (`store.market`, state/marketProjection.ts: the sdk event fold's
 *    records of every job and touched segment, and the same as queryable slot and segment rows);
 *  - `earnings`: credits, slashes and withdrawals of this node's account;
 *  - `meta`: the chain checkpoint (last block whose events are applied) and node facts.
 *
 * Every change is one SQLite transaction, and events of a block range are applied together with
 * the checkpoint, so killing the process at any moment leaves a consistent file. Replica states
 * change only through {@link StateStore.transition}, which checks the state machine.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import type { Address, Hex } from "viem";
import type { JobParams, Manifest } from "@tessellate/sdk";
import { FatalError } from "@tessellate/sdk/errors";
import { jsonWithBigints, parseWithBigints } from "./json.ts";
import { MarketProjection } from "./marketProjection.ts";
import { preparedStatements, type PreparedStatements } from "./statements.ts";
import { ACTIVE_STATES, checkTransition, isReplicaState, type ReplicaState } from "./replicaStateMachine.ts";

export type { MarketSlotRow } from "./marketProjection.ts";

export type JobDecision = "pending" | "accepted" | "skipped";

export interface JobRow {
  jobId: bigint;
  requester: Address;
  params: JobParams;
  feeBps: number;
  status: "open" | "cancelled";
  decision: JobDecision;
  reason: string | null;
  /** When the decision is permanent (engine missing, invalid manifest, price); transient ones are re-evaluated. */
  final: boolean;
  manifest: Manifest | null;
  createdBlock: bigint;
}

export interface ReplicaRow {
  id: number;
  jobId: bigint;
  segment: number;
  replica: number;
  state: ReplicaState;
  leaseEnd: number;
  claimBlock: bigint;
  digest: Hex | null;
  salt: Hex | null;
  commitment: Hex | null;
  resultCid: string | null;
  /** Tolerant jobs: the result's 256-byte fingerprint (committed to, revealed); null in exact jobs. */
  fingerprint: Hex | null;
  /** Publishing is done (worker/publish.ts, only once the replica was accepted): the result folder was added to IPFS, or it is gone and cannot be. */
  published: boolean;
  attempts: number;
  lastError: string | null;
  renderSeconds: number | null;
  slashed: bigint | null;
  createdAt: number;
  updatedAt: number;
}

/** Fields a transition may set along with the state. */
export interface ReplicaFields {
  digest?: Hex;
  salt?: Hex;
  commitment?: Hex;
  resultCid?: string;
  fingerprint?: Hex | null;
  attempts?: number;
  lastError?: string | null;
  renderSeconds?: number;
  slashed?: bigint;
}


export interface EarningsSummary {
  /** Credited to this account, by kind (Reward, TieBreakerReward, KeeperFee, …). */
  credited: Record<string, bigint>;
  slashed: bigint;
  withdrawn: bigint;
}

/** 2: the market projection is the sdk's event fold (fold_jobs, fold_segments). */
const SCHEMA_VERSION = 2;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
  job_id INTEGER PRIMARY KEY,
  requester TEXT NOT NULL,
  params TEXT NOT NULL,
  fee_bps INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'open',
  decision TEXT NOT NULL DEFAULT 'pending',
  reason TEXT,
  final INTEGER NOT NULL DEFAULT 0,
  manifest TEXT,
  created_block INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS replicas (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL,
  segment INTEGER NOT NULL,
  replica INTEGER NOT NULL,
  state TEXT NOT NULL,
  lease_end INTEGER NOT NULL,
  claim_block INTEGER NOT NULL,
  digest TEXT,
  salt TEXT,
  commitment TEXT,
  result_cid TEXT,
  fingerprint TEXT,
  published INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  render_seconds REAL,
  slashed TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (job_id, segment, replica, lease_end)
);
CREATE INDEX IF NOT EXISTS replicas_by_state ON replicas (state);
CREATE TABLE IF NOT EXISTS replica_transitions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  replica_id INTEGER NOT NULL,
  from_state TEXT,
  to_state TEXT NOT NULL,
  note TEXT,
  at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS earnings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER,
  kind TEXT NOT NULL,
  amount TEXT NOT NULL,
  block INTEGER NOT NULL,
  tx_hash TEXT NOT NULL,
  log_index INTEGER NOT NULL,
  UNIQUE (tx_hash, log_index)
);
`;

type Row = Record<string, SQLInputValue>;

export class StateStore {
  readonly path: string;
  private readonly db: DatabaseSync;
  /** The market as the sdk's event fold sees it (every job, segment and slot), in the same file. */
  readonly market: MarketProjection;
  private depth = 0;
  private readonly now: () => number;
  private readonly sql: PreparedStatements;

  private constructor(path: string, now: () => number) {
    this.path = path;
    this.now = now;
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new DatabaseSync(path);
    this.sql = preparedStatements(this.db);
    this.db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;");
    this.db.exec(SCHEMA);
    // Added within schema version 2 (tolerant verification): older files get the column, empty.
    const replicaColumns = this.db.prepare("PRAGMA table_info(replicas)").all() as Row[]; // once, before the schema may change
    if (!replicaColumns.some((c) => c.name === "fingerprint")) this.db.exec("ALTER TABLE replicas ADD COLUMN fingerprint TEXT");
    // Added with sealed results: a node that wrote this file before added every result at render time.
    if (!replicaColumns.some((c) => c.name === "published")) this.db.exec("ALTER TABLE replicas ADD COLUMN published INTEGER NOT NULL DEFAULT 0; UPDATE replicas SET published = 1");
    this.market = new MarketProjection(this.db);
    const version = this.getMeta("schemaVersion");
    if (version === undefined) this.setMeta("schemaVersion", String(SCHEMA_VERSION));
    else if (Number(version) !== SCHEMA_VERSION) {
      throw new FatalError("STATE_SCHEMA", `The state file ${path} has schema version ${version}, this node reads ${SCHEMA_VERSION} — use the matching node version or a fresh data dir`);
    }
  }

  /** Opens (creating if needed) the state file. `now` gives timestamps in ms (default Date.now). */
  static open(path: string, now: () => number = Date.now): StateStore {
    return new StateStore(path, now);
  }

  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  get isOpen(): boolean {
    return this.db.isOpen;
  }

  /**
   * Runs `fn` in one transaction (nested calls join the outer one). `rederivable`: everything it
   * writes can be read from the chain again (events applied together with the checkpoint), so its
   * commit is not flushed to the disk (`synchronous = NORMAL` for it): a power cut may roll it back,
   * never leave it half-applied, and the watcher then applies those blocks again. The next
   * ordinary commit flushes it too. Measured: the watcher's commits were 12 % of a provider's CPU
   * per segment (`npm run bench:overhead`).
   */
  transaction<T>(fn: () => T, options: { rederivable?: boolean } = {}): T {
    if (this.depth > 0) {
      this.depth++;
      try {
        return fn();
      } finally {
        this.depth--;
      }
    }
    const relaxed = options.rederivable === true;
    if (relaxed) this.db.exec("PRAGMA synchronous = NORMAL");
    try {
      this.db.exec("BEGIN IMMEDIATE");
      this.depth = 1;
      try {
        const result = fn();
        this.db.exec("COMMIT");
        return result;
      } catch (error) {
        if (this.db.isOpen) this.db.exec("ROLLBACK");
        throw error;
      } finally {
        this.depth = 0;
      }
    } finally {
      if (relaxed && this.db.isOpen) this.db.exec("PRAGMA synchronous = FULL");
    }
  }

  // ------------------------------------------------------------------------------ meta

  getMeta(key: string): string | undefined {
    const row = this.sql("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.sql("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  /** Last block whose events are applied, or undefined on a fresh file. */
  checkpoint(): { block: bigint; hash: Hex | undefined } | undefined {
    const block = this.getMeta("checkpointBlock");
    if (block === undefined) return undefined;
    return { block: BigInt(block), hash: this.getMeta("checkpointHash") as Hex | undefined };
  }

  setCheckpoint(block: bigint, hash: Hex | undefined): void {
    this.transaction(() => {
      this.setMeta("checkpointBlock", block.toString());
      if (hash) this.setMeta("checkpointHash", hash);
    });
  }

  // ------------------------------------------------------------------------------ jobs

  /** Records a job from its `JobCreated` event; a job already known is left as it is. */
  insertJob(job: { jobId: bigint; requester: Address; params: JobParams; feeBps: number; createdBlock: bigint }): void {
    this.db
      .prepare("INSERT OR IGNORE INTO jobs (job_id, requester, params, fee_bps, created_block, updated_at) VALUES (?, ?, ?, ?, ?, ?)")
      .run(job.jobId, job.requester, jsonWithBigints(job.params), job.feeBps, job.createdBlock, this.now());
  }

  getJob(jobId: bigint): JobRow | undefined {
    const row = this.sql("SELECT * FROM jobs WHERE job_id = ?").get(jobId) as Row | undefined;
    return row && toJob(row);
  }

  listJobs(filter: { decision?: JobDecision; status?: "open" | "cancelled" } = {}): JobRow[] {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    if (filter.decision) (where.push("decision = ?"), args.push(filter.decision));
    if (filter.status) (where.push("status = ?"), args.push(filter.status));
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY job_id`;
    return (this.sql(sql).all(...args) as Row[]).map(toJob);
  }

  setJobStatus(jobId: bigint, status: "open" | "cancelled"): void {
    this.sql("UPDATE jobs SET status = ?, updated_at = ? WHERE job_id = ?").run(status, this.now(), jobId);
  }

  setJobManifest(jobId: bigint, manifest: Manifest): void {
    this.sql("UPDATE jobs SET manifest = ?, updated_at = ? WHERE job_id = ?").run(JSON.stringify(manifest), this.now(), jobId);
  }

  /** Records the filter's decision; returns true when it changed (so the caller logs it once). */
  setJobDecision(jobId: bigint, decision: JobDecision, reason: string | null, final: boolean): boolean {
    const current = this.getJob(jobId);
    if (current && current.decision === decision && current.reason === reason && current.final === final) return false;
    this.sql("UPDATE jobs SET decision = ?, reason = ?, final = ?, updated_at = ? WHERE job_id = ?").run(decision, reason, final ? 1 : 0, this.now(), jobId);
    return true;
  }

  // ------------------------------------------------------------------------------ replicas

  /**
   * Records a replica this node was assigned (from its `ReplicaClaimed` event). Idempotent: the
   * same claim (job, segment, replica, lease end) is recorded once. Returns the row.
   */
  insertClaim(claim: { jobId: bigint; segment: number; replica: number; leaseEnd: number; claimBlock: bigint }): { row: ReplicaRow; inserted: boolean } {
    return this.transaction(() => {
      const now = this.now();
      const result = this.db
        .prepare(
          "INSERT OR IGNORE INTO replicas (job_id, segment, replica, state, lease_end, claim_block, created_at, updated_at) VALUES (?, ?, ?, 'claimed', ?, ?, ?, ?)",
        )
        .run(claim.jobId, claim.segment, claim.replica, claim.leaseEnd, claim.claimBlock, now, now);
      const inserted = Number(result.changes) > 0;
      const row = this.db
        .prepare("SELECT * FROM replicas WHERE job_id = ? AND segment = ? AND replica = ? AND lease_end = ?")
        .get(claim.jobId, claim.segment, claim.replica, claim.leaseEnd) as Row;
      if (inserted) {
        this.sql("INSERT INTO replica_transitions (replica_id, from_state, to_state, note, at) VALUES (?, NULL, 'claimed', ?, ?)").run(row.id, `lease ends ${claim.leaseEnd}`, now);
      }
      return { row: toReplica(row), inserted };
    });
  }

  getReplica(id: number): ReplicaRow | undefined {
    const row = this.sql("SELECT * FROM replicas WHERE id = ?").get(id) as Row | undefined;
    return row && toReplica(row);
  }

  /** The newest row of this slot that is not final (there is at most one). */
  findActiveReplica(jobId: bigint, segment: number, replica: number): ReplicaRow | undefined {
    const placeholders = ACTIVE_STATES.map(() => "?").join(", ");
    const row = this.db
      .prepare(`SELECT * FROM replicas WHERE job_id = ? AND segment = ? AND replica = ? AND state IN (${placeholders}) ORDER BY id DESC LIMIT 1`)
      .get(jobId, segment, replica, ...ACTIVE_STATES) as Row | undefined;
    return row && toReplica(row);
  }

  /** Accepted replicas whose result folder is not on IPFS yet (worker/publish.ts), oldest first. */
  unpublishedAccepted(): ReplicaRow[] {
    return (this.sql("SELECT * FROM replicas WHERE state = 'accepted' AND published = 0 AND result_cid IS NOT NULL ORDER BY id").all() as Row[]).map(toReplica);
  }

  /** Records that the replica's result folder was added to IPFS. */
  markPublished(id: number): void {
    this.sql("UPDATE replicas SET published = 1, updated_at = ? WHERE id = ?").run(this.now(), id);
  }

  listReplicas(filter: { states?: readonly ReplicaState[]; jobId?: bigint; limit?: number } = {}): ReplicaRow[] {
    const where: string[] = [];
    const args: SQLInputValue[] = [];
    if (filter.states) {
      if (filter.states.length === 0) return [];
      where.push(`state IN (${filter.states.map(() => "?").join(", ")})`);
      args.push(...filter.states);
    }
    if (filter.jobId !== undefined) (where.push("job_id = ?"), args.push(filter.jobId));
    const sql = `SELECT * FROM replicas ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC ${filter.limit ? `LIMIT ${Math.floor(filter.limit)}` : ""}`;
    return (this.sql(sql).all(...args) as Row[]).map(toReplica);
  }

  countReplicasByState(): Record<ReplicaState, number> {
    const counts = {} as Record<ReplicaState, number>;
    for (const row of this.sql("SELECT state, COUNT(*) AS n FROM replicas GROUP BY state").all() as { state: string; n: number }[]) {
      if (isReplicaState(row.state)) counts[row.state] = row.n;
    }
    return counts;
  }

  /**
   * THE place where a replica's state changes: checks the transition against the state machine
   * and writes the new state, the given fields and a transition record in one transaction.
   * @throws FatalError `REPLICA_ILLEGAL_TRANSITION`, `REPLICA_UNKNOWN`.
   */
  transition(id: number, to: ReplicaState, fields: ReplicaFields = {}, note?: string): ReplicaRow {
    return this.transaction(() => {
      const current = this.getReplica(id);
      if (!current) throw new FatalError("REPLICA_UNKNOWN", `no replica with id ${id} in the state file`);
      checkTransition(current.state, to, `replica ${current.jobId}/${current.segment}/${current.replica}`);
      const sets = ["state = ?", "updated_at = ?"];
      const now = this.now();
      const args: SQLInputValue[] = [to, now];
      const columns: Record<keyof ReplicaFields, string> = {
        digest: "digest",
        salt: "salt",
        commitment: "commitment",
        resultCid: "result_cid",
        fingerprint: "fingerprint",
        attempts: "attempts",
        lastError: "last_error",
        renderSeconds: "render_seconds",
        slashed: "slashed",
      };
      for (const [key, column] of Object.entries(columns) as [keyof ReplicaFields, string][]) {
        if (!(key in fields)) continue;
        const value = fields[key];
        sets.push(`${column} = ?`);
        args.push(typeof value === "bigint" ? value.toString() : (value ?? null));
      }
      this.sql(`UPDATE replicas SET ${sets.join(", ")} WHERE id = ?`).run(...args, id);
      this.sql("INSERT INTO replica_transitions (replica_id, from_state, to_state, note, at) VALUES (?, ?, ?, ?, ?)").run(id, current.state, to, note ?? null, now);
      return this.getReplica(id)!;
    });
  }

  /** Counts a failed attempt (no state change): `attempts + 1`, `last_error`. */
  recordAttempt(id: number, error: string): ReplicaRow {
    this.sql("UPDATE replicas SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?").run(error, this.now(), id);
    return this.getReplica(id)!;
  }

  transitionsOf(id: number): { from: ReplicaState | null; to: ReplicaState; note: string | null; at: number }[] {
    return (this.sql("SELECT from_state, to_state, note, at FROM replica_transitions WHERE replica_id = ? ORDER BY id").all(id) as Row[]).map((r) => ({
      from: (r.from_state as ReplicaState | null) ?? null,
      to: r.to_state as ReplicaState,
      note: (r.note as string | null) ?? null,
      at: Number(r.at),
    }));
  }

  // ------------------------------------------------------------------------------ earnings

  recordEarning(entry: { jobId: bigint | null; kind: string; amount: bigint; block: bigint; txHash: Hex; logIndex: number }): void {
    this.db
      .prepare("INSERT OR IGNORE INTO earnings (job_id, kind, amount, block, tx_hash, log_index) VALUES (?, ?, ?, ?, ?, ?)")
      .run(entry.jobId, entry.kind, entry.amount.toString(), entry.block, entry.txHash, entry.logIndex);
  }

  earnings(): EarningsSummary {
    const summary: EarningsSummary = { credited: {}, slashed: 0n, withdrawn: 0n };
    for (const row of this.sql("SELECT kind, amount FROM earnings").all() as { kind: string; amount: string }[]) {
      const amount = BigInt(row.amount);
      if (row.kind === "Slashed") summary.slashed += amount;
      else if (row.kind === "Withdrawn") summary.withdrawn += amount;
      else summary.credited[row.kind] = (summary.credited[row.kind] ?? 0n) + amount;
    }
    return summary;
  }
}

function toJob(row: Row): JobRow {
  return {
    jobId: BigInt(row.job_id as number),
    requester: row.requester as Address,
    params: parseJobParams(row.params as string),
    feeBps: Number(row.fee_bps),
    status: row.status as JobRow["status"],
    decision: row.decision as JobDecision,
    reason: (row.reason as string | null) ?? null,
    final: Number(row.final) === 1,
    manifest: row.manifest ? (JSON.parse(row.manifest as string) as Manifest) : null,
    createdBlock: BigInt(row.created_block as number),
  };
}

function toReplica(row: Row): ReplicaRow {
  const state = row.state as string;
  if (!isReplicaState(state)) throw new FatalError("STATE_CORRUPT", `replica ${row.id} has unknown state "${state}"`);
  return {
    id: Number(row.id),
    jobId: BigInt(row.job_id as number),
    segment: Number(row.segment),
    replica: Number(row.replica),
    state,
    leaseEnd: Number(row.lease_end),
    claimBlock: BigInt(row.claim_block as number),
    digest: (row.digest as Hex | null) ?? null,
    salt: (row.salt as Hex | null) ?? null,
    commitment: (row.commitment as Hex | null) ?? null,
    resultCid: (row.result_cid as string | null) ?? null,
    published: Number(row.published ?? 0) === 1,
    fingerprint: (row.fingerprint as Hex | null) ?? null,
    attempts: Number(row.attempts),
    lastError: (row.last_error as string | null) ?? null,
    renderSeconds: row.render_seconds === null ? null : Number(row.render_seconds),
    slashed: row.slashed === null ? null : BigInt(row.slashed as string),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

function parseJobParams(text: string): JobParams {
  return parseWithBigints(text) as JobParams;
}
