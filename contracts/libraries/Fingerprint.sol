// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title FingerprintLib — the tolerant mode's comparison of two image fingerprints
/// @notice A fingerprint (defined in docs/tolerant.md and sdk/src/fingerprint.ts) is 256 bytes,
/// one per block of a 16 × 16 grid over the segment's frames: `flat << 7 | hash7`. Two fingerprints
/// are compared block by block: blocks whose bytes are equal and flat in both are left out (a flat
/// area is right at any sample count); of the `n` blocks left, `d` differ; they agree under
/// `toleranceBps` when `d * 10_000 <= n * toleranceBps` (nothing left to compare: they agree).
/// @dev Eight words per fingerprint, each compared with bytewise bit arithmetic (no loop over bytes).
library FingerprintLib {
    /// @notice Bytes of a fingerprint: one per block of the 16 × 16 grid.
    uint256 internal constant FINGERPRINT_BYTES = 256;
    uint256 private constant BPS = 10_000;
    uint256 private constant LOW7 = 0x7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f;
    uint256 private constant HIGH = 0x8080808080808080808080808080808080808080808080808080808080808080;
    uint256 private constant ONES = 0x0101010101010101010101010101010101010101010101010101010101010101;

    /// @notice Blocks compared (flat-and-equal ones left out) and blocks that differ. Both
    /// fingerprints must be FINGERPRINT_BYTES long (the caller checks; shorter ones revert here).
    function compare(bytes calldata a, bytes calldata b) internal pure returns (uint256 compared, uint256 differing) {
        uint256 flatEqual;
        for (uint256 i; i < FINGERPRINT_BYTES; i += 32) {
            uint256 x = uint256(bytes32(a[i:i + 32]));
            uint256 y = uint256(bytes32(b[i:i + 32]));
            uint256 diff = x ^ y;
            // Bit 7 of each byte set iff that byte of x and y differ (no carry crosses a byte:
            // 0x7f + 0x7f < 0x100).
            uint256 differs = (((diff & LOW7) + LOW7) | diff) & HIGH;
            // Bit 7 set iff the bytes are equal and flat (the flat bit is bit 7 of the byte).
            uint256 flatEq = x & HIGH & ~differs;
            unchecked {
                // Summing the 32 per-byte bits into the top byte (at most 32, no overflow of a byte).
                differing += ((differs >> 7) * ONES) >> 248;
                flatEqual += ((flatEq >> 7) * ONES) >> 248;
            }
        }
        compared = FINGERPRINT_BYTES - flatEqual;
    }

    /// @notice Whether two fingerprints agree under `toleranceBps` (parts of 10,000 of the compared blocks that may differ).
    function agree(bytes calldata a, bytes calldata b, uint16 toleranceBps) internal pure returns (bool) {
        (uint256 compared, uint256 differing) = compare(a, b);
        return differing * BPS <= compared * toleranceBps;
    }
}
