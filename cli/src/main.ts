#!/usr/bin/env node
/**
 * `tessellate` — the requester's and auditor's command line. This is the composition root: it
 * parses the command line (commander), loads and validates the configuration, connects to the
 * chain and to IPFS, and hands the parts to the command functions, which take them as arguments.
 *
 * Exit codes: 0 success; 1 the command failed (or a segment failed, or the audit found a
 * discrepancy); 2 wrong input (a flag, an argument, the configuration).
 */
import { Command, CommanderError, Option } from "commander";
import { connectChain } from "@tessellate/sdk/chain";
import { TessellateError } from "@tessellate/sdk/errors";
import { createKuboStorage } from "@tessellate/sdk/node";
import { ENGINE_NAMES, engineSettingsHelp } from "@tessellate/sdk/manifest";
import { DEFAULT_AUDIT_BPS, DEFAULT_AUDITED_COLLATERAL_MULTIPLE, DEFAULT_COLLATERAL_MULTIPLE, providersForAudits } from "@tessellate/sdk/jobRequest";
import { createMarketClient, type MarketClient } from "@tessellate/sdk/market";
import type { Storage } from "@tessellate/sdk/storage";
import { auditChain, auditExitCode, formatAuditReport } from "./commands/audit.ts";
import { cancelJob } from "./commands/cancel.ts";
import { compositeJob, fetchJob } from "./commands/fetch.ts";
import { formatJobStatus, jobStatus } from "./commands/status.ts";
import { submitExitCode, submitJob } from "./commands/submit.ts";
import { AUDIT_DRAW_GRACE_MS, waitForJob } from "./commands/wait.ts";
import { withdrawBalance } from "./commands/withdraw.ts";
import { CONFIG_ENV, loadAccount, loadConfig, requireAccount, type CliConfig, type ConfigFlags } from "./config.ts";
import { tokenSymbol } from "./chainReads.ts";
import { EXIT_CODES, exitCodeOf, UsageError } from "./errors.ts";
import { formatTokens, toJson } from "./format.ts";
import { consoleOutput, type Output } from "./output.ts";
import { ENGINE_SETTING_FLAGS, parseId, parseInteger, parseSubmitOptions, SUBMIT_DEFAULTS, type RawSubmitOptions } from "./parse.ts";
import { readSceneDefaults } from "./sceneDefaults.ts";
import { createLiveLine, formatJobProgress } from "./progress.ts";

/** The chain and storage a command works with. */
export interface Connection {
  market: MarketClient;
  storage: Storage;
}

/** What the program needs from the outside world; tests substitute every part. */
export interface Runtime {
  env: Record<string, string | undefined>;
  output: Output;
  /** Connects to chain and IPFS; `signer` says whether the command sends transactions. */
  connect(config: CliConfig, signer: boolean): Promise<Connection>;
  setExitCode(code: number): void;
  signal?: AbortSignal;
}

/** The real connection: viem over the configured RPC URL, Kubo RPC storage. */
export function connectFromConfig(env: Record<string, string | undefined>) {
  return async (config: CliConfig, signer: boolean): Promise<Connection> => {
    const account = signer ? await requireAccount(config, env) : await loadAccount(config, env).catch(() => undefined);
    const conn = await connectChain({ rpcUrl: config.rpcUrl, addresses: config.addresses, account, pollingIntervalMs: config.pollIntervalMs });
    return { market: createMarketClient(conn), storage: createKuboStorage({ url: config.ipfsApiUrl }) };
  };
}

const SUBMIT_EXAMPLE = `
Example:
  $ export TESSELLATE_PRIVATE_KEY=0x…
  $ tessellate job submit scenes/builtin-sample --engine builtin --size 160x120 --frames 1-8 \\
      --tiles 2x2 --redundancy 2 --quorum 2 --reward 1.5 --collateral 3 --deadline 2h --out out/`;

