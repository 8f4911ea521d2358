/**
 * An EIP-1193 provider that signs with one private key and forwards everything else to an RPC
 * node. The developer account picker (devnet only) connects through it in the browser, and the
 * end-to-end test's injected wallet signs with it in the test process. Pure viem: no `node:`.
 */
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  hexToBigInt,
  http,
  numberToHex,
  type Address,
  type Hex,
  type TypedDataDefinition,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";

export interface Eip1193Request {
  method: string;
  params?: unknown;
}

export type Eip1193Listener = (...args: unknown[]) => void;

export interface Eip1193Provider {
  request(args: Eip1193Request): Promise<unknown>;
  on(event: string, listener: Eip1193Listener): void;
  removeListener(event: string, listener: Eip1193Listener): void;
}

/** An EIP-1193 error (4001 user rejected, 4902 unknown chain, …). */
export class ProviderRpcError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "ProviderRpcError";
    this.code = code;
  }
}

/**
 * Whether the page was granted the account. Like a real wallet, a provider with a consent
 * answers no accounts until the page asks (`eth_requestAccounts`) and forgets them on
 * `wallet_revokePermissions`; without one it always answers them (a signer in a test process).
 */
export interface Consent {
  granted(): boolean;
  set(granted: boolean): void;
}

export function memoryConsent(): Consent {
  let granted = false;
  return { granted: () => granted, set: (value) => void (granted = value) };
}

/** Consent remembered in `localStorage` under `key`, so a reload reconnects like a real wallet. */
export function storedConsent(key: string): Consent {
  return {
    granted: () => globalThis.localStorage?.getItem(key) === "granted",
    set: (value) => (value ? globalThis.localStorage?.setItem(key, "granted") : globalThis.localStorage?.removeItem(key)),
  };
}

const NEEDS_ACCOUNT = new Set(["eth_sendTransaction", "personal_sign", "eth_signTypedData_v4"]);

interface TransactionRequestJson {
  from?: Address;
  to?: Address;
  data?: Hex;
  value?: Hex;
  gas?: Hex;
  nonce?: Hex;
}

export function createKeyProvider(options: {
  privateKey: Hex;
  rpcUrl: string;
  chainId: number;
  consent?: Consent;
}): Eip1193Provider & { address: Address } {
  const account = privateKeyToAccount(options.privateKey);
  const chain = defineChain({
    id: options.chainId,
    name: `chain ${options.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  });
  const transport = http(options.rpcUrl);
  const publicClient = createPublicClient({ chain, transport });
  const walletClient = createWalletClient({ chain, transport, account });
  const listeners = new Map<string, Set<Eip1193Listener>>();

  async function request({ method, params }: Eip1193Request): Promise<unknown> {
    const list = (Array.isArray(params) ? params : []) as unknown[];
    const consent = options.consent;
    if (consent && NEEDS_ACCOUNT.has(method) && !consent.granted()) {
      throw new ProviderRpcError(4100, `The page has not been granted ${account.address}: connect first.`);
    }
    switch (method) {
      case "eth_chainId":
        return numberToHex(options.chainId);
      case "eth_accounts":
        return !consent || consent.granted() ? [account.address] : [];
      case "eth_requestAccounts":
        consent?.set(true);
        return [account.address];
      case "wallet_requestPermissions":
        consent?.set(true);
        return [{ parentCapability: "eth_accounts" }];
      case "wallet_getPermissions":
        return !consent || consent.granted() ? [{ parentCapability: "eth_accounts" }] : [];
      case "wallet_revokePermissions":
        consent?.set(false);
        return null;
      case "wallet_switchEthereumChain": {
        const wanted = Number((list[0] as { chainId: Hex }).chainId);
        if (wanted !== options.chainId) throw new ProviderRpcError(4902, `This account signs on chain ${options.chainId} only, not ${wanted}.`);
        return null;
      }
      case "eth_sendTransaction": {
        const tx = list[0] as TransactionRequestJson;
        if (tx.from && tx.from.toLowerCase() !== account.address.toLowerCase()) {
          throw new ProviderRpcError(4100, `This wallet signs for ${account.address}, not ${tx.from}.`);
        }
        return walletClient.sendTransaction({
          to: tx.to,
          data: tx.data,
          value: tx.value ? hexToBigInt(tx.value) : undefined,
          gas: tx.gas ? hexToBigInt(tx.gas) : undefined,
          nonce: tx.nonce ? Number(tx.nonce) : undefined,
        });
      }
      case "personal_sign":
        return account.signMessage({ message: { raw: list[0] as Hex } });
      case "eth_signTypedData_v4":
        return account.signTypedData(JSON.parse(list[1] as string) as TypedDataDefinition);
      default:
        return publicClient.request({ method, params } as never);
    }
  }

  return {
    address: account.address,
    request,
    on(event, listener) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event)!.add(listener);
    },
    removeListener(event, listener) {
      listeners.get(event)?.delete(listener);
    },
  };
}
