// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {JobMarket} from "../../contracts/JobMarket.sol";
import {ProviderRegistry} from "../../contracts/ProviderRegistry.sol";
import {RenderToken} from "../../contracts/RenderToken.sol";
import {IJobMarket, IJobMarketTypes} from "../../contracts/interfaces/IJobMarket.sol";
import {MarketFixture} from "./utils/MarketFixture.sol";

/// @notice Stateless fuzz tests of the claim rule and of one segment's settlement.
contract JobMarketFuzz is MarketFixture {
    function setUp() public {
        _deployMarket(0x2000, 6, 100_000 ether, 50_000 ether);
    }


    /// @notice Whatever the job shape, claim sizes and randomness, no provider ever holds two
    /// live replicas of one segment, and no segment holds more replicas than its slots.
    function testFuzz_claim_neverTwoReplicasToOneProvider(
        uint32 segmentsSeed,
        uint8 redundancySeed,
        uint256 claimsSeed,
        bytes32 randomness
    ) public {
        uint32 segments = uint32(bound(segmentsSeed, 1, 300));
        uint8 redundancy = uint8(bound(redundancySeed, 1, 5));
        uint256 jobId = _post(segments, redundancy, redundancy / 2 + 1);
        for (uint256 round; round < 8; ++round) {
            vm.prevrandao(keccak256(abi.encode(randomness, round)));
            _nextBlock(keccak256(abi.encode(randomness, round)));
            address p = providers[uint256(keccak256(abi.encode(claimsSeed, round))) % providers.length];
            vm.prank(p);
            try market.requestClaim(jobId, bound(uint256(keccak256(abi.encode(claimsSeed, round, "n"))), 1, 64)) {} catch {}
        }
        _nextBlock(randomness);
        while (market.resolveClaims(jobId) != 0) {}
        for (uint32 s; s < segments; ++s) {
            IJobMarketTypes.SegmentView memory seg = market.segmentOf(jobId, s);
            assertTrue(seg.assigned <= seg.slots, "more replicas than slots");
            address[5] memory seen;
            for (uint8 r; r < redundancy; ++r) {
                IJobMarketTypes.ReplicaView memory rep = market.replicaOf(jobId, s, r);
                if (rep.state == IJobMarketTypes.ReplicaState.Empty) continue;
                for (uint8 k; k < r; ++k) assertTrue(seen[k] != rep.provider, "two replicas of one segment for one provider");
                seen[r] = rep.provider;
            }
        }
    }

    /// @notice One segment at r=3, any mix of honest and wrong digests, any reveal order: tokens
    /// are conserved, the requester's net cost never exceeds redundancy units, and an honest
    /// provider is never slashed (wrong digests all differ, so they can never out-vote the truth).
    function testFuzz_settlement_conservesTokensAndNeverOvercharges(uint8 cheatMask, uint8 order, uint8 quorumSeed) public {
        uint8 quorum = uint8(bound(quorumSeed, 2, 3));
        uint256 requesterBefore = token.balanceOf(address(this));
        uint256 jobId = _post(1, 3, quorum);
        bytes32[3] memory digests;
        address[3] memory holders;
        for (uint8 i; i < 3; ++i) {
            holders[i] = providers[i];
            _nextBlock(bytes32(uint256(order)));
            vm.prank(holders[i]);
            market.requestClaim(jobId, 1);
            digests[i] = (cheatMask >> i) & 1 == 1 ? keccak256(abi.encode("garbage", i)) : keccak256("pixels");
        }
        _nextBlock(bytes32(uint256(order)));
        market.resolveClaims(jobId);
        for (uint8 i; i < 3; ++i) _commit(jobId, holders[i], digests[i]);
        for (uint8 k; k < 3; ++k) {
            uint8 i = uint8((uint256(k) + order) % 3);
            _reveal(jobId, holders[i], digests[i]);
        }
        assertEq(token.balanceOf(address(market)), market.totalEscrow() + market.totalBalances(), "market conservation");
        assertEq(token.balanceOf(address(registry)), registry.totalStaked(), "registry conservation");
        uint256 spent = requesterBefore - token.balanceOf(address(this));
        uint256 returned = market.balanceOf(address(this));
        assertTrue(returned >= spent || spent - returned <= 3 * 1.01 ether, "requester paid more than r units");
        for (uint8 i; i < 3; ++i) {
            if ((cheatMask >> i) & 1 == 0) {
                assertEq(registry.providerOf(holders[i]).staked, 50_000 ether, "an honest provider was slashed");
            }
        }
    }

    function _replicaOf(uint256 jobId, address p) internal view returns (uint8) {
        for (uint8 r; r < 4; ++r) {
            if (market.replicaOf(jobId, 0, r).provider == p) return r;
        }
        revert("no replica");
    }

    function _commit(uint256 jobId, address p, bytes32 digest) internal {
        IJobMarketTypes.CommitInput[] memory c = new IJobMarketTypes.CommitInput[](1);
        c[0] = IJobMarketTypes.CommitInput(0, _replicaOf(jobId, p), keccak256(abi.encode(digest, bytes32("salt"), p, jobId, uint32(0))));
        vm.prank(p);
        market.commit(jobId, c);
    }

    function _reveal(uint256 jobId, address p, bytes32 digest) internal {
        uint8 r = _replicaOf(jobId, p);
        if (market.replicaOf(jobId, 0, r).state != IJobMarketTypes.ReplicaState.Committed) return;
        if (market.segmentOf(jobId, 0).revealDeadline == 0) return; // a tie-breaker opened: reveal closed
        IJobMarketTypes.RevealInput[] memory rv = new IJobMarketTypes.RevealInput[](1);
        rv[0] = IJobMarketTypes.RevealInput(0, r, digest, bytes32("salt"), "bafyresult", "", new bytes[](0));
        vm.prank(p);
        market.reveal(jobId, rv);
    }
}