/** Flag of each settings key that has one. */
const SETTING_FLAG_NAMES: Record<string, string> = { samples: "--samples", seed: "--seed", maxBounces: "--max-bounces" };

/**
 * `job submit --help`'s list of every engine's settings keys (from the sdk's manifest schema,
 * with the advice its validation gives), and which flag sets each.
 */
export function engineSettingsHelpText(): string {
  const lines = ["", "Engine settings (keys of --settings '{\"key\": value}'; a flag sets some; the scene's own settings fill in what you leave out):"];
  for (const engine of ENGINE_NAMES) {
    for (const [i, { key, help }] of engineSettingsHelp(engine).entries()) {
      const flag = (ENGINE_SETTING_FLAGS[engine] as string[]).includes(key) ? ` (${SETTING_FLAG_NAMES[key]})` : "";
      lines.push(`  ${(i === 0 ? engine : "").padEnd(8)} ${key}${flag}: ${help}`);
    }
  }
  return lines.join("\n");
}

/**
 * The help text's "(default …)" for a `job submit` option. Commander gets no default values:
 * they live in {@link SUBMIT_DEFAULTS} and are applied by `parseSubmitOptions`, which can tell a
 * flag the user gave from one left out (an engine-specific flag must not be sent for another engine).
 */
const dflt = (key: keyof typeof SUBMIT_DEFAULTS): string => ` (default ${SUBMIT_DEFAULTS[key]})`;

