// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IJobMarketTypes} from "../interfaces/IJobMarket.sol";

/// @notice A segment's counters in 64 bits, so that four segments share one storage word and a
/// batch over consecutive segments writes a quarter of the words.
/// Layout (low bit first): status 3 | slots 3 | assigned 3 | committed 3 | revealed 3 |
/// tieBreakers 3 | winner 3 | revealDeadline 40 | givenBack 1 | round 2.
type SegmentHeader is uint64;

/// @title SegmentHeaderLib — getters and copy-on-write setters of a packed segment header
library SegmentHeaderLib {
    /// @notice Most replica slots a segment can have (redundancy plus tie-breakers); fits 3 bits.
    uint8 internal constant MAX_SLOTS = 6;
    /// @notice Last blind round a segment can reach (2 bits): rounds 0..3, see `round`.
    uint8 internal constant MAX_ROUND = 3;

    uint8 private constant STATUS = 0;
    uint8 private constant SLOTS = 3;
    uint8 private constant ASSIGNED = 6;
    uint8 private constant COMMITTED = 9;
    uint8 private constant REVEALED = 12;
    uint8 private constant TIE_BREAKERS = 15;
    uint8 private constant WINNER = 18;
    uint8 private constant REVEAL_DEADLINE = 21;
    uint8 private constant GIVEN_BACK = 61;
    uint8 private constant ROUND = 62;
    uint64 private constant MASK3 = 7;
    uint64 private constant MASK40 = (1 << 40) - 1;
    uint64 private constant MASK1 = 1;
    uint64 private constant MASK2 = 3;

    function unpack(uint256 word, uint32 segment) internal pure returns (SegmentHeader) {
        return SegmentHeader.wrap(uint64(word >> ((segment & 3) * 64)));
    }

    function pack(uint256 word, uint32 segment, SegmentHeader h) internal pure returns (uint256) {
        uint256 shift = (segment & 3) * 64;
        return (word & ~(uint256(type(uint64).max) << shift)) | (uint256(SegmentHeader.unwrap(h)) << shift);
    }

    function status(SegmentHeader h) internal pure returns (IJobMarketTypes.SegmentStatus) {
        return IJobMarketTypes.SegmentStatus(_get(h, STATUS, MASK3));
    }

    function slots(SegmentHeader h) internal pure returns (uint8) {
        return uint8(_get(h, SLOTS, MASK3));
    }

    function assigned(SegmentHeader h) internal pure returns (uint8) {
        return uint8(_get(h, ASSIGNED, MASK3));
    }

    function committed(SegmentHeader h) internal pure returns (uint8) {
        return uint8(_get(h, COMMITTED, MASK3));
    }

    function revealed(SegmentHeader h) internal pure returns (uint8) {
        return uint8(_get(h, REVEALED, MASK3));
    }

    function tieBreakers(SegmentHeader h) internal pure returns (uint8) {
        return uint8(_get(h, TIE_BREAKERS, MASK3));
    }

    /// @notice Slot index of the accepted result's replica (valid once Accepted).
    function winner(SegmentHeader h) internal pure returns (uint8) {
        return uint8(_get(h, WINNER, MASK3));
    }

    function revealDeadline(SegmentHeader h) internal pure returns (uint64) {
        return _get(h, REVEAL_DEADLINE, MASK40);
    }

    /// @notice Whether a slot of the segment was ever given back (`abandon`): an emptied slot may then
    /// still name its last holder, who may not claim the segment again during its cooldown.
    function givenBack(SegmentHeader h) internal pure returns (bool) {
        return _get(h, GIVEN_BACK, MASK1) != 0;
    }

    function withGivenBack(SegmentHeader h) internal pure returns (SegmentHeader) {
        return _set(h, GIVEN_BACK, MASK1, 1);
    }

    /// @notice The segment's blind round: 0 until a slot opens after a replica revealed in the
    /// current round (a tie-breaker; a slot whose holder missed the reveal); each such opening
    /// starts the next round, whose reveals carry the next link of the digest chain (IJobMarket.reveal).
    function round(SegmentHeader h) internal pure returns (uint8) {
        return uint8(_get(h, ROUND, MASK2));
    }

    function withRound(SegmentHeader h, uint8 v) internal pure returns (SegmentHeader) {
        return _set(h, ROUND, MASK2, v);
    }

    function withStatus(SegmentHeader h, IJobMarketTypes.SegmentStatus v) internal pure returns (SegmentHeader) {
        return _set(h, STATUS, MASK3, uint64(v));
    }

    function withSlots(SegmentHeader h, uint8 v) internal pure returns (SegmentHeader) {
        return _set(h, SLOTS, MASK3, v);
    }

    function withAssigned(SegmentHeader h, uint8 v) internal pure returns (SegmentHeader) {
        return _set(h, ASSIGNED, MASK3, v);
    }

    function withCommitted(SegmentHeader h, uint8 v) internal pure returns (SegmentHeader) {
        return _set(h, COMMITTED, MASK3, v);
    }

    function withRevealed(SegmentHeader h, uint8 v) internal pure returns (SegmentHeader) {
        return _set(h, REVEALED, MASK3, v);
    }

    function withTieBreakers(SegmentHeader h, uint8 v) internal pure returns (SegmentHeader) {
        return _set(h, TIE_BREAKERS, MASK3, v);
    }

    function withWinner(SegmentHeader h, uint8 v) internal pure returns (SegmentHeader) {
        return _set(h, WINNER, MASK3, v);
    }

    function withRevealDeadline(SegmentHeader h, uint64 v) internal pure returns (SegmentHeader) {
        return _set(h, REVEAL_DEADLINE, MASK40, v);
    }

    function _get(SegmentHeader h, uint8 offset, uint64 mask) private pure returns (uint64) {
        return (SegmentHeader.unwrap(h) >> offset) & mask;
    }

    /// @dev Values are bounded by the market's constants (slots <= MAX_SLOTS, timestamps < 2^40);
    /// masking keeps a bug from spilling into a neighbouring field.
    function _set(SegmentHeader h, uint8 offset, uint64 mask, uint64 v) private pure returns (SegmentHeader) {
        uint64 raw = SegmentHeader.unwrap(h);
        return SegmentHeader.wrap((raw & ~(mask << offset)) | ((v & mask) << offset));
    }
}
