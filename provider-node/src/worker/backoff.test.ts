import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, BackoffSchedule, backoffDelay } from "./backoff.ts";

test("delays double from the base, stay between half and all of it, and are capped", () => {
  assert.equal(backoffDelay(0, 100, 10_000, () => 0), 50);
  assert.equal(backoffDelay(0, 100, 10_000, () => 1), 100);
  assert.equal(backoffDelay(3, 100, 10_000, () => 1), 800);
  assert.equal(backoffDelay(20, 100, 10_000, () => 1), 10_000);
  const b = new Backoff({ baseMs: 10, maxMs: 1_000 });
  const delays = [b.next(), b.next(), b.next()];
  assert.ok(delays[0] <= 10 && delays[1] >= 10 && delays[2] >= 20);
  b.reset();
  assert.ok(b.next() <= 10);
});

test("a schedule keeps keys apart and forgets them on success", () => {
  const s = new BackoffSchedule<string>({ baseMs: 100, maxMs: 1_000 });
  assert.ok(s.ready("a", 0));
  const delay = s.failed("a", 0);
  assert.ok(!s.ready("a", delay - 1) && s.ready("a", delay) && s.ready("b", 0));
  assert.equal(s.nextReadyAt(0), delay);
  assert.equal(s.nextReadyAt(delay), undefined, "past deadlines do not count");
  s.succeeded("a");
  assert.equal(s.attempts("a"), 0);
});
