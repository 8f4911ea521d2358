// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {JobMarket} from "../../../contracts/JobMarket.sol";
import {JobMarketExtensionBlueprint} from "../../../contracts/JobMarketExtensionBlueprint.sol";
import {ProviderRegistry} from "../../../contracts/ProviderRegistry.sol";
import {RenderToken} from "../../../contracts/RenderToken.sol";
import {IJobMarketTypes} from "../../../contracts/interfaces/IJobMarket.sol";
import {TestBase} from "./Vm.sol";

/// @notice A market with its registry and token, and registered, staked providers (shared setUp).
abstract contract MarketFixture is TestBase {
    RenderToken internal token;
    ProviderRegistry internal registry;
    JobMarket internal market;
    address[] internal providers;

    /// @dev Deploys the market (1-hour unbonding, 1 % fee, 30 s minimum lease and reveal window)
    /// and `count` providers at addresses `base + 1 ..`, each funded with `funds` and staking `stake`.
    function _deployMarket(uint160 base, uint160 count, uint256 funds, uint256 stake) internal {
        token = new RenderToken(10_000_000 ether, address(this));
        market = new JobMarket(token, 1 hours, address(this), address(0xFEE), 100, 30, 30, 1 ether, [address(new JobMarketExtensionBlueprint(0)), address(new JobMarketExtensionBlueprint(1))]);
        registry = ProviderRegistry(market.registry());
        token.approve(address(market), type(uint256).max);
        for (uint160 i = 1; i <= count; ++i) {
            address p = address(base + i);
            providers.push(p);
            token.transfer(p, funds);
            vm.startPrank(p);
            token.approve(address(registry), type(uint256).max);
            registry.register("bafyprofile");
            registry.stake(stake);
            vm.stopPrank();
        }
    }

    /// @dev Posts an Exact job of `segments` segments (reward 1, collateral 2, 600 s lease and reveal window, 1 day).
    function _post(uint32 segments, uint8 redundancy, uint8 quorum) internal returns (uint256) {
        return market.createJob(
            IJobMarketTypes.JobParams({
                manifestCid: "bafymanifest",
                segmentCount: segments,
                redundancy: redundancy,
                quorum: quorum,
                rewardPerReplica: 1 ether,
                collateralPerReplica: 2 ether,
                leaseDuration: 600,
                revealWindow: 600,
                deadline: uint64(block.timestamp + 1 days),
                minReputation: 0,
                maxFeeBps: 100,
                verification: IJobMarketTypes.Verification.Exact,
                toleranceBps: 0,
                auditBps: 0
            })
        );
    }
}
