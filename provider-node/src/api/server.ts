/**
 * The node's local HTTP API (express), bound to 127.0.0.1 unless configured otherwise:
 *   GET  /health    liveness and chain sync state
 *   GET  /status    engines, limits, stake / free stake / reputation (from the chain), earnings,
 *                   active replicas with render progress
 *   GET  /segments  replicas from the local state (?state=…&job=…&limit=…)
 *   GET  /metrics   Prometheus text format
 *   POST /pause     stop claiming new work (work in flight continues)    } Authorization:
 *   POST /resume    claim again                                           } Bearer <http.apiToken>
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import { formatUnits } from "viem";
import type { ProviderConfig } from "../config/config.ts";
import type { EngineInfo } from "../engines/engine.ts";
import type { Metrics } from "../metrics.ts";
import type { Logger, MarketPort } from "../ports.ts";
import { ACTIVE_STATES, REPLICA_STATES, isReplicaState } from "../state/replicaStateMachine.ts";
import type { ReplicaRow, StateStore } from "../state/stateStore.ts";
import type { ReplicaProgress } from "../worker/worker.ts";
import { renderMetrics } from "./metricsText.ts";

export interface ApiContext {
  config: ProviderConfig;
  store: StateStore;
  market: Pick<MarketPort, "account" | "providerOf" | "freeStake" | "marketBalanceOf">;
  worker: { readonly paused: boolean; setPaused(paused: boolean): void; progress(): ReplicaProgress[]; readonly lastTickError: string | undefined };
  watcher: { readonly head: bigint | undefined; readonly checkpoint: bigint | undefined; readonly lagBlocks: number; readonly lastSyncAt: number | undefined; readonly consecutiveErrors: number; readonly lastError: string | undefined };
  installedEngines: EngineInfo[];
  benchmarkScore: number;
  metrics: Metrics;
  startedAt: number;
  now: () => number;
  log: Logger;
}

export function createApi(ctx: ApiContext): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("json replacer", (_key: string, value: unknown) => (typeof value === "bigint" ? value.toString() : value));

  app.get("/health", (_req, res) => {
    const { watcher } = ctx;
    const healthy = watcher.consecutiveErrors === 0 && ctx.store.isOpen;
    res.json({
      status: healthy ? "ok" : "degraded",
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

  app.get("/status", async (_req, res) => {
    const { config, store, market } = ctx;
    const progress = new Map(ctx.worker.progress().map((p) => [p.id, p]));
    const active = store.listReplicas({ states: ACTIVE_STATES }).map((row) => ({
      ...replicaJson(row),
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
    res.json({ replicas: rows.map(replicaJson) });
  });

  app.get("/metrics", (_req, res) => {
    res.type("text/plain; version=0.0.4; charset=utf-8").send(
      renderMetrics({
        metrics: ctx.metrics,
        replicasByState: ctx.store.countReplicasByState(),
        earnings: ctx.store.earnings(),
        lagBlocks: ctx.watcher.lagBlocks,
        head: ctx.watcher.head,
        paused: ctx.worker.paused,
      }),
    );
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
    const header = req.get("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      res.status(401).set("WWW-Authenticate", 'Bearer realm="tessellate-provider"').json({ error: "missing credentials — send Authorization: Bearer <http.apiToken>" });
      return;
    }
    if (!expected) {
      res.status(403).json({ error: "pause and resume are disabled — set http.apiToken (env TESSELLATE_API_TOKEN) to enable them" });
      return;
    }
    if (!timingSafeEqual(sha256(match[1]), expected)) {
      res.status(403).json({ error: "wrong token" });
      return;
    }
    next();
  };
}

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

/** Listens on `host:port` (port 0 picks a free one). */
export function startApiServer(ctx: ApiContext, host: string, port: number): Promise<RunningApi> {
  const app = createApi(ctx);
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once("error", reject);
    server.once("listening", () => {
      const address = server.address() as AddressInfo;
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

function replicaJson(row: ReplicaRow) {
  return {
    id: row.id,
    jobId: row.jobId.toString(),
    segment: row.segment,
    replica: row.replica,
    state: row.state,
    leaseEnd: row.leaseEnd,
    digest: row.digest,
    resultCid: row.resultCid,
    attempts: row.attempts,
    lastError: row.lastError,
    renderSeconds: row.renderSeconds,
    slashed: row.slashed === null ? null : tokens(row.slashed),
    createdAt: new Date(row.createdAt).toISOString(),
    updatedAt: new Date(row.updatedAt).toISOString(),
  };
}

function tokens(wei: bigint): string {
  return formatUnits(wei, 18);
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
