import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Address } from "viem";
import { PROFILE_VERSION, type ProviderProfile } from "./profile.ts";
import { cpuKernelCounts, describeEngineVersion, engineOffersOf, engineVersionsOf, needsCoverage, type ProviderScan, type RegisteredProvider } from "./providerOffers.ts";
import { protocolNow } from "./protocol/predicates.ts";

const A = "0x00000000000000000000000000000000000000a1" as Address;
const B = "0x00000000000000000000000000000000000000b2" as Address;
const C = "0x00000000000000000000000000000000000000c3" as Address;
const D = "0x00000000000000000000000000000000000000d4" as Address;

function provider(address: Address, engines: Record<string, string[]>, verificationModes?: string[], cpuKernel?: string): RegisteredProvider {
  const profile: ProviderProfile = {
    version: PROFILE_VERSION,
    address,
    engines: Object.entries(engines).flatMap(([name, versions]) => versions.map((version) => ({ name, version, score: 1, seconds: 1 }))),
    benchmarkScore: null,
    hardware: { cpus: 1, cpuModel: "t", memoryBytes: 1, ...(cpuKernel ? { cpuKernel } : {}) },
    limits: { maxConcurrentSegments: 1, cpuThreads: 1, memoryBytes: 1, maxSceneBytes: 1, workHours: "0-24" },
    pricing: { minRewardPerRenderSecondWei: "0" },
    ...(verificationModes ? { verificationModes } : {}),
    updatedAt: "2026-01-01T00:00:00.000Z",
  };
  return { address, profileCid: `cid-${address}`, profile };
}

const scan: ProviderScan = {
  blockNumber: 10n,
  providers: [
    provider(A, { povray: ["3.7.0.10"], builtin: ["1.0.0"] }),
    provider(B, { povray: ["3.7.0.10", "3.8.0"] }, ["exact", "tolerant"]),
    provider(C, { blender: ["4.2.1"], povray: ["3.8.0"] }),
    { address: D, profileCid: "cid-d", unreadable: "not JSON" },
  ],
};

describe("provider offers from a scan of the registry", () => {
  it("counts each engine and exact version once per provider, most offered first, then the highest version", () => {
    assert.deepEqual(
      engineOffersOf(scan).map((o) => [o.name, o.version, o.providers.length]),
      [["povray", "3.8.0", 2], ["povray", "3.7.0.10", 2], ["blender", "4.2.1", 1], ["builtin", "1.0.0", 1]],
    );
    const povray = engineVersionsOf(scan, "povray");
    assert.deepEqual(povray, { engine: "povray", versions: [{ version: "3.8.0", providers: 2 }, { version: "3.7.0.10", providers: 2 }], registered: 4, unreadable: 1, cpuKernels: [{ kernel: "unknown", providers: 3 }] });
    assert.equal(describeEngineVersion(povray, povray.versions[0]!), "povray 3.8.0, the version 2 of 4 registered providers advertise (also 3.7.0.10 by 2); 1 profile unreadable");
  });

  it("counts the CPU kernel classes of the network, and of one engine's providers (older profiles: unknown)", () => {
    const mixed: ProviderScan = {
      blockNumber: 10n,
      providers: [
        provider(A, { blender: ["4.2.1"] }, undefined, "AVX2"),
        provider(B, { blender: ["4.2.1"] }, undefined, "SSE4.1"),
        provider(C, { blender: ["4.2.1"], povray: ["3.8.0"] }, undefined, "AVX2"),
        provider(D, { povray: ["3.8.0"] }),
        { address: "0x00000000000000000000000000000000000000e5", profileCid: "cid-e", unreadable: "not JSON" },
      ],
    };
    assert.deepEqual(cpuKernelCounts(mixed), [{ kernel: "AVX2", providers: 2 }, { kernel: "SSE4.1", providers: 1 }, { kernel: "unknown", providers: 1 }]);
    assert.deepEqual(cpuKernelCounts(mixed, "povray"), [{ kernel: "AVX2", providers: 1 }, { kernel: "unknown", providers: 1 }]);
    assert.deepEqual(engineVersionsOf(mixed, "blender").cpuKernels, [{ kernel: "AVX2", providers: 2 }, { kernel: "SSE4.1", providers: 1 }]);
  });

  it("says how many offer a job's engine, its version, its verification mode and all of them (old profiles render exact only)", () => {
    assert.deepEqual(needsCoverage(scan, { engine: "povray", version: "3.8.0", verification: "tolerant" }), { registered: 4, unreadable: 1, engine: 3, engineVersion: 2, verification: 1, all: 1 });
    assert.deepEqual(needsCoverage(scan, { engine: "povray", version: "3.7.0.10", verification: "exact" }), { registered: 4, unreadable: 1, engine: 3, engineVersion: 2, verification: 3, all: 2 });
    assert.deepEqual(needsCoverage(scan, { engine: "blender", version: "4.1.0", verification: "tolerant" }), { registered: 4, unreadable: 1, engine: 1, engineVersion: 0, verification: 1, all: 0 });
  });
});

describe("protocolNow", () => {
  it("is the latest block's time, or the wall clock when blocks are older", () => {
    assert.equal(protocolNow(1_000n, 900_500), 1_000n);
    assert.equal(protocolNow(1_000n, 1_200_999), 1_200n);
  });
});
