/**
 * Which jobs this node works on: a pure function of the job (its `JobCreated` parameters and its
 * manifest) and of the node (engines, limits, price floor, benchmark, reputation, free stake, time).
 * Every "no" carries a reason a person understands, logged once per job by the worker
 * ("skipping job 7: engine povray 3.7.0.10 not installed"), and says whether it can change
 * (`final: false` — e.g. free stake — is re-evaluated; `final: true` — e.g. the engine — is not).
 * A "no" that rests on the render-time estimate (price floor, lease too short) is never final and
 * says so (`estimated: true`): the estimate is refined by measured renders (jobs/renderSpeed.ts).
 */
import { formatUnits } from "viem";
import { estimateJob, segmentCount, type JobParams, type Manifest } from "@tessellate/sdk";
import { Verification } from "@tessellate/sdk/protocol";
import type { EngineInfo } from "../engines/engine.ts";

/** Verification modes this node can take part in. */
export const SUPPORTED_VERIFICATION_MODES = ["exact", "tolerant"] as const;

export interface JobCandidate {
  jobId: bigint;
  params: JobParams;
  /** The manifest, when it could be fetched and parsed. */
  manifest: Manifest | null;
  /** Why the manifest is unusable (invalid, too large, not a manifest); null when it is fine. */
  manifestProblem?: string | null;
  cancelled?: boolean;
}

export interface NodeCapabilities {
  /** Engines installed on this machine, with exact versions. */
  installedEngines: readonly EngineInfo[];
  /** Engines the configuration allows. */
  enabledEngines: readonly string[];
  maxSceneBytes: number;
  /** Price floor: token base units per estimated render-second. */
  minRewardPerRenderSecondWei: bigint;
  /** Skip jobs whose minReputation is below this. */
  minJobReputation: number;
  /** This node's benchmark (thousands of samples per second, builtin engine). */
  benchmarkScore: number;
  /** Measured ÷ estimated render time of this node's recent renders (default 1). */
  speedFactor?: number;
  commitMarginSeconds: number;
  renderTimeSafetyFactor: number;
}

export interface NodeSituation {
  /** Whether this node's account is registered in the ProviderRegistry (default true). */
  registered?: boolean;
  /** Own reputation score on-chain (basis points). */
  reputation: number;
  /** Free stake on-chain (staked - locked - unbonding). */
  freeStake: bigint;
  /** Chain time, seconds. */
  nowSeconds: number;
}

export type FilterDecision =
  | { accept: true; estimatedSeconds: number }
  | {
      accept: false;
      reason: string;
      /** true when only a change of the job or of the node's setup could change it */
      final: boolean;
      /** true when the reason is the render-time estimate (then never final) */
      estimated?: boolean;
    };

export function filterJob(job: JobCandidate, node: NodeCapabilities, now: NodeSituation): FilterDecision {
  const no = (reason: string, final = true): FilterDecision => ({ accept: false, reason, final });
  const { params, manifest } = job;

  if (job.cancelled) return no("the requester cancelled it");
  if (now.nowSeconds + params.leaseDuration > Number(params.deadline)) {
    return no(`its claim window closed (deadline ${params.deadline}, lease ${params.leaseDuration} s)`);
  }
  if (!manifest) return no(`its manifest ${params.manifestCid} is unusable: ${firstLine(job.manifestProblem ?? "not fetched")}`);
  const planned = segmentCount(manifest);
  if (planned !== params.segmentCount) {
    return no(`its manifest plans ${planned} segments but the job was posted with ${params.segmentCount}`);
  }
  if (!(SUPPORTED_VERIFICATION_MODES as readonly string[]).includes(manifest.verification.mode)) {
    return no(`verification mode "${manifest.verification.mode}" is not supported (supported: ${SUPPORTED_VERIFICATION_MODES.join(", ")})`);
  }
  // The contract settles by the job's on-chain mode and tolerance; the manifest must say the same,
  // or the requester's documents disagree about what a correct render is.
  const chainMode = params.verification === Verification.Tolerant ? "tolerant" : "exact";
  if (chainMode !== manifest.verification.mode) {
    return no(`its manifest asks for ${manifest.verification.mode} verification but the job was posted as ${chainMode}`);
  }
  if (chainMode === "tolerant" && manifest.verification.toleranceBps !== params.toleranceBps) {
    return no(`its manifest names a tolerance of ${manifest.verification.toleranceBps} bps but the job was posted with ${params.toleranceBps} bps`);
  }
  const { name, version } = manifest.engine;
  if (!node.enabledEngines.includes(name)) return no(`engine ${name} is not enabled in this node's config (engines: ${node.enabledEngines.join(", ")})`);
  const installed = node.installedEngines.filter((e) => e.name === name);
  if (!installed.some((e) => e.version === version)) {
    const have = installed.length ? ` (installed: ${installed.map((e) => `${e.name} ${e.version}`).join(", ")})` : "";
    return no(`engine ${name} ${version} not installed${have}`);
  }
  if (manifest.scene.sizeBytes > node.maxSceneBytes) {
    return no(`its scene is ${manifest.scene.sizeBytes} bytes, more than limits.maxSceneBytes ${node.maxSceneBytes}`);
  }
  if (params.minReputation < node.minJobReputation) {
    return no(`it asks for reputation ${params.minReputation}, below this node's minJobReputation ${node.minJobReputation}`);
  }

  const estimate = estimateJob({ manifest, benchmarkScore: node.benchmarkScore, redundancy: params.redundancy });
  const seconds = estimate.secondsPerSegment * (node.speedFactor ?? 1);
  const byEstimate = (reason: string): FilterDecision => ({ accept: false, reason, final: false, estimated: true });
  const floor = (node.minRewardPerRenderSecondWei * BigInt(Math.ceil(seconds * 1000)) + 999n) / 1000n;
  if (params.rewardPerReplica < floor) {
    return byEstimate(`reward ${tokens(params.rewardPerReplica)} per replica is below the price floor: ~${round(seconds)} s × ${tokens(node.minRewardPerRenderSecondWei)}/s = ${tokens(floor)}`);
  }
  const needed = seconds * node.renderTimeSafetyFactor + node.commitMarginSeconds;
  if (needed > params.leaseDuration) {
    return byEstimate(`its lease of ${params.leaseDuration} s is too short for an estimated ${round(seconds)} s render (× ${node.renderTimeSafetyFactor} + ${node.commitMarginSeconds} s margin)`);
  }

  if (now.registered === false) {
    return no("this node's account is not registered — run `tessellate-provider register` and `tessellate-provider stake <amount>`", false);
  }
  if (now.reputation < params.minReputation) {
    return no(`it needs reputation ${params.minReputation}, this node has ${now.reputation}`, false);
  }
  if (params.collateralPerReplica > now.freeStake) {
    return no(`its collateral ${tokens(params.collateralPerReplica)} exceeds the free stake ${tokens(now.freeStake)}`, false);
  }
  return { accept: true, estimatedSeconds: seconds };
}

function tokens(wei: bigint): string {
  return `${formatUnits(wei, 18)} tokens`;
}

function round(seconds: number): string {
  return seconds < 10 ? seconds.toFixed(2) : seconds.toFixed(0);
}

function firstLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.length > 1 ? `${lines[1]}${lines.length > 2 ? ` (+${lines.length - 2} more)` : ""}` : (lines[0] ?? text);
}
