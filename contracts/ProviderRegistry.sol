// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";

/// @title ProviderRegistry — stake, collateral locks, slashing and reputation of providers
/// @notice Behaviour, errors and events are documented in IProviderRegistry.
contract ProviderRegistry is IProviderRegistry, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Highest reputation score (basis points).
    uint16 public constant MAX_SCORE = 10_000;
    /// @notice Bounds on the unbonding delay set at deployment.
    uint64 public constant MIN_UNBONDING_DELAY = 1 hours;
    uint64 public constant MAX_UNBONDING_DELAY = 60 days;

    /// @dev Two slots per provider.
    struct Provider {
        uint128 staked;
        uint128 locked;
        uint128 unbonding;
        uint64 unbondingReadyAt;
        bool registered;
        uint32 accepted;
        uint32 rejected;
        uint32 expired;
        uint32 abandoned;
    }

    IERC20 private immutable _token;
    /// @dev The only account that may lock, unlock and slash collateral: the contract that deployed
    /// this registry (the JobMarket, from its constructor). Fixed for the registry's lifetime.
    address private immutable _market;
    uint64 private immutable _unbondingDelay;
    uint256 private _totalStaked;
    mapping(address provider => Provider) private _providers;

    /// @dev Market-only entry points.
    modifier onlyMarket() {
        if (msg.sender != _market) revert ProviderRegistryNotMarket(msg.sender);
        _;
    }

    /// @notice The deployer becomes the market for good: there is no admin and no role to grant.
    /// @param token_ the market's payment token
    /// @param unbondingDelay_ seconds between an unstake request and its withdrawal
    constructor(IERC20 token_, uint64 unbondingDelay_) {
        if (
            address(token_) == address(0) || unbondingDelay_ < MIN_UNBONDING_DELAY
                || unbondingDelay_ > MAX_UNBONDING_DELAY
        ) revert ProviderRegistryInvalidConfig();
        _token = token_;
        _market = msg.sender;
        _unbondingDelay = unbondingDelay_;
    }

    // ------------------------------------------------------------------ providers

    /// @inheritdoc IProviderRegistry
    function register(string calldata profileCid) external {
        if (bytes(profileCid).length == 0) revert ProviderRegistryEmptyProfile();
        Provider storage p = _providers[msg.sender];
        if (p.registered) revert ProviderRegistryAlreadyRegistered(msg.sender);
        p.registered = true;
        emit ProviderRegistered(msg.sender, profileCid);
    }

    /// @inheritdoc IProviderRegistry
    function updateProfile(string calldata profileCid) external {
        if (bytes(profileCid).length == 0) revert ProviderRegistryEmptyProfile();
        _requireRegistered(msg.sender);
        emit ProfileUpdated(msg.sender, profileCid);
    }

    /// @inheritdoc IProviderRegistry
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ProviderRegistryZeroAmount();
        Provider storage p = _requireRegistered(msg.sender);
        uint256 staked = uint256(p.staked) + amount;
        if (staked > type(uint128).max) revert ProviderRegistryStakeOverflow(msg.sender);
        p.staked = uint128(staked);
        _totalStaked += amount;
        emit Staked(msg.sender, amount, staked);
        // A fee-on-transfer token would leave the registry holding less than the stakes it books.
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        if (received != amount) revert ProviderRegistryTransferShortfall(amount, received);
    }

    /// @inheritdoc IProviderRegistry
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ProviderRegistryZeroAmount();
        Provider storage p = _requireRegistered(msg.sender);
        uint256 free = _free(p);
        if (amount > free) revert ProviderRegistryInsufficientFreeStake(msg.sender, free, amount);
        p.unbonding += uint128(amount);
        uint64 readyAt = uint64(block.timestamp) + _unbondingDelay;
        p.unbondingReadyAt = readyAt;
        emit UnstakeRequested(msg.sender, amount, p.unbonding, readyAt);
    }

    /// @inheritdoc IProviderRegistry
    function withdrawStake() external nonReentrant {
        Provider storage p = _providers[msg.sender];
        uint256 amount = p.unbonding;
        if (amount == 0) revert ProviderRegistryNothingUnbonding(msg.sender);
        if (block.timestamp < p.unbondingReadyAt) {
            revert ProviderRegistryUnbondingNotReady(msg.sender, p.unbondingReadyAt);
        }
        p.unbonding = 0;
        p.unbondingReadyAt = 0;
        p.staked -= uint128(amount);
        _totalStaked -= amount;
        emit StakeWithdrawn(msg.sender, amount, p.staked);
        _token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ market

    /// @inheritdoc IProviderRegistry
    function lockCollateral(address provider, uint256 amount, uint16 minReputation)
        external
        onlyMarket
    {
        Provider storage p = _requireRegistered(provider);
        uint16 score = _score(p);
        if (score < minReputation) revert ProviderRegistryReputationTooLow(provider, score, minReputation);
        uint256 free = _free(p);
        if (amount > free) revert ProviderRegistryInsufficientFreeStake(provider, free, amount);
        p.locked += uint128(amount);
        emit CollateralLocked(provider, amount, p.locked);
    }

    /// @inheritdoc IProviderRegistry
    function applyOutcomes(ProviderDelta[] calldata deltas) external onlyMarket nonReentrant {
        uint256 slashedTotal;
        for (uint256 i; i < deltas.length; ++i) {
            ProviderDelta calldata d = deltas[i];
            Provider storage p = _providers[d.provider];
            uint256 release = uint256(d.unlock) + d.slash;
            if (release > p.locked) revert ProviderRegistryInsufficientLocked(d.provider, p.locked, release);
            p.locked -= uint128(release);
            if (d.unlock != 0) emit CollateralUnlocked(d.provider, d.unlock, p.locked);
            if (d.slash != 0) {
                p.staked -= d.slash;
                slashedTotal += d.slash;
                emit StakeSlashed(d.provider, d.slash, p.staked);
            }
            if ((d.accepted | d.rejected | d.expired | d.abandoned) != 0) {
                p.accepted += d.accepted;
                p.rejected += d.rejected;
                p.expired += d.expired;
                p.abandoned += d.abandoned;
                emit ReputationUpdated(d.provider, p.accepted, p.rejected, p.expired, p.abandoned, _score(p));
            }
        }
        if (slashedTotal != 0) {
            _totalStaked -= slashedTotal;
            _token.safeTransfer(msg.sender, slashedTotal);
        }
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IProviderRegistry
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IProviderRegistry
    function market() external view returns (address) {
        return _market;
    }

    /// @inheritdoc IProviderRegistry
    function unbondingDelay() external view returns (uint64) {
        return _unbondingDelay;
    }

    /// @inheritdoc IProviderRegistry
    function providerOf(address provider) external view returns (ProviderView memory v) {
        Provider storage p = _providers[provider];
        v = ProviderView({
            registered: p.registered,
            staked: p.staked,
            locked: p.locked,
            unbonding: p.unbonding,
            unbondingReadyAt: p.unbondingReadyAt,
            accepted: p.accepted,
            rejected: p.rejected,
            expired: p.expired,
            abandoned: p.abandoned,
            score: _score(p)
        });
    }

    /// @inheritdoc IProviderRegistry
    function freeStake(address provider) external view returns (uint256) {
        return _free(_providers[provider]);
    }

    /// @inheritdoc IProviderRegistry
    function reputation(address provider) external view returns (uint16) {
        return _score(_providers[provider]);
    }

    /// @inheritdoc IProviderRegistry
    function totalStaked() external view returns (uint256) {
        return _totalStaked;
    }

    // ------------------------------------------------------------------ internal

    function _requireRegistered(address provider) private view returns (Provider storage p) {
        p = _providers[provider];
        if (!p.registered) revert ProviderRegistryNotRegistered(provider);
    }

    function _free(Provider storage p) private view returns (uint256) {
        return uint256(p.staked) - p.locked - p.unbonding;
    }

    /// @dev (accepted + 2) * 10000 / (accepted + 4 + 4*rejected + 2*expired + abandoned); 5000 for a newcomer.
    function _score(Provider storage p) private view returns (uint16) {
        uint256 good = uint256(p.accepted) + 2;
        uint256 total = uint256(p.accepted) + 4 + 4 * uint256(p.rejected) + 2 * uint256(p.expired) + p.abandoned;
        return uint16((good * MAX_SCORE) / total);
    }
}
