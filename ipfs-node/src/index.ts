/**
 * @tessellate/ipfs-node — the devnet's embedded IPFS node: Helia with an on-disk repo, offline,
 * serving the Kubo RPC API subset that `kubo-rpc-client` needs and a read-only gateway.
 */
export {
  DEFAULT_API_PORT,
  DEFAULT_GATEWAY_PORT,
  DEFAULT_HOST,
  DEFAULT_MAX_UPLOAD_BYTES,
  startIpfsNode,
  type IpfsNode,
  type StartIpfsNodeOptions,
} from "./ipfsNode.ts";
export { silentLogger, type IpfsNodeLogger } from "./logger.ts";
