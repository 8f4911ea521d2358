// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {JobMarket} from "../../contracts/JobMarket.sol";
import {JobMarketExtensionBlueprint} from "../../contracts/JobMarketExtensionBlueprint.sol";
import {ProviderRegistry} from "../../contracts/ProviderRegistry.sol";
import {RenderToken} from "../../contracts/RenderToken.sol";
import {IJobMarket, IJobMarketTypes} from "../../contracts/interfaces/IJobMarket.sol";
import {MarketHandler} from "./MarketHandler.sol";
import {TestBase} from "./utils/Vm.sol";

/// @notice Conservation of money under random sequences of every protocol action.
contract JobMarketInvariants is TestBase {
    RenderToken internal token;
    ProviderRegistry internal registry;
    JobMarket internal market;
    MarketHandler internal handler;

    function setUp() public {
        token = new RenderToken(10_000_000 ether, address(this));
        market = new JobMarket(token, 1 hours, address(this), address(0xFEE), 150, 30, 30, 1 ether, [address(new JobMarketExtensionBlueprint(0)), address(new JobMarketExtensionBlueprint(1))]);
        registry = ProviderRegistry(market.registry());
        handler = new MarketHandler(token, registry, market);
        token.transfer(address(handler), 5_000_000 ether);
        handler.setUpCast();
    }

    /// @notice The handler can drive a job through claims, commits and reveals to settlement, so the
    /// invariants below are exercised on settled money, not only on escrow.
    function test_handler_drivesJobsToSettlement() public {
        for (uint256 seed = 1; handler.ghostAccepted() == 0 && seed < 20; ++seed) {
            handler.createJob(seed * 0x10001);
            handler.claim(handler.jobCount() - 1, seed, 6);
            handler.commit(handler.jobCount() - 1, seed);
            handler.reveal(handler.jobCount() - 1);
        }
        assertTrue(handler.ghostAccepted() > 0, "no segment was ever accepted");
        invariant_marketBalanceCoversEscrowAndBalances();
        invariant_lockedCollateralMatchesHeldReplicas();
    }

    /// @notice Only the handler is fuzzed; the contracts under test are reached through it.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_marketBalanceCoversEscrowAndBalances() public view {
        assertEq(
            token.balanceOf(address(market)),
            market.totalEscrow() + market.totalBalances(),
            "market token balance != unsettled escrow + internal balances"
        );
    }

    function invariant_registryBalanceEqualsTotalStake() public view {
        assertEq(token.balanceOf(address(registry)), registry.totalStaked(), "registry balance != total stake");
    }

    function invariant_jobEscrowsSumToTotal() public view {
        uint256 sum;
        for (uint256 i; i < handler.jobCount(); ++i) sum += market.jobOf(handler.jobs(i)).escrow;
        assertEq(sum, market.totalEscrow(), "sum of job escrows != total escrow");
    }

    function invariant_balancesSumToTotal() public view {
        uint256 sum;
        for (uint256 i; i < handler.actorCount(); ++i) sum += market.balanceOf(handler.actorAt(i));
        assertEq(sum, market.totalBalances(), "sum of balances != total balances");
    }

    /// @notice Every held replica is backed by exactly its collateral, locked in the registry.
    function invariant_lockedCollateralMatchesHeldReplicas() public view {
        for (uint256 pi; pi < handler.providerCount(); ++pi) {
            address p = handler.providers(pi);
            uint256 expected;
            for (uint256 j; j < handler.jobCount(); ++j) {
                uint256 jobId = handler.jobs(j);
                IJobMarketTypes.JobView memory job = market.jobOf(jobId);
                (,, IJobMarketTypes.Ticket[] memory waiting) = market.claimQueueOf(jobId);
                for (uint256 t; t < waiting.length; ++t) {
                    if (waiting[t].provider == p) expected += uint256(waiting[t].count) * job.collateralPerReplica;
                }
                for (uint32 s; s < job.segmentCount; ++s) {
                    for (uint8 r; r < 6; ++r) { // MAX_SLOTS: an audited segment's escalation fills all six
                        IJobMarketTypes.ReplicaView memory rep = market.replicaOf(jobId, s, r);
                        bool held = rep.state == IJobMarketTypes.ReplicaState.Claimed
                            || rep.state == IJobMarketTypes.ReplicaState.Committed || rep.state == IJobMarketTypes.ReplicaState.Revealed;
                        if (held && rep.provider == p) expected += job.collateralPerReplica;
                    }
                }
            }
            assertEq(registry.providerOf(p).locked, expected, "locked collateral != collateral of held replicas");
        }
    }

    /// @notice A segment's escrow never exceeds redundancy units, and a settled job holds nothing.
    function invariant_settledSegmentsHoldNoEscrow() public view {
        for (uint256 j; j < handler.jobCount(); ++j) {
            uint256 jobId = handler.jobs(j);
            IJobMarketTypes.JobView memory job = market.jobOf(jobId);
            bool allFinal = true;
            uint256 forfeitable; // units a failed or closed segment may have forfeited (left in escrow for good)
            for (uint32 s; s < job.segmentCount; ++s) {
                IJobMarketTypes.SegmentView memory seg = market.segmentOf(jobId, s);
                bool pendingLate = seg.status == IJobMarketTypes.SegmentStatus.Accepted && seg.revealed < seg.slots;
                bool auditing = seg.status == IJobMarketTypes.SegmentStatus.Verifying
                    || seg.status == IJobMarketTypes.SegmentStatus.Auditing || seg.status == IJobMarketTypes.SegmentStatus.Disputed;
                if (seg.status == IJobMarketTypes.SegmentStatus.Open || pendingLate || auditing) allFinal = false;
                if (seg.status == IJobMarketTypes.SegmentStatus.Failed || seg.status == IJobMarketTypes.SegmentStatus.Closed) {
                    forfeitable += job.redundancy;
                }
            }
            if (allFinal && job.status == IJobMarketTypes.JobStatus.Open) {
                uint256 unit = uint256(job.rewardPerReplica) + (uint256(job.rewardPerReplica) * job.feeBps) / 10_000;
                assertEq(job.escrow % unit, 0, "a final job's escrow left is not whole forfeited units");
                assertTrue(job.escrow <= forfeitable * unit, "a job whose segments are all final holds more than forfeited units");
            }
        }
    }
}
