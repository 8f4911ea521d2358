/**
 * What one engine process costs this node, learned from its own renders (issue 12 item 8).
 *
 * Every engine call the worker makes (one tile, or a group of tiles in one process: worker/
 * tileGroup.ts) is one observation of that engine (name and exact version): it ran `processes`
 * engine processes over pixels the benchmark estimates at `pixelSeconds` (the sdk's estimate less
 * its per-segment start-up guess, summed over the call's tiles) and took `seconds` of wall time:
 *
 *   seconds ≈ processes × launch + pixelFactor × pixelSeconds
 *
 * `launch` (start-up, scene load, scene sync: what one more process adds) and `pixelFactor`
 * (measured ÷ benchmark-estimated pixel time) are fitted by least squares over the engine's last
 * {@link LAUNCH_WINDOW} calls. Calls of different sizes (a warm-up tile, a group of 16) separate
 * the two. While the calls do not separate them (one call, or calls of one size), the measured
 * time is shared out in the proportion the engine's own launch constant (Engine.launchSeconds,
 * measured on a quiet machine) and the benchmark predict: a busy machine slows both alike.
 *
 * The worker sizes the tile groups it claims and renders by it (worker/render.ts tilesPerSlot):
 * a tile group rests on what this node measured, not on one warm-up render's wall time, whose
 * launch, taken as the tile's own cost, made the first claim of a Blender job take 6–9 of its 16
 * tiles (two processes where one would do).
 */

/** One engine call: `processes` engine processes, pixels the benchmark estimates at `pixelSeconds`, `seconds` of wall time. */
export interface EngineCall {
  processes: number;
  pixelSeconds: number;
  seconds: number;
}

/** The fitted costs of one engine: seconds one process adds, and measured ÷ benchmark-estimated pixel time. */
export interface LaunchCost {
  launchSeconds: number;
  pixelFactor: number;
  /** Calls it rests on. */
  calls: number;
  /** "fit": least squares over calls of different sizes; "prior": shared out as the engine's launch constant and the benchmark predict. */
  basis: "fit" | "prior";
}

/** Calls kept per engine (the most recent). */
export const LAUNCH_WINDOW = 12;

/**
 * Below this normalized determinant of the normal equations the calls are taken as one size (their
 * pixels per process alike): the fit would be noise, the prior's proportion is used instead.
 */
const MIN_SPREAD = 0.02;
/** Lower bound of a fitted pixel factor (a call whose pixels cost nothing measurable). */
const MIN_PIXEL_FACTOR = 1e-3;

export class LaunchCosts {
  private readonly calls = new Map<string, EngineCall[]>();

  constructor(initial: Readonly<Record<string, readonly EngineCall[]>> = {}) {
    for (const [key, calls] of Object.entries(initial)) {
      const valid = Array.isArray(calls) ? calls.filter(isEngineCall) : [];
      if (valid.length > 0) this.calls.set(key, valid.slice(-LAUNCH_WINDOW));
    }
  }

  /** Records one engine call of `engine` (`name@version`); returns false when it was not usable. */
  observe(engine: string, call: EngineCall): boolean {
    if (!isEngineCall(call)) return false;
    const list = this.calls.get(engine) ?? [];
    list.push({ processes: call.processes, pixelSeconds: call.pixelSeconds, seconds: call.seconds });
    if (list.length > LAUNCH_WINDOW) list.splice(0, list.length - LAUNCH_WINDOW);
    this.calls.set(engine, list);
    return true;
  }

  /**
   * The engine's costs from its recorded calls, or undefined before any. `priorLaunchSeconds` is
   * the engine's launch constant (Engine.launchSeconds), used while the calls do not separate
   * launch from pixels (see the module comment).
   */
  costOf(engine: string, priorLaunchSeconds: number): LaunchCost | undefined {
    const calls = this.calls.get(engine);
    if (!calls || calls.length === 0) return undefined;
    return fitLaunchCost(calls, priorLaunchSeconds);
  }

  /** The recorded calls, to keep in the state file. */
  records(): Record<string, EngineCall[]> {
    return Object.fromEntries([...this.calls].map(([key, calls]) => [key, calls.map((c) => ({ ...c }))]));
  }
}

/** Least squares of `seconds = processes × launch + pixelFactor × pixelSeconds` (see the module comment). */
export function fitLaunchCost(calls: readonly EngineCall[], priorLaunchSeconds: number): LaunchCost {
  let pp = 0, pe = 0, ee = 0, pt = 0, et = 0;
  for (const { processes: p, pixelSeconds: e, seconds: t } of calls) {
    pp += p * p;
    pe += p * e;
    ee += e * e;
    pt += p * t;
    et += e * t;
  }
  const det = pp * ee - pe * pe;
  if (calls.length >= 2 && ee > 0 && det / (pp * ee) >= MIN_SPREAD) {
    let launch = (pt * ee - pe * et) / det;
    let factor = (pp * et - pe * pt) / det;
    // A fit outside the physical range: one of the two is zero, the other from the calls alone.
    if (launch < 0) {
      launch = 0;
      factor = et / ee;
    } else if (factor < MIN_PIXEL_FACTOR) {
      factor = MIN_PIXEL_FACTOR;
      launch = Math.max(0, (pt - factor * pe) / pp);
    }
    return { launchSeconds: launch, pixelFactor: Math.max(MIN_PIXEL_FACTOR, factor), calls: calls.length, basis: "fit" };
  }
  // One size of call: the measured time in the proportion of the prior (launch constant, benchmark).
  const prior = Math.max(0, priorLaunchSeconds);
  const measured = calls.reduce((sum, c) => sum + c.seconds, 0);
  const predicted = calls.reduce((sum, c) => sum + c.processes * prior + c.pixelSeconds, 0);
  const scale = predicted > 0 ? measured / predicted : 1;
  return { launchSeconds: prior * scale, pixelFactor: Math.max(MIN_PIXEL_FACTOR, scale), calls: calls.length, basis: "prior" };
}

function isEngineCall(value: unknown): value is EngineCall {
  const c = value as EngineCall;
  return (
    typeof c === "object" && c !== null &&
    Number.isInteger(c.processes) && c.processes >= 1 &&
    typeof c.pixelSeconds === "number" && Number.isFinite(c.pixelSeconds) && c.pixelSeconds >= 0 &&
    typeof c.seconds === "number" && Number.isFinite(c.seconds) && c.seconds > 0
  );
}
