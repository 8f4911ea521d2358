// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title AgreementLib — support among a segment's revealed replicas (the rule JobRules documents)
/// @notice Exact agreement is equality of seals; JobMarket counts it in-contract (no call), JobRules
/// uses the same counting for Tolerant agreement. Bit k of a mask = replica k.
library AgreementLib {
    /// @notice Masks of Exact agreement: masks[k] holds every considered replica whose seal equals k's.
    function exactMasks(bytes20[] memory seals, uint8 considered) internal pure returns (uint8[] memory masks) {
        uint256 n = seals.length;
        masks = new uint8[](n);
        for (uint256 k; k < n; ++k) {
            if ((uint256(considered) >> k) & 1 != 0) masks[k] = uint8(uint256(1) << k);
        }
        for (uint256 k; k < n; ++k) {
            if (masks[k] == 0) continue;
            for (uint256 m = k + 1; m < n; ++m) {
                if (masks[m] != 0 && seals[k] == seals[m]) {
                    masks[k] |= uint8(uint256(1) << m);
                    masks[m] |= uint8(uint256(1) << k);
                }
            }
        }
    }

    /// @notice The lowest-numbered replica with the highest support, that support (the number of
    /// replicas that agree with it, itself included) and the mask of those replicas.
    function best(uint8[] memory masks) internal pure returns (uint8 winner, uint8 support, uint8 agreeing) {
        for (uint256 k; k < masks.length; ++k) {
            uint8 count;
            for (uint8 bits = masks[k]; bits != 0; bits &= bits - 1) ++count;
            if (count > support) (winner, support, agreeing) = (uint8(k), count, masks[k]);
        }
    }
}