/** Builds the `tessellate` program over a runtime. */
export function createProgram(runtime: Runtime): Command {
  const out = runtime.output;
  const program = new Command("tessellate")
    .description("Tessellate: post render jobs, watch them settle, collect the frames, audit the books.")
    .version("0.1.0")
    .option("--rpc-url <url>", `chain JSON-RPC endpoint (env ${CONFIG_ENV.rpcUrl}; default http://127.0.0.1:8545)`)
    .option("--ipfs-api <url>", `Kubo RPC API of an IPFS node (env ${CONFIG_ENV.ipfsApiUrl}; default http://127.0.0.1:5001)`)
    .option("--market <address>", "JobMarket address (env TESSELLATE_MARKET_ADDRESS; default: generated deployment)")
    .option("--registry <address>", "ProviderRegistry address (env TESSELLATE_REGISTRY_ADDRESS)")
    .option("--token <address>", "payment token address (env TESSELLATE_TOKEN_ADDRESS)")
    .option("--keystore <file>", "V3 keystore with the signing key, password in TESSELLATE_KEYSTORE_PASSWORD (or set TESSELLATE_PRIVATE_KEY)")
    .option("--poll-interval <ms>", `chain polling interval in milliseconds (env ${CONFIG_ENV.pollIntervalMs})`)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => out.print(text.trimEnd()),
      writeErr: (text) => out.progress.write(text),
    });

  const setup = async (cmd: Command, signer: boolean) => {
    const config = loadConfig(cmd.optsWithGlobals<ConfigFlags>(), runtime.env);
    return runtime.connect(config, signer);
  };
  const run = (action: (...args: never[]) => Promise<number | void>) =>
    async (...args: unknown[]) => {
      const code = await (action as (...a: unknown[]) => Promise<number | void>)(...args);
      runtime.setExitCode(code ?? EXIT_CODES.ok);
    };

  const job = program.command("job").description("post, watch, collect and cancel render jobs");

  job
    .command("submit")
    .description("upload a scene, post a render job, watch it settle and composite the frames")
    .argument("<scene>", "scene folder (or a single scene file)")
    .option("--entry <file>", "main scene file inside the folder (default: the folder's one scene file)")
    .option("--engine <name>", `render engine: builtin, povray or blender${dflt("engine")}`)
    .option("--engine-version <version>", "exact engine version (default: the version most registered providers advertise in their profiles)")
    .option("--size <WxH>", "image size in pixels, e.g. 160x120")
    .option("--frames <first-last>", `inclusive frame range, e.g. 1-8${dflt("frames")}`)
    .option("--tiles <CxR>", `tiles across x down, e.g. 2x2${dflt("tiles")}`)
    .option("--frames-per-segment <n>", `frames per segment${dflt("framesPerSegment")}`)
    .option("--redundancy <r>", `independent renders per segment (1-5)${dflt("redundancy")}`)
    .option("--quorum <q>", "equal digests needed (default: a majority of --redundancy)")
    .option("--reward <tokens>", "reward per agreeing replica, in tokens, e.g. 1.5")
    .option("--collateral <tokens>", `collateral each replica locks (default: ${DEFAULT_AUDITED_COLLATERAL_MULTIPLE} × reward with audits, ${DEFAULT_COLLATERAL_MULTIPLE} × reward without)`)
    .option("--samples <n>", `samples per pixel (builtin, blender)${dflt("samples")}`)
    .option("--seed <n>", `random seed (builtin, blender; POV-Ray only when given)${dflt("seed")}`)
    .option("--max-bounces <n>", `path length limit (builtin only)${dflt("maxBounces")}`)
    .option("--settings <json>", "engine settings as a JSON object (keys per engine below)")
    .option("--lease <duration>", `time a provider has from claim to commit (e.g. 300, 5m)${dflt("lease")}`)
    .option("--reveal-window <duration>", `time to reveal once every replica committed${dflt("revealWindow")}`)
    .option("--deadline <when>", `duration from now (2h, 1d) or ISO date${dflt("deadline")}`)
    .option("--min-reputation <bp>", `lowest provider score allowed, in basis points (0-10000)${dflt("minReputation")}`)
    .option("--max-fee <bp>", "highest protocol fee the job accepts, in basis points (default: the market's current fee; createJob reverts if the fee is higher by then)")
    .addOption(new Option("--verification <mode>", "verification mode: exact (equal pixel digests) or tolerant (fingerprints within --tolerance) (default tolerant for blender, exact for builtin and povray)").choices(["exact", "tolerant"]))
    .option("--audit <bp>", `share of accepted segments a drawn auditor re-renders before anyone is paid, in parts of 10,000; 0 turns audits off (exact jobs at quorum = redundancy <= 2, collateral >= 2 x reward; one more unit per segment is escrowed, refunded when not audited) (default: ${DEFAULT_AUDIT_BPS} on a job that can be audited and that at least redundancy + 3 registered providers can take, e.g. ${providersForAudits(2)} at redundancy 2; else 0)`)
    .option("--tolerance <bp>", `tolerant jobs: share of compared fingerprint blocks, in parts of 10,000, that may differ between agreeing renders${dflt("tolerance")}`)
    .option("--out <dir>", "folder for the composited frames (default tessellate-job-<id>)")
    .option("--no-wait", "post the job and return; watch and fetch later")
    .option("--permit", "pay with an EIP-2612 permit instead of an approval transaction")
    .option("--video [file]", "assemble a video with ffmpeg after compositing")
    .option("--fps <n>", `video frame rate${dflt("fps")}`)
    .option("--record-output", "record the output folder's CID on-chain")
    .option("--benchmark-score <score>", `provider speed assumed by the estimate (thousands of samples/s)${dflt("benchmarkScore")}`)
    .option("--no-scene-settings", "do not read the scene's own settings (POV-Ray .ini next to the scene, a .blend's resolution, frames and samples)")
    .addHelpText("after", engineSettingsHelpText() + "\n" + SUBMIT_EXAMPLE)
    .action(
      run(async (scene: string, raw: RawSubmitOptions, cmd: Command) => {
        // The scene's own settings (its .ini, the .blend's render settings) fill in what the flags leave out.
        const options = parseSubmitOptions(scene, raw, undefined, await readSceneDefaults(scene, raw));
        const { market, storage } = await setup(cmd, true);
        const result = await submitJob(options, { market, storage, output: out, signal: runtime.signal });
        return submitExitCode(result);
      }),
    );

  job
    .command("status")
    .description("show a job's parameters, escrow, progress and every segment's state")
    .argument("<jobId>", "job id")
    .option("--limit <n>", "segments to list", "200")
    .option("--from-block <n>", "first block to search for the job", "0")
    .option("--json", "print the report as JSON")
    .action(
      run(async (id: string, opts: { limit: string; fromBlock: string; json?: boolean }, cmd: Command) => {
        const jobId = parseId("<jobId>", id);
        const limit = parseInteger("--limit", opts.limit, 0, 1_000_000, 200);
        const fromBlock = parseId("--from-block", opts.fromBlock);
        const { market, storage } = await setup(cmd, false);
        const report = await jobStatus({ jobId, limit, fromBlock }, { market, storage });
        if (opts.json) out.print(toJson(report));
        else for (const line of formatJobStatus(report, { symbol: await tokenSymbol(market) })) out.print(line);
      }),
    );

  job
    .command("fetch")
    .description("composite a job's accepted segments into frames (digest-checked)")
    .argument("<jobId>", "job id")
    .requiredOption("--out <dir>", "folder for the frames")
    .option("--from-block <n>", "first block to search for the job", "0")
    .action(
      run(async (id: string, opts: { out: string; fromBlock: string }, cmd: Command) => {
        const jobId = parseId("<jobId>", id);
        const fromBlock = parseId("--from-block", opts.fromBlock);
        const { market, storage } = await setup(cmd, false);
        const result = await fetchJob({ jobId, outDir: opts.out, fromBlock, signal: runtime.signal }, { market, storage, output: out });
        return result.report.frames.length === result.report.totalFrames ? EXIT_CODES.ok : EXIT_CODES.failure;
      }),
    );

  job
    .command("wait")
    .description("watch a posted job until every segment settled; composite it with --out")
    .argument("<jobId>", "job id")
    .option("--out <dir>", "composite the frames into this folder when done")
    .option("--from-block <n>", "first block to search for the job", "0")
    .action(
      run(async (id: string, opts: { out?: string; fromBlock: string }, cmd: Command) => {
        const jobId = parseId("<jobId>", id);
        const fromBlock = parseId("--from-block", opts.fromBlock);
        const { market, storage } = await setup(cmd, false);
        const live = createLiveLine(out.progress);
        const outcome = await waitForJob(
          {
            jobId,
            fromBlock: fromBlock > 0n ? fromBlock : undefined,
            signal: runtime.signal,
            drawDueAudits: { afterMs: AUDIT_DRAW_GRACE_MS }, // with a key configured
            onProgress: (p) => live.set(formatJobProgress(p, { ascii: !out.progress.isTTY })),
          },
          { market },
        );
        live.done();
        out.print(`${outcome.accepted.size}/${outcome.job.params.segmentCount} accepted, ${outcome.failed.length} failed, ${outcome.closed.length} closed`);
        if (opts.out && outcome.accepted.size > 0) {
          const fetched = await compositeJob({ job: outcome.job, outcome, outDir: opts.out, signal: runtime.signal }, { storage, output: out });
          return fetched.report.frames.length === fetched.report.totalFrames ? EXIT_CODES.ok : EXIT_CODES.failure;
        }
        return outcome.complete ? EXIT_CODES.ok : EXIT_CODES.failure;
      }),
    );

  job
    .command("cancel")
    .description("cancel a job: refund untouched segments now, close partially claimed ones")
    .argument("<jobId>", "job id")
    .option("--from-block <n>", "first block to search for the job", "0")
    .action(
      run(async (id: string, opts: { fromBlock: string }, cmd: Command) => {
        const jobId = parseId("<jobId>", id);
        const fromBlock = parseId("--from-block", opts.fromBlock);
        const { market } = await setup(cmd, true);
        await cancelJob({ jobId, fromBlock }, { market, output: out });
      }),
    );

  program
    .command("audit")
    .description("rebuild every job's and account's state from events and reconcile it with the contracts")
    .option("--verify-results", "re-fetch every accepted result from IPFS and re-check its pixel digest")
    .option("--from-block <n>", "first block to read (the deployment block; earlier history is then not compared)", "0")
    .option("--to-block <n>", "last block (default: latest)")
    .option("--max-segments <n>", "most segments read per job with segmentOf (touched ones always are)", "10000")
    .option("--json", "print the report as JSON")
    .action(
      run(async (opts: { verifyResults?: boolean; fromBlock: string; toBlock?: string; maxSegments: string; json?: boolean }, cmd: Command) => {
        const fromBlock = parseId("--from-block", opts.fromBlock);
        const toBlock = opts.toBlock === undefined ? undefined : parseId("--to-block", opts.toBlock);
        const maxSegmentsPerJob = parseInteger("--max-segments", opts.maxSegments, 0, 1_000_000, 10_000);
        const { market, storage } = await setup(cmd, false);
        const report = await auditChain({ fromBlock, toBlock, verifyResults: opts.verifyResults, maxSegmentsPerJob, signal: runtime.signal }, { market, storage, output: out });
        if (opts.json) out.print(toJson({ ...report, state: undefined }));
        else for (const line of formatAuditReport(report, { symbol: await tokenSymbol(market) })) out.print(line);
        return auditExitCode(report);
      }),
    );

  program
    .command("withdraw")
    .description("withdraw your market balance (refunds, compensation, rewards)")
    .action(
      run(async (_opts: unknown, cmd: Command) => {
        const { market } = await setup(cmd, true);
        await withdrawBalance({ market, output: out });
      }),
    );

  program
    .command("balance")
    .description("show an account's token and market balances")
    .argument("[address]", "account (default: the configured key's)")
    .action(
      run(async (address: string | undefined, _opts: unknown, cmd: Command) => {
        const { market } = await setup(cmd, false);
        const who = (address ?? market.account) as `0x${string}` | undefined;
        if (!who) throw new UsageError("[address]", "no address given and no key configured", "pass the account's address, e.g. tessellate balance 0x…, or configure a key");
        const symbol = await tokenSymbol(market);
        const [tokens, owed] = await Promise.all([market.tokenBalanceOf(who), market.marketBalanceOf(who)]);
        out.print(`${who}: ${formatTokens(tokens, { symbol })} in the wallet, ${formatTokens(owed, { symbol })} withdrawable from the market`);
      }),
    );
  return program;
}

