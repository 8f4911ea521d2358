/**
 * The wallet connectors the dApp offers (lib/connectorChoices.ts, which lib/wagmi.ts turns into
 * wagmi's connectors) for the runtime configs it is served with: WalletConnect only when a
 * project id is configured and the page runs in a browser, the devnet accounts only when the
 * server sent them (chain 31337). The browser test checks the other half: served without a
 * project id, no page loads WalletConnect's code or offers it.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { devnetAccount, devnetPrivateKey } from "../../scripts/devnet/accounts.ts";
import type { RuntimeConfig } from "../lib/config.ts";
import { connectorChoices } from "../lib/connectorChoices.ts";

const PAGE_ORIGIN = "http://127.0.0.1:3000";
const PROJECT_ID = "0123456789abcdef0123456789abcdef";

const base: RuntimeConfig = {
  chainId: 11155111,
  chainName: "Chain 11155111",
  rpcUrl: "http://127.0.0.1:8545",
  local: false,
  pollingIntervalMs: 4000,
  ipfsApiUrl: "http://127.0.0.1:5001",
  ipfsGatewayUrl: "http://127.0.0.1:8080",
  addresses: {
    token: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
    registry: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    market: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
  },
};

describe("wallet connectors", () => {
  it("without a WalletConnect project id: the injected wallets only", () => {
    assert.deepEqual(connectorChoices(base, PAGE_ORIGIN), [{ kind: "injected" }]);
  });

  it("with a project id, in the browser: the injected wallets and WalletConnect with that project id, naming the page's origin", () => {
    assert.deepEqual(connectorChoices({ ...base, walletConnectProjectId: PROJECT_ID }, PAGE_ORIGIN), [
      { kind: "injected" },
      { kind: "walletConnect", projectId: PROJECT_ID, pageOrigin: PAGE_ORIGIN },
    ]);
  });

  it("with a project id, on the server rendering the page: no WalletConnect (its set-up would open the relay from the server)", () => {
    assert.deepEqual(connectorChoices({ ...base, walletConnectProjectId: PROJECT_ID }, undefined), [{ kind: "injected" }]);
  });

  it("on the devnet: one connector per developer account the server sent, and WalletConnect still only with a project id", () => {
    const devAccounts = [0, 1].map((index) => ({ index, label: `account ${index}`, address: devnetAccount(index).address, privateKey: devnetPrivateKey(index) }));
    const rc: RuntimeConfig = { ...base, chainId: 31337, local: true, devAccounts };
    assert.deepEqual(connectorChoices(rc, PAGE_ORIGIN).map((c) => c.kind), ["injected", "devnet", "devnet"]);
    assert.deepEqual(connectorChoices({ ...rc, walletConnectProjectId: PROJECT_ID }, PAGE_ORIGIN).map((c) => c.kind), ["injected", "devnet", "devnet", "walletConnect"]);
  });
});
