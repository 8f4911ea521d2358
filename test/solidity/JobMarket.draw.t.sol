// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {JobMarket} from "../../contracts/JobMarket.sol";
import {ProviderRegistry} from "../../contracts/ProviderRegistry.sol";
import {RenderToken} from "../../contracts/RenderToken.sol";
import {IJobMarketTypes} from "../../contracts/interfaces/IJobMarket.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";

/// @notice The state snapshots these tests repeat one ticket from (Hardhat's Solidity test runner
/// implements them at the standard cheatcode address).
interface VmSnapshots {
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
}

/// @notice Issue 10 property 4 (docs/collusion.md §1): a ticket's slot is drawn uniformly over the
/// free (segment, slot) pairs, as assigning replicas at random would. Each test repeats one ticket
/// from one claim state under many seed blocks and counts where it lands.
contract JobMarketDrawTest is MarketFixture {
    VmSnapshots internal constant snapshots = VmSnapshots(address(uint160(uint256(keccak256("hevm cheat code")))));

    function setUp() public {
        _deployMarket(0x3000, 4, 1_000_000 ether, 1_000_000 ether);
    }

    /// @notice Attack stopped: requesting when the odds are good (docs/collusion.md §5, "block
    /// choice", 3.75x f^r at f = 0.1, r = 2 with the scan). The scan took the next open segment after
    /// a uniform start, so the segment after a run of k closed segments was hit with probability
    /// (k + 1) / N, and an attacker requested only when a segment it wanted sat there. Here 8 of 16
    /// segments are closed in one run: the scan gave the segment after it 9/16 (before the draw: 89 of
    /// these 160 tickets); the draw gives every open segment 1/8 (20 of 160).
    function test_draw_segmentAfterClosedRunIsNotFavoured() public {
        uint256 jobId = _post(16, 1, 1);
        _claimNow(jobId, providers[0], 8); // r = 1: the 8 segments it takes close, in one run
        uint32 after_;
        uint256 open;
        for (uint32 s; s < 16; ++s) {
            if (_closed(jobId, s)) continue;
            ++open;
            if (_closed(jobId, (s + 15) % 16)) after_ = s;
        }
        assertEq(open, 8, "open segments");
        uint256 trials = 160;
        uint256[16] memory hits = _repeat(jobId, providers[1], trials);
        uint256 least = type(uint256).max;
        uint256 most;
        for (uint32 s; s < 16; ++s) {
            if (_closed(jobId, s)) {
                assertEq(hits[s], 0, "landed on a closed segment");
                continue;
            }
            if (hits[s] < least) least = hits[s];
            if (hits[s] > most) most = hits[s];
        }
        // Binomial(160, 1/8): mean 20, sd 4.2; the scan's 9/16 would give the segment after the run ~90.
        assertTrue(hits[after_] <= 36, string.concat("segment after the closed run favoured: ", _str(hits[after_]), " of 160"));
        assertTrue(most <= 36, string.concat("an open segment favoured: ", _str(most), " of 160"));
        assertTrue(least >= 8, string.concat("an open segment starved: ", _str(least), " of 160"));
    }

    /// @notice Attack stopped: favouring a segment that is already partly held (where a partner's
    /// replica waits for its pair). Assigning replicas at random weighs a segment by its free slots:
    /// with redundancy 3, a segment with 1 free slot beside one with 2 gets 1/3 of the tickets (80
    /// of 240, sd 7.3); a draw by segment, as the scan's uniform start was, gives it 1/2 (before the
    /// draw: 127 of these 240).
    function test_draw_weightsSegmentsByFreeSlots() public {
        uint256 jobId = _post(2, 3, 2);
        _claimNow(jobId, providers[0], 2); // one slot of each segment
        _claimNow(jobId, providers[1], 1); // one segment is left with 1 free slot, the other with 2
        uint32 fuller = market.segmentOf(jobId, 0).assigned == 2 ? 0 : 1;
        assertEq(market.segmentOf(jobId, fuller).assigned, 2, "one segment holds two replicas");
        assertEq(market.segmentOf(jobId, 1 - fuller).assigned, 1, "the other holds one");
        uint256[16] memory hits = _repeat(jobId, providers[2], 240);
        assertEq(hits[0] + hits[1], 240, "every ticket lands");
        assertTrue(hits[fuller] >= 60 && hits[fuller] <= 100, string.concat("1-free-slot segment: ", _str(hits[fuller]), " of 240, want about 80"));
    }

    /// @notice A job's tail: when nearly every draw misses (1 open segment of 129), the ticket falls
    /// back to the scan and still takes the last open segment.
    function test_draw_fallsBackToTheScanAtTheTail() public {
        uint256 jobId = _post(129, 1, 1);
        _claimNow(jobId, providers[0], 64);
        _claimNow(jobId, providers[1], 64);
        uint32 last = 129;
        for (uint32 s; s < 129; ++s) {
            if (!_closed(jobId, s)) last = s;
        }
        assertTrue(last < 129, "one segment left open");
        uint256 trials = 8;
        uint256 snapshot = snapshots.snapshotState();
        for (uint256 t; t < trials; ++t) {
            snapshots.revertToState(snapshot);
            _claimNow(jobId, providers[2], 1);
            assertTrue(market.replicaOf(jobId, last, 0).provider == providers[2], "the last open segment taken");
        }
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Requests `count` slots for `provider` on fresh seed blocks and resolves them in the next block.
    function _claimNow(uint256 jobId, address provider, uint256 count) internal {
        _nextBlock(keccak256(abi.encode(provider, count, block.number, "request")));
        vm.prank(provider);
        market.requestClaim(jobId, count);
        _nextBlock(keccak256(abi.encode(provider, count, block.number, "seed")));
        market.resolveClaims(jobId);
    }

    /// @dev From the current state, `trials` times: `provider` requests one slot in a block with a
    /// fresh hash, it resolves, and the segment it took is counted; then the state is restored.
    function _repeat(uint256 jobId, address provider, uint256 trials) internal returns (uint256[16] memory hits) {
        uint32 segments = market.jobOf(jobId).segmentCount;
        uint256 snapshot = snapshots.snapshotState();
        for (uint256 t; t < trials; ++t) {
            snapshots.revertToState(snapshot);
            _nextBlock(keccak256(abi.encode("before", t)));
            vm.prank(provider);
            market.requestClaim(jobId, 1);
            _nextBlock(keccak256(abi.encode("seed", t)));
            market.resolveClaims(jobId);
            for (uint32 s; s < segments; ++s) {
                for (uint8 k; k < market.segmentOf(jobId, s).slots; ++k) {
                    if (market.replicaOf(jobId, s, k).provider == provider) ++hits[s];
                }
            }
        }
        snapshots.revertToState(snapshot);
    }

    function _closed(uint256 jobId, uint32 segment) internal view returns (bool) {
        IJobMarketTypes.SegmentView memory seg = market.segmentOf(jobId, segment);
        return seg.slots != 0 && seg.assigned == seg.slots;
    }
}
