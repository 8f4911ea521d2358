import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { testLimits } from "../fixtures/engineTesting.ts";
import { cpuFlagsOf, cyclesKernelEnv, cyclesKernelFromCpuFlags, cyclesKernelFromLogLine, detectCyclesKernel } from "./cpuKernel.ts";
import { createBlenderEngine } from "./index.ts";

const AVX2_CPU = new Set("fpu sse sse2 pni ssse3 sse4_1 sse4_2 avx f16c avx2 fma bmi1 bmi2".split(" "));

describe("Cycles CPU kernel class", () => {
  test("is the best kernel the processor's flags allow", () => {
    assert.equal(cyclesKernelFromCpuFlags(AVX2_CPU), "AVX2");
    assert.equal(cyclesKernelFromCpuFlags(new Set([...AVX2_CPU].filter((f) => f !== "fma"))), "AVX", "AVX2 also needs FMA, as Cycles checks");
    assert.equal(cyclesKernelFromCpuFlags(new Set("sse sse2 pni ssse3 sse4_1".split(" "))), "SSE4.1");
    assert.equal(cyclesKernelFromCpuFlags(new Set("sse sse2 pni ssse3".split(" "))), "SSE3");
    assert.equal(cyclesKernelFromCpuFlags(new Set("sse sse2".split(" "))), "SSE2");
    assert.equal(cyclesKernelFromCpuFlags(new Set(["fp", "asimd"])), null, "no x86 kernel on an arm64 processor");
  });

  test("a CYCLES_CPU_NO_* variable disables that kernel and every better one, whatever its value", () => {
    assert.equal(cyclesKernelFromCpuFlags(AVX2_CPU, { CYCLES_CPU_NO_AVX2: "1" }), "AVX");
    assert.equal(cyclesKernelFromCpuFlags(AVX2_CPU, { CYCLES_CPU_NO_AVX2: "1", CYCLES_CPU_NO_AVX: "1" }), "SSE4.1");
    assert.equal(cyclesKernelFromCpuFlags(AVX2_CPU, { CYCLES_CPU_NO_AVX: "" }), "SSE4.1", "set but empty still disables (Cycles tests getenv() != NULL)");
    assert.equal(cyclesKernelFromCpuFlags(AVX2_CPU, { CYCLES_CPU_NO_SSE2: "1" }), null);
  });

  test("only Cycles' kernel variables are taken from the node's environment", () => {
    assert.deepEqual(cyclesKernelEnv({ CYCLES_CPU_NO_AVX2: "1", CYCLES_CPU_NO_AVX: "", PATH: "/bin", TESSELLATE_PRIVATE_KEY: "0xsecret" }), {
      CYCLES_CPU_NO_AVX2: "1",
      CYCLES_CPU_NO_AVX: "",
    });
  });

  test("reads /proc/cpuinfo flags and Blender's --debug-cycles line", () => {
    assert.deepEqual([...cpuFlagsOf("processor\t: 0\nflags\t\t: fpu sse sse2\nbugs\t: x\nflags\t: avx\n")], ["fpu", "sse", "sse2"]);
    assert.equal(cpuFlagsOf("Features\t: fp asimd\n").size, 0);
    assert.equal(cyclesKernelFromLogLine("I1202 16:22:34.461757 11270 device_impl.cpp:58] Using SSE4.1 CPU kernels."), "SSE4.1");
    assert.equal(cyclesKernelFromLogLine("Using AVX512 CPU kernels."), undefined);
  });
});

const blender = createBlenderEngine();
const installed = (await blender.detect()) !== null;

describe("Blender's benchmark reports the kernel it used", { skip: installed ? false : "Blender is not installed" }, () => {
  for (const env of [{}, { CYCLES_CPU_NO_AVX2: "1" }, { CYCLES_CPU_NO_AVX2: "1", CYCLES_CPU_NO_AVX: "1" }] as Array<Record<string, string>>) {
    test(`the same class as read from /proc/cpuinfo, under ${JSON.stringify(env)}`, { timeout: 120_000 }, async () => {
      const result = await createBlenderEngine({ cyclesEnv: env }).benchmark(testLimits);
      const expected = await detectCyclesKernel(env);
      assert.ok(expected !== null, "this test machine is x86");
      assert.equal(result.cpuKernel, expected);
    });
  }
});
