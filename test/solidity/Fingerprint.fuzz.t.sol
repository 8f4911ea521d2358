// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {FingerprintLib} from "../../contracts/libraries/Fingerprint.sol";
import {JobRules} from "../../contracts/JobRules.sol";
import {IJobMarket, IJobMarketTypes} from "../../contracts/interfaces/IJobMarket.sol";
import {TestBase} from "./utils/Vm.sol";

/// @notice Calls FingerprintLib with calldata arguments, as JobRules does.
contract FingerprintHarness {
    function compare(bytes calldata a, bytes calldata b) external pure returns (uint256, uint256) {
        return FingerprintLib.compare(a, b);
    }

    function agree(bytes calldata a, bytes calldata b, uint16 toleranceBps) external pure returns (bool) {
        return FingerprintLib.agree(a, b, toleranceBps);
    }
}

/// @notice The on-chain comparison of Tolerant fingerprints against a byte-by-byte reference of
/// the rule in docs/tolerant.md (the sdk's compareFingerprints is the same loop in TypeScript).
contract FingerprintFuzz is TestBase {
    FingerprintHarness internal harness;
    JobRules internal rules;

    function setUp() public {
        harness = new FingerprintHarness();
        rules = new JobRules();
    }

    /// @dev The rule, one block at a time: flat-and-equal blocks left out, the others compared.
    function _reference(bytes memory a, bytes memory b) internal pure returns (uint256 compared, uint256 differing) {
        for (uint256 k; k < 256; ++k) {
            if (a[k] == b[k] && uint8(a[k]) & 0x80 != 0) continue;
            ++compared;
            if (a[k] != b[k]) ++differing;
        }
    }

    /// @dev A pseudo-random fingerprint; `b` shares with `a` the blocks whose bit is set in `same`
    /// (so equal, flat-and-equal and differing blocks all occur).
    function _pair(uint256 seedA, uint256 seedB, uint256 sameLo, uint256 sameHi)
        internal
        pure
        returns (bytes memory a, bytes memory b)
    {
        a = new bytes(256);
        b = new bytes(256);
        for (uint256 w; w < 8; ++w) {
            bytes32 x = keccak256(abi.encode(seedA, w));
            bytes32 y = keccak256(abi.encode(seedB, w));
            for (uint256 i; i < 32; ++i) {
                uint256 k = w * 32 + i;
                a[k] = x[i];
                bool same = ((k < 128 ? sameLo >> k : sameHi >> (k - 128)) & 1) != 0;
                b[k] = same ? x[i] : y[i];
            }
        }
    }

    function testFuzz_compare_matchesTheBlockByBlockRule(uint256 seedA, uint256 seedB, uint256 sameLo, uint256 sameHi)
        public
        view
    {
        (bytes memory a, bytes memory b) = _pair(seedA, seedB, sameLo, sameHi);
        (uint256 compared, uint256 differing) = harness.compare(a, b);
        (uint256 refCompared, uint256 refDiffering) = _reference(a, b);
        assertEq(compared, refCompared, "compared blocks");
        assertEq(differing, refDiffering, "differing blocks");
        // Symmetric: which replica is "a" does not matter.
        (uint256 compared2, uint256 differing2) = harness.compare(b, a);
        assertEq(compared2, compared, "compared blocks, swapped");
        assertEq(differing2, differing, "differing blocks, swapped");
    }

    function testFuzz_agree_isTheToleranceInequality(uint256 seedA, uint256 seedB, uint256 sameLo, uint256 sameHi, uint16 tol)
        public
        view
    {
        tol = uint16(bound(tol, 1, 5_000));
        (bytes memory a, bytes memory b) = _pair(seedA, seedB, sameLo, sameHi);
        (uint256 n, uint256 d) = _reference(a, b);
        assertTrue(harness.agree(a, b, tol) == (d * 10_000 <= n * tol), "agreement rule");
    }

    /// @dev `d` blocks of 200 compared differ (56 flat-and-equal ones left out).
    function _boundaryPair(uint256 d) internal pure returns (bytes memory a, bytes memory b) {
        a = new bytes(256);
        b = new bytes(256);
        for (uint256 k; k < 256; ++k) {
            bytes1 v = k < 56 ? bytes1(0x80) : bytes1(uint8(k & 0x7f));
            a[k] = v;
            b[k] = (k >= 56 && k < 56 + d) ? v ^ 0x01 : v;
        }
    }

    /// @notice 2,500 bps of 200 compared blocks is 50: 50 differing blocks agree, 51 do not.
    function test_agree_toleranceBoundaryBothSides() public view {
        (bytes memory a, bytes memory b) = _boundaryPair(50);
        (uint256 n, uint256 d) = harness.compare(a, b);
        assertEq(n, 200, "flat-and-equal blocks are left out");
        assertEq(d, 50, "differing blocks");
        assertTrue(harness.agree(a, b, 2_500), "d * 10000 == n * tol agrees");
        (a, b) = _boundaryPair(51);
        assertTrue(!harness.agree(a, b, 2_500), "one block more does not");
    }

    /// @notice A flat block that differs (another flat colour) counts as compared and differing.
    function test_compare_flatBlocksThatDifferAreCompared() public view {
        bytes memory a = new bytes(256);
        bytes memory b = new bytes(256);
        for (uint256 k; k < 256; ++k) {
            a[k] = 0x80;
            b[k] = k == 0 ? bytes1(0x81) : bytes1(0x80);
        }
        (uint256 n, uint256 d) = harness.compare(a, b);
        assertEq(n, 1, "only the differing flat block is compared");
        assertEq(d, 1, "and it differs");
        assertTrue(!harness.agree(a, b, 5_000), "a mostly empty frame with its only detail wrong does not agree");
    }

    /// @notice Shorter fingerprints never compare (the market refuses them at the reveal already).
    function test_compare_revertsOnShortFingerprint() public {
        bytes memory a = new bytes(255);
        bytes memory b = new bytes(256);
        try harness.compare(a, b) returns (uint256, uint256) {
            assertTrue(false, "a 255-byte fingerprint was compared");
        } catch {}
    }

    /// @notice Support: the lowest-numbered replica with the highest support wins; a peer's
    /// fingerprint that is not the one it revealed is refused.
    function test_support_winnerAndPeerCheck() public view {
        (bytes memory a, bytes memory b) = _boundaryPair(10); // agree at 2,500
        (, bytes memory c) = _boundaryPair(150); // disagrees with both
        bytes[] memory peers = new bytes[](3);
        peers[0] = a;
        peers[1] = b;
        bytes20[] memory seals = new bytes20[](3);
        seals[0] = bytes20(keccak256(a));
        seals[1] = bytes20(keccak256(b));
        seals[2] = bytes20(keccak256(c));
        (uint8 winner, uint8 best, uint8 agreeing) =
            rules.support(1, 0, IJobMarketTypes.Verification.Tolerant, 2_500, 2, c, peers, seals, 7);
        assertEq(winner, 0, "lowest-numbered replica of the agreeing pair");
        assertEq(best, 2, "support of the pair");
        assertEq(agreeing, 3, "replicas 0 and 1 agree");
        peers[1] = c; // not what replica 1 revealed
        try rules.support(1, 0, IJobMarketTypes.Verification.Tolerant, 2_500, 2, c, peers, seals, 7) returns (
            uint8, uint8, uint8
        ) {
            assertTrue(false, "a peer fingerprint that is not the revealed one was used");
        } catch (bytes memory err) {
            assertTrue(bytes4(err) == IJobMarketTypes.JobMarketPeerFingerprintInvalid.selector, "JobMarketPeerFingerprintInvalid");
        }
    }
}
