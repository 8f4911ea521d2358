// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title PlainToken — test double: a plain ERC-20 without EIP-2612 (no permit, nonces or eip712Domain)
/// @notice Not deployed by any module; the dApp's browser test puts a market over it so that the
/// New job page takes its approve + createJob path (RenderToken has permit).
contract PlainToken is ERC20 {
    constructor(uint256 initialSupply, address holder) ERC20("Plain Token", "PLAIN") {
        _mint(holder, initialSupply);
    }
}
