import { bytesToHex, encodeAbiParameters, keccak256, type Address, type Hex } from "viem";

/**
 * The protocol's commitment to a replica's result, exactly as JobMarket checks it on reveal:
 * keccak256(abi.encode(digest, salt, provider, jobId, segment)). Binding the provider, job and
 * segment means a commitment can be neither replayed by another address nor moved to another
 * segment. With `fingerprint` (Tolerant jobs, docs/tolerant.md):
 * keccak256(abi.encode(digest, keccak256(fingerprint), salt, provider, jobId, segment)).
 */
export function commitmentOf(digest: Hex, salt: Hex, provider: Address, jobId: bigint, segment: number, fingerprint?: Hex): Hex {
  if (fingerprint !== undefined) {
    return keccak256(
      encodeAbiParameters(
        [{ type: "bytes32" }, { type: "bytes32" }, { type: "bytes32" }, { type: "address" }, { type: "uint256" }, { type: "uint32" }],
        [digest, keccak256(fingerprint), salt, provider, jobId, segment],
      ),
    );
  }
  return keccak256(
    encodeAbiParameters(
      [{ type: "bytes32" }, { type: "bytes32" }, { type: "address" }, { type: "uint256" }, { type: "uint32" }],
      [digest, salt, provider, jobId, segment],
    ),
  );
}

/** A fresh 32-byte salt from the platform CSPRNG. Persist it before sending the commitment. */
export function randomSalt(): Hex {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return bytesToHex(bytes);
}
