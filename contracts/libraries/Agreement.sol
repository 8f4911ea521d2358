// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title AgreementLib — support among a segment's revealed replicas (the rule JobRules documents)
/// @notice Exact agreement is equality of seals; JobMarket counts it in-contract (no call), JobRules
/// uses the same counting for Tolerant agreement. Bit k of a mask = replica k.
library AgreementLib {
    /// @notice `best` over Exact agreement (replicas agree iff their seals are equal), counted
    /// without building the masks: replica k's mask holds every considered replica whose seal
    /// equals k's, itself included.
    function exactBest(bytes20[] memory seals, uint8 considered)
        internal
        pure
        returns (uint8 winner, uint8 support, uint8 agreeing)
    {
        uint256 n = seals.length;
        unchecked {
            // Only the 8 replicas `considered` can name count: no count or mask can overflow.
            for (uint256 k; k < n; ++k) {
                if ((uint256(considered) >> k) & 1 == 0) continue;
                bytes20 seal = seals[k];
                uint8 mask;
                uint8 count;
                for (uint256 m; m < n; ++m) {
                    if ((uint256(considered) >> m) & 1 != 0 && seals[m] == seal) {
                        mask |= uint8(1 << m);
                        ++count;
                    }
                }
                if (count > support) (winner, support, agreeing) = (uint8(k), count, mask);
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
