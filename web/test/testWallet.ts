/**
 * The end-to-end tests' wallet: an EIP-1193 provider announced to the page through EIP-6963
 * (`page.addInitScript`), whose every request is forwarded to the test process
 * (`page.exposeFunction`) and signed there with a devnet key by the dApp's own key provider.
 * Like a real wallet it answers no accounts until the page asks for them, and it can be told
 * to reject the next request as a person pressing "Reject" would.
 */
import type { BrowserContext } from "playwright-core";
import type { Address, Hex } from "viem";
import { createKeyProvider, memoryConsent, ProviderRpcError } from "../lib/keyProvider.ts";

export const TEST_WALLET_NAME = "Tessellate Test Wallet";
export const TEST_WALLET_RDNS = "dev.tessellate.testwallet";

export interface TestWallet {
  address: Address;
  /** Every method the page asked for, in order. */
  requests: string[];
  /** How many transactions the wallet was asked to sign. */
  sent(): number;
  /** The next request that needs the person's consent (accounts, transaction, signature) is rejected. */
  rejectNext(): void;
  /** The person picks another account in the wallet (`accountsChanged`). */
  switchAccount(privateKey: Hex): Promise<Address>;
  /** The person switches the wallet to another chain (`chainChanged`). */
  switchChain(chainId: number): Promise<void>;
}

const CONSENT = new Set(["eth_requestAccounts", "wallet_requestPermissions", "eth_sendTransaction", "personal_sign", "eth_signTypedData_v4"]);

type Answer = { result: unknown } | { error: { code: number; message: string } };

export async function installTestWallet(context: BrowserContext, options: { privateKey: Hex; rpcUrl: string; chainId: number }): Promise<TestWallet> {
  const consent = memoryConsent();
  let signer = createKeyProvider({ ...options, consent });
  let chainId = options.chainId;
  const requests: string[] = [];
  let reject = false;
  const emit = async (event: string, value: unknown) => {
    for (const page of context.pages()) {
      await page.evaluate(
        ([e, v]) => (window as unknown as { __tessellateTestWalletEmit(e: string, v: unknown): void }).__tessellateTestWalletEmit(e, v),
        [event, value] as const,
      );
    }
  };

  await context.exposeFunction("__tessellateTestWallet", async (method: string, params: unknown): Promise<Answer> => {
    requests.push(method);
    try {
      if (CONSENT.has(method) && reject) {
        reject = false;
        throw new ProviderRpcError(4001, "User rejected the request.");
      }
      if (method === "eth_chainId") return { result: `0x${chainId.toString(16)}` };
      if (method === "wallet_switchEthereumChain") {
        const wanted = Number((params as [{ chainId: string }])[0].chainId);
        if (wanted !== options.chainId) throw new ProviderRpcError(4902, `The test wallet knows chain ${options.chainId} only.`);
        chainId = wanted;
        void emit("chainChanged", `0x${wanted.toString(16)}`);
        return { result: null };
      }
      if (method === "eth_sendTransaction" && chainId !== options.chainId) {
        throw new ProviderRpcError(4901, `The wallet is on chain ${chainId}, the transaction is for ${options.chainId}.`);
      }
      return { result: await signer.request({ method, params }) };
    } catch (error) {
      const code = typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : -32603;
      return { error: { code, message: error instanceof Error ? error.message : String(error) } };
    }
  });

  await context.addInitScript(
    ({ name, rdns }) => {
      const forward = (window as unknown as { __tessellateTestWallet(m: string, p: unknown): Promise<Answer> }).__tessellateTestWallet;
      const listeners = new Map<string, Set<(...args: unknown[]) => void>>();
      const provider = {
        async request({ method, params }: { method: string; params?: unknown }) {
          const answer = await forward(method, params ?? []);
          if ("error" in answer) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
          return answer.result;
        },
        on(event: string, listener: (...args: unknown[]) => void) {
          if (!listeners.has(event)) listeners.set(event, new Set());
          listeners.get(event)!.add(listener);
        },
        removeListener(event: string, listener: (...args: unknown[]) => void) {
          listeners.get(event)?.delete(listener);
        },
      };
      (window as unknown as { __tessellateTestWalletEmit(e: string, v: unknown): void }).__tessellateTestWalletEmit = (event, value) => {
        for (const listener of listeners.get(event) ?? []) listener(value);
      };
      const icon =
        "data:image/svg+xml;base64," +
        btoa('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#6ea8fe"/></svg>');
      const uuid = "7e57a11e-7e57-4a11-8e57-7e57a11e7e57"; // one per wallet; crypto.randomUUID is missing on about:blank
      const announce = () =>
        window.dispatchEvent(
          new CustomEvent("eip6963:announceProvider", {
            detail: Object.freeze({ info: { uuid, name, icon, rdns }, provider }),
          }),
        );
      window.addEventListener("eip6963:requestProvider", announce);
      announce();
    },
    { name: TEST_WALLET_NAME, rdns: TEST_WALLET_RDNS },
  );

  return {
    get address() {
      return signer.address;
    },
    requests,
    sent: () => requests.filter((m) => m === "eth_sendTransaction").length,
    rejectNext: () => {
      reject = true;
    },
    switchAccount: async (privateKey) => {
      signer = createKeyProvider({ ...options, privateKey, consent });
      await emit("accountsChanged", [signer.address]);
      return signer.address;
    },
    switchChain: async (id) => {
      chainId = id;
      await emit("chainChanged", `0x${id.toString(16)}`);
    },
  };
}
