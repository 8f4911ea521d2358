#!/usr/bin/env node
/**
 * `node ipfs-node/src/cli.ts --repo .devnet/ipfs --api-port 5001 --gateway-port 8080`
 * Starts the embedded IPFS node, prints its URLs on stdout (logs go to stderr), and stops cleanly
 * on SIGINT or SIGTERM.
 */
import { resolve } from "node:path";
import { pino } from "pino";
import { loadConfig, USAGE } from "./config.ts";
import { startIpfsNode } from "./ipfsNode.ts";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  if (config === undefined) {
    process.stdout.write(USAGE);
    return;
  }
  const logger = pino({ name: "ipfs-node", level: config.logLevel }, pino.destination(2));
  const node = await startIpfsNode({ ...config, logger });
  process.stdout.write(
    `IPFS RPC API  ${node.apiUrl}   (kubo-rpc-client: create({ url: "${node.apiUrl}" }))\n` +
      `IPFS gateway  ${node.gatewayUrl}/ipfs/<cid>\n` +
      `Repo          ${resolve(config.repoDir)}   peer ${node.peerId}\n`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting without a clean stop");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, "stopping");
    node.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "unclean stop");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`ipfs-node: ${(error as Error).message}\n`);
  process.exit(1);
});
