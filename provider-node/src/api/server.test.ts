import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, rm } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { afterEach, beforeEach, test } from "node:test";
import { PROVIDER_A, createWorld, postJob, startNode, statesOf, until, type World } from "../testing/harness.ts";

const TOKEN_TEXT = "test-token-0123456789abcdef";
let world: World;
beforeEach(async () => {
  world = await createWorld();
});
afterEach(() => world.cleanup());

async function node(apiToken: string | null = TOKEN_TEXT) {
  const n = await startNode(world, PROVIDER_A, { config: { http: { enabled: true, port: 0, apiToken: apiToken ?? undefined } } });
  assert.match(n.apiUrl!, /^http:\/\/127\.0\.0\.1:\d+$/, "binds to loopback by default");
  return n;
}

test("GET /health, /status, /segments and /metrics describe the node", async () => {
  const a = await node();
  const { jobId } = await postJob(world, { tiles: 2, redundancy: 1 });
  await until(() => statesOf(a, jobId).join() === "0:accepted,1:accepted", "settled");

  const health = await fetch(`${a.apiUrl}/health`);
  assert.equal(health.status, 200);
  const h = await health.json();
  assert.equal(h.status, "ok");
  assert.equal(h.address, PROVIDER_A);
  assert.equal(h.chain.lagBlocks >= 0, true);

  const status = await (await fetch(`${a.apiUrl}/status`)).json();
  assert.deepEqual(status.engines, [{ name: "builtin", version: "1.0.0" }]);
  assert.equal(status.limits.maxConcurrentSegments, 4);
  assert.equal(status.chain.registered, true);
  assert.equal(status.chain.reputation, 6666);
  assert.equal(typeof status.chain.freeStake, "string");
  assert.equal(status.earnings.credited.Reward, "2");
  assert.equal(status.replicas.byState.accepted, 2);
  assert.equal(status.paused, false);

  const segments = await (await fetch(`${a.apiUrl}/segments?state=accepted`)).json();
  assert.equal(segments.replicas.length, 2);
  assert.equal(segments.replicas[0].jobId, String(jobId));
  assert.match(segments.replicas[0].digest, /^0x[0-9a-f]{64}$/);
  assert.equal("salt" in segments.replicas[0], false, "salts are not served");
  const bad = await fetch(`${a.apiUrl}/segments?state=done`);
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /unknown state "done"/);

  const metrics = await fetch(`${a.apiUrl}/metrics`);
  assert.match(metrics.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
  const text = await metrics.text();
  assert.match(text, /^tessellate_provider_replicas\{state="accepted"\} 2$/m);
  assert.match(text, /^tessellate_provider_reveals_total 2$/m);
  assert.match(text, /^tessellate_provider_render_seconds_count 2$/m);
  assert.match(text, /^tessellate_provider_render_seconds_bucket\{le="\+Inf"\} 2$/m);
  assert.match(text, /^tessellate_provider_earnings_tokens\{kind="Reward"\} 2$/m);
  assert.match(text, /^tessellate_provider_chain_lag_blocks \d+$/m);
  assert.match(text, /^# TYPE tessellate_provider_claims_total counter$/m);
  // prom-client's process and Node.js metrics come with it.
  assert.match(text, /^process_cpu_user_seconds_total \d/m);
  assert.match(text, /^nodejs_eventloop_lag_seconds \d/m);
});

test("POST /pause and /resume need the bearer token: 401 without, 403 when wrong", async () => {
  const a = await node();
  const none = await fetch(`${a.apiUrl}/pause`, { method: "POST" });
  assert.equal(none.status, 401);
  assert.match(none.headers.get("www-authenticate")!, /^Bearer/);
  const wrong = await fetch(`${a.apiUrl}/pause`, { method: "POST", headers: { authorization: "Bearer nope" } });
  assert.equal(wrong.status, 403);
  assert.equal(a.worker.paused, false);
  const ok = await fetch(`${a.apiUrl}/pause`, { method: "POST", headers: { authorization: `Bearer ${TOKEN_TEXT}` } });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { paused: true });
  assert.equal(a.worker.paused, true);
});

test("without a configured token, pause and resume are refused (403)", async () => {
  const a = await node(null);
  const res = await fetch(`${a.apiUrl}/pause`, { method: "POST", headers: { authorization: "Bearer anything-at-all" } });
  assert.equal(res.status, 403);
  assert.match((await res.json()).error, /set http\.apiToken/);
});

