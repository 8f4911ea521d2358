// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title RenderToken — the devnet/testnet payment token (ERC-20 with EIP-2612 permit)
/// @notice The market accepts any ERC-20 fixed at its deployment; this token exists so that a
/// local network and a testnet work out of the box. The whole supply is minted once to the
/// deployer, who distributes it; there is no owner and no further minting.
contract RenderToken is ERC20, ERC20Permit {
    constructor(uint256 initialSupply, address holder) ERC20("Tessellate Render Token", "RNDR-T") ERC20Permit("Tessellate Render Token") {
        _mint(holder, initialSupply);
    }
}
