// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferToken — test double: burns 1 % of every transfer (the review's attack token)
/// @notice Not deployed by any module; tests use it to show that the market, the registry and the
/// deployment refuse tokens that deliver less than the amount sent.
contract FeeOnTransferToken is ERC20 {
    uint256 public constant FEE_BPS = 100;

    constructor(uint256 initialSupply, address holder) ERC20("Fee Token", "FEE") {
        _mint(holder, initialSupply);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) return super._update(from, to, value);
        uint256 fee = (value * FEE_BPS) / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}
