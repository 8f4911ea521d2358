// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IJobMarketTypes} from "./interfaces/IJobMarket.sol";
import {FingerprintLib} from "./libraries/Fingerprint.sol";
import {AgreementLib} from "./libraries/Agreement.sol";

/// @title JobRules — agreement between the replicas of a segment, Exact or Tolerant
/// @notice Stateless and immutable: JobMarket deploys its own in its constructor and calls
/// `support` for every Tolerant tally (Exact ones it counts itself with AgreementLib; the comparison lives here so that JobMarket stays under the EIP-170
/// code size limit). Reverts with IJobMarketTypes' errors, which reach JobMarket's callers unchanged.
contract JobRules {
    /// @notice Support among the replicas in `considered` (bit k = replica k): replicas k and m
    /// agree when their seals are equal (Exact: digest prefixes) or, in a Tolerant job, when their
    /// fingerprints agree within `toleranceBps` (FingerprintLib). A replica's support is the number
    /// of considered replicas that agree with it, itself included. Returns the lowest-numbered
    /// replica with the highest support (`winner`), that support, and the bitmask of the replicas
    /// that agree with the winner. JobMarket calls it for Tolerant tallies. Tolerant:
    /// replica `self`'s fingerprint is `own`; every other considered replica k's is `peers[k]`,
    /// which must hash to its seal `seals[k]` (the first 160 bits of keccak256 of the fingerprint
    /// it revealed), else JobMarketPeerFingerprintInvalid.
    /// `own` must be FINGERPRINT_BYTES long (JobMarket checks it at the reveal); a peer that
    /// matches its seal has that length too.
    function support(
        uint256 jobId,
        uint32 segment,
        IJobMarketTypes.Verification verification,
        uint16 toleranceBps,
        uint8 self,
        bytes calldata own,
        bytes[] calldata peers,
        bytes20[] calldata seals,
        uint8 considered
    ) external pure returns (uint8 winner, uint8 best, uint8 agreeing) {
        bool tolerant = verification == IJobMarketTypes.Verification.Tolerant;
        uint256 n = seals.length;
        uint8[] memory masks = new uint8[](n);
        for (uint256 k; k < n; ++k) {
            if ((uint256(considered) >> k) & 1 == 0) continue;
            masks[k] = uint8(uint256(1) << k);
            if (tolerant && k != self && (k >= peers.length || bytes20(keccak256(peers[k])) != seals[k])) {
                revert IJobMarketTypes.JobMarketPeerFingerprintInvalid(jobId, segment, uint8(k));
            }
        }
        for (uint256 k; k < n; ++k) {
            if (masks[k] == 0) continue;
            for (uint256 m = k + 1; m < n; ++m) {
                if (masks[m] == 0) continue;
                bool same = tolerant
                    ? FingerprintLib.agree(k == self ? own : peers[k], m == self ? own : peers[m], toleranceBps)
                    : seals[k] == seals[m];
                if (same) {
                    masks[k] |= uint8(uint256(1) << m);
                    masks[m] |= uint8(uint256(1) << k);
                }
            }
        }
        return AgreementLib.best(masks);
    }
}
