/**
 * Which CPU kernel Cycles (Blender 3.x) renders with on this machine: AVX2, AVX, SSE4.1, SSE3 or
 * SSE2. Honest renders from different kernels differ in a few pixels (docs/tolerant.md), so the
 * provider profile records the class, and requesters and the dApp can see how heterogeneous the
 * network is.
 *
 * Cycles picks the best kernel the processor supports (`util/system.cpp`), and skips the ones its
 * debug flags disable: any of `CYCLES_CPU_NO_AVX2`, `CYCLES_CPU_NO_AVX`, `CYCLES_CPU_NO_SSE41`,
 * `CYCLES_CPU_NO_SSE3`, `CYCLES_CPU_NO_SSE2` set in Blender's environment (to any value, even empty)
 * disables that kernel and every better one (`util/debug.cpp`: `has_avx2()` needs `has_avx()` …).
 * The node passes exactly these variables from its own environment into the engine's sandbox
 * (nothing else of its environment gets there), so an operator can run the SSE4.1 kernel of an
 * older processor on purpose — the tolerant end-to-end test does.
 *
 * {@link cyclesKernelFromCpuFlags} mirrors that choice from `/proc/cpuinfo`; the Blender adapter's
 * benchmark also reads what Blender itself printed (`--debug-cycles`: "Using AVX2 CPU kernels."),
 * which wins when present.
 */
import { readFile } from "node:fs/promises";

/** Kernel classes of Cycles' CPU device, best first, named as `--debug-cycles` prints them. */
export const CYCLES_KERNEL_CLASSES = ["AVX2", "AVX", "SSE4.1", "SSE3", "SSE2"] as const;
export type CyclesKernelClass = (typeof CYCLES_KERNEL_CLASSES)[number];

/** The variable that disables each kernel (and, through it, every better one). */
const DISABLE_VARIABLE: Record<CyclesKernelClass, string> = {
  AVX2: "CYCLES_CPU_NO_AVX2",
  AVX: "CYCLES_CPU_NO_AVX",
  "SSE4.1": "CYCLES_CPU_NO_SSE41",
  SSE3: "CYCLES_CPU_NO_SSE3",
  SSE2: "CYCLES_CPU_NO_SSE2",
};

/** The environment variables the node passes from its own environment into Blender's. */
export const CYCLES_KERNEL_VARIABLES: readonly string[] = CYCLES_KERNEL_CLASSES.map((k) => DISABLE_VARIABLE[k]);

/**
 * `/proc/cpuinfo` flags each kernel needs, as Cycles 3.4 checks them (`system_cpu_support_*`);
 * `pni` is how Linux names SSE3.
 */
const REQUIRED_FLAGS: Record<CyclesKernelClass, readonly string[]> = {
  SSE2: ["sse", "sse2"],
  SSE3: ["sse", "sse2", "pni", "ssse3"],
  "SSE4.1": ["sse", "sse2", "pni", "ssse3", "sse4_1"],
  AVX: ["sse", "sse2", "pni", "ssse3", "sse4_1", "avx"],
  AVX2: ["sse", "sse2", "pni", "ssse3", "sse4_1", "avx", "f16c", "avx2", "fma", "bmi1", "bmi2"],
};

/** The Cycles kernel variables set in `env` (set = defined, whatever the value, as Cycles reads them). */
export function cyclesKernelEnv(env: Readonly<Record<string, string | undefined>> = process.env): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of CYCLES_KERNEL_VARIABLES) {
    const value = env[name];
    if (value !== undefined) picked[name] = value;
  }
  return picked;
}

/**
 * The kernel Cycles would use on a processor with these `/proc/cpuinfo` flags under `env`;
 * null when none applies (not an x86 processor, or every kernel disabled).
 */
export function cyclesKernelFromCpuFlags(flags: ReadonlySet<string>, env: Readonly<Record<string, string | undefined>> = {}): CyclesKernelClass | null {
  // A disabled kernel disables every better one: walk from the worst up, stop at the first disabled.
  let best: CyclesKernelClass | null = null;
  for (const kernel of [...CYCLES_KERNEL_CLASSES].reverse()) {
    if (env[DISABLE_VARIABLE[kernel]] !== undefined) break;
    if (REQUIRED_FLAGS[kernel].every((flag) => flags.has(flag))) best = kernel;
  }
  return best;
}

/** The flags of the first processor in a `/proc/cpuinfo` text (empty when it lists none, e.g. on arm64 it says "Features"). */
export function cpuFlagsOf(cpuinfo: string): Set<string> {
  const line = /^flags\s*:(.*)$/m.exec(cpuinfo);
  return new Set(line ? line[1]!.trim().split(/\s+/) : []);
}

/** The kernel Cycles would use here, from `/proc/cpuinfo` (null where there is none to read). */
export async function detectCyclesKernel(env: Readonly<Record<string, string | undefined>> = process.env, cpuinfoPath = "/proc/cpuinfo"): Promise<CyclesKernelClass | null> {
  const text = await readFile(cpuinfoPath, "utf8").catch(() => "");
  return cyclesKernelFromCpuFlags(cpuFlagsOf(text), env);
}

/** The kernel named in a line Blender prints with `--debug-cycles` ("… Using SSE4.1 CPU kernels."), if it is one. */
export function cyclesKernelFromLogLine(line: string): CyclesKernelClass | undefined {
  const name = /Using (\S+) CPU kernels?\./.exec(line)?.[1];
  return CYCLES_KERNEL_CLASSES.find((k) => k === name);
}
