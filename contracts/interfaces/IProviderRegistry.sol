// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IProviderRegistry — who may render, with how much at stake, and how well they did
/// @notice Providers register with a profile CID (engines, versions, hardware, benchmark score,
/// published on IPFS), stake the market's token, and request an unstake that becomes
/// withdrawable after an unbonding delay. Part of the stake is locked as collateral while the
/// provider holds replica slots; only the market may lock, unlock and slash it, and record
/// outcomes into the provider's reputation. The market is the contract that deployed the registry
/// (JobMarket creates it in its constructor), fixed for good: the registry has no admin and no
/// role anyone could grant, so no account can lock, slash or freeze a stake.
///
/// Stake accounting: `staked` is every token the registry holds for the provider;
/// `locked` (collateral of claimed replicas) and `unbonding` (requested unstake) are disjoint
/// parts of it, so `free = staked - locked - unbonding`. An unstake request can only take free
/// stake, hence collateral for work already claimed can never leave through unbonding.
///
/// Reputation: score = (accepted + 2) * 10000 / (accepted + 4 + 4*rejected + 2*expired + abandoned),
/// in basis points, bounded to [0, 10000]. A new provider scores 5000 (jobs asking for at most
/// 5000, the default of small jobs, accept it); each credited accepted replica raises the score
/// towards 10000; a rejected replica (out-voted digest) weighs four times, an expired lease twice,
/// an abandoned claim once. The market decides what counts: `accepted` counts only replicas of a
/// reward of at least the market's `minCreditReward` on jobs the provider did not post itself
/// (so 9000, 16 credited replicas, costs at least 16 protocol fees on that reward even through a
/// second address as requester), and a give-back for a scene fault is not counted as abandoned.
interface IProviderRegistry {
    /// @notice Outcome deltas the market applies to one provider in one call.
    struct ProviderDelta {
        address provider;
        uint128 unlock; // collateral returned to free stake
        uint128 slash; // collateral seized and sent to the market
        uint32 accepted;
        uint32 rejected;
        uint32 expired;
        uint32 abandoned;
    }

    /// @notice A provider's public record.
    struct ProviderView {
        bool registered;
        uint128 staked;
        uint128 locked;
        uint128 unbonding;
        uint64 unbondingReadyAt;
        uint32 accepted;
        uint32 rejected;
        uint32 expired;
        uint32 abandoned;
        uint16 score;
    }

    /// @notice The caller is already registered.
    error ProviderRegistryAlreadyRegistered(address provider);
    /// @notice The provider is not registered.
    error ProviderRegistryNotRegistered(address provider);
    /// @notice A profile CID must not be empty.
    error ProviderRegistryEmptyProfile();
    /// @notice Zero token amounts are rejected.
    error ProviderRegistryZeroAmount();
    /// @notice Not enough free stake (staked - locked - unbonding) for the operation.
    error ProviderRegistryInsufficientFreeStake(address provider, uint256 free, uint256 needed);
    /// @notice The provider's reputation is below what the job requires.
    error ProviderRegistryReputationTooLow(address provider, uint16 score, uint16 required);
    /// @notice Nothing is unbonding.
    error ProviderRegistryNothingUnbonding(address provider);
    /// @notice The unbonding delay has not passed yet.
    error ProviderRegistryUnbondingNotReady(address provider, uint64 readyAt);
    /// @notice The market asked to unlock or slash more than is locked.
    error ProviderRegistryInsufficientLocked(address provider, uint256 locked, uint256 needed);
    /// @notice The stake would exceed the 128-bit accounting range.
    error ProviderRegistryStakeOverflow(address provider);
    /// @notice The token delivered less than was staked (fee-on-transfer or rebasing): refused.
    error ProviderRegistryTransferShortfall(uint256 expected, uint256 received);
    /// @notice Only the market that deployed this registry may lock, unlock and slash collateral.
    error ProviderRegistryNotMarket(address caller);
    /// @notice A constructor argument was the zero address or out of bounds.
    error ProviderRegistryInvalidConfig();

    /// @notice Emitted when a provider registers; watched by the dApp's provider list and auditors.
    event ProviderRegistered(address indexed provider, string profileCid);
    /// @notice Emitted when a provider publishes a new profile (engines, hardware, benchmark).
    event ProfileUpdated(address indexed provider, string profileCid);
    /// @notice Emitted when tokens are added to a provider's stake.
    event Staked(address indexed provider, uint256 amount, uint256 staked);
    /// @notice Emitted when a provider requests an unstake; `readyAt` is when it can be withdrawn.
    event UnstakeRequested(address indexed provider, uint256 amount, uint256 unbonding, uint64 readyAt);
    /// @notice Emitted when unbonded stake leaves the registry.
    event StakeWithdrawn(address indexed provider, uint256 amount, uint256 staked);
    /// @notice Emitted when the market locks collateral for claimed replicas.
    event CollateralLocked(address indexed provider, uint256 amount, uint256 locked);
    /// @notice Emitted when the market returns collateral to free stake.
    event CollateralUnlocked(address indexed provider, uint256 amount, uint256 locked);
    /// @notice Emitted when locked collateral is seized and sent to the market.
    event StakeSlashed(address indexed provider, uint256 amount, uint256 staked);
    /// @notice Emitted when the market records outcomes; carries the new counters and score.
    event ReputationUpdated(
        address indexed provider, uint32 accepted, uint32 rejected, uint32 expired, uint32 abandoned, uint16 score
    );

    /// @notice Registers the caller with a profile CID.
    function register(string calldata profileCid) external;
    /// @notice Publishes a new profile CID for the caller.
    function updateProfile(string calldata profileCid) external;
    /// @notice Pulls `amount` tokens from the caller into its stake (approve first).
    function stake(uint256 amount) external;
    /// @notice Moves `amount` of free stake into unbonding; withdrawable after the delay.
    /// A second request adds to the first and restarts the delay.
    function requestUnstake(uint256 amount) external;
    /// @notice Sends all unbonded stake whose delay has passed to the caller.
    function withdrawStake() external;

    /// @notice Market only: checks registration and reputation, then locks `amount` of free stake.
    function lockCollateral(address provider, uint256 amount, uint16 minReputation) external;
    /// @notice Market only: unlocks and slashes collateral and records outcomes for several providers;
    /// slashed tokens are transferred to the market in one transfer.
    function applyOutcomes(ProviderDelta[] calldata deltas) external;

    /// @notice The token staked here (the market's payment token).
    function token() external view returns (address);
    /// @notice The market allowed to lock, unlock and slash collateral (the registry's deployer, fixed).
    function market() external view returns (address);
    /// @notice Seconds between an unstake request and its withdrawal.
    function unbondingDelay() external view returns (uint64);
    /// @notice A provider's record.
    function providerOf(address provider) external view returns (ProviderView memory);
    /// @notice staked - locked - unbonding.
    function freeStake(address provider) external view returns (uint256);
    /// @notice The reputation score in basis points (see the contract NatSpec for the formula).
    function reputation(address provider) external view returns (uint16);
    /// @notice Sum of all providers' stakes; equals the registry's token balance.
    function totalStaked() external view returns (uint256);
}
