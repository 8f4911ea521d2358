// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title TokenProbe — a deployment-time check that a token moves amounts at face value
/// @notice The Ignition module that deploys the market over an existing token calls `check` first:
/// it pulls a small amount from the deployer, checks that exactly that amount arrived, sends it
/// back and checks that the deployer got all of it back. A fee-on-transfer token fails the check
/// and the deployment stops before the market exists. (Rebasing cannot be seen in one call; the
/// market and registry also check every pull, see `JobMarketTransferShortfall`.)
contract TokenProbe {
    using SafeERC20 for IERC20;

    /// @notice The token did not move `amount` at face value: `received` arrived here, and the
    /// caller's balance changed by `lost` over the round trip.
    error TokenProbeNotPlain(address token, uint256 amount, uint256 received, uint256 lost);

    /// @notice Pulls `amount` of `token` from the caller (approve this contract first), returns it,
    /// and reverts unless both legs moved exactly `amount`.
    function check(IERC20 token, uint256 amount) external {
        uint256 callerBefore = token.balanceOf(msg.sender);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        token.safeTransfer(msg.sender, received);
        uint256 callerAfter = token.balanceOf(msg.sender);
        uint256 lost = callerBefore > callerAfter ? callerBefore - callerAfter : 0;
        if (received != amount || callerAfter != callerBefore) {
            revert TokenProbeNotPlain(address(token), amount, received, lost);
        }
    }
}