/** Runs the program on `argv` (process.argv form); returns the exit code and never throws. */
export async function runCli(argv: string[], runtime: Omit<Runtime, "setExitCode">): Promise<number> {
  let exitCode: number = EXIT_CODES.ok;
  const program = createProgram({ ...runtime, setExitCode: (code) => (exitCode = code) });
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return EXIT_CODES.ok;
      return EXIT_CODES.usage; // commander already printed what was wrong
    }
    if (runtime.signal?.aborted) {
      runtime.output.progress.write("stopped\n");
      return 130;
    }
    const code = exitCodeOf(error);
    const message = error instanceof TessellateError ? error.message : error instanceof Error ? error.message : String(error);
    runtime.output.progress.write(`${code === EXIT_CODES.usage ? "error: " : "tessellate: "}${message.split("\n").join("\n  ")}\n`);
    if (!(error instanceof TessellateError) && runtime.env.TESSELLATE_DEBUG && error instanceof Error) runtime.output.progress.write(`${error.stack}\n`);
    return code;
  }
}

if (import.meta.main) {
  const controller = new AbortController();
  let interrupted = 0;
  process.on("SIGINT", () => {
    if (++interrupted > 1) process.exit(130);
    controller.abort(new Error("interrupted"));
  });
  const code = await runCli(process.argv, { env: process.env, output: consoleOutput(), connect: connectFromConfig(process.env), signal: controller.signal });
  process.exitCode = code;
}
