/**
 * Commitment salts that can be recomputed after the state file is lost.
 *
 * A replica's salt must be (a) unknown to everybody else until the reveal, or a copier could test
 * guessed digests against the commitment, and (b) the same after a crash that lost the state file,
 * or the node cannot open its own commitment and is slashed for a missed reveal. A random salt
 * gives (a) only. So the salt is derived:
 *
 *   secret = keccak256(signature of the EIP-191 message
 *              "Tessellate commitment salt key v1\nchain <chainId>\nmarket <market address>")
 *   salt   = HMAC-SHA256(secret, "tessellate.salt.v1" ‖ abi.encode(jobId, segment, replica, leaseEnd))
 *
 * The signature is made with the provider's own key (secp256k1 with RFC 6979 nonces, so the same
 * key always signs the same message the same way): only the key's holder can compute the secret,
 * and nothing public (addresses, events, commitments) reveals it. The message is a personal-sign
 * message, which can never be a valid transaction, and the node signs it for nobody else. The chain
 * id and market address separate deployments. `leaseEnd` (from the slot's `ReplicasClaimed` event)
 * differs between two claims of one slot, so a slot that reopened and was claimed again gets a new
 * salt, and a digest revealed in an earlier round says nothing about a later commitment.
 *
 * Everything the salt depends on is on-chain or in the key, so a node that lost its state file
 * rebuilds its replicas from the chain, renders them again and reveals with the same salt.
 */
import { createHmac } from "node:crypto";
import { encodeAbiParameters, hexToBytes, keccak256, type Address, type Hex } from "viem";

export const SALT_KEY_MESSAGE_VERSION = "Tessellate commitment salt key v1";
const SALT_DOMAIN = "tessellate.salt.v1";

/** What the node needs to derive the secret: anything that signs EIP-191 messages deterministically. */
export interface MessageSigner {
  signMessage(args: { message: string }): Promise<Hex>;
}

/** The message whose signature is the salt secret (public on purpose: the secret is the signature). */
export function saltKeyMessage(deployment: { chainId: number; market: Address }): string {
  return `${SALT_KEY_MESSAGE_VERSION}\nchain ${deployment.chainId}\nmarket ${deployment.market.toLowerCase()}`;
}

/** The node's salt secret for one deployment (32 bytes). Keep it out of logs and files. */
export async function deriveSaltSecret(signer: MessageSigner, deployment: { chainId: number; market: Address }): Promise<Hex> {
  return keccak256(await signer.signMessage({ message: saltKeyMessage(deployment) }));
}

/** The salt of one claim of one replica slot. */
export function replicaSalt(secret: Hex, slot: { jobId: bigint; segment: number; replica: number; leaseEnd: number }): Hex {
  const data = encodeAbiParameters(
    [{ type: "uint256" }, { type: "uint32" }, { type: "uint8" }, { type: "uint64" }],
    [slot.jobId, slot.segment, slot.replica, BigInt(slot.leaseEnd)],
  );
  const mac = createHmac("sha256", hexToBytes(secret)).update(SALT_DOMAIN).update(hexToBytes(data)).digest("hex");
  return `0x${mac}`;
}