test("pause stops new claims while work in flight continues; resume claims again", async () => {
  const a = await node();
  const auth = { authorization: `Bearer ${TOKEN_TEXT}` };
  const { jobId: first } = await postJob(world, { tiles: 1, redundancy: 1 });
  await until(() => statesOf(a, first).length === 1, "first job claimed");
  assert.equal((await fetch(`${a.apiUrl}/pause`, { method: "POST", headers: auth })).status, 200);
  await until(() => statesOf(a, first).join() === "0:accepted", "work in flight finishes while paused");
  const { jobId: second } = await postJob(world, { tiles: 1, redundancy: 1 });
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(statesOf(a, second), [], "no claim while paused");
  assert.equal((await (await fetch(`${a.apiUrl}/health`)).json()).paused, true);
  assert.equal((await fetch(`${a.apiUrl}/resume`, { method: "POST", headers: auth })).status, 200);
  await until(() => statesOf(a, second).join() === "0:accepted", "claimed and settled after resume");
});

/** A raw GET with any Host header (fetch does not let a caller choose it). */
function getWithHost(url: string, path: string, host: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path, method: "GET", headers: { host } }, (res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("/segments hides a replica's digest and result CID until its reveal, unless the token is sent", async () => {
  const a = await node();
  // Redundancy 2 with one provider: A's replicas commit and wait for a second provider, unrevealed.
  const { jobId } = await postJob(world, { tiles: 2, redundancy: 2 });
  await until(() => statesOf(a, jobId).join() === "0:committed,1:committed", "committed, waiting for the reveal");
  const stored = a.store.listReplicas({ jobId });
  assert.ok(stored.every((r) => r.digest && r.resultCid), "the node has the digests and CIDs");

  const anonymous = (await (await fetch(`${a.apiUrl}/segments?job=${jobId}`)).json()).replicas;
  assert.equal(anonymous.length, 2);
  for (const r of anonymous) {
    assert.equal(r.digest, null);
    assert.equal(r.resultCid, null);
    assert.match(r.hidden, /after the reveal/);
  }
  const text = JSON.stringify(await (await fetch(`${a.apiUrl}/status`)).json()) + JSON.stringify(anonymous);
  for (const r of stored) assert.ok(!text.includes(r.digest!) && !text.includes(r.resultCid!), "neither /status nor /segments leaks them");

  const wrong = (await (await fetch(`${a.apiUrl}/segments?job=${jobId}`, { headers: { authorization: "Bearer nope" } })).json()).replicas;
  assert.equal(wrong[0].digest, null, "a wrong token sees nothing more");
  const owner = (await (await fetch(`${a.apiUrl}/segments?job=${jobId}`, { headers: { authorization: `Bearer ${TOKEN_TEXT}` } })).json()).replicas;
  assert.deepEqual(owner.map((r: { digest: string }) => r.digest).sort(), stored.map((r) => r.digest).sort());
});

test("requests naming another host (DNS rebinding) are refused with 421; loopback names are served", async () => {
  const a = await node();
  const port = new URL(a.apiUrl!).port;
  for (const host of ["evil.example", `evil.example:${port}`, `127.0.0.1:${Number(port) + 1}`, "10.0.0.1:" + port]) {
    const res = await getWithHost(a.apiUrl!, "/health", host);
    assert.equal(res.status, 421, host);
    assert.match(JSON.parse(res.body).error, /is not this server/);
  }
  for (const path of ["/segments", "/status", "/metrics"]) assert.equal((await getWithHost(a.apiUrl!, path, `rebound.example:${port}`)).status, 421, path);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) assert.equal((await getWithHost(a.apiUrl!, "/health", host)).status, 200, host);
});

test("/health is not ok when the state file was deleted", async () => {
  const a = await node();
  assert.equal((await (await fetch(`${a.apiUrl}/health`)).json()).status, "ok");
  await rm(a.store.path);
  await new Promise((r) => setTimeout(r, 1_100)); // past the probe's cache
  const res = await fetch(`${a.apiUrl}/health`);
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.status, "failing");
  assert.match(body.problems.join("\n"), /state file .*provider\.sqlite was deleted/);
});

test("/health is not ok when the data dir is read-only", async () => {
  const a = await node();
  const dir = a.config.dataDir;
  assert.equal((await (await fetch(`${a.apiUrl}/health`)).json()).status, "ok");
  // As root a chmod does not stop writes: make it a read-only bind mount instead.
  const root = process.getuid?.() === 0;
  if (root) {
    execFileSync("mount", ["--bind", dir, dir]);
    execFileSync("mount", ["-o", "remount,bind,ro", dir]);
  } else await chmod(dir, 0o555);
  try {
    await new Promise((r) => setTimeout(r, 1_100));
    const res = await fetch(`${a.apiUrl}/health`);
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.status, "failing");
    assert.match(body.problems.join("\n"), /data dir .* is not writable/);
  } finally {
    if (root) execFileSync("umount", [dir]);
    else await chmod(dir, 0o755);
  }
  await new Promise((r) => setTimeout(r, 1_100));
  assert.equal((await (await fetch(`${a.apiUrl}/health`)).json()).status, "ok", "healthy again once writable");
});
