// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";
import {SegmentHeader, SegmentHeaderLib} from "./libraries/SegmentHeader.sol";

/// @title JobMarket — escrowed render jobs settled by redundant-render agreement
/// @notice Behaviour, errors and events are documented in IJobMarket.
/// @dev Money moves only through `_payUnit`, `_refundUnits`, `_credit` (escrow or seized
/// collateral into internal balances) and `withdraw`; collateral moves through the registry via
/// the per-transaction `Outcomes` accumulator, flushed once per transaction. The token must be a
/// plain ERC-20 (no fee on transfer, no rebasing): escrow is accounted at face value.
contract JobMarket is IJobMarket, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SegmentHeaderLib for SegmentHeader;

    // ------------------------------------------------------------------ protocol constants

    /// @notice Most replicas a job may ask for per segment.
    uint8 public constant MAX_REDUNDANCY = 5;
    /// @notice Extra slots a segment may open when its replicas disagree.
    uint8 public constant MAX_TIE_BREAKERS = 1;
    /// @notice Most segments per job (a job's open-segment bitmap is scanned by claims).
    uint32 public constant MAX_SEGMENTS = 1_000_000;
    /// @notice Most entries per commit / reveal / abandon / expire / close batch, and slots per claim.
    uint256 public constant MAX_BATCH = 64;
    /// @notice Most open segments a claim inspects before giving up (bounds its gas).
    uint256 public constant MAX_CLAIM_SCAN = 256;
    uint32 public constant MIN_LEASE = 30 seconds;
    uint32 public constant MAX_LEASE = 7 days;
    uint32 public constant MIN_REVEAL_WINDOW = 30 seconds;
    uint32 public constant MAX_REVEAL_WINDOW = 7 days;
    uint64 public constant MAX_JOB_DURATION = 365 days;
    /// @notice Cap on the protocol fee, in basis points of each paid reward.
    uint16 public constant MAX_FEE_BPS = 1_000;
    /// @notice Share of seized collateral paid to whoever calls `expire`, in basis points.
    uint16 public constant KEEPER_FEE_BPS = 1_000;
    uint16 public constant MAX_REPUTATION = 10_000;
    uint16 private constant BPS = 10_000;
    /// @dev Distinct providers buffered per registry call.
    uint256 private constant OUTCOME_BUFFER = 8;

    // ------------------------------------------------------------------ storage

    /// @dev Three slots per job.
    struct Job {
        address requester;
        uint32 segmentCount;
        uint32 segmentsTouched; // segments that ever had a claim (or were closed untouched)
        uint8 redundancy;
        uint8 quorum;
        JobStatus status;
        uint96 rewardPerReplica;
        uint96 collateralPerReplica;
        uint32 leaseDuration;
        uint32 revealWindow;
        uint64 deadline;
        uint128 escrow; // budget of units not yet paid out or refunded
        uint16 feeBps; // snapshot at creation
        uint16 minReputation;
    }

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
        uint256 words;
        uint256 start;
        uint256 wanted;
        uint256 claimed;
        uint256 inspected;
        uint32 newlyTouched;
    }

    /// @dev Running totals while a segment is being accepted.
    struct Verdicts {
        uint256 seized;
        uint256 tieBreakerWinners;
        uint256 unitsToRefund;
    }

    /// @dev Registry deltas accumulated during one transaction.
    struct Outcomes {
        IProviderRegistry.ProviderDelta[] items;
        uint256 length;
    }

    IERC20 private immutable _token;
    IProviderRegistry private immutable _registry;
    address private _treasury;
    uint16 private _feeBps;
    uint32 private _providerCount;
    uint256 private _jobCount;
    uint256 private _totalEscrow;
    uint256 private _totalBalances;

    mapping(uint256 jobId => Job) private _jobs;
    /// @dev Bit set = segment takes no claim (settled, or every slot held). Zero = open, so
    /// creating a job writes nothing per segment.
    mapping(uint256 jobId => mapping(uint256 word => uint256 bits)) private _closedBits;
    /// @dev Four packed 64-bit segment headers per word.
    mapping(uint256 jobId => mapping(uint256 word => uint256 headers)) private _segmentWords;
    mapping(uint256 jobId => mapping(uint32 segment => mapping(uint8 replica => Replica))) private _replicas;
    mapping(address account => uint256) private _balances;
    /// @dev Compact ids let a replica slot hold provider, lease, state and seal in one word.
    mapping(address provider => uint32) private _providerIds;
    mapping(uint32 providerId => address) private _providerAccounts;

    /// @param token_ the payment token (fixed for the market's lifetime)
    /// @param registry_ the provider registry, which must grant this market its MARKET_ROLE
    /// @param admin holder of DEFAULT_ADMIN_ROLE: may set the fee (capped) and treasury, nothing else
    /// @param treasury_ receiver of protocol fees
    /// @param feeBps_ initial protocol fee in basis points of each paid reward
    constructor(IERC20 token_, IProviderRegistry registry_, address admin, address treasury_, uint16 feeBps_) {
        if (address(token_) == address(0) || address(registry_) == address(0) || admin == address(0)) {
            revert JobMarketZeroAddress();
        }
        if (registry_.token() != address(token_)) revert JobMarketTokenMismatch(address(token_), registry_.token());
        _token = token_;
        _registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
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
        Job storage job = _job(jobId);
        if (msg.sender != job.requester) revert JobMarketNotRequester(jobId, msg.sender);
        if (job.status != JobStatus.Open) revert JobMarketJobNotOpen(jobId);
        job.status = JobStatus.Cancelled;
        uint256 untouched = job.segmentCount - job.segmentsTouched;
        uint256 refunded = _refundUnits(job, jobId, untouched * job.redundancy);
        emit JobCancelled(jobId, refunded);
    }

    /// @inheritdoc IJobMarket
    function closeSegments(uint256 jobId, uint32[] calldata segments) external nonReentrant {
        _checkBatch(segments.length);
        Job storage job = _job(jobId);
        Outcomes memory out = _newOutcomes();
        bool pastDeadline = block.timestamp > job.deadline;
        for (uint256 i; i < segments.length; ++i) {
            uint32 segment = segments[i];
            _checkSegment(job, jobId, segment);
            SegmentHeader h = _loadHeader(jobId, segment);
            if (!_closable(job, h, pastDeadline)) revert JobMarketSegmentNotClosable(jobId, segment);
            if (h.slots() == 0) {
                // Untouched segment of a job past its deadline (a cancelled job refunded these already).
                h = h.withSlots(job.redundancy);
                job.segmentsTouched += 1;
            }
            for (uint8 k; k < h.slots(); ++k) {
                Replica storage rep = _replicas[jobId][segment][k];
                ReplicaState state = rep.state;
                if (state == ReplicaState.Empty || state == ReplicaState.Settled) continue;
                bool missedLease = state == ReplicaState.Claimed && block.timestamp > rep.leaseEnd;
                bool missedReveal = state == ReplicaState.Committed && h.revealDeadline() != 0
                    && block.timestamp > h.revealDeadline();
                if (missedLease || missedReveal) {
                    _seizeExpired(job, jobId, segment, k, rep, out);
                } else {
                    _release(job, jobId, segment, k, rep, out);
                }
                rep.state = ReplicaState.Settled;
            }
            _refundUnits(job, jobId, job.redundancy);
            h = h.withStatus(SegmentStatus.Closed);
            _storeHeader(jobId, segment, h);
            _setClosed(jobId, segment, true);
            emit SegmentClosed(jobId, segment);
        }
        _flush(out);
    }

    /// @inheritdoc IJobMarket
    function recordOutput(uint256 jobId, string calldata outputCid) external {
        Job storage job = _job(jobId);
        if (msg.sender != job.requester) revert JobMarketNotRequester(jobId, msg.sender);
        if (bytes(outputCid).length == 0) revert JobMarketEmptyResultCid(jobId, 0);
        emit OutputRecorded(jobId, outputCid);
    }

    // ================================================================== provider

    /// @inheritdoc IJobMarket
    function claim(uint256 jobId, uint256 count) external nonReentrant returns (uint256 claimed) {
        if (count == 0 || count > MAX_BATCH) revert JobMarketInvalidClaimCount(count, MAX_BATCH);
        Job storage job = _job(jobId);
        if (job.status != JobStatus.Open) revert JobMarketJobNotOpen(jobId);
        uint64 leaseEnd = uint64(block.timestamp) + job.leaseDuration;
        if (leaseEnd > job.deadline) revert JobMarketClaimWindowClosed(jobId, job.deadline - job.leaseDuration);

        ClaimScan memory scan = ClaimScan({
            jobId: jobId,
            providerId: _providerIdOrAssign(msg.sender),
            leaseEnd: leaseEnd,
            segmentCount: job.segmentCount,
            words: (uint256(job.segmentCount) + 255) >> 8,
            start: _randomStart(jobId, job.segmentCount),
            wanted: count,
            claimed: 0,
            inspected: 0,
            newlyTouched: 0
        });
        // Visit the words from the start's word, wrapping around once; the start word is visited
        // twice: first its bits at or above the start, last its bits below it.
        for (uint256 step; step <= scan.words && scan.claimed < count && scan.inspected < MAX_CLAIM_SCAN; ++step) {
            _claimInWord(job, scan, step);
        }
        claimed = scan.claimed;
        if (claimed == 0) revert JobMarketNothingToClaim(jobId);
        if (scan.newlyTouched != 0) job.segmentsTouched += scan.newlyTouched;
        _registry.lockCollateral(msg.sender, claimed * job.collateralPerReplica, job.minReputation);
    }

    /// @inheritdoc IJobMarket
    function commit(uint256 jobId, CommitInput[] calldata commits) external nonReentrant {
        _checkBatch(commits.length);
        Job storage job = _job(jobId);
        uint32 providerId = _providerIds[msg.sender];
        for (uint256 i; i < commits.length; ++i) {
            CommitInput calldata c = commits[i];
            Replica storage rep = _heldReplica(job, jobId, c.segment, c.replica, providerId);
            if (rep.state != ReplicaState.Claimed) {
                revert JobMarketWrongReplicaState(jobId, c.segment, c.replica, rep.state);
            }
            if (block.timestamp > rep.leaseEnd) revert JobMarketLeaseExpired(jobId, c.segment, rep.leaseEnd);
            if (c.commitment == bytes32(0)) revert JobMarketZeroCommitment(jobId, c.segment);
            rep.seal = bytes20(c.commitment);
            rep.state = ReplicaState.Committed;
            emit ReplicaCommitted(jobId, c.segment, c.replica, msg.sender, c.commitment);

            SegmentHeader h = _loadHeader(jobId, c.segment);
            h = h.withCommitted(h.committed() + 1);
            if (h.committed() == h.slots()) {
                uint64 revealDeadline = uint64(block.timestamp) + job.revealWindow;
                h = h.withRevealDeadline(revealDeadline);
                emit RevealOpened(jobId, c.segment, revealDeadline);
            }
            _storeHeader(jobId, c.segment, h);
        }
    }

    /// @inheritdoc IJobMarket
    function reveal(uint256 jobId, RevealInput[] calldata reveals) external nonReentrant {
        _checkBatch(reveals.length);
        Job storage job = _job(jobId);
        uint32 providerId = _providerIds[msg.sender];
        Outcomes memory out = _newOutcomes();
        for (uint256 i; i < reveals.length; ++i) {
            _revealOne(job, jobId, providerId, reveals[i], out);
        }
        _flush(out);
    }

    /// @inheritdoc IJobMarket
    function abandon(uint256 jobId, SlotRef[] calldata slots) external nonReentrant {
        _checkBatch(slots.length);
        Job storage job = _job(jobId);
        uint32 providerId = _providerIds[msg.sender];
        Outcomes memory out = _newOutcomes();
        for (uint256 i; i < slots.length; ++i) {
            SlotRef calldata ref = slots[i];
            Replica storage rep = _heldReplica(job, jobId, ref.segment, ref.replica, providerId);
            if (rep.state != ReplicaState.Claimed) {
                revert JobMarketWrongReplicaState(jobId, ref.segment, ref.replica, rep.state);
            }
            if (block.timestamp > rep.leaseEnd) revert JobMarketLeaseExpired(jobId, ref.segment, rep.leaseEnd);
            IProviderRegistry.ProviderDelta memory d = _outcome(out, msg.sender);
            d.unlock += job.collateralPerReplica;
            d.abandoned += 1;
            emit ReplicaAbandoned(jobId, ref.segment, ref.replica, msg.sender);
            _reopen(job, jobId, ref.segment, ref.replica, false);
        }
        _flush(out);
    }

    // ================================================================== anyone

    /// @inheritdoc IJobMarket
    function expire(uint256 jobId, SlotRef[] calldata slots) external nonReentrant {
        _checkBatch(slots.length);
        Job storage job = _job(jobId);
        Outcomes memory out = _newOutcomes();
        for (uint256 i; i < slots.length; ++i) {
            SlotRef calldata ref = slots[i];
            _checkSegment(job, jobId, ref.segment);
            if (ref.replica >= SegmentHeaderLib.MAX_SLOTS) {
                revert JobMarketInvalidReplica(jobId, ref.segment, ref.replica);
            }
            Replica storage rep = _replicas[jobId][ref.segment][ref.replica];
            SegmentHeader h = _loadHeader(jobId, ref.segment);
            ReplicaState state = rep.state;
            bool missedLease = state == ReplicaState.Claimed && block.timestamp > rep.leaseEnd;
            bool missedReveal = state == ReplicaState.Committed && h.revealDeadline() != 0
                && block.timestamp > h.revealDeadline();
            if (!missedLease && !missedReveal) revert JobMarketNotExpirable(jobId, ref.segment, ref.replica);
            _seizeExpired(job, jobId, ref.segment, ref.replica, rep, out);
            if (h.status() == SegmentStatus.Open) {
                _reopen(job, jobId, ref.segment, ref.replica, missedReveal);
            } else {
                // Accepted segment whose late replica never revealed: its unit goes back.
                rep.state = ReplicaState.Settled;
                if (ref.replica < job.redundancy) _refundUnits(job, jobId, 1);
            }
        }
        _flush(out);
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

    /// @notice Sets the protocol fee for jobs created from now on (at most MAX_FEE_BPS).
    function setFee(uint16 feeBps_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setFee(feeBps_);
    }

    /// @notice Sets the receiver of protocol fees credited from now on.
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
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
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @inheritdoc IJobMarket
    function feeBps() external view returns (uint16) {
        return _feeBps;
    }

    /// @inheritdoc IJobMarket
    function jobCount() external view returns (uint256) {
        return _jobCount;
    }

    /// @inheritdoc IJobMarket
    function jobOf(uint256 jobId) external view returns (JobView memory v) {
        Job storage job = _jobs[jobId];
        v = JobView({
            requester: job.requester,
            status: job.status,
            segmentCount: job.segmentCount,
            segmentsTouched: job.segmentsTouched,
            redundancy: job.redundancy,
            quorum: job.quorum,
            feeBps: job.feeBps,
            minReputation: job.minReputation,
            rewardPerReplica: job.rewardPerReplica,
            collateralPerReplica: job.collateralPerReplica,
            leaseDuration: job.leaseDuration,
            revealWindow: job.revealWindow,
            deadline: job.deadline,
            escrow: job.escrow
        });
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
        // At most MAX_SEGMENTS * MAX_REDUNDANCY * 1.1 * 2^96 < 2^119: always fits the uint128 escrow.
        uint256 escrow = _escrowOf(p);
        jobId = ++_jobCount;
        _jobs[jobId] = Job({
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
        _token.safeTransferFrom(msg.sender, address(this), escrow);
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
        if (p.leaseDuration < MIN_LEASE || p.leaseDuration > MAX_LEASE) {
            revert JobMarketInvalidLease(p.leaseDuration, MIN_LEASE, MAX_LEASE);
        }
        if (p.revealWindow < MIN_REVEAL_WINDOW || p.revealWindow > MAX_REVEAL_WINDOW) {
            revert JobMarketInvalidRevealWindow(p.revealWindow, MIN_REVEAL_WINDOW, MAX_REVEAL_WINDOW);
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

    function _job(uint256 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.status == JobStatus.None) revert JobMarketUnknownJob(jobId);
    }

    function _checkSegment(Job storage job, uint256 jobId, uint32 segment) private view {
        if (segment >= job.segmentCount) revert JobMarketInvalidSegment(jobId, segment);
    }

    function _checkBatch(uint256 length) private pure {
        if (length == 0) revert JobMarketEmptyBatch();
        if (length > MAX_BATCH) revert JobMarketBatchTooLarge(length, MAX_BATCH);
    }

    /// @dev Whether `closeSegments` may refund this segment now.
    function _closable(Job storage job, SegmentHeader h, bool pastDeadline) private view returns (bool) {
        if (h.status() != SegmentStatus.Open) return false;
        if (pastDeadline) {
            // An untouched segment of a cancelled job was refunded by `cancelJob`.
            if (h.slots() == 0 && job.status == JobStatus.Cancelled) return false;
            uint64 revealDeadline = h.revealDeadline();
            return revealDeadline == 0 || block.timestamp > revealDeadline;
        }
        // Before the deadline: only a cancelled job's segment that can never fill all its slots.
        return job.status == JobStatus.Cancelled && h.slots() != 0 && h.assigned() < h.slots();
    }

    // ================================================================== internal: claiming

    /// @dev Segment choice lives here alone, so a VRF can replace `prevrandao` on chains where
    /// it is weak. The claimer cannot pick the segment: only where a scan starts is random, and
    /// it depends on the block, not on anything the claimer supplies.
    function _randomStart(uint256 jobId, uint32 segmentCount) private view returns (uint256) {
        return uint256(keccak256(abi.encode(block.prevrandao, block.number, msg.sender, jobId))) % segmentCount;
    }

    /// @dev Claims free slots among the open segments of one bitmap word, lowest segment first.
    function _claimInWord(Job storage job, ClaimScan memory scan, uint256 step) private {
        uint256 word = ((scan.start >> 8) + step) % scan.words;
        uint256 open = _openBits(scan, word, step);
        while (open != 0 && scan.claimed < scan.wanted && scan.inspected < MAX_CLAIM_SCAN) {
            uint256 lowest = open & (~open + 1);
            open ^= lowest;
            ++scan.inspected;
            uint32 segment = uint32((word << 8) | Math.log2(lowest));
            (bool took, bool firstTouch) = _tryClaim(job, scan, segment);
            if (took) {
                ++scan.claimed;
                if (firstTouch) ++scan.newlyTouched;
            }
        }
    }

    /// @dev The claimable bits of one bitmap word for the given step of the wrap-around scan.
    function _openBits(ClaimScan memory scan, uint256 word, uint256 step) private view returns (uint256 open) {
        open = ~_closedBits[scan.jobId][word];
        uint256 tail = scan.segmentCount & 255;
        if (word == scan.words - 1 && tail != 0) open &= (uint256(1) << tail) - 1;
        uint256 startBit = scan.start & 255;
        if (step == 0) open &= ~((uint256(1) << startBit) - 1);
        else if (step == scan.words) open &= (uint256(1) << startBit) - 1;
    }

    /// @dev Takes a free slot of `segment` for the provider unless it already holds one there.
    function _tryClaim(Job storage job, ClaimScan memory scan, uint32 segment)
        private
        returns (bool took, bool firstTouch)
    {
        uint256 jobId = scan.jobId;
        uint32 providerId = scan.providerId;
        SegmentHeader h = _loadHeader(jobId, segment);
        if (h.slots() == 0) {
            h = h.withSlots(job.redundancy);
            firstTouch = true;
        }
        uint8 slots = h.slots();
        if (h.status() != SegmentStatus.Open || h.assigned() >= slots) return (false, false);
        uint8 free = type(uint8).max;
        if (h.assigned() == 0) {
            free = 0;
        } else {
            for (uint8 k; k < slots; ++k) {
                Replica storage rep = _replicas[jobId][segment][k];
                if (rep.state == ReplicaState.Empty) {
                    if (free == type(uint8).max) free = k;
                } else if (rep.providerId == providerId) {
                    return (false, false); // never two replicas of one segment for one provider
                }
            }
        }
        _replicas[jobId][segment][free] = Replica({
            seal: bytes20(0),
            providerId: providerId,
            leaseEnd: uint40(scan.leaseEnd),
            state: ReplicaState.Claimed
        });
        h = h.withAssigned(h.assigned() + 1);
        _storeHeader(jobId, segment, h);
        if (h.assigned() == slots) _setClosed(jobId, segment, true);
        emit ReplicaClaimed(jobId, segment, free, msg.sender, scan.leaseEnd);
        return (true, firstTouch);
    }

    /// @dev Frees a slot (abandon, expiry) so the segment can be claimed again.
    function _reopen(Job storage job, uint256 jobId, uint32 segment, uint8 replica, bool wasCommitted) private {
        delete _replicas[jobId][segment][replica];
        SegmentHeader h = _loadHeader(jobId, segment);
        h = h.withAssigned(h.assigned() - 1);
        if (wasCommitted) {
            // The reveal window closes until the new holder commits, so nobody reveals early.
            h = h.withCommitted(h.committed() - 1).withRevealDeadline(0);
        }
        _storeHeader(jobId, segment, h);
        if (job.status == JobStatus.Open) _setClosed(jobId, segment, false);
    }

    function _heldReplica(Job storage job, uint256 jobId, uint32 segment, uint8 replica, uint32 providerId)
        private
        view
        returns (Replica storage rep)
    {
        _checkSegment(job, jobId, segment);
        if (replica >= SegmentHeaderLib.MAX_SLOTS) revert JobMarketInvalidReplica(jobId, segment, replica);
        rep = _replicas[jobId][segment][replica];
        if (providerId == 0 || rep.providerId != providerId || rep.state == ReplicaState.Empty) {
            revert JobMarketNotReplicaHolder(jobId, segment, replica, msg.sender);
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
    function _revealOne(Job storage job, uint256 jobId, uint32 providerId, RevealInput calldata rv, Outcomes memory out)
        private
    {
        Replica storage rep = _heldReplica(job, jobId, rv.segment, rv.replica, providerId);
        if (rep.state != ReplicaState.Committed) {
            revert JobMarketWrongReplicaState(jobId, rv.segment, rv.replica, rep.state);
        }
        SegmentHeader h = _loadHeader(jobId, rv.segment);
        uint64 revealDeadline = h.revealDeadline();
        if (revealDeadline == 0) revert JobMarketRevealNotOpen(jobId, rv.segment);
        if (block.timestamp > revealDeadline) revert JobMarketRevealWindowClosed(jobId, rv.segment, revealDeadline);
        if (bytes(rv.resultCid).length == 0) revert JobMarketEmptyResultCid(jobId, rv.segment);
        bytes32 commitment = keccak256(abi.encode(rv.digest, rv.salt, msg.sender, jobId, rv.segment));
        if (bytes20(commitment) != rep.seal) revert JobMarketCommitmentMismatch(jobId, rv.segment, rv.replica);

        bytes20 seal = bytes20(rv.digest);
        rep.seal = seal;
        rep.state = ReplicaState.Revealed;
        h = h.withRevealed(h.revealed() + 1);
        emit ReplicaRevealed(jobId, rv.segment, rv.replica, msg.sender, rv.digest, rv.resultCid);

        if (h.status() == SegmentStatus.Accepted) {
            bytes20 accepted = _replicas[jobId][rv.segment][h.winner()].seal;
            _settleLate(job, jobId, rv.segment, rv.replica, rep, seal == accepted, out);
        } else {
            h = _tally(job, jobId, rv, h, out);
        }
        _storeHeader(jobId, rv.segment, h);
    }

    /// @dev Counts agreement after a reveal of an open segment; accepts, opens a tie-breaker or fails.
    function _tally(Job storage job, uint256 jobId, RevealInput calldata rv, SegmentHeader h, Outcomes memory out)
        private
        returns (SegmentHeader)
    {
        (uint256 agree, uint256 best) = _agreement(jobId, rv.segment, h.slots(), rv.replica);
        if (agree >= job.quorum) {
            emit SegmentAccepted(jobId, rv.segment, rv.digest, rv.resultCid);
            _settleAccepted(job, jobId, rv.segment, h.slots(), bytes20(rv.digest), out);
            return h.withStatus(SegmentStatus.Accepted).withWinner(rv.replica);
        }
        uint256 unrevealed = h.slots() - h.revealed();
        if (unrevealed != 0 || best >= job.quorum) return h; // waiting for the other reveals
        return _escalateOrFail(job, jobId, rv.segment, h, out);
    }

    /// @dev Among revealed replicas: how many share `replica`'s seal, and the largest such group.
    function _agreement(uint256 jobId, uint32 segment, uint8 slots, uint8 replica)
        private
        view
        returns (uint256 agree, uint256 best)
    {
        bytes20[] memory seals = new bytes20[](slots);
        uint256 revealedMask;
        for (uint8 k; k < slots; ++k) {
            Replica storage rep = _replicas[jobId][segment][k];
            if (rep.state == ReplicaState.Revealed) {
                seals[k] = rep.seal;
                revealedMask |= 1 << k;
            }
        }
        for (uint8 k; k < slots; ++k) {
            if (revealedMask & (1 << k) == 0) continue;
            uint256 same;
            for (uint8 m; m < slots; ++m) {
                if (revealedMask & (1 << m) != 0 && seals[m] == seals[k]) ++same;
            }
            if (k == replica) agree = same;
            if (same > best) best = same;
        }
    }

    /// @dev Every slot revealed and no digest reached the quorum: open a tie-breaker slot while
    /// the job can still take claims, otherwise fail the segment (collateral back, budget refunded).
    function _escalateOrFail(Job storage job, uint256 jobId, uint32 segment, SegmentHeader h, Outcomes memory out)
        private
        returns (SegmentHeader)
    {
        uint8 slots = h.slots();
        bool canEscalate = h.tieBreakers() < MAX_TIE_BREAKERS && job.status == JobStatus.Open
            && block.timestamp + job.leaseDuration <= job.deadline;
        if (canEscalate) {
            _setClosed(jobId, segment, false);
            emit TieBreakerOpened(jobId, segment, slots + 1);
            return h.withTieBreakers(h.tieBreakers() + 1).withSlots(slots + 1).withRevealDeadline(0);
        }
        for (uint8 k; k < slots; ++k) {
            Replica storage rep = _replicas[jobId][segment][k];
            _release(job, jobId, segment, k, rep, out);
            rep.state = ReplicaState.Settled;
        }
        _refundUnits(job, jobId, job.redundancy);
        emit SegmentFailed(jobId, segment);
        return h.withStatus(SegmentStatus.Failed);
    }

    /// @dev Pays the replicas that agree with the accepted seal and slashes those that do not.
    /// Original slots are paid from the requester's units; a tie-breaker that agrees is paid from
    /// the seized collateral of the replicas that disagree, which always exist when a tie-breaker
    /// opened and cover it because collateral >= reward. What is left of the seized collateral
    /// compensates the requester. Replicas still unrevealed keep their unit until they reveal or expire.
    function _settleAccepted(
        Job storage job,
        uint256 jobId,
        uint32 segment,
        uint8 slots,
        bytes20 acceptedSeal,
        Outcomes memory out
    ) private {
        Verdicts memory v;
        for (uint8 k; k < slots; ++k) {
            _judge(job, jobId, segment, k, acceptedSeal, out, v);
        }
        if (v.tieBreakerWinners != 0) {
            for (uint8 k = job.redundancy; k < slots; ++k) {
                Replica storage rep = _replicas[jobId][segment][k];
                if (rep.state == ReplicaState.Settled && rep.seal == acceptedSeal) {
                    _credit(_providerAccounts[rep.providerId], jobId, CreditKind.TieBreakerReward, job.rewardPerReplica);
                    v.seized -= job.rewardPerReplica;
                }
            }
        }
        if (v.seized != 0) _credit(job.requester, jobId, CreditKind.Compensation, v.seized);
        if (v.unitsToRefund != 0) _refundUnits(job, jobId, v.unitsToRefund);
    }

    /// @dev Verdict on one revealed replica of a segment being accepted.
    function _judge(
        Job storage job,
        uint256 jobId,
        uint32 segment,
        uint8 k,
        bytes20 acceptedSeal,
        Outcomes memory out,
        Verdicts memory v
    ) private {
        Replica storage rep = _replicas[jobId][segment][k];
        if (rep.state != ReplicaState.Revealed) return; // unrevealed: settles when it reveals or expires
        address provider = _providerAccounts[rep.providerId];
        IProviderRegistry.ProviderDelta memory d = _outcome(out, provider);
        if (rep.seal == acceptedSeal) {
            d.unlock += job.collateralPerReplica;
            d.accepted += 1;
            if (k < job.redundancy) _payUnit(job, jobId, provider);
            else ++v.tieBreakerWinners;
            emit ReplicaAccepted(jobId, segment, k, provider);
        } else {
            d.slash += job.collateralPerReplica;
            d.rejected += 1;
            v.seized += job.collateralPerReplica;
            if (k < job.redundancy) ++v.unitsToRefund;
            emit ReplicaRejected(jobId, segment, k, provider, job.collateralPerReplica);
        }
        rep.state = ReplicaState.Settled;
    }

    /// @dev A replica revealing after its segment was accepted is paid or slashed on its own.
    function _settleLate(
        Job storage job,
        uint256 jobId,
        uint32 segment,
        uint8 replica,
        Replica storage rep,
        bool agrees,
        Outcomes memory out
    ) private {
        address provider = _providerAccounts[rep.providerId];
        IProviderRegistry.ProviderDelta memory d = _outcome(out, provider);
        if (agrees) {
            d.unlock += job.collateralPerReplica;
            d.accepted += 1;
            _payUnit(job, jobId, provider);
            emit ReplicaAccepted(jobId, segment, replica, provider);
        } else {
            d.slash += job.collateralPerReplica;
            d.rejected += 1;
            _credit(job.requester, jobId, CreditKind.Compensation, job.collateralPerReplica);
            _refundUnits(job, jobId, 1);
            emit ReplicaRejected(jobId, segment, replica, provider, job.collateralPerReplica);
        }
        rep.state = ReplicaState.Settled;
    }

    /// @dev Seizes the collateral of a replica that let its lease or reveal window pass.
    function _seizeExpired(
        Job storage job,
        uint256 jobId,
        uint32 segment,
        uint8 replica,
        Replica storage rep,
        Outcomes memory out
    ) private {
        address provider = _providerAccounts[rep.providerId];
        IProviderRegistry.ProviderDelta memory d = _outcome(out, provider);
        uint256 collateral = job.collateralPerReplica;
        d.slash += uint128(collateral);
        d.expired += 1;
        uint256 keeperFee = (collateral * KEEPER_FEE_BPS) / BPS;
        if (keeperFee != 0) _credit(msg.sender, jobId, CreditKind.KeeperFee, keeperFee);
        _credit(job.requester, jobId, CreditKind.Compensation, collateral - keeperFee);
        emit ReplicaExpired(jobId, segment, replica, provider, msg.sender, collateral);
    }

    /// @dev Returns a replica's collateral without a verdict.
    function _release(Job storage job, uint256 jobId, uint32 segment, uint8 replica, Replica storage rep, Outcomes memory out)
        private
    {
        ReplicaState state = rep.state;
        if (state == ReplicaState.Empty || state == ReplicaState.Settled) return;
        address provider = _providerAccounts[rep.providerId];
        _outcome(out, provider).unlock += job.collateralPerReplica;
        emit ReplicaReleased(jobId, segment, replica, provider);
    }

    // ================================================================== internal: money verbs

    /// @dev One replica's unit leaves escrow: the reward to the provider, the fee to the treasury.
    function _payUnit(Job storage job, uint256 jobId, address provider) private {
        uint256 reward = job.rewardPerReplica;
        uint256 fee = (reward * job.feeBps) / BPS;
        _takeFromEscrow(job, reward + fee);
        _credit(provider, jobId, CreditKind.Reward, reward);
        if (fee != 0) _credit(_treasury, jobId, CreditKind.Fee, fee);
    }

    /// @dev `units` replica units leave escrow back to the requester.
    function _refundUnits(Job storage job, uint256 jobId, uint256 units) private returns (uint256 amount) {
        if (units == 0) return 0;
        amount = units * _unitPrice(job.rewardPerReplica, job.feeBps);
        _takeFromEscrow(job, amount);
        _credit(job.requester, jobId, CreditKind.Refund, amount);
    }

    function _takeFromEscrow(Job storage job, uint256 amount) private {
        job.escrow -= uint128(amount);
        _totalEscrow -= amount;
    }

    function _credit(address account, uint256 jobId, CreditKind kind, uint256 amount) private {
        _balances[account] += amount;
        _totalBalances += amount;
        emit Credited(account, jobId, kind, amount);
    }

    // ================================================================== internal: registry outcomes

    function _newOutcomes() private pure returns (Outcomes memory out) {
        out.items = new IProviderRegistry.ProviderDelta[](OUTCOME_BUFFER);
    }

    /// @dev The buffered delta of `provider`, flushing the buffer to the registry when it is full.
    function _outcome(Outcomes memory out, address provider)
        private
        returns (IProviderRegistry.ProviderDelta memory d)
    {
        for (uint256 i; i < out.length; ++i) {
            if (out.items[i].provider == provider) return out.items[i];
        }
        if (out.length == OUTCOME_BUFFER) _flush(out);
        d = out.items[out.length];
        d.provider = provider;
        ++out.length;
    }

    /// @dev Sends the buffered deltas to the registry (one call; slashed tokens arrive here).
    function _flush(Outcomes memory out) private {
        uint256 n = out.length;
        if (n == 0) return;
        IProviderRegistry.ProviderDelta[] memory deltas = new IProviderRegistry.ProviderDelta[](n);
        for (uint256 i; i < n; ++i) {
            deltas[i] = out.items[i];
            out.items[i] = IProviderRegistry.ProviderDelta(address(0), 0, 0, 0, 0, 0, 0);
        }
        out.length = 0;
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
        uint256 mask = uint256(1) << (segment & 255);
        uint256 bits = _closedBits[jobId][segment >> 8];
        uint256 next = closed ? bits | mask : bits & ~mask;
        if (next != bits) _closedBits[jobId][segment >> 8] = next;
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
