// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {JobMarketExtension} from "./JobMarketExtension.sol";

/// @title JobMarketExtensionBlueprint — JobMarketExtension's creation code, stored as inert code
/// @notice Its code is 0xFE (INVALID: a call to it always fails, as in EIP-5202 blueprints)
/// followed by JobMarketExtension's creation code. JobMarket's constructor copies that creation
/// code, checks its hash against the one compiled into JobMarket (EXTENSION_CREATION_CODE_HASH)
/// and deploys the extension with JobMarket's own immutables. Keeping the extension's creation
/// code out of JobMarket's keeps JobMarket's creation code under EIP-3860's 49,152-byte limit;
/// the hash check keeps the extension's code fixed by JobMarket's source, whoever deploys it.
contract JobMarketExtensionBlueprint {
    constructor() {
        bytes memory code = abi.encodePacked(hex"fe", type(JobMarketExtension).creationCode);
        assembly ("memory-safe") {
            return(add(code, 32), mload(code))
        }
    }
}
