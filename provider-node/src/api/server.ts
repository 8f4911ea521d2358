/**
 * The node's local HTTP API (express), bound to 127.0.0.1 unless configured otherwise:
 *   GET  /health    liveness, chain sync state, and whether the state file and the data dir
 *                   still work (a write probe): 200 "ok" / 200 "degraded" (chain trouble) /
 *                   503 "failing" (state file gone or replaced, data dir not writable)
 *   GET  /status    engines, Cycles CPU kernel class, limits, stake / free stake / reputation (from the chain), earnings,
 *                   active replicas with render progress
 *   GET  /segments  replicas from the local state (?state=…&job=…&limit=…)
 *   GET  /metrics   Prometheus text format
 *   POST /pause     stop claiming new work (work in flight continues)    } Authorization:
 *   POST /resume    claim again                                           } Bearer <http.apiToken>
 *
 * A replica's digest and result CID are what a copier needs before the reveal, so /status and
 * /segments show them only once the replica is revealed on-chain, or to a request with the token.
 * Every request must name this server in its Host header (the configured host, or a loopback name
 * when bound to loopback, with the port): a web page on another origin that re-points its own DNS
 * name at 127.0.0.1 (DNS rebinding) is answered 421.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { rmSync, statSync, writeFileSync } from "node:fs";
import { isIP, type AddressInfo } from "node:net";
import { join } from "node:path";
import express, { type NextFunction, type Request, type Response } from "express";
import { formatUnits } from "viem";
import type { ProviderConfig } from "../config/config.ts";
import type { EngineInfo } from "../engines/engine.ts";
import type { Metrics } from "../metrics.ts";
import type { Logger, MarketPort } from "../ports.ts";
import { ACTIVE_STATES, REPLICA_STATES, isReplicaState } from "../state/replicaStateMachine.ts";
import type { ReplicaRow, StateStore } from "../state/stateStore.ts";
import type { ReplicaProgress } from "../worker/worker.ts";

export interface ApiContext {
  config: ProviderConfig;
  store: StateStore;
  market: Pick<MarketPort, "account" | "providerOf" | "freeStake" | "marketBalanceOf">;
  worker: { readonly paused: boolean; setPaused(paused: boolean): void; progress(): ReplicaProgress[]; readonly lastTickError: string | undefined };
  watcher: { readonly head: bigint | undefined; readonly checkpoint: bigint | undefined; readonly lagBlocks: number; readonly lastSyncAt: number | undefined; readonly consecutiveErrors: number; readonly lastError: string | undefined };
  installedEngines: EngineInfo[];
  /** The Cycles CPU kernel class this node renders Blender jobs with (cpuKernel.ts); null when none applies. */
  cpuKernel?: string | null;
  benchmarkScore: number;
  metrics: Metrics;
  startedAt: number;
  now: () => number;
  log: Logger;
}

/** Replica states whose digest and result CID are public on-chain already. */
const REVEALED_STATES: ReadonlySet<string> = new Set(["revealed", "accepted", "rejected"]);

/** How long one /health write probe stands for (health is polled often). */
const PROBE_TTL_MS = 1_000;

