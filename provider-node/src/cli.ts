#!/usr/bin/env node
/**
 * `tessellate-provider` — the provider node's command line. Run `node provider-node/src/cli.ts --help`.
 * This entry only silences Node's one-time "SQLite is experimental" notice (node:sqlite is stable
 * enough for the node's state file) before loading the commands.
 */
const emitWarning = process.emitWarning;
process.emitWarning = function (warning: string | Error, ...rest: unknown[]) {
  const text = typeof warning === "string" ? warning : warning?.message;
  if (typeof text === "string" && text.startsWith("SQLite is an experimental feature")) return;
  return (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
} as typeof process.emitWarning;

const { runCli } = await import("./cliCommands.ts");
process.exitCode = await runCli(process.argv.slice(2));
