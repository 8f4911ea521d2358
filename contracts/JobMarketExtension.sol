// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";
import {JobMarketBase} from "./JobMarketBase.sol";
import {SegmentHeader, SegmentHeaderLib} from "./libraries/SegmentHeader.sol";

/// @title JobMarketExtension — JobMarket's lifecycle and admin paths, run by delegatecall
/// @notice Deployed by JobMarket's constructor with JobMarket's own immutables, from the creation
/// code of a JobMarketExtensionBlueprint whose hash JobMarket's source fixes, and reached only
/// through JobMarket's functions of the same names, which delegatecall here: the code runs on
/// JobMarket's storage, balance and reentrancy lock, and its events are JobMarket's. The address
/// is fixed for JobMarket's lifetime (an immutable): nobody can swap this code. Called directly it
/// runs on its own empty storage, holds no tokens and can move nothing.
contract JobMarketExtension is JobMarketBase {
    using SafeERC20 for IERC20;
    using SegmentHeaderLib for SegmentHeader;

    constructor(
        IERC20 token_,
        IProviderRegistry registry_,
        address admin,
        uint32 minLease_,
        uint32 minRevealWindow_,
        uint96 minCreditReward_
    ) JobMarketBase(token_, registry_, admin, minLease_, minRevealWindow_, minCreditReward_) {}

    // ================================================================== jobs

    /// @notice See IJobMarket.createJob.
    function createJob(JobParams calldata params) external nonReentrant returns (uint256 jobId) {
        jobId = _createJob(params);
    }

    /// @notice See IJobMarket.createJobWithPermit.
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
            minReputation: p.minReputation,
            verification: p.verification,
            toleranceBps: p.toleranceBps,
            auditBps: p.auditBps
        });
        _claimQueues[jobId] = ClaimQueue(0, 0, uint40(block.number), 0, 0, 0);
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
        uint16 maxTolerance = p.verification == Verification.Tolerant ? MAX_TOLERANCE_BPS : 0;
        if (p.toleranceBps > maxTolerance || (maxTolerance != 0 && p.toleranceBps == 0)) {
            revert JobMarketInvalidTolerance(p.verification, p.toleranceBps, maxTolerance);
        }
        if (p.auditBps != 0) {
            if (
                p.auditBps > BPS || p.verification != Verification.Exact || p.quorum != p.redundancy
                    || p.redundancy > MAX_AUDITED_REDUNDANCY
            ) revert JobMarketInvalidAudit(p.auditBps, p.verification, p.redundancy, p.quorum);
            uint256 minimum = uint256(p.rewardPerReplica) * AUDIT_COLLATERAL_MULTIPLE;
            if (p.collateralPerReplica < minimum) revert JobMarketAuditCollateralTooLow(p.collateralPerReplica, minimum);
        }
    }

    function _escrowOf(JobParams calldata p) private view returns (uint256) {
        uint256 units = p.auditBps == 0 ? p.redundancy : uint256(p.redundancy) + 1; // + the auditor's
        return uint256(p.segmentCount) * units * _unitPrice(p.rewardPerReplica, _feeBps);
    }

    // ================================================================== claim tickets

    /// @notice See IJobMarket.requestClaim.
    function requestClaim(uint256 jobId, uint256 count) external nonReentrant {
        if (count == 0 || count > MAX_BATCH) revert JobMarketInvalidClaimCount(count, MAX_BATCH);
        Ctx memory c = _context(jobId);
        if (c.job.status != JobStatus.Open) revert JobMarketJobNotOpen(jobId);
        if (block.timestamp + c.job.leaseDuration > c.job.deadline) {
            revert JobMarketClaimWindowClosed(jobId, c.job.deadline - c.job.leaseDuration);
        }
        ClaimQueue memory q = _claimQueues[jobId];
        if (block.number <= q.createdBlock) revert JobMarketTooEarly(jobId, uint256(q.createdBlock) + 1);
        uint32 providerId = _providerIdOrAssign(msg.sender);
        uint64 cooldownEnd = _lastGiveBack[jobId][providerId];
        if (cooldownEnd != 0) {
            cooldownEnd += c.job.leaseDuration;
            if (block.timestamp < cooldownEnd) revert JobMarketGiveBackCooldown(jobId, cooldownEnd);
        }
        _resolveDue(c, q);
        if (q.tail - q.head >= MAX_QUEUED_TICKETS) revert JobMarketClaimQueueFull(jobId);
        if (q.head == q.tail) (q.firstProviderId, q.firstCount, q.firstSeedBlock) = (providerId, uint8(count), uint40(block.number));
        else _tickets[jobId][q.tail] = StoredTicket(providerId, uint8(count), uint40(block.number));
        ++q.tail;
        _claimQueues[jobId] = q;
        emit ClaimRequested(jobId, msg.sender, count, block.number);
        _settle(c);
        _registry.lockCollateral(msg.sender, count * c.job.collateralPerReplica, c.job.minReputation);
    }

    /// @notice See IJobMarket.resolveClaims.
    function resolveClaims(uint256 jobId) external nonReentrant returns (uint256 resolved) {
        resolved = _resolveAndSettle(jobId);
    }

    /// @notice JobMarket's `reveal` calls this by delegatecall before it reopens a segment for a
    /// tie-breaker, inside its own reentrancy lock (JobMarket exposes no function of this selector).
    function resolveDueClaims(uint256 jobId) external {
        _resolveAndSettle(jobId);
    }

    function _resolveAndSettle(uint256 jobId) private returns (uint256 resolved) {
        Ctx memory c = _context(jobId);
        resolved = _resolveDueAndStore(c);
        if (resolved != 0) _settle(c);
    }

    // ================================================================== requester, provider, anyone

    /// @notice See IJobMarketTypes.cancelJob.
    function cancelJob(uint256 jobId) external nonReentrant {
        Ctx memory c = _context(jobId);
        if (msg.sender != c.job.requester) revert JobMarketNotRequester(jobId, msg.sender);
        if (c.job.status != JobStatus.Open) revert JobMarketJobNotOpen(jobId);
        _jobs[jobId].status = JobStatus.Cancelled;
        uint256 untouched = c.job.segmentCount - c.job.segmentsTouched;
        uint256 refunded = _refundUnits(c, untouched * _unitsPerSegment(c));
        emit JobCancelled(jobId, refunded);
        _settle(c);
    }

    /// @notice See IJobMarketTypes.closeSegments.
    function closeSegments(uint256 jobId, uint32[] calldata segments) external nonReentrant {
        _checkBatch(segments.length);
        Ctx memory c = _context(jobId);
        _resolveDueAndStore(c);
        bool pastDeadline = block.timestamp > c.job.deadline;
        uint32 newlyTouched;
        for (uint256 i; i < segments.length; ++i) {
            uint32 segment = segments[i];
            _checkSegment(c, segment);
            SegmentHeader h = _loadHeader(jobId, segment);
            if (!_closable(c, segment, h, pastDeadline)) revert JobMarketSegmentNotClosable(jobId, segment);
            if (h.status() != SegmentStatus.Open) {
                _closeAudit(c, segment, h);
                continue;
            }
            if (h.slots() == 0) {
                // Untouched segment of a job past its deadline (a cancelled job refunded these already).
                h = h.withSlots(c.job.redundancy);
                ++newlyTouched;
            }
            // A revealed replica's result is public: its unit is forfeited (stays in escrow for good).
            uint256 refundable = _unitsPerSegment(c);
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

    /// @dev An audit that could not finish (its slots unclaimed or unrevealed by the deadline, or
    /// after a cancellation): the accepted result stands. Auditors that missed their lease or
    /// reveal are seized, the others released without a verdict; the audit unit goes back.
    function _closeAudit(Ctx memory c, uint32 segment, SegmentHeader h) private {
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][segment];
        uint8 slots = h.slots();
        uint8 first = h.status() == SegmentStatus.Auditing ? slots - 1 : slots - 1 - ESCALATION_SLOTS;
        for (uint8 k = first; k < slots; ++k) {
            Replica storage rep = reps[k];
            ReplicaState state = rep.state;
            bool missedLease = state == ReplicaState.Claimed && block.timestamp > rep.leaseEnd;
            bool missedReveal = state == ReplicaState.Committed && h.revealDeadline() != 0
                && block.timestamp > h.revealDeadline();
            if (missedLease || missedReveal) _seizeExpired(c, segment, k, rep);
            else _release(c, segment, k, rep);
            rep.state = ReplicaState.Settled;
        }
        _refundUnits(c, 1);
        _storeHeader(c.jobId, segment, _acceptAudited(c, reps, segment, h, h.winner(), _originals(c)));
        _setClosed(c.jobId, segment, true);
    }

    /// @notice See IJobMarketTypes.abandon.
    function abandon(uint256 jobId, SlotRef[] calldata slots, AbandonReason reason, string calldata detail)
        external
        nonReentrant
    {
        _checkBatch(slots.length);
        if (bytes(detail).length > MAX_ABANDON_DETAIL) {
            revert JobMarketAbandonDetailTooLong(bytes(detail).length, MAX_ABANDON_DETAIL);
        }
        Ctx memory c = _context(jobId);
        _resolveDueAndStore(c);
        uint32 providerId = _providerIds[msg.sender];
        _lastGiveBack[jobId][providerId] = uint64(block.timestamp);
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

    /// @notice See IJobMarketTypes.expire.
    function expire(uint256 jobId, SlotRef[] calldata slots) external nonReentrant {
        _checkBatch(slots.length);
        Ctx memory c = _context(jobId);
        _resolveDueAndStore(c);
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
            if (missedReveal && _inPlay(h.status())) {
                sweptCount = _expireMissedReveals(c, ref.segment, h.slots(), swept, sweptCount);
                continue;
            }
            _seizeExpired(c, ref.segment, ref.replica, rep);
            if (_inPlay(h.status())) {
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

    /// @notice See IJobMarket.recordOutput.
    function recordOutput(uint256 jobId, string calldata outputCid) external {
        JobView storage job = _jobs[jobId];
        if (job.status == JobStatus.None) revert JobMarketUnknownJob(jobId);
        if (msg.sender != job.requester) revert JobMarketNotRequester(jobId, msg.sender);
        if (bytes(outputCid).length == 0) revert JobMarketEmptyResultCid(jobId, 0);
        emit OutputRecorded(jobId, outputCid);
    }

    /// @notice See IJobMarket.withdraw.
    function withdraw() external nonReentrant {
        uint256 amount = _balances[msg.sender];
        if (amount == 0) revert JobMarketNothingToWithdraw(msg.sender);
        _balances[msg.sender] = 0;
        _totalBalances -= amount;
        emit Withdrawn(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /// @notice Schedules a new protocol fee (at most MAX_FEE_BPS) for jobs created once it is
    /// applied, no earlier than FEE_DELAY from now; replaces any fee scheduled before.
    function scheduleFee(uint16 feeBps_) external onlyOwner {
        if (feeBps_ > MAX_FEE_BPS) revert JobMarketFeeTooHigh(feeBps_, MAX_FEE_BPS);
        uint64 effectiveAt = uint64(block.timestamp) + FEE_DELAY;
        (_pendingFeeBps, _pendingFeeAt) = (feeBps_, effectiveAt);
        emit FeeScheduled(feeBps_, effectiveAt);
    }

    /// @notice See IJobMarketTypes.applyFee.
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
}