export function createApi(ctx: ApiContext, options: { port?: () => number | undefined } = {}): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("json replacer", (_key: string, value: unknown) => (typeof value === "bigint" ? value.toString() : value));
  app.use(checkHost(ctx.config.http.host, options.port ?? (() => ctx.config.http.port)));
  const tokenHash = ctx.config.http.apiToken ? sha256(ctx.config.http.apiToken) : undefined;
  const hasToken = (req: Request) => {
    const sent = bearerOf(req);
    return sent !== undefined && tokenHash !== undefined && timingSafeEqual(sha256(sent), tokenHash);
  };
  const probe = storageProbe(ctx);

  app.get("/health", (_req, res) => {
    const { watcher } = ctx;
    const problems = probe();
    const status = problems.length > 0 ? "failing" : watcher.consecutiveErrors === 0 ? "ok" : "degraded";
    res.status(status === "failing" ? 503 : 200).json({
      status,
      problems,
      address: ctx.market.account,
      paused: ctx.worker.paused,
      uptimeSeconds: Math.round((ctx.now() - ctx.startedAt) / 1000),
      chain: {
        head: watcher.head,
        checkpoint: watcher.checkpoint,
        lagBlocks: watcher.lagBlocks,
        lastSyncAt: watcher.lastSyncAt ? new Date(watcher.lastSyncAt).toISOString() : null,
        errors: watcher.consecutiveErrors,
        lastError: watcher.lastError ?? null,
      },
      worker: { lastError: ctx.worker.lastTickError ?? null },
    });
  });

  app.get("/status", async (req, res) => {
    const { config, store, market } = ctx;
    const progress = new Map(ctx.worker.progress().map((p) => [p.id, p]));
    const privileged = hasToken(req);
    const active = store.listReplicas({ states: ACTIVE_STATES }).map((row) => ({
      ...replicaJson(row, privileged),
      progress: progress.get(row.id)?.fraction ?? (row.state === "claimed" ? 0 : undefined),
    }));
    let chain: Record<string, unknown>;
    try {
      const [provider, freeStake, balance] = await Promise.all([market.providerOf(market.account), market.freeStake(market.account), market.marketBalanceOf(market.account)]);
      chain = {
        registered: provider.registered,
        stake: tokens(provider.staked),
        lockedCollateral: tokens(provider.locked),
        unbonding: tokens(provider.unbonding),
        freeStake: tokens(freeStake),
        reputation: provider.score,
        record: { accepted: provider.accepted, rejected: provider.rejected, expired: provider.expired, abandoned: provider.abandoned },
        unwithdrawnEarnings: tokens(balance),
      };
    } catch (error) {
      chain = { error: `cannot read the chain: ${(error as Error).message}` };
    }
    const earnings = store.earnings();
    res.json({
      address: market.account,
      paused: ctx.worker.paused,
      engines: ctx.installedEngines.filter((e) => config.engines.includes(e.name)),
      cpuKernel: ctx.cpuKernel ?? null,
      benchmarkScore: ctx.benchmarkScore,
      limits: config.limits,
      pricing: { minRewardPerRenderSecondWei: config.pricing.minRewardPerRenderSecondWei.toString() },
      minJobReputation: config.minJobReputation,
      withdrawThreshold: tokens(config.withdrawThreshold),
      chain,
      sync: { head: ctx.watcher.head, checkpoint: ctx.watcher.checkpoint, lagBlocks: ctx.watcher.lagBlocks },
      earnings: {
        credited: Object.fromEntries(Object.entries(earnings.credited).map(([k, v]) => [k, tokens(v)])),
        slashed: tokens(earnings.slashed),
        withdrawn: tokens(earnings.withdrawn),
      },
      replicas: { byState: store.countReplicasByState(), active },
    });
  });

  app.get("/segments", (req, res) => {
    const state = typeof req.query.state === "string" ? req.query.state.split(",").filter(Boolean) : undefined;
    const bad = state?.find((s) => !isReplicaState(s));
    if (bad) {
      res.status(400).json({ error: `unknown state "${bad}" — use one of ${REPLICA_STATES.join(", ")}` });
      return;
    }
    const job = typeof req.query.job === "string" && /^\d+$/.test(req.query.job) ? BigInt(req.query.job) : undefined;
    const limit = typeof req.query.limit === "string" && /^\d+$/.test(req.query.limit) ? Math.min(10_000, Number(req.query.limit)) : 500;
    const rows = ctx.store.listReplicas({ states: state?.filter(isReplicaState), jobId: job, limit });
    const privileged = hasToken(req);
    res.json({ replicas: rows.map((row) => replicaJson(row, privileged)) });
  });

  ctx.metrics.attach({
    replicasByState: () => ctx.store.countReplicasByState(),
    earnings: () => ctx.store.earnings(),
    lagBlocks: () => ctx.watcher.lagBlocks,
    head: () => ctx.watcher.head,
    paused: () => ctx.worker.paused,
  });
  app.get("/metrics", async (_req, res, next) => {
    try {
      const { contentType, text } = await ctx.metrics.exposition();
      res.type(contentType).send(text);
    } catch (error) {
      next(error);
    }
  });

  const auth = requireBearer(ctx.config.http.apiToken);
  app.post("/pause", auth, (_req, res) => {
    ctx.worker.setPaused(true);
    res.json({ paused: true });
  });
  app.post("/resume", auth, (_req, res) => {
    ctx.worker.setPaused(false);
    res.json({ paused: false });
  });

  app.use((_req, res) => {
    res.status(404).json({ error: "no such endpoint — see GET /health, /status, /segments, /metrics; POST /pause, /resume" });
  });
  app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
    ctx.log.error({ err: error.message }, "API request failed");
    res.status(500).json({ error: error.message });
  });
  return app;
}

/** 401 without a Bearer token, 403 with a wrong one (or when no token is configured). */
export function requireBearer(token: string | undefined) {
  const expected = token ? sha256(token) : undefined;
  return (req: Request, res: Response, next: NextFunction) => {
    const sent = bearerOf(req);
    if (sent === undefined) {
      res.status(401).set("WWW-Authenticate", 'Bearer realm="tessellate-provider"').json({ error: "missing credentials — send Authorization: Bearer <http.apiToken>" });
      return;
    }
    if (!expected) {
      res.status(403).json({ error: "pause and resume are disabled — set http.apiToken (env TESSELLATE_API_TOKEN) to enable them" });
      return;
    }
    if (!timingSafeEqual(sha256(sent), expected)) {
      res.status(403).json({ error: "wrong token" });
      return;
    }
    next();
  };
}

