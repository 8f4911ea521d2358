// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";
import {ProviderRegistry} from "./ProviderRegistry.sol";
import {SegmentHeader, SegmentHeaderLib} from "./libraries/SegmentHeader.sol";

/// @title JobMarket — escrowed render jobs settled by redundant-render agreement
/// @notice Behaviour, errors and events are documented in IJobMarket.
/// @dev Money moves only through `_payUnit`, `_refundUnits`, `_credit` (escrow or seized
/// collateral into internal balances) and `withdraw`; collateral moves through the registry via
/// the per-transaction `Outcomes` accumulator, flushed once per transaction. The token must be a
/// plain ERC-20 (no fee on transfer, no rebasing): escrow is accounted at face value.
contract JobMarket is IJobMarket, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SegmentHeaderLib for SegmentHeader;

    // ------------------------------------------------------------------ protocol constants

    /// @notice Most replicas a job may ask for per segment.
    uint8 internal constant MAX_REDUNDANCY = 5;
    /// @notice Extra slots a segment may open when its replicas disagree.
    uint8 internal constant MAX_TIE_BREAKERS = 1;
    /// @notice Most segments per job. Claims find open segments through a three-level bitmap
    /// (segments, then full words, then full groups of words), so a claim's cost does not grow
    /// with the job: 1,000,000 segments need 3,907 words, 16 group words and one top word.
    uint32 internal constant MAX_SEGMENTS = 1_000_000;
    /// @notice Most entries per commit / reveal / abandon / expire / close batch, and slots per claim.
    uint256 internal constant MAX_BATCH = 64;
    /// @notice Most open segments a claim inspects before giving up (bounds its gas).
    uint256 internal constant MAX_CLAIM_SCAN = 256;
    /// @notice Longest `detail` an `abandon` may publish, in bytes (an engine's error line).
    uint256 internal constant MAX_ABANDON_DETAIL = 256;
    /// @notice Lowest minimum lease and reveal window a deployment may choose (each deployment
    /// sets its own, see `minLease` and `minRevealWindow`; public networks should keep minutes).
    uint32 internal constant TIMING_FLOOR = 30 seconds;
    uint32 internal constant MAX_LEASE = 7 days;
    uint32 internal constant MAX_REVEAL_WINDOW = 7 days;
    uint64 internal constant MAX_JOB_DURATION = 365 days;
    /// @notice Cap on the protocol fee, in basis points of each paid reward.
    uint16 internal constant MAX_FEE_BPS = 1_000;
    /// @notice Least time between `scheduleFee` and the new fee applying to new jobs.
    uint64 internal constant FEE_DELAY = 3 days;
    /// @notice Share of the collateral an `abandon` forfeits at the very end of its lease, in basis
    /// points; pro rata of the lease elapsed (an abandon right after the claim forfeits ~0, one just
    /// before the lease ends half of it; an expired lease forfeits all of it).
    uint16 internal constant ABANDON_FORFEIT_BPS = 5_000;
    /// @notice Leases a committed replica waits past its own lease end for its peers to commit before
    /// anyone may close its segment (`closeSegments`), releasing its collateral.
    uint8 internal constant COMMIT_WAIT_LEASES = 3;
    /// @notice Share of one reward the first SceneFault give-back of a segment earns, from the
    /// segment's budget, when the segment is closed unrendered (`closeSegments`): at most one per segment.
    uint16 internal constant SCENE_FAULT_FEE_BPS = 1_000;
    /// @notice Share of seized collateral paid to whoever calls `expire`, in basis points.
    uint16 internal constant KEEPER_FEE_BPS = 1_000;
    uint16 internal constant MAX_REPUTATION = 10_000;
    uint16 private constant BPS = 10_000;
    /// @dev Distinct providers buffered per registry call, and distinct (account, kind) credits
    /// buffered per balance write; a full buffer is flushed early, so these bound memory only.
    uint256 private constant OUTCOME_BUFFER = 8;
    uint256 private constant CREDIT_BUFFER = 12;

    // ------------------------------------------------------------------ storage

    /// @dev One slot per replica.
    struct Replica {
        bytes20 seal; // commitment prefix while Committed, digest prefix once Revealed
        uint32 providerId; // market-local id, see `_providerIds`
        uint40 leaseEnd;
        ReplicaState state;
    }

    /// @dev State of one `claim` call's scan over the open-segment bitmap.
    struct ClaimScan {
        uint256 jobId;
        uint32 providerId;
        uint64 leaseEnd;
        uint32 segmentCount;
        uint256 start;
        uint256 wanted;
        uint256 claimed;
        uint256 inspected;
        uint32 newlyTouched;
        uint256[] slots; // segment << 8 | replica, for the event
    }

    /// @dev Running totals while a segment is being accepted.
    struct Verdicts {
        uint256 seized;
        uint256 tieBreakerPaid;
        uint256 unitsToRefund;
    }

    /// @dev A credit buffered during one call, summed per (account, kind).
    struct Credit {
        address account;
        CreditKind kind;
        uint256 amount;
    }

    /// @dev Everything one external call accumulates before writing it once: a read-only
    /// snapshot of the job, the escrow it pays out, the credits it makes and the registry
    /// deltas it applies. `_settle` writes balances, escrow and totals, emits the summed
    /// `Credited` events and calls the registry once.
    struct Ctx {
        uint256 jobId;
        JobView job;
        uint256 escrowOut;
        // Credits whose recipient is fixed within a call, summed without a search.
        uint256 refunds; // to the requester
        uint256 compensation; // to the requester
        uint256 keeperFees; // to msg.sender
        uint256 fees; // to the treasury
        Credit[] credits; // provider rewards, summed per (account, kind)
        uint256 creditCount;
        IProviderRegistry.ProviderDelta[] deltas;
        uint256 deltaCount;
    }

    IERC20 private immutable _token;
    IProviderRegistry private immutable _registry;
    uint32 private immutable _minLease;
    uint32 private immutable _minRevealWindow;
    uint96 private immutable _minCreditReward;
    address private _treasury;
    uint16 private _feeBps;
    uint32 private _providerCount;
    uint256 private _jobCount;
    uint256 private _totalEscrow;
    uint256 private _totalBalances;

    /// @dev JobView's field order packs into three slots; it is both the storage and the view.
    mapping(uint256 jobId => JobView) private _jobs;
    /// @dev Bit set = segment takes no claim (settled, or every slot held). Zero = open, so
    /// creating a job writes nothing per segment.
    mapping(uint256 jobId => mapping(uint256 word => uint256 bits)) private _closedBits;
    /// @dev Summary of `_closedBits`: bit `w & 255` of group word `w >> 8` is set iff word `w` is
    /// all ones (every one of its 256 segments closed). The last word of a job whose segment count
    /// is not a multiple of 256 never fills (its bits past the end stay zero), so it never counts
    /// as full; the search treats a hit past the end as "none".
    mapping(uint256 jobId => mapping(uint256 group => uint256 bits)) private _fullWords;
    /// @dev Bit g set iff group word g of `_fullWords` is all ones (MAX_SEGMENTS needs 16 groups < 256).
    mapping(uint256 jobId => uint256 bits) private _fullGroups;
    /// @dev Four packed 64-bit segment headers per word.
    mapping(uint256 jobId => mapping(uint256 word => uint256 headers)) private _segmentWords;
    mapping(uint256 jobId => mapping(uint32 segment => mapping(uint8 replica => Replica))) private _replicas;
    mapping(address account => uint256) private _balances;
    /// @dev Compact ids let a replica slot hold provider, lease, state and seal in one word.
    mapping(address provider => uint32) private _providerIds;
    mapping(uint32 providerId => address) private _providerAccounts;
    /// @dev A scheduled fee change (declared last: earlier slots are read by the gas benchmark).
    uint16 private _pendingFeeBps;
    uint64 private _pendingFeeAt;
    /// @dev The first provider that gave each segment back for a SceneFault (owed the refusal fee if
    /// the segment closes unrendered); declared after the slots the gas benchmark reads.
    mapping(uint256 jobId => mapping(uint32 segment => uint32 providerId)) private _sceneRefusers;

    /// @param token_ the payment token (fixed for the market's lifetime)
    /// @param unbondingDelay_ the registry's unbonding delay: the market deploys its own
    /// ProviderRegistry here, which takes this market as its only lock/slash caller for good
    /// @param admin the owner (two-step transfer): may set the fee (capped) and the treasury, nothing
    /// else; it can never move escrow, balances or stakes
    /// @param treasury_ receiver of protocol fees
    /// @param feeBps_ initial protocol fee in basis points of each paid reward
    /// @param minLease_ shortest lease a job may ask for (TIMING_FLOOR..MAX_LEASE); short windows
    /// invite block stuffing and sequencer timing games on public chains, so keep minutes there
    /// @param minRevealWindow_ shortest reveal window a job may ask for (TIMING_FLOOR..MAX_REVEAL_WINDOW)
    /// @param minCreditReward_ least reward per replica whose acceptance earns reputation, in token
    /// units: farming reputation through a second address as requester then costs at least the
    /// protocol fee on this amount per credited replica (see ProviderRegistry's score)
    constructor(
        IERC20 token_,
        uint64 unbondingDelay_,
        address admin,
        address treasury_,
        uint16 feeBps_,
        uint32 minLease_,
        uint32 minRevealWindow_,
        uint96 minCreditReward_
    ) Ownable(admin) {
        if (address(token_) == address(0) || admin == address(0)) revert JobMarketZeroAddress();
        if (minLease_ < TIMING_FLOOR || minLease_ > MAX_LEASE) {
            revert JobMarketInvalidTimingMinimum(minLease_, TIMING_FLOOR, MAX_LEASE);
        }
        if (minRevealWindow_ < TIMING_FLOOR || minRevealWindow_ > MAX_REVEAL_WINDOW) {
            revert JobMarketInvalidTimingMinimum(minRevealWindow_, TIMING_FLOOR, MAX_REVEAL_WINDOW);
        }
        _minLease = minLease_;
        _minRevealWindow = minRevealWindow_;
        _minCreditReward = minCreditReward_;
        emit CreditRuleSet(minCreditReward_);
        _token = token_;
        _registry = new ProviderRegistry(token_, unbondingDelay_);
        _setTreasury(treasury_);
        _setFee(feeBps_);
    }

    // ================================================================== requester

    /// @inheritdoc IJobMarket
    function createJob(JobParams calldata params) external nonReentrant returns (uint256 jobId) {
        jobId = _createJob(params);
    }

    /// @inheritdoc IJobMarket
    function createJobWithPermit(JobParams calldata params, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        returns (uint256 jobId)
    {
        // A permit front-run by someone else still leaves the allowance in place: ignore its failure
        // and let the transfer decide (OpenZeppelin's recommended pattern).
        try IERC20Permit(address(_token)).permit(msg.sender, address(this), _escrowOf(params), permitDeadline, v, r, s) {}
            catch {}
        jobId = _createJob(params);
    }

    /// @inheritdoc IJobMarket
    function cancelJob(uint256 jobId) external nonReentrant {
        Ctx memory c = _context(jobId);
        if (msg.sender != c.job.requester) revert JobMarketNotRequester(jobId, msg.sender);
        if (c.job.status != JobStatus.Open) revert JobMarketJobNotOpen(jobId);
        _jobs[jobId].status = JobStatus.Cancelled;
        uint256 untouched = c.job.segmentCount - c.job.segmentsTouched;
        uint256 refunded = _refundUnits(c, untouched * c.job.redundancy);
        emit JobCancelled(jobId, refunded);
        _settle(c);
    }

    /// @inheritdoc IJobMarket
    function closeSegments(uint256 jobId, uint32[] calldata segments) external nonReentrant {
        _checkBatch(segments.length);
        Ctx memory c = _context(jobId);
        bool pastDeadline = block.timestamp > c.job.deadline;
        uint32 newlyTouched;
        for (uint256 i; i < segments.length; ++i) {
            uint32 segment = segments[i];
            _checkSegment(c, segment);
            SegmentHeader h = _loadHeader(jobId, segment);
            if (!_closable(c, segment, h, pastDeadline)) revert JobMarketSegmentNotClosable(jobId, segment);
            if (h.slots() == 0) {
                // Untouched segment of a job past its deadline (a cancelled job refunded these already).
                h = h.withSlots(c.job.redundancy);
                ++newlyTouched;
            }
            // A revealed replica's result is public: its unit is forfeited (stays in escrow for good).
            uint256 refundable = c.job.redundancy;
            for (uint8 k; k < h.slots(); ++k) {
                Replica storage rep = _replicas[jobId][segment][k];
                ReplicaState state = rep.state;
                if (state == ReplicaState.Empty || state == ReplicaState.Settled) {
                    delete _replicas[jobId][segment][k]; // a give-back's record, if any (warm slot)
                    continue;
                }
                bool missedLease = state == ReplicaState.Claimed && block.timestamp > rep.leaseEnd;
                bool missedReveal = state == ReplicaState.Committed && h.revealDeadline() != 0
                    && block.timestamp > h.revealDeadline();
                if (missedLease || missedReveal) {
                    _seizeExpired(c, segment, k, rep);
                } else {
                    if (state == ReplicaState.Revealed && k < c.job.redundancy) --refundable;
                    _release(c, segment, k, rep);
                }
                delete _replicas[jobId][segment][k];
            }
            _refundUnits(c, refundable);
            // A segment whose results are public was rendered: no scene-refusal fee out of its budget.
            if (refundable != 0) _payRefusalFee(c, segment);
            _storeHeader(jobId, segment, h.withStatus(SegmentStatus.Closed));
            _setClosed(jobId, segment, true);
            emit SegmentClosed(jobId, segment);
        }
        if (newlyTouched != 0) _jobs[jobId].segmentsTouched = c.job.segmentsTouched + newlyTouched;
        _settle(c);
    }

    /// @inheritdoc IJobMarket
    function recordOutput(uint256 jobId, string calldata outputCid) external {
        JobView storage job = _jobs[jobId];
        if (job.status == JobStatus.None) revert JobMarketUnknownJob(jobId);
        if (msg.sender != job.requester) revert JobMarketNotRequester(jobId, msg.sender);
        if (bytes(outputCid).length == 0) revert JobMarketEmptyResultCid(jobId, 0);
        emit OutputRecorded(jobId, outputCid);
    }

    // ================================================================== provider

    /// @inheritdoc IJobMarket
    function claim(uint256 jobId, uint256 count) external nonReentrant returns (uint256 claimed) {
        if (count == 0 || count > MAX_BATCH) revert JobMarketInvalidClaimCount(count, MAX_BATCH);
        Ctx memory c = _context(jobId);
        if (c.job.status != JobStatus.Open) revert JobMarketJobNotOpen(jobId);
        uint64 leaseEnd = uint64(block.timestamp) + c.job.leaseDuration;
        if (leaseEnd > c.job.deadline) revert JobMarketClaimWindowClosed(jobId, c.job.deadline - c.job.leaseDuration);

        ClaimScan memory scan = ClaimScan({
            jobId: jobId,
            providerId: _providerIdOrAssign(msg.sender),
            leaseEnd: leaseEnd,
            segmentCount: c.job.segmentCount,
            start: _randomStart(jobId, c.job.segmentCount),
            wanted: count,
            claimed: 0,
            inspected: 0,
            newlyTouched: 0,
            slots: new uint256[](count)
        });
        // Visit the open segments from the start up to the end, then from 0 up to the start.
        uint256 pos = scan.start;
        uint256 limit = scan.segmentCount;
        while (scan.claimed < count && scan.inspected < MAX_CLAIM_SCAN) {
            (uint256 segment, bool found) = _nextOpen(jobId, pos, limit);
            if (!found) {
                if (limit != scan.segmentCount || scan.start == 0) break;
                (pos, limit) = (0, scan.start);
                continue;
            }
            ++scan.inspected;
            (bool took, bool firstTouch) = _tryClaim(c, scan, uint32(segment));
            if (took) {
                ++scan.claimed;
                if (firstTouch) ++scan.newlyTouched;
            }
            pos = segment + 1;
        }
        claimed = scan.claimed;
        if (claimed == 0) revert JobMarketNothingToClaim(jobId);
        uint256[] memory slots = scan.slots;
        assembly ("memory-safe") {
            mstore(slots, claimed) // trim to the slots actually claimed
        }
        emit ReplicasClaimed(jobId, msg.sender, leaseEnd, slots);
        if (scan.newlyTouched != 0) _jobs[jobId].segmentsTouched = c.job.segmentsTouched + scan.newlyTouched;
        _registry.lockCollateral(msg.sender, claimed * c.job.collateralPerReplica, c.job.minReputation);
    }

    /// @inheritdoc IJobMarket
    function commit(uint256 jobId, CommitInput[] calldata commits) external nonReentrant {
        _checkBatch(commits.length);
        Ctx memory c = _context(jobId);
        uint32 providerId = _providerIds[msg.sender];
        uint256[] memory slots = new uint256[](commits.length);
        uint32[] memory opened = new uint32[](commits.length);
        uint256 openedCount;
        uint64 revealDeadline = uint64(block.timestamp) + c.job.revealWindow;
        for (uint256 i; i < commits.length; ++i) {
            CommitInput calldata ci = commits[i];
            Replica storage rep = _heldReplica(c, ci.segment, ci.replica, providerId);
            if (rep.state != ReplicaState.Claimed) {
                revert JobMarketWrongReplicaState(jobId, ci.segment, ci.replica, rep.state);
            }
            if (block.timestamp > rep.leaseEnd) revert JobMarketLeaseExpired(jobId, ci.segment, rep.leaseEnd);
            if (ci.commitment == bytes32(0)) revert JobMarketZeroCommitment(jobId, ci.segment);
            rep.seal = bytes20(ci.commitment);
            rep.state = ReplicaState.Committed;
            slots[i] = (uint256(ci.segment) << 8) | ci.replica;

            SegmentHeader h = _loadHeader(jobId, ci.segment);
            h = h.withCommitted(h.committed() + 1);
            if (h.committed() == h.slots()) {
                h = h.withRevealDeadline(revealDeadline);
                opened[openedCount++] = ci.segment;
            }
            _storeHeader(jobId, ci.segment, h);
        }
        emit ReplicasCommitted(jobId, msg.sender, slots);
        if (openedCount != 0) {
            assembly ("memory-safe") {
                mstore(opened, openedCount)
            }
            emit RevealsOpened(jobId, revealDeadline, opened);
        }
    }

    /// @inheritdoc IJobMarket
    function reveal(uint256 jobId, RevealInput[] calldata reveals) external nonReentrant {
        _checkBatch(reveals.length);
        Ctx memory c = _context(jobId);
        uint32 providerId = _providerIds[msg.sender];
        uint256[] memory slots = new uint256[](reveals.length);
        bytes32[] memory digests = new bytes32[](reveals.length);
        for (uint256 i; i < reveals.length; ++i) {
            RevealInput calldata rv = reveals[i];
            slots[i] = (uint256(rv.segment) << 8) | rv.replica;
            digests[i] = rv.digest;
        }
        // Emitted before the verdicts it leads to (SegmentAccepted, ReplicaRejected, Credited).
        emit ReplicasRevealed(jobId, msg.sender, slots, digests);
        uint32[] memory opened = new uint32[](reveals.length);
        uint256 openedCount;
        for (uint256 i; i < reveals.length; ++i) {
            if (_revealOne(c, providerId, reveals[i])) opened[openedCount++] = reveals[i].segment;
        }
        if (openedCount != 0) {
            assembly ("memory-safe") {
                mstore(opened, openedCount)
            }
            emit RevealsOpened(jobId, uint64(block.timestamp) + c.job.revealWindow, opened);
        }
        _settle(c);
    }

    /// @inheritdoc IJobMarket
    function abandon(uint256 jobId, SlotRef[] calldata slots, AbandonReason reason, string calldata detail)
        external
        nonReentrant
    {
        _checkBatch(slots.length);
        if (bytes(detail).length > MAX_ABANDON_DETAIL) {
            revert JobMarketAbandonDetailTooLong(bytes(detail).length, MAX_ABANDON_DETAIL);
        }
        Ctx memory c = _context(jobId);
        uint32 providerId = _providerIds[msg.sender];
        for (uint256 i; i < slots.length; ++i) {
            SlotRef calldata ref = slots[i];
            Replica storage rep = _heldReplica(c, ref.segment, ref.replica, providerId);
            if (rep.state != ReplicaState.Claimed) {
                revert JobMarketWrongReplicaState(jobId, ref.segment, ref.replica, rep.state);
            }
            uint64 leaseEnd = rep.leaseEnd;
            if (block.timestamp > leaseEnd) revert JobMarketLeaseExpired(jobId, ref.segment, leaseEnd);
            uint256 forfeited = _abandonForfeit(c, leaseEnd);
            IProviderRegistry.ProviderDelta memory d = _outcome(c, msg.sender);
            d.unlock += uint128(c.job.collateralPerReplica - forfeited);
            d.slash += uint128(forfeited);
            // A scene that does not render is the requester's fault: no reputation cost, and the
            // first refuser of the segment is owed a fee if nobody ever renders it (closeSegments).
            if (reason == AbandonReason.SceneFault) {
                if (_sceneRefusers[jobId][ref.segment] == 0) _sceneRefusers[jobId][ref.segment] = providerId;
            } else {
                d.abandoned += 1;
            }
            c.compensation += forfeited;
            emit ReplicaAbandoned(jobId, ref.segment, ref.replica, msg.sender, reason, detail, forfeited);
            // The slot reopens but keeps its holder and lease end: the cooldown `_tryClaim` checks.
            rep.state = ReplicaState.Empty;
            SegmentHeader h = _loadHeader(jobId, ref.segment);
            _storeHeader(jobId, ref.segment, h.withAssigned(h.assigned() - 1).withGivenBack());
            if (c.job.status == JobStatus.Open) _setClosed(jobId, ref.segment, false);
        }
        _settle(c);
    }

    /// @dev What an abandon at `block.timestamp` forfeits: ABANDON_FORFEIT_BPS of the collateral
    /// pro rata of the lease elapsed since the claim (leaseEnd - leaseDuration).
    function _abandonForfeit(Ctx memory c, uint64 leaseEnd) private view returns (uint256) {
        uint256 lease = c.job.leaseDuration;
        uint256 remaining = leaseEnd - block.timestamp; // leaseEnd >= now, checked by the caller
        uint256 elapsed = remaining >= lease ? 0 : lease - remaining;
        return (uint256(c.job.collateralPerReplica) * ABANDON_FORFEIT_BPS * elapsed) / (uint256(BPS) * lease);
    }

    // ================================================================== anyone

    /// @inheritdoc IJobMarket
    function expire(uint256 jobId, SlotRef[] calldata slots) external nonReentrant {
        _checkBatch(slots.length);
        Ctx memory c = _context(jobId);
        // Slots expired along with a listed one (see `_expireMissedReveals`): listing them too is no error.
        uint256[] memory swept = new uint256[](slots.length * SegmentHeaderLib.MAX_SLOTS);
        uint256 sweptCount;
        for (uint256 i; i < slots.length; ++i) {
            SlotRef calldata ref = slots[i];
            _checkSegment(c, ref.segment);
            if (ref.replica >= SegmentHeaderLib.MAX_SLOTS) {
                revert JobMarketInvalidReplica(jobId, ref.segment, ref.replica);
            }
            Replica storage rep = _replicas[jobId][ref.segment][ref.replica];
            SegmentHeader h = _loadHeader(jobId, ref.segment);
            ReplicaState state = rep.state;
            bool missedLease = state == ReplicaState.Claimed && block.timestamp > rep.leaseEnd;
            bool missedReveal = state == ReplicaState.Committed && h.revealDeadline() != 0
                && block.timestamp > h.revealDeadline();
            if (!missedLease && !missedReveal) {
                if (state == ReplicaState.Empty && _swept(swept, sweptCount, ref.segment, ref.replica)) continue;
                revert JobMarketNotExpirable(jobId, ref.segment, ref.replica);
            }
            if (missedReveal && h.status() == SegmentStatus.Open) {
                sweptCount = _expireMissedReveals(c, ref.segment, h.slots(), swept, sweptCount);
                continue;
            }
            _seizeExpired(c, ref.segment, ref.replica, rep);
            if (h.status() == SegmentStatus.Open) {
                _reopen(c, ref.segment, ref.replica, missedReveal);
            } else {
                // Accepted segment whose late replica never revealed: its unit goes back.
                rep.state = ReplicaState.Settled;
                if (ref.replica < c.job.redundancy) _refundUnits(c, 1);
                _clearIfResolved(c, ref.segment, h.slots());
            }
        }
        _settle(c);
    }

    /// @dev Every committed replica of an open segment shares one reveal deadline, so once it has
    /// passed they all missed it: expire them together. Reopening a slot closes the reveal window
    /// (deadline 0), so expiring them one by one would let the rest escape their slash.
    function _expireMissedReveals(Ctx memory c, uint32 segment, uint8 slotCount, uint256[] memory swept, uint256 count)
        private
        returns (uint256)
    {
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][segment];
        for (uint8 k; k < slotCount; ++k) {
            Replica storage rep = reps[k];
            if (rep.state != ReplicaState.Committed) continue;
            _seizeExpired(c, segment, k, rep);
            _reopen(c, segment, k, true);
            swept[count++] = (uint256(segment) << 8) | k;
        }
        return count;
    }

    function _swept(uint256[] memory swept, uint256 count, uint32 segment, uint8 replica) private pure returns (bool) {
        uint256 key = (uint256(segment) << 8) | replica;
        for (uint256 i; i < count; ++i) {
            if (swept[i] == key) return true;
        }
        return false;
    }

    /// @inheritdoc IJobMarket
    function withdraw() external nonReentrant {
        uint256 amount = _balances[msg.sender];
        if (amount == 0) revert JobMarketNothingToWithdraw(msg.sender);
        _balances[msg.sender] = 0;
        _totalBalances -= amount;
        emit Withdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    // ================================================================== admin

    /// @notice Schedules a new protocol fee (at most MAX_FEE_BPS) for jobs created once it is
    /// applied, no earlier than FEE_DELAY from now; replaces any fee scheduled before.
    function scheduleFee(uint16 feeBps_) external onlyOwner {
        if (feeBps_ > MAX_FEE_BPS) revert JobMarketFeeTooHigh(feeBps_, MAX_FEE_BPS);
        uint64 effectiveAt = uint64(block.timestamp) + FEE_DELAY;
        (_pendingFeeBps, _pendingFeeAt) = (feeBps_, effectiveAt);
        emit FeeScheduled(feeBps_, effectiveAt);
    }

    /// @inheritdoc IJobMarket
    function applyFee() external {
        uint64 effectiveAt = _pendingFeeAt;
        if (effectiveAt == 0) revert JobMarketNoFeeScheduled();
        if (block.timestamp < effectiveAt) revert JobMarketFeeNotDue(effectiveAt);
        uint16 fee = _pendingFeeBps;
        (_pendingFeeBps, _pendingFeeAt) = (0, 0);
        _setFee(fee);
    }

    /// @notice Sets the receiver of protocol fees credited from now on.
    function setTreasury(address treasury_) external onlyOwner {
        _setTreasury(treasury_);
    }

    // ================================================================== views

    /// @inheritdoc IJobMarket
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IJobMarket
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IJobMarket
    function minLease() external view returns (uint32) {
        return _minLease;
    }

    /// @inheritdoc IJobMarket
    function minRevealWindow() external view returns (uint32) {
        return _minRevealWindow;
    }

    /// @inheritdoc IJobMarket
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @inheritdoc IJobMarket
    function feeBps() external view returns (uint16) {
        return _feeBps;
    }

    /// @inheritdoc IJobMarket
    function pendingFee() external view returns (uint16 feeBps_, uint64 effectiveAt) {
        return (_pendingFeeBps, _pendingFeeAt);
    }

    /// @inheritdoc IJobMarket
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @inheritdoc IJobMarket
    function jobOf(uint256 jobId) external view returns (JobView memory) {
        return _jobs[jobId];
    }

    /// @inheritdoc IJobMarket
    function segmentOf(uint256 jobId, uint32 segment) external view returns (SegmentView memory v) {
        SegmentHeader h = _loadHeader(jobId, segment);
        v = SegmentView({
            status: h.status(),
            slots: h.slots() == 0 ? _jobs[jobId].redundancy : h.slots(),
            assigned: h.assigned(),
            committed: h.committed(),
            revealed: h.revealed(),
            tieBreakers: h.tieBreakers(),
            revealDeadline: h.revealDeadline(),
            acceptedSeal: h.status() == SegmentStatus.Accepted ? _replicas[jobId][segment][h.winner()].seal : bytes20(0)
        });
    }

    /// @inheritdoc IJobMarket
    function replicaOf(uint256 jobId, uint32 segment, uint8 replica) external view returns (ReplicaView memory v) {
        Replica storage rep = _replicas[jobId][segment][replica];
        v = ReplicaView({
            provider: _providerAccounts[rep.providerId],
            state: rep.state,
            leaseEnd: rep.leaseEnd,
            seal: rep.seal
        });
    }

    /// @inheritdoc IJobMarket
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    /// @inheritdoc IJobMarket
    function totalBalances() external view returns (uint256) {
        return _totalBalances;
    }

    /// @inheritdoc IJobMarket
    function totalEscrow() external view returns (uint256) {
        return _totalEscrow;
    }

    // ================================================================== internal: jobs

    function _createJob(JobParams calldata p) private returns (uint256 jobId) {
        _validate(p);
        uint16 fee = _feeBps;
        if (fee > p.maxFeeBps) revert JobMarketFeeAboveMax(fee, p.maxFeeBps);
        // At most MAX_SEGMENTS * MAX_REDUNDANCY * 1.1 * 2^96 < 2^119: always fits the uint128 escrow.
        uint256 escrow = _escrowOf(p);
        jobId = ++_jobCount;
        _jobs[jobId] = JobView({
            requester: msg.sender,
            segmentCount: p.segmentCount,
            segmentsTouched: 0,
            redundancy: p.redundancy,
            quorum: p.quorum,
            status: JobStatus.Open,
            rewardPerReplica: p.rewardPerReplica,
            collateralPerReplica: p.collateralPerReplica,
            leaseDuration: p.leaseDuration,
            revealWindow: p.revealWindow,
            deadline: p.deadline,
            escrow: uint128(escrow),
            feeBps: fee,
            minReputation: p.minReputation
        });
        _totalEscrow += escrow;
        emit JobCreated(jobId, msg.sender, p, fee, escrow);
        _pull(escrow);
    }

    /// @dev Pulls `amount` from the caller and checks that exactly `amount` arrived, so that a
    /// fee-on-transfer token can never leave escrow short of its books.
    function _pull(uint256 amount) private {
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        if (received != amount) revert JobMarketTransferShortfall(amount, received);
    }

    function _validate(JobParams calldata p) private view {
        if (bytes(p.manifestCid).length == 0) revert JobMarketEmptyManifest();
        if (p.segmentCount == 0 || p.segmentCount > MAX_SEGMENTS) {
            revert JobMarketInvalidSegmentCount(p.segmentCount, MAX_SEGMENTS);
        }
        if (p.redundancy == 0 || p.redundancy > MAX_REDUNDANCY) {
            revert JobMarketInvalidRedundancy(p.redundancy, MAX_REDUNDANCY);
        }
        if (p.quorum > p.redundancy || uint256(p.quorum) * 2 <= p.redundancy) {
            revert JobMarketInvalidQuorum(p.quorum, p.redundancy);
        }
        if (p.rewardPerReplica == 0) revert JobMarketZeroReward();
        if (p.collateralPerReplica < p.rewardPerReplica) {
            revert JobMarketCollateralBelowReward(p.collateralPerReplica, p.rewardPerReplica);
        }
        if (p.leaseDuration < _minLease || p.leaseDuration > MAX_LEASE) {
            revert JobMarketInvalidLease(p.leaseDuration, _minLease, MAX_LEASE);
        }
        if (p.revealWindow < _minRevealWindow || p.revealWindow > MAX_REVEAL_WINDOW) {
            revert JobMarketInvalidRevealWindow(p.revealWindow, _minRevealWindow, MAX_REVEAL_WINDOW);
        }
        uint64 earliest = uint64(block.timestamp) + p.leaseDuration + p.revealWindow;
        uint64 latest = uint64(block.timestamp) + MAX_JOB_DURATION;
        if (p.deadline < earliest || p.deadline > latest) revert JobMarketInvalidDeadline(p.deadline, earliest, latest);
        if (p.minReputation > MAX_REPUTATION) revert JobMarketInvalidMinReputation(p.minReputation, MAX_REPUTATION);
    }

    function _escrowOf(JobParams calldata p) private view returns (uint256) {
        return uint256(p.segmentCount) * p.redundancy * _unitPrice(p.rewardPerReplica, _feeBps);
    }

    /// @dev What the requester escrows per replica: the reward plus the protocol fee on it.
    function _unitPrice(uint96 reward, uint16 fee) private pure returns (uint256) {
        return uint256(reward) + (uint256(reward) * fee) / BPS;
    }

    /// @dev A call's context over an existing job (three storage reads, then memory only).
    function _context(uint256 jobId) private view returns (Ctx memory c) {
        c.jobId = jobId;
        c.job = _jobs[jobId];
        if (c.job.status == JobStatus.None) revert JobMarketUnknownJob(jobId);
    }

    function _checkSegment(Ctx memory c, uint32 segment) private pure {
        if (segment >= c.job.segmentCount) revert JobMarketInvalidSegment(c.jobId, segment);
    }

    function _checkBatch(uint256 length) private pure {
        if (length == 0) revert JobMarketEmptyBatch();
        if (length > MAX_BATCH) revert JobMarketBatchTooLarge(length, MAX_BATCH);
    }

    /// @dev Whether `closeSegments` may refund this segment now.
    function _closable(Ctx memory c, uint32 segment, SegmentHeader h, bool pastDeadline) private view returns (bool) {
        if (h.status() != SegmentStatus.Open) return false;
        if (pastDeadline) {
            // An untouched segment of a cancelled job was refunded by `cancelJob`.
            if (h.slots() == 0 && c.job.status == JobStatus.Cancelled) return false;
            uint64 revealDeadline = h.revealDeadline();
            return revealDeadline == 0 || block.timestamp > revealDeadline;
        }
        // Before the deadline: a cancelled job's segment that can never fill all its slots ...
        if (c.job.status == JobStatus.Cancelled && h.slots() != 0 && h.assigned() < h.slots()) return true;
        // ... or a segment whose committed replica waited too long for its peers to commit.
        return _stalled(c, segment, h);
    }

    /// @dev The reveal window never opened and a committed replica's lease ended more than
    /// COMMIT_WAIT_LEASES leases ago: whoever holds or left the other slots kept it waiting.
    function _stalled(Ctx memory c, uint32 segment, SegmentHeader h) private view returns (bool) {
        if (h.revealDeadline() != 0) return false;
        uint256 wait = uint256(c.job.leaseDuration) * COMMIT_WAIT_LEASES;
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][segment];
        for (uint8 k; k < h.slots(); ++k) {
            Replica storage rep = reps[k];
            if (rep.state == ReplicaState.Committed && block.timestamp > uint256(rep.leaseEnd) + wait) return true;
        }
        return false;
    }

    // ================================================================== internal: claiming

    /// @dev Segment choice lives here alone, so a VRF can replace `prevrandao` on chains where
    /// it is weak. The claimer cannot pick the segment: only where a scan starts is random, and
    /// it depends on the block, not on anything the claimer supplies.
    function _randomStart(uint256 jobId, uint32 segmentCount) private view returns (uint256) {
        return uint256(keccak256(abi.encode(block.prevrandao, block.number, msg.sender, jobId))) % segmentCount;
    }

    /// @dev The lowest open segment in [from, limit), in at most three bitmap reads: the segment's
    /// word, else the next word that is not full (from its group word), else the next group that is
    /// not full (from the top word). Positions past the job's end read as open, so the first open
    /// position found is the lowest one; if it lies at or past `limit`, none is open in the range.
    function _nextOpen(uint256 jobId, uint256 from, uint256 limit) private view returns (uint256 segment, bool found) {
        if (from >= limit) return (0, false);
        uint256 word = from >> 8;
        uint256 open = ~_closedBits[jobId][word] & (type(uint256).max << (from & 255));
        if (open == 0) {
            uint256 group = word >> 8;
            // Shifts by 256 yield 0: no later word in this group.
            uint256 notFull = ~_fullWords[jobId][group] & (type(uint256).max << ((word & 255) + 1));
            if (notFull == 0) {
                uint256 groups = ~_fullGroups[jobId] & (type(uint256).max << (group + 1));
                if (groups == 0) return (0, false);
                group = _lowestBit(groups);
                notFull = ~_fullWords[jobId][group];
            }
            word = (group << 8) | _lowestBit(notFull);
            open = ~_closedBits[jobId][word];
        }
        segment = (word << 8) | _lowestBit(open);
        found = segment < limit;
    }

    /// @dev Index of the lowest set bit of a non-zero word.
    function _lowestBit(uint256 x) private pure returns (uint256) {
        return Math.log2(x & (~x + 1));
    }

    /// @dev Takes a free slot of `segment` for the provider unless it already holds one there.
    function _tryClaim(Ctx memory c, ClaimScan memory scan, uint32 segment)
        private
        returns (bool took, bool firstTouch)
    {
        uint256 jobId = scan.jobId;
        SegmentHeader h = _loadHeader(jobId, segment);
        if (h.slots() == 0) {
            h = h.withSlots(c.job.redundancy);
            firstTouch = true;
        }
        uint8 slots = h.slots();
        if (h.status() != SegmentStatus.Open || h.assigned() >= slots) return (false, false);
        uint8 free = type(uint8).max;
        if (h.assigned() == 0 && !h.givenBack()) {
            free = 0;
        } else {
            uint8 record = type(uint8).max; // an emptied slot that still names its last holder
            for (uint8 k; k < slots; ++k) {
                Replica storage rep = _replicas[jobId][segment][k];
                uint32 holder = rep.providerId;
                if (rep.state != ReplicaState.Empty) {
                    if (holder == scan.providerId) return (false, false); // never two replicas of one segment for one provider
                } else if (holder == 0) {
                    if (free == type(uint8).max) free = k;
                } else {
                    // Given back: its last holder waits until its lease would have ended plus one lease.
                    if (holder == scan.providerId && block.timestamp <= uint256(rep.leaseEnd) + c.job.leaseDuration) {
                        return (false, false);
                    }
                    if (record == type(uint8).max) record = k;
                }
            }
            if (free == type(uint8).max) free = record; // prefer a slot that keeps nobody's record
        }
        _replicas[jobId][segment][free] = Replica({
            seal: bytes20(0),
            providerId: scan.providerId,
            leaseEnd: uint40(scan.leaseEnd),
            state: ReplicaState.Claimed
        });
        h = h.withAssigned(h.assigned() + 1);
        _storeHeader(jobId, segment, h);
        if (h.assigned() == slots) _setClosed(jobId, segment, true);
        scan.slots[scan.claimed] = (uint256(segment) << 8) | free;
        return (true, firstTouch);
    }

    /// @dev Frees a slot (expiry) so the segment can be claimed again.
    function _reopen(Ctx memory c, uint32 segment, uint8 replica, bool wasCommitted) private {
        delete _replicas[c.jobId][segment][replica];
        SegmentHeader h = _loadHeader(c.jobId, segment);
        h = h.withAssigned(h.assigned() - 1);
        if (wasCommitted) {
            // The reveal window closes until the new holder commits, so nobody reveals early.
            h = h.withCommitted(h.committed() - 1).withRevealDeadline(0);
        }
        _storeHeader(c.jobId, segment, h);
        if (c.job.status == JobStatus.Open) _setClosed(c.jobId, segment, false);
    }

    function _heldReplica(Ctx memory c, uint32 segment, uint8 replica, uint32 providerId)
        private
        view
        returns (Replica storage rep)
    {
        _checkSegment(c, segment);
        if (replica >= SegmentHeaderLib.MAX_SLOTS) revert JobMarketInvalidReplica(c.jobId, segment, replica);
        rep = _replicas[c.jobId][segment][replica];
        if (providerId == 0 || rep.providerId != providerId || rep.state == ReplicaState.Empty) {
            revert JobMarketNotReplicaHolder(c.jobId, segment, replica, msg.sender);
        }
    }

    function _providerIdOrAssign(address provider) private returns (uint32 id) {
        id = _providerIds[provider];
        if (id == 0) {
            id = ++_providerCount;
            _providerIds[provider] = id;
            _providerAccounts[id] = provider;
        }
    }

    // ================================================================== internal: settlement

    /// @dev Checks one reveal against its commitment, then settles the replica or tallies the segment.
    function _revealOne(Ctx memory c, uint32 providerId, RevealInput calldata rv) private returns (bool opened) {
        uint256 jobId = c.jobId;
        Replica storage rep = _heldReplica(c, rv.segment, rv.replica, providerId);
        SegmentHeader h = _loadHeader(jobId, rv.segment);
        if (bytes(rv.resultCid).length == 0) revert JobMarketEmptyResultCid(jobId, rv.segment);
        ReplicaState state = rep.state;
        if (state == ReplicaState.Claimed) {
            // Every other slot is sealed: a commitment would hide this digest from nobody, so the
            // replica reveals directly (one transaction fewer) and opens the window for the others.
            if (block.timestamp > rep.leaseEnd) revert JobMarketLeaseExpired(jobId, rv.segment, rep.leaseEnd);
            if (h.committed() + 1 != h.slots()) revert JobMarketRevealNotOpen(jobId, rv.segment);
            h = h.withCommitted(h.slots());
            if (h.revealDeadline() == 0) {
                h = h.withRevealDeadline(uint64(block.timestamp) + c.job.revealWindow);
                opened = true;
            }
        } else if (state == ReplicaState.Committed) {
            uint64 revealDeadline = h.revealDeadline();
            if (revealDeadline == 0) revert JobMarketRevealNotOpen(jobId, rv.segment);
            if (block.timestamp > revealDeadline) revert JobMarketRevealWindowClosed(jobId, rv.segment, revealDeadline);
            bytes32 commitment = keccak256(abi.encode(rv.digest, rv.salt, msg.sender, jobId, rv.segment));
            if (bytes20(commitment) != rep.seal) revert JobMarketCommitmentMismatch(jobId, rv.segment, rv.replica);
        } else {
            revert JobMarketWrongReplicaState(jobId, rv.segment, rv.replica, state);
        }

        bytes20 seal = bytes20(rv.digest);
        rep.seal = seal;
        rep.state = ReplicaState.Revealed;
        h = h.withRevealed(h.revealed() + 1);

        if (h.status() == SegmentStatus.Accepted) {
            bytes20 accepted = _replicas[jobId][rv.segment][h.winner()].seal;
            _settleLate(c, rv.segment, rv.replica, rep, seal == accepted);
            _clearIfResolved(c, rv.segment, h.slots());
        } else {
            h = _tally(c, rv, h);
        }
        _storeHeader(jobId, rv.segment, h);
    }

    /// @dev Counts agreement after a reveal of an open segment; accepts, opens a tie-breaker or fails.
    function _tally(Ctx memory c, RevealInput calldata rv, SegmentHeader h) private returns (SegmentHeader) {
        uint256 unrevealed = h.slots() - h.revealed();
        // Fewer reveals than the quorum and more to come: nothing can be decided yet.
        if (h.revealed() < c.job.quorum && unrevealed != 0) return h;
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][rv.segment];
        (uint256 agree, uint256 best) = _agreement(reps, h.slots(), rv.replica);
        if (agree >= c.job.quorum) {
            emit SegmentAccepted(c.jobId, rv.segment, rv.digest, rv.resultCid);
            _settleAccepted(c, reps, rv.segment, h.slots(), bytes20(rv.digest));
            return h.withStatus(SegmentStatus.Accepted).withWinner(rv.replica);
        }
        if (unrevealed != 0 || best >= c.job.quorum) return h; // waiting for the other reveals
        return _escalateOrFail(c, reps, rv.segment, h);
    }

    /// @dev Among revealed replicas: how many share `replica`'s seal, and the largest such group.
    function _agreement(mapping(uint8 => Replica) storage reps, uint8 slots, uint8 replica)
        private
        view
        returns (uint256 agree, uint256 best)
    {
        for (uint8 k; k < slots; ++k) {
            Replica storage a = reps[k];
            if (a.state != ReplicaState.Revealed) continue;
            bytes20 seal = a.seal;
            uint256 same;
            for (uint8 m; m < slots; ++m) {
                Replica storage b = reps[m];
                if (b.state == ReplicaState.Revealed && b.seal == seal) ++same;
            }
            if (k == replica) agree = same;
            if (same > best) best = same;
        }
    }

    /// @dev Every slot revealed and no digest reached the quorum: open a tie-breaker slot while
    /// the job can still take claims, otherwise fail the segment (collateral back, budget forfeited).
    function _escalateOrFail(Ctx memory c, mapping(uint8 => Replica) storage reps, uint32 segment, SegmentHeader h)
        private
        returns (SegmentHeader)
    {
        uint8 slots = h.slots();
        bool canEscalate = h.tieBreakers() < MAX_TIE_BREAKERS && c.job.status == JobStatus.Open
            && block.timestamp + c.job.leaseDuration <= c.job.deadline;
        if (canEscalate) {
            _setClosed(c.jobId, segment, false);
            emit TieBreakerOpened(c.jobId, segment, slots + 1);
            return h.withTieBreakers(h.tieBreakers() + 1).withSlots(slots + 1).withRevealDeadline(0);
        }
        for (uint8 k; k < slots; ++k) {
            _release(c, segment, k, reps[k]);
            delete reps[k];
        }
        // Every slot revealed (the results are public) and they disagree: nobody may recover the
        // budget, or a requester disputing with its own replica would keep honest results for free.
        // It is forfeited: it stays in the job's escrow for good.
        emit SegmentFailed(c.jobId, segment);
        return h.withStatus(SegmentStatus.Failed);
    }

    /// @dev Pays the replicas that agree with the accepted seal and slashes those that do not.
    /// Original slots are paid from the requester's units; a tie-breaker that agrees is paid from
    /// the seized collateral of the replicas that disagree, which always exist when a tie-breaker
    /// opened and cover it because collateral >= reward. What is left of the seized collateral
    /// compensates the requester. Replicas still unrevealed keep their slot and their unit until
    /// they reveal or expire; when there are none, every replica slot is cleared.
    function _settleAccepted(
        Ctx memory c,
        mapping(uint8 => Replica) storage reps,
        uint32 segment,
        uint8 slots,
        bytes20 acceptedSeal
    ) private {
        bool clear = true;
        for (uint8 k; k < slots; ++k) {
            if (reps[k].state == ReplicaState.Committed) {
                clear = false;
                break;
            }
        }
        Verdicts memory v;
        for (uint8 k; k < slots; ++k) {
            _judge(c, reps[k], segment, k, acceptedSeal, clear, v);
        }
        if (v.seized > v.tieBreakerPaid) c.compensation += v.seized - v.tieBreakerPaid;
        if (v.unitsToRefund != 0) _refundUnits(c, v.unitsToRefund);
    }

    /// @dev Verdict on one revealed replica of a segment being accepted.
    function _judge(
        Ctx memory c,
        Replica storage rep,
        uint32 segment,
        uint8 k,
        bytes20 acceptedSeal,
        bool clear,
        Verdicts memory v
    ) private {
        if (rep.state != ReplicaState.Revealed) return; // unrevealed: settles when it reveals or expires
        address provider = _providerAccounts[rep.providerId];
        IProviderRegistry.ProviderDelta memory d = _outcome(c, provider);
        if (rep.seal == acceptedSeal) {
            d.unlock += c.job.collateralPerReplica;
            d.accepted += 1;
            if (k < c.job.redundancy) {
                _payUnit(c, provider);
            } else {
                _credit(c, provider, CreditKind.TieBreakerReward, c.job.rewardPerReplica);
                v.tieBreakerPaid += c.job.rewardPerReplica;
            }
        } else {
            d.slash += c.job.collateralPerReplica;
            d.rejected += 1;
            v.seized += c.job.collateralPerReplica;
            if (k < c.job.redundancy) ++v.unitsToRefund;
            emit ReplicaRejected(c.jobId, segment, k, provider, c.job.collateralPerReplica);
        }
        if (clear) _clear(rep);
        else rep.state = ReplicaState.Settled;
    }

    /// @dev Zeroes a replica slot (one SSTORE to zero: a storage refund).
    function _clear(Replica storage rep) private {
        rep.seal = bytes20(0);
        rep.providerId = 0;
        rep.leaseEnd = 0;
        rep.state = ReplicaState.Empty;
    }

    /// @dev Clears the segment's replica slots once none of them can still reveal.
    function _clearIfResolved(Ctx memory c, uint32 segment, uint8 slots) private {
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][segment];
        for (uint8 k; k < slots; ++k) {
            if (reps[k].state == ReplicaState.Committed) return;
        }
        for (uint8 k; k < slots; ++k) {
            delete reps[k];
        }
    }

    /// @dev A replica revealing after its segment was accepted is paid or slashed on its own.
    function _settleLate(Ctx memory c, uint32 segment, uint8 replica, Replica storage rep, bool agrees) private {
        address provider = _providerAccounts[rep.providerId];
        IProviderRegistry.ProviderDelta memory d = _outcome(c, provider);
        if (agrees) {
            d.unlock += c.job.collateralPerReplica;
            d.accepted += 1;
            _payUnit(c, provider);
        } else {
            d.slash += c.job.collateralPerReplica;
            d.rejected += 1;
            c.compensation += c.job.collateralPerReplica;
            _refundUnits(c, 1);
            emit ReplicaRejected(c.jobId, segment, replica, provider, c.job.collateralPerReplica);
        }
        rep.state = ReplicaState.Settled;
    }

    /// @dev Whether an accepted replica of this job earns reputation: not on a job its provider
    /// posted itself, not below the deployment's minimum reward (farming must cost fees).
    function _earnsCredit(Ctx memory c, address provider) private view returns (bool) {
        return provider != c.job.requester && c.job.rewardPerReplica >= _minCreditReward;
    }

    /// @dev Seizes the collateral of a replica that let its lease or reveal window pass.
    function _seizeExpired(Ctx memory c, uint32 segment, uint8 replica, Replica storage rep) private {
        address provider = _providerAccounts[rep.providerId];
        IProviderRegistry.ProviderDelta memory d = _outcome(c, provider);
        uint256 collateral = c.job.collateralPerReplica;
        d.slash += uint128(collateral);
        d.expired += 1;
        uint256 keeperFee = (collateral * KEEPER_FEE_BPS) / BPS;
        c.keeperFees += keeperFee;
        c.compensation += collateral - keeperFee;
        emit ReplicaExpired(c.jobId, segment, replica, provider, msg.sender, collateral);
    }

    /// @dev Returns a replica's collateral without a verdict.
    function _release(Ctx memory c, uint32 segment, uint8 replica, Replica storage rep) private {
        ReplicaState state = rep.state;
        if (state == ReplicaState.Empty || state == ReplicaState.Settled) return;
        address provider = _providerAccounts[rep.providerId];
        _outcome(c, provider).unlock += c.job.collateralPerReplica;
        emit ReplicaReleased(c.jobId, segment, replica, provider);
    }

    // ================================================================== internal: money verbs

    /// @dev One replica's unit leaves escrow: the reward to the provider, the fee to the treasury.
    function _payUnit(Ctx memory c, address provider) private {
        uint256 reward = c.job.rewardPerReplica;
        uint256 fee = (reward * c.job.feeBps) / BPS;
        c.escrowOut += reward + fee;
        _credit(c, provider, CreditKind.Reward, reward);
        c.fees += fee;
    }

    /// @dev `units` replica units leave escrow back to the requester.
    function _refundUnits(Ctx memory c, uint256 units) private pure returns (uint256 amount) {
        if (units == 0) return 0;
        amount = units * _unitPrice(c.job.rewardPerReplica, c.job.feeBps);
        c.escrowOut += amount;
        c.refunds += amount;
    }

    /// @dev A segment closed unrendered after a SceneFault give-back: SCENE_FAULT_FEE_BPS of one
    /// reward moves from the requester's refund to the first refuser (both out of escrow).
    function _payRefusalFee(Ctx memory c, uint32 segment) private {
        uint32 refuser = _sceneRefusers[c.jobId][segment];
        if (refuser == 0) return;
        delete _sceneRefusers[c.jobId][segment];
        uint256 fee = (uint256(c.job.rewardPerReplica) * SCENE_FAULT_FEE_BPS) / BPS;
        c.refunds -= fee; // the refund just added is redundancy * (reward + fee) >= fee
        _credit(c, _providerAccounts[refuser], CreditKind.RefusalFee, fee);
    }

    /// @dev Buffers a credit, summed with earlier credits of the same account and kind.
    function _credit(Ctx memory c, address account, CreditKind kind, uint256 amount) private {
        for (uint256 i; i < c.creditCount; ++i) {
            Credit memory existing = c.credits[i];
            if (existing.account == account && existing.kind == kind) {
                existing.amount += amount;
                return;
            }
        }
        if (c.credits.length == 0) c.credits = new Credit[](CREDIT_BUFFER);
        else if (c.creditCount == CREDIT_BUFFER) _flushCredits(c);
        c.credits[c.creditCount++] = Credit(account, kind, amount);
    }

    /// @dev Writes buffered credits to balances and emits them (one event per account and kind).
    function _flushCredits(Ctx memory c) private {
        uint256 total;
        for (uint256 i; i < c.creditCount; ++i) {
            Credit memory cr = c.credits[i];
            total += _book(c.jobId, cr.account, cr.kind, cr.amount);
        }
        c.creditCount = 0;
        if (c.refunds != 0) total += _book(c.jobId, c.job.requester, CreditKind.Refund, c.refunds);
        if (c.compensation != 0) total += _book(c.jobId, c.job.requester, CreditKind.Compensation, c.compensation);
        if (c.keeperFees != 0) total += _book(c.jobId, msg.sender, CreditKind.KeeperFee, c.keeperFees);
        if (c.fees != 0) total += _book(c.jobId, _treasury, CreditKind.Fee, c.fees);
        (c.refunds, c.compensation, c.keeperFees, c.fees) = (0, 0, 0, 0);
        if (total != 0) _totalBalances += total;
    }

    function _book(uint256 jobId, address account, CreditKind kind, uint256 amount) private returns (uint256) {
        _balances[account] += amount;
        emit Credited(account, jobId, kind, amount);
        return amount;
    }

    /// @dev Ends a call: escrow out, credits in, registry outcomes (which send slashed tokens here).
    function _settle(Ctx memory c) private {
        if (c.escrowOut != 0) {
            _jobs[c.jobId].escrow = c.job.escrow - uint128(c.escrowOut);
            _totalEscrow -= c.escrowOut;
            c.job.escrow -= uint128(c.escrowOut);
            c.escrowOut = 0;
        }
        _flushCredits(c);
        _flushOutcomes(c);
    }

    // ================================================================== internal: registry outcomes

    /// @dev The buffered delta of `provider`, flushing the buffer to the registry when it is full.
    function _outcome(Ctx memory c, address provider) private returns (IProviderRegistry.ProviderDelta memory d) {
        for (uint256 i; i < c.deltaCount; ++i) {
            if (c.deltas[i].provider == provider) return c.deltas[i];
        }
        if (c.deltas.length == 0) c.deltas = new IProviderRegistry.ProviderDelta[](OUTCOME_BUFFER);
        else if (c.deltaCount == OUTCOME_BUFFER) _flushOutcomes(c);
        d = c.deltas[c.deltaCount];
        d.provider = provider;
        ++c.deltaCount;
    }

    /// @dev Sends the buffered deltas to the registry (one call; slashed tokens arrive here).
    function _flushOutcomes(Ctx memory c) private {
        uint256 n = c.deltaCount;
        if (n == 0) return;
        IProviderRegistry.ProviderDelta[] memory deltas = new IProviderRegistry.ProviderDelta[](n);
        for (uint256 i; i < n; ++i) {
            IProviderRegistry.ProviderDelta memory d = c.deltas[i];
            // Acceptances that earn no reputation (`_earnsCredit`) are paid but not counted.
            if (d.accepted != 0 && !_earnsCredit(c, d.provider)) d.accepted = 0;
            deltas[i] = d;
            c.deltas[i] = IProviderRegistry.ProviderDelta(address(0), 0, 0, 0, 0, 0, 0);
        }
        c.deltaCount = 0;
        _registry.applyOutcomes(deltas);
    }

    // ================================================================== internal: storage helpers

    function _loadHeader(uint256 jobId, uint32 segment) private view returns (SegmentHeader) {
        return SegmentHeaderLib.unpack(_segmentWords[jobId][segment >> 2], segment);
    }

    function _storeHeader(uint256 jobId, uint32 segment, SegmentHeader h) private {
        mapping(uint256 => uint256) storage words = _segmentWords[jobId];
        words[segment >> 2] = SegmentHeaderLib.pack(words[segment >> 2], segment, h);
    }

    function _setClosed(uint256 jobId, uint32 segment, bool closed) private {
        uint256 word = segment >> 8;
        uint256 bits = _closedBits[jobId][word];
        uint256 next = _withBit(bits, segment & 255, closed);
        if (next == bits) return;
        _closedBits[jobId][word] = next;
        // The word became full, or stopped being full: keep the summary levels exact.
        if (next != type(uint256).max && bits != type(uint256).max) return;
        uint256 group = word >> 8;
        uint256 fullBits = _fullWords[jobId][group];
        uint256 nextFull = _withBit(fullBits, word & 255, closed);
        _fullWords[jobId][group] = nextFull;
        if (nextFull == type(uint256).max || fullBits == type(uint256).max) {
            _fullGroups[jobId] = _withBit(_fullGroups[jobId], group, closed);
        }
    }

    function _withBit(uint256 bits, uint256 index, bool set) private pure returns (uint256) {
        uint256 mask = uint256(1) << index;
        return set ? bits | mask : bits & ~mask;
    }

    function _setFee(uint16 feeBps_) private {
        if (feeBps_ > MAX_FEE_BPS) revert JobMarketFeeTooHigh(feeBps_, MAX_FEE_BPS);
        _feeBps = feeBps_;
        emit FeeChanged(feeBps_);
    }

    function _setTreasury(address treasury_) private {
        if (treasury_ == address(0)) revert JobMarketZeroAddress();
        _treasury = treasury_;
        emit TreasuryChanged(treasury_);
    }
}
