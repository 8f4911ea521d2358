// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IJobMarket} from "../interfaces/IJobMarket.sol";
import {IProviderRegistry} from "../interfaces/IProviderRegistry.sol";

/// @title ClaimSteerer — TEST-ONLY attacker: claim-or-revert steering of JobMarket's assignment
/// @notice Not deployed by any module; never use it outside the collusion simulation
/// (scripts/simCollusion.ts) and attack tests. It is a registered, staked provider that claims one
/// slot and reverts unless the slot landed on one of the segments its operator wants (a partner's
/// segment, or an untouched one). A miss leaves no lock, no lease and no reputation trace, so the
/// operator retries every block for the price of a reverted transaction — the hole issue 10
/// property 1 (claim tickets resolved by a later block) closes.
contract ClaimSteerer {
    /// @notice The claim landed on none of the wanted segments (the whole claim is undone).
    error ClaimSteererMissed(uint256 jobId);
    /// @notice Only the operator that deployed the steerer drives it.
    error ClaimSteererNotOperator(address caller);

    IJobMarket public immutable market;
    IProviderRegistry public immutable registry;
    address public immutable operator;

    constructor(IJobMarket market_, IProviderRegistry registry_) {
        market = market_;
        registry = registry_;
        operator = msg.sender;
    }

    modifier onlyOperator() {
        if (msg.sender != operator) revert ClaimSteererNotOperator(msg.sender);
        _;
    }

    /// @notice Registers this contract as a provider and stakes `amount` taken from the operator.
    function join(string calldata profileCid, uint256 amount) external onlyOperator {
        IERC20 token = IERC20(registry.token());
        token.transferFrom(msg.sender, address(this), amount);
        token.approve(address(registry), amount);
        registry.register(profileCid);
        registry.stake(amount);
    }

    /// @notice Claims one slot of `jobId`; reverts unless it landed on one of `wanted`. With claim
    /// tickets the request cannot resolve in its own block (its seed is that block's hash), so
    /// there is never a landing to check: this reverts every time, and the steering is gone.
    function claimOnto(uint256 jobId, uint32[] calldata wanted) external onlyOperator {
        market.requestClaim(jobId, 1);
        market.resolveClaims(jobId);
        for (uint256 i; i < wanted.length; ++i) {
            uint8 slots = market.segmentOf(jobId, wanted[i]).slots;
            for (uint8 k; k < slots; ++k) {
                if (market.replicaOf(jobId, wanted[i], k).provider == address(this)) return;
            }
        }
        revert ClaimSteererMissed(jobId);
    }

    /// @notice Passes the operator's commitments on (the market sees this contract as the provider).
    function commit(uint256 jobId, IJobMarket.CommitInput[] calldata commits) external onlyOperator {
        market.commit(jobId, commits);
    }

    /// @notice Passes the operator's reveals on.
    function reveal(uint256 jobId, IJobMarket.RevealInput[] calldata reveals) external onlyOperator {
        market.reveal(jobId, reveals);
    }
}
