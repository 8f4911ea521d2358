import assert from "node:assert/strict";
import { test } from "node:test";
import { privateKeyToAccount } from "viem/accounts";
import { deriveSaltSecret, replicaSalt, saltKeyMessage } from "./replicaSalt.ts";

const KEY_A = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const KEY_B = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
const DEPLOYMENT = { chainId: 31337, market: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0" as const };
const SLOT = { jobId: 7n, segment: 3, replica: 1, leaseEnd: 1_800_000_000 };

test("the same key derives the same salt for the same claim, after any restart", async () => {
  const first = await deriveSaltSecret(privateKeyToAccount(KEY_A), DEPLOYMENT);
  const again = await deriveSaltSecret(privateKeyToAccount(KEY_A), DEPLOYMENT);
  assert.equal(again, first);
  assert.equal(replicaSalt(again, SLOT), replicaSalt(first, SLOT));
  assert.match(replicaSalt(first, SLOT), /^0x[0-9a-f]{64}$/);
});

test("each claim of each slot gets its own salt; a reopened slot claimed again gets a new one", async () => {
  const secret = await deriveSaltSecret(privateKeyToAccount(KEY_A), DEPLOYMENT);
  const salts = new Set([
    replicaSalt(secret, SLOT),
    replicaSalt(secret, { ...SLOT, leaseEnd: SLOT.leaseEnd + 1 }),
    replicaSalt(secret, { ...SLOT, replica: 0 }),
    replicaSalt(secret, { ...SLOT, segment: 4 }),
    replicaSalt(secret, { ...SLOT, jobId: 8n }),
  ]);
  assert.equal(salts.size, 5);
});

test("the secret depends on the private key and the deployment, not on public data alone", async () => {
  const a = await deriveSaltSecret(privateKeyToAccount(KEY_A), DEPLOYMENT);
  const b = await deriveSaltSecret(privateKeyToAccount(KEY_B), DEPLOYMENT);
  const otherChain = await deriveSaltSecret(privateKeyToAccount(KEY_A), { ...DEPLOYMENT, chainId: 1 });
  const otherMarket = await deriveSaltSecret(privateKeyToAccount(KEY_A), { ...DEPLOYMENT, market: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512" });
  assert.equal(new Set([a, b, otherChain, otherMarket]).size, 4);
  // The only inputs besides the key are public (the message, the address): neither is the secret.
  const account = privateKeyToAccount(KEY_A);
  for (const input of [saltKeyMessage(DEPLOYMENT), account.address, account.publicKey]) assert.ok(!input.toLowerCase().includes(a.slice(2)));
});