function bearerOf(req: Request): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(req.get("authorization") ?? "")?.[1];
}

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

/** Listens on `host:port` (port 0 picks a free one). */
export function startApiServer(ctx: ApiContext, host: string, port: number): Promise<RunningApi> {
  let listening: number | undefined;
  const app = createApi(ctx, { port: () => listening });
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once("error", reject);
    server.once("listening", () => {
      const address = server.address() as AddressInfo;
      listening = address.port;
      const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
      resolve({
        url: `http://${shownHost}:${address.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** A replica as the API shows it: digest and result CID only once revealed, or to the token holder. */
function replicaJson(row: ReplicaRow, privileged: boolean) {
  const visible = privileged || REVEALED_STATES.has(row.state);
  return {
    id: row.id,
    jobId: row.jobId.toString(),
    segment: row.segment,
    replica: row.replica,
    state: row.state,
    leaseEnd: row.leaseEnd,
    digest: visible ? row.digest : null,
    resultCid: visible ? row.resultCid : null,
    ...(visible || (row.digest === null && row.resultCid === null) ? {} : { hidden: "digest and result CID are shown after the reveal, or with Authorization: Bearer <http.apiToken>" }),
    attempts: row.attempts,
    lastError: row.lastError,
    renderSeconds: row.renderSeconds,
    slashed: row.slashed === null ? null : tokens(row.slashed),
    createdAt: new Date(row.createdAt).toISOString(),
    updatedAt: new Date(row.updatedAt).toISOString(),
  };
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1"]);

/**
 * Rejects requests whose Host header names another server (DNS rebinding: a page of evil.example
 * that re-resolves evil.example to 127.0.0.1 sends "Host: evil.example:<port>"). Accepted: the
 * configured host, loopback names when bound to loopback, and any IP literal when bound to all
 * interfaces (names there are the operator's to put behind a proxy) — each with the listening port.
 */
function checkHost(configuredHost: string, port: () => number | undefined) {
  const bound = stripBrackets(configuredHost.toLowerCase());
  const anyInterface = bound === "0.0.0.0" || bound === "::";
  const loopback = LOOPBACK_NAMES.has(bound) || bound.startsWith("127.");
  return (req: Request, res: Response, next: NextFunction) => {
    const header = (req.headers.host ?? "").toLowerCase();
    const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(header);
    const name = match ? stripBrackets(match[1]) : "";
    const sentPort = match?.[2] ? Number(match[2]) : 80;
    const allowedName = name === bound || (loopback && LOOPBACK_NAMES.has(name)) || (anyInterface && isIP(name) !== 0);
    if (!match || !allowedName || sentPort !== port()) {
      res.status(421).json({
        error: `Host "${req.headers.host ?? ""}" is not this server — the local API answers only to ${loopback ? "localhost, 127.0.0.1 or [::1]" : anyInterface ? "an IP address" : configuredHost} on port ${port()} (configured by http.host / TESSELLATE_HTTP_HOST)`,
      });
      return;
    }
    next();
  };
}

function stripBrackets(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * Whether the node can still keep its records: the state file is the one it opened (not deleted or
 * replaced), the database takes a write, and the data dir takes a file. Cached for PROBE_TTL_MS.
 */
function storageProbe(ctx: ApiContext): () => string[] {
  const { store, config } = ctx;
  const onDisk = store.path !== ":memory:";
  const openedIno = onDisk && store.isOpen ? inodeOf(store.path) : undefined;
  let last: { at: number; problems: string[] } | undefined;
  return () => {
    const now = ctx.now();
    if (last && now - last.at < PROBE_TTL_MS) return last.problems;
    const problems: string[] = [];
    if (!store.isOpen) problems.push("the state file is closed");
    else {
      const ino = onDisk ? inodeOf(store.path) : openedIno;
      if (ino === undefined && onDisk) problems.push(`the state file ${store.path} was deleted — the node keeps writing to a file nobody can open; restart it (it rebuilds its replicas from the chain)`);
      else if (ino !== openedIno) problems.push(`the state file ${store.path} was replaced since the node opened it; restart the node`);
      try {
        store.setMeta("healthProbeAt", String(now));
      } catch (error) {
        problems.push(`the state file does not take writes: ${(error as Error).message}`);
      }
    }
    const probeFile = join(config.dataDir, ".health-probe");
    try {
      writeFileSync(probeFile, String(now));
      rmSync(probeFile, { force: true });
    } catch (error) {
      problems.push(`the data dir ${config.dataDir} is not writable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}) — renders, the scene cache and the state file need it`);
    }
    last = { at: now, problems };
    return problems;
  };
}

function inodeOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function tokens(wei: bigint): string {
  return formatUnits(wei, 18);
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
