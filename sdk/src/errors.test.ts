import assert from "node:assert/strict";
import { test } from "node:test";
import { FatalError, RetryableError, TessellateError, isRetryable } from "./errors.ts";

test("retry policy follows the error class, not the message", () => {
  const retryable = new RetryableError("RPC_UNAVAILABLE", "the RPC endpoint did not answer");
  const fatal = new FatalError("MANIFEST_INVALID", "retryable in the message does not matter");
  assert.equal(isRetryable(retryable), true);
  assert.equal(isRetryable(fatal), false);
  assert.equal(isRetryable(new Error("plain")), false);
  assert.ok(fatal instanceof TessellateError);
  assert.equal(fatal.name, "FatalError");
  assert.equal(retryable.code, "RPC_UNAVAILABLE");
});
