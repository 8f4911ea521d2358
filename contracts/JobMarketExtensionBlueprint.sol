// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {JobMarketExtension} from "./JobMarketExtension.sol";

/// @title JobMarketExtensionBlueprint — half of JobMarketExtension's creation code, stored as inert code
/// @notice Its code is 0xFE (INVALID: a call to it always fails, as in EIP-5202 blueprints)
/// followed by part `part` (0: the first half, 1: the rest) of JobMarketExtension's creation code,
/// which itself is too large for one contract's code (EIP-170). JobMarket's constructor copies
/// both parts, checks the hash of their concatenation against the one compiled into JobMarket
/// (EXTENSION_CREATION_CODE_HASH) and deploys the extension with JobMarket's own immutables.
/// Keeping the extension's creation code out of JobMarket's keeps JobMarket's creation code under
/// EIP-3860's 49,152-byte limit; the hash check keeps the extension's code fixed by JobMarket's
/// source, whoever deploys the parts.
contract JobMarketExtensionBlueprint {
    constructor(uint8 part) {
        bytes memory creation = type(JobMarketExtension).creationCode;
        uint256 half = creation.length / 2;
        (uint256 start, uint256 end) = part == 0 ? (0, half) : (half, creation.length);
        bytes memory code = new bytes(end - start + 1);
        code[0] = 0xfe;
        for (uint256 i = start; i < end; ++i) {
            code[i - start + 1] = creation[i];
        }
        assembly ("memory-safe") {
            return(add(code, 32), mload(code))
        }
    }
}
