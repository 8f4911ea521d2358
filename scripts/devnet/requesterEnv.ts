/**
 * The shell lines the devnet prints under "Act as the requester": `export` lines with the shared
 * variable names of the sdk ({@link ENV}), so that pasted as printed they point the `tessellate`
 * CLI (and a provider node, and the dApp) at this network, whatever its ports.
 * `cli/src/devnetEnv.test.ts` pastes them into a shell and drives the CLI binary with them.
 */
import { ENV } from "@tessellate/sdk/envNames";
import type { ContractAddresses } from "@tessellate/sdk/chain";

export interface RequesterEnvOptions {
  rpcUrl: string;
  ipfsApiUrl: string;
  addresses: ContractAddresses;
  /** The requester's devnet key (a public test key). */
  privateKey: string;
}

/** The `export …` lines (each a complete shell command, no trailing comment). */
export function requesterExportLines(o: RequesterEnvOptions): string[] {
  return [
    `export ${ENV.rpcUrl}=${o.rpcUrl} ${ENV.ipfsApiUrl}=${o.ipfsApiUrl}`,
    `export ${ENV.market}=${o.addresses.market} ${ENV.registry}=${o.addresses.registry} ${ENV.token}=${o.addresses.token}`,
    `export ${ENV.privateKey}=${o.privateKey}`,
  ];
}
