/**
 * The embedded IPFS node of the devnet: a Helia repo on disk, the Kubo RPC API subset on one port
 * and the read-only gateway on another (Kubo's layout: 5001 and 8080 by default).
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { ContentReader } from "./content.ts";
import { createGateway } from "./gateway.ts";
import { type IpfsNodeLogger, silentLogger } from "./logger.ts";
import { openRepo } from "./repo.ts";
import { createRpcApi } from "./rpcApi.ts";
import { UploadBlockTracker } from "./uploadBlocks.ts";

export const DEFAULT_API_PORT = 5001;
export const DEFAULT_GATEWAY_PORT = 8080;
export const DEFAULT_HOST = "127.0.0.1";
/** 8 GiB: a scene of several GB fits; a runaway upload is cut there (and its blocks deleted). */
export const DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024 * 1024 * 1024;

export interface StartIpfsNodeOptions {
  /** Folder of the repository (blocks, pins, identity); created when missing. */
  repoDir: string;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port of the RPC API (default 5001; 0 picks a free one). */
  apiPort?: number;
  /** Port of the gateway (default 8080; 0 picks a free one). */
  gatewayPort?: number;
  /** Browser origins allowed to call the RPC API (e.g. the dApp's `http://localhost:5173`); `*` allows any. */
  corsOrigins?: string[];
  /** Largest `add` request body accepted; bigger ones get HTTP 413 (default 8 GiB). */
  maxUploadBytes?: number;
  logger?: IpfsNodeLogger;
}

export interface IpfsNode {
  /** Base URL of the RPC API, e.g. `http://127.0.0.1:5001` (what `kubo-rpc-client`'s `create({ url })` takes). */
  apiUrl: string;
  /** Base URL of the gateway, e.g. `http://127.0.0.1:8080` (content at `${gatewayUrl}/ipfs/<cid>`). */
  gatewayUrl: string;
  /** The node's peer ID, as `id` reports it. */
  peerId: string;
  /** Closes both servers (dropping open connections), lets adds in flight end, and closes the repo. Safe to call twice. */
  stop(): Promise<void>;
}

export async function startIpfsNode(options: StartIpfsNodeOptions): Promise<IpfsNode> {
  const host = options.host ?? DEFAULT_HOST;
  const logger = options.logger ?? silentLogger;
  const maxUploadBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  if (!Number.isSafeInteger(maxUploadBytes) || maxUploadBytes <= 0) throw new Error(`maxUploadBytes must be a positive integer, got ${maxUploadBytes}`);
  const repoDir = resolve(options.repoDir);

  const repo = await openRepo(repoDir);
  const reader = new ContentReader(repo.helia.blockstore);
  const uploads = new UploadBlockTracker(repo.helia, logger);
  const servers: Server[] = [];
  try {
    const api = createRpcApi({ helia: repo.helia, reader, identity: repo.identity, corsOrigins: options.corsOrigins ?? [], maxUploadBytes, uploads, logger });
    const apiServer = await listen(createServer({ requestTimeout: 0 }, api), host, options.apiPort ?? DEFAULT_API_PORT, "RPC API");
    servers.push(apiServer);
    const gatewayServer = await listen(createServer(createGateway({ reader, logger })), host, options.gatewayPort ?? DEFAULT_GATEWAY_PORT, "gateway");
    servers.push(gatewayServer);
  } catch (error) {
    await closeServers(servers);
    await repo.close();
    throw error;
  }

  const apiUrl = urlOf(servers[0]!, host);
  const gatewayUrl = urlOf(servers[1]!, host);
  logger.info({ apiUrl, gatewayUrl, repoDir, peerId: repo.identity.peerId, maxUploadBytes }, "ipfs node started");

  let stopping: Promise<void> | undefined;
  return {
    apiUrl,
    gatewayUrl,
    peerId: repo.identity.peerId,
    stop() {
      stopping ??= (async () => {
        await closeServers(servers);
        // An add still pinning, or deleting the blocks of a failed one, finishes before the repo closes.
        await uploads.idle();
        await repo.close();
        logger.info({ repoDir }, "ipfs node stopped");
      })();
      return stopping;
    },
  };
}

async function listen(server: Server, host: string, port: number, what: string): Promise<Server> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${what} port must be 0 to 65535, got ${port}`);
  server.listen(port, host);
  try {
    await once(server, "listening");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new Error(`cannot start the IPFS ${what} on ${host}:${port}: the port is in use (is another node running?)`, { cause: error });
    throw error;
  }
  return server;
}

async function closeServers(servers: Server[]): Promise<void> {
  await Promise.all(
    servers.map(async (server) => {
      const closed = once(server, "close");
      server.close();
      server.closeAllConnections();
      await closed;
    }),
  );
}

function urlOf(server: Server, host: string): string {
  const { port } = server.address() as AddressInfo;
  const shown = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `http://${shown.includes(":") ? `[${shown}]` : shown}:${port}`;
}
