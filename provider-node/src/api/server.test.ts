import assert from "node:assert/strict";
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
