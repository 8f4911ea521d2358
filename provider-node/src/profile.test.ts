import assert from "node:assert/strict";
import { test } from "node:test";
import { canonicalJson, parseProviderProfile, profileCpuKernel } from "@tessellate/sdk";
import { loadConfig } from "./config/config.ts";
import { buildProfile } from "./profile.ts";

const ADDRESS = "0x00000000000000000000000000000000000000aa";
const config = loadConfig({ env: {} });
const bytes = (value: unknown) => new TextEncoder().encode(canonicalJson(value));

test("the profile records the CPU kernel Blender reported, else the one read from the processor", () => {
  const builtin = { name: "builtin", version: "1", score: 10, seconds: 1 };
  const blender = { name: "blender", version: "3.4.1", score: 5, seconds: 3, cpuKernel: "SSE4.1" };
  assert.equal(buildProfile(ADDRESS, config, [builtin, blender], new Date(0), "AVX2").hardware.cpuKernel, "SSE4.1");
  assert.equal(buildProfile(ADDRESS, config, [builtin], new Date(0), "AVX2").hardware.cpuKernel, "AVX2");
  const none = buildProfile(ADDRESS, config, [builtin], new Date(0), null);
  assert.equal(none.hardware.cpuKernel, null);

  const read = parseProviderProfile(bytes(buildProfile(ADDRESS, config, [builtin, blender], new Date(0))));
  assert.equal(profileCpuKernel(read), "SSE4.1");
  assert.equal(read.engines[1]!.cpuKernel, "SSE4.1");
  assert.equal(profileCpuKernel(parseProviderProfile(bytes(none))), "unknown");
});

test("a profile of an older node without the kernel reads as unknown; a malformed kernel is refused", () => {
  const profile = buildProfile(ADDRESS, config, [], new Date(0), "AVX2");
  const { cpuKernel: _, ...olderHardware } = profile.hardware;
  assert.equal(profileCpuKernel(parseProviderProfile(bytes({ ...profile, hardware: olderHardware }))), "unknown");
  assert.throws(() => parseProviderProfile(bytes({ ...profile, hardware: { ...profile.hardware, cpuKernel: 7 } })), { code: "PROFILE_INVALID" });
});
