// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IJobMarketTypes} from "./interfaces/IJobMarket.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";
import {SegmentHeader, SegmentHeaderLib} from "./libraries/SegmentHeader.sol";

/// @title JobMarketBase — JobMarket's storage, constants and the internal verbs both of its codes use
/// @notice JobMarket is two codes over one storage, because one does not fit EIP-170's 24,576 bytes:
/// JobMarket (create, claim, commit, reveal, withdraw, views) and JobMarketExtension (cancel, close,
/// abandon, expire, fee and treasury), which JobMarket deploys in its constructor and reaches by
/// delegatecall. Both inherit this contract, so they share one storage layout by construction.
/// @dev Money moves only through `_payUnit`, `_refundUnits`, `_credit` (escrow or seized
/// collateral into internal balances) and `withdraw`; collateral moves through the registry via
/// the per-transaction `Outcomes` accumulator, flushed once per transaction. The token must be a
/// plain ERC-20 (no fee on transfer, no rebasing): escrow is accounted at face value.
abstract contract JobMarketBase is IJobMarketTypes, Ownable2Step, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SegmentHeaderLib for SegmentHeader;

    // ------------------------------------------------------------------ protocol constants

    /// @notice Most replicas a job may ask for per segment.
    uint8 internal constant MAX_REDUNDANCY = 5;
    /// @notice Extra slots a segment may open when its replicas disagree.
    uint8 internal constant MAX_TIE_BREAKERS = 1;
    /// @notice Audit slots an audited segment opens when its auditor disagrees (AuditDisputed).
    uint8 internal constant ESCALATION_SLOTS = 2;
    /// @notice Highest redundancy of an audited job: its replicas, a tie-breaker, the auditor and
    /// the escalation must fit MAX_SLOTS.
    uint8 internal constant MAX_AUDITED_REDUNDANCY = 2;
    /// @notice Least collateral of an audited job, in rewards: a losing auditor's collateral pays
    /// both escalation auditors.
    uint8 internal constant AUDIT_COLLATERAL_MULTIPLE = 2;
    /// @notice Most segments per job. Claims find open segments through a three-level bitmap
    /// (segments, then full words, then full groups of words), so a claim's cost does not grow
    /// with the job: 1,000,000 segments need 3,907 words, 16 group words and one top word.
    uint32 internal constant MAX_SEGMENTS = 1_000_000;
    /// @notice Most entries per commit / reveal / abandon / expire / close batch, and slots per claim.
    uint256 internal constant MAX_BATCH = 64;
    /// @notice Most open segments a claim inspects before giving up (bounds its gas).
    uint256 internal constant MAX_CLAIM_SCAN = 256;
    /// @notice Draws a ticket makes for its first slot over the job's (segment, slot) pairs before
    /// it falls back to the scan (`_drawClaims`). A draw succeeds with probability (free slots the
    /// provider may take) / (segments x redundancy): with 12 draws fewer than 1 % of tickets fall
    /// back while a third of the slots are free, so the scan, which favours a segment after a
    /// closed run, decides only at a job's tail. The bound also caps the draw's gas: 12 bitmap and
    /// header reads at most.
    uint256 internal constant MAX_DRAW_ATTEMPTS = 12;
    /// @notice Most claim tickets waiting per job (a full queue refuses requests until it resolves).
    uint256 internal constant MAX_QUEUED_TICKETS = 256;
    /// @notice Blocks after which a ticket's seed hash is gone (EVM `blockhash` reaches 256 back).
    uint256 internal constant MAX_TICKET_AGE = 256;
    /// @notice Share of a lapsed ticket's collateral forfeited to the requester (see ClaimLapsed).
    uint16 internal constant LAPSE_FORFEIT_BPS = 5_000;
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
    /// @notice Highest tolerance a Tolerant job may ask for, in basis points of the compared
    /// fingerprint blocks (a job's own default is DEFAULT_TOLERANCE_BPS in sdk/src/fingerprint.ts).
    uint16 internal constant MAX_TOLERANCE_BPS = 5_000;
    uint16 internal constant BPS = 10_000;
    /// @dev Distinct providers buffered per registry call, and distinct (account, kind) credits
    /// buffered per balance write; a full buffer is flushed early, so these bound memory only.
    uint256 internal constant OUTCOME_BUFFER = 8;
    uint256 internal constant CREDIT_BUFFER = 12;

    // ------------------------------------------------------------------ storage

    /// @dev One slot per replica.
    struct Replica {
        bytes20 seal; // commitment prefix while Committed; digest (Exact) or keccak256(fingerprint) (Tolerant) prefix once Revealed
        uint32 providerId; // market-local id, see `_providerIds`
        uint40 leaseEnd;
        ReplicaState state;
        uint8 revealRound; // the blind round the replica revealed in (written only when not 0)
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

    /// @dev A waiting claim request, one slot (see IJobMarketTypes.Ticket).
    struct StoredTicket {
        uint32 providerId;
        uint8 count;
        uint40 seedBlock;
    }

    /// @dev A job's claim queue, one slot written at creation: tickets [head, tail) wait, oldest
    /// first. A ticket requested into an empty queue is kept here (`first*`, count != 0), in the slot
    /// every request and resolution writes anyway; only tickets queued behind it use `_tickets`.
    /// So the inline ticket, when present, is always the one at `head`.
    struct ClaimQueue {
        uint32 head;
        uint32 tail;
        uint40 createdBlock;
        uint32 firstProviderId;
        uint8 firstCount;
        uint40 firstSeedBlock;
    }

    /// @dev Running totals while a segment is being accepted.
    struct Verdicts {
        uint256 seized;
        uint256 tieBreakerPaid;
        uint256 unitsToRefund;
        uint8 unitMask; // slots paid from the requester's units (see `_settleAccepted`)
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

    IERC20 internal immutable _token;
    IProviderRegistry internal immutable _registry;
    uint32 internal immutable _minLease;
    uint32 internal immutable _minRevealWindow;
    uint96 internal immutable _minCreditReward;
    address internal _treasury;
    uint16 internal _feeBps;
    uint32 internal _providerCount;
    uint256 internal _jobCount;
    uint256 internal _totalEscrow;
    uint256 internal _totalBalances;

    /// @dev JobView's field order packs into three slots (32, 32 and 32 bytes); it is both the
    /// storage and the view.
    mapping(uint256 jobId => JobView) internal _jobs;
    /// @dev Bit set = segment takes no claim (settled, or every slot held). Zero = open, so
    /// creating a job writes nothing per segment.
    mapping(uint256 jobId => mapping(uint256 word => uint256 bits)) internal _closedBits;
    /// @dev Summary of `_closedBits`: bit `w & 255` of group word `w >> 8` is set iff word `w` is
    /// all ones (every one of its 256 segments closed). The last word of a job whose segment count
    /// is not a multiple of 256 never fills (its bits past the end stay zero), so it never counts
    /// as full; the search treats a hit past the end as "none".
    mapping(uint256 jobId => mapping(uint256 group => uint256 bits)) internal _fullWords;
    /// @dev Bit g set iff group word g of `_fullWords` is all ones (MAX_SEGMENTS needs 16 groups < 256).
    mapping(uint256 jobId => uint256 bits) internal _fullGroups;
    /// @dev Four packed 64-bit segment headers per word.
    mapping(uint256 jobId => mapping(uint256 word => uint256 headers)) internal _segmentWords;
    mapping(uint256 jobId => mapping(uint32 segment => mapping(uint8 replica => Replica))) internal _replicas;
    mapping(address account => uint256) internal _balances;
    /// @dev Compact ids let a replica slot hold provider, lease, state and seal in one word.
    mapping(address provider => uint32) internal _providerIds;
    mapping(uint32 providerId => address) internal _providerAccounts;
    /// @dev A scheduled fee change (declared last: earlier slots are read by the gas benchmark).
    uint16 internal _pendingFeeBps;
    uint64 internal _pendingFeeAt;
    /// @dev The first provider that gave each segment back for a SceneFault (owed the refusal fee if
    /// the segment closes unrendered); declared after the slots the gas benchmark reads.
    mapping(uint256 jobId => mapping(uint32 segment => uint32 providerId)) internal _sceneRefusers;
    mapping(uint256 jobId => ClaimQueue) internal _claimQueues;
    mapping(uint256 jobId => mapping(uint256 index => StoredTicket)) internal _tickets;
    /// @dev When each provider last gave a slot of each job back (`abandon`): the re-draw cooldown.
    mapping(uint256 jobId => mapping(uint32 providerId => uint64 at)) internal _lastGiveBack;

    /// @dev Validates and fixes the immutables; JobMarket's constructor does the rest (deploys the
    /// registry first, then the extension from its blueprint, sets fee and treasury, emits the
    /// deployment events). The extension is built with the same values, so both codes read the
    /// same immutables.
    constructor(
        IERC20 token_,
        IProviderRegistry registry_,
        address admin,
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
        _token = token_;
        _registry = registry_;
    }

    /// @dev What the requester escrows per replica: the reward plus the protocol fee on it.
    function _unitPrice(uint96 reward, uint16 fee) internal pure returns (uint256) {
        return uint256(reward) + (uint256(reward) * fee) / BPS;
    }

    /// @dev A call's context over an existing job (three storage reads, then memory only).
    function _context(uint256 jobId) internal view returns (Ctx memory c) {
        c.jobId = jobId;
        c.job = _jobs[jobId];
        if (c.job.status == JobStatus.None) revert JobMarketUnknownJob(jobId);
    }

    function _checkSegment(Ctx memory c, uint32 segment) internal pure {
        if (segment >= c.job.segmentCount) revert JobMarketInvalidSegment(c.jobId, segment);
    }

    function _checkBatch(uint256 length) internal pure {
        if (length == 0) revert JobMarketEmptyBatch();
        if (length > MAX_BATCH) revert JobMarketBatchTooLarge(length, MAX_BATCH);
    }

    /// @dev Whether `closeSegments` may refund this segment now.
    function _closable(Ctx memory c, uint32 segment, SegmentHeader h, bool pastDeadline) internal view returns (bool) {
        if (!_inPlay(h.status())) return false;
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
    function _stalled(Ctx memory c, uint32 segment, SegmentHeader h) internal view returns (bool) {
        if (h.revealDeadline() != 0) return false;
        uint256 wait = uint256(c.job.leaseDuration) * COMMIT_WAIT_LEASES;
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][segment];
        for (uint8 k; k < h.slots(); ++k) {
            Replica storage rep = reps[k];
            if (rep.state == ReplicaState.Committed && block.timestamp > uint256(rep.leaseEnd) + wait) return true;
        }
        return false;
    }

    /// @dev Frees a slot (expiry) so the segment can be claimed again.
    function _reopen(Ctx memory c, uint32 segment, uint8 replica, bool wasCommitted) internal {
        delete _replicas[c.jobId][segment][replica];
        SegmentHeader h = _loadHeader(c.jobId, segment);
        h = h.withAssigned(h.assigned() - 1);
        if (wasCommitted) {
            // The reveal window closes until the new holder commits, so nobody reveals early.
            h = h.withCommitted(h.committed() - 1).withRevealDeadline(0);
        }
        bool claimable;
        (h, claimable) = _nextRoundIfRevealed(c, segment, h);
        _storeHeader(c.jobId, segment, h);
        if (claimable && c.job.status == JobStatus.Open) _setClosed(c.jobId, segment, false);
    }

    /// @dev A slot of `segment` is about to open (reopened, or a tie-breaker). If a replica of an
    /// Exact segment revealed in the current round, its new holder would have seen that link of the
    /// digest chain: the next round starts, whose link nobody can derive from it. At MAX_ROUND there
    /// is no deeper link: the slot must not open (`claimable` false), and the segment waits for
    /// `closeSegments` (or fails, for a tie-breaker).
    function _nextRoundIfRevealed(Ctx memory c, uint32 segment, SegmentHeader h)
        internal
        returns (SegmentHeader, bool claimable)
    {
        if (c.job.verification != Verification.Exact || h.revealed() == 0) return (h, true);
        uint8 round = h.round();
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][segment];
        bool seen;
        for (uint8 k; k < h.slots() && !seen; ++k) {
            seen = reps[k].state == ReplicaState.Revealed && reps[k].revealRound == round;
        }
        if (!seen) return (h, true);
        if (round == SegmentHeaderLib.MAX_ROUND) return (h, false);
        emit BlindRoundOpened(c.jobId, segment, round + 1);
        return (h.withRound(round + 1), true);
    }

    function _heldReplica(Ctx memory c, uint32 segment, uint8 replica, uint32 providerId)
        internal
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

    /// @dev Clears the segment's replica slots once none of them can still reveal.
    function _clearIfResolved(Ctx memory c, uint32 segment, uint8 slots) internal {
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][segment];
        for (uint8 k; k < slots; ++k) {
            if (reps[k].state == ReplicaState.Committed) return;
        }
        for (uint8 k; k < slots; ++k) {
            delete reps[k];
        }
    }

    /// @dev Whether an accepted replica of this job earns reputation: not on a job its provider
    /// posted itself, not below the deployment's minimum reward (farming must cost fees).
    function _earnsCredit(Ctx memory c, address provider) internal view returns (bool) {
        return provider != c.job.requester && c.job.rewardPerReplica >= _minCreditReward;
    }

    /// @dev Seizes the collateral of a replica that let its lease or reveal window pass.
    function _seizeExpired(Ctx memory c, uint32 segment, uint8 replica, Replica storage rep) internal {
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
    function _release(Ctx memory c, uint32 segment, uint8 replica, Replica storage rep) internal {
        ReplicaState state = rep.state;
        if (state == ReplicaState.Empty || state == ReplicaState.Settled) return;
        address provider = _providerAccounts[rep.providerId];
        _outcome(c, provider).unlock += c.job.collateralPerReplica;
        emit ReplicaReleased(c.jobId, segment, replica, provider);
    }

    /// @dev Pays the replicas in `agreeing` (bit k = replica k) and slashes the other revealed ones.
    /// Slots in `unitMask` (the originals, and an audit slot) are paid from the requester's units
    /// and a unit of theirs that disagrees is refunded; any other slot that agrees (a tie-breaker,
    /// an escalation auditor) is paid from
    /// the seized collateral of the replicas that disagree, which always exist when a tie-breaker
    /// opened and cover it because collateral >= reward (an audited job's collateral >=
    /// AUDIT_COLLATERAL_MULTIPLE rewards covers its escalation auditors). What is left of the seized collateral
    /// compensates the requester. Replicas still unrevealed keep their slot and their unit until
    /// they reveal or expire; when there are none, every replica slot is cleared.
    function _settleAccepted(
        Ctx memory c,
        mapping(uint8 => Replica) storage reps,
        uint32 segment,
        uint8 slots,
        uint8 agreeing,
        uint8 unitMask
    ) internal {
        bool clear = true;
        for (uint8 k; k < slots; ++k) {
            if (reps[k].state == ReplicaState.Committed) {
                clear = false;
                break;
            }
        }
        Verdicts memory v;
        v.unitMask = unitMask;
        for (uint8 k; k < slots; ++k) {
            _judge(c, reps[k], segment, k, (agreeing >> k) & 1 != 0, clear, v);
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
        bool agrees,
        bool clear,
        Verdicts memory v
    ) internal {
        if (rep.state != ReplicaState.Revealed) return; // unrevealed: settles when it reveals or expires
        address provider = _providerAccounts[rep.providerId];
        uint256 at = _outcomeAt(c, provider);
        IProviderRegistry.ProviderDelta memory d = c.deltas[at];
        if (agrees) {
            d.unlock += c.job.collateralPerReplica;
            d.accepted += 1;
            if ((v.unitMask >> k) & 1 != 0) {
                _payUnit(c, provider);
            } else {
                _credit(c, provider, CreditKind.TieBreakerReward, c.job.rewardPerReplica);
                v.tieBreakerPaid += c.job.rewardPerReplica;
            }
        } else {
            d.slash += c.job.collateralPerReplica;
            d.rejected += 1;
            v.seized += c.job.collateralPerReplica;
            if ((v.unitMask >> k) & 1 != 0) ++v.unitsToRefund;
            emit ReplicaRejected(c.jobId, segment, k, provider, c.job.collateralPerReplica);
        }
        if (clear) _clear(rep);
        else rep.state = ReplicaState.Settled;
    }

    /// @dev Zeroes a replica slot, its blind round included (one SSTORE to zero: a storage refund).
    function _clear(Replica storage rep) internal {
        rep.seal = bytes20(0);
        rep.providerId = 0;
        rep.leaseEnd = 0;
        rep.state = ReplicaState.Empty;
        rep.revealRound = 0;
    }

    /// @dev One replica's unit leaves escrow: the reward to the provider, the fee to the treasury.
    function _payUnit(Ctx memory c, address provider) internal {
        uint256 reward = c.job.rewardPerReplica;
        uint256 fee = (reward * c.job.feeBps) / BPS;
        c.escrowOut += reward + fee;
        _credit(c, provider, CreditKind.Reward, reward);
        c.fees += fee;
    }

    /// @dev Slots paid from the requester's units: the job's original replicas.
    function _originals(Ctx memory c) internal pure returns (uint8) {
        return uint8((uint256(1) << c.job.redundancy) - 1);
    }

    /// @dev Units the requester escrows per segment: one per replica, plus the auditor's in an audited job.
    function _unitsPerSegment(Ctx memory c) internal pure returns (uint256) {
        return c.job.auditBps == 0 ? c.job.redundancy : uint256(c.job.redundancy) + 1;
    }

    /// @dev Whether a segment's slots are still being claimed, committed or revealed.
    function _inPlay(SegmentStatus status) internal pure returns (bool) {
        return status == SegmentStatus.Open || status == SegmentStatus.Auditing || status == SegmentStatus.Disputed;
    }

    /// @dev Accepts an audited segment with `winner`'s result: every revealed replica sharing its
    /// seal is paid, the other revealed ones slashed (`_settleAccepted` with `unitMask`).
    function _acceptAudited(
        Ctx memory c,
        mapping(uint8 => Replica) storage reps,
        uint32 segment,
        SegmentHeader h,
        uint8 winner,
        uint8 unitMask
    ) internal returns (SegmentHeader) {
        bytes20 seal = reps[winner].seal;
        uint8 slots = h.slots();
        uint8 agreeing;
        for (uint8 k; k < slots; ++k) {
            if (reps[k].state == ReplicaState.Revealed && reps[k].seal == seal) agreeing |= uint8(uint256(1) << k);
        }
        emit SegmentAccepted(c.jobId, segment, winner, agreeing);
        _settleAccepted(c, reps, segment, slots, agreeing, unitMask);
        return h.withStatus(SegmentStatus.Accepted).withWinner(winner);
    }

    /// @dev `units` replica units leave escrow back to the requester.
    function _refundUnits(Ctx memory c, uint256 units) internal pure returns (uint256 amount) {
        if (units == 0) return 0;
        amount = units * _unitPrice(c.job.rewardPerReplica, c.job.feeBps);
        c.escrowOut += amount;
        c.refunds += amount;
    }

    /// @dev A segment closed unrendered after a SceneFault give-back: SCENE_FAULT_FEE_BPS of one
    /// reward moves from the requester's refund to the first refuser (both out of escrow).
    function _payRefusalFee(Ctx memory c, uint32 segment) internal {
        uint32 refuser = _sceneRefusers[c.jobId][segment];
        if (refuser == 0) return;
        delete _sceneRefusers[c.jobId][segment];
        uint256 fee = (uint256(c.job.rewardPerReplica) * SCENE_FAULT_FEE_BPS) / BPS;
        c.refunds -= fee; // the refund just added is redundancy * (reward + fee) >= fee
        _credit(c, _providerAccounts[refuser], CreditKind.RefusalFee, fee);
    }

    /// @dev Buffers a credit, summed with earlier credits of the same account and kind.
    function _credit(Ctx memory c, address account, CreditKind kind, uint256 amount) internal {
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
    function _flushCredits(Ctx memory c) internal {
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

    function _book(uint256 jobId, address account, CreditKind kind, uint256 amount) internal returns (uint256) {
        _balances[account] += amount;
        emit Credited(account, jobId, kind, amount);
        return amount;
    }

    /// @dev Ends a call: escrow out, credits in, registry outcomes (which send slashed tokens here).
    function _settle(Ctx memory c) internal {
        if (c.escrowOut != 0) {
            _jobs[c.jobId].escrow = c.job.escrow - uint128(c.escrowOut);
            _totalEscrow -= c.escrowOut;
            c.job.escrow -= uint128(c.escrowOut);
            c.escrowOut = 0;
        }
        _flushCredits(c);
        _flushOutcomes(c);
    }

    /// @dev The buffered delta of `provider`, flushing the buffer to the registry when it is full.
    function _outcome(Ctx memory c, address provider) internal returns (IProviderRegistry.ProviderDelta memory) {
        uint256 at = _outcomeAt(c, provider); // first: it may allocate `c.deltas`
        return c.deltas[at];
    }

    /// @dev `_outcome`'s index in `c.deltas`, for the settlement path (twice per settled segment):
    /// a returned struct is a zeroed allocation per call, an index is not.
    function _outcomeAt(Ctx memory c, address provider) internal returns (uint256 i) {
        for (; i < c.deltaCount; ++i) {
            if (c.deltas[i].provider == provider) return i;
        }
        if (c.deltas.length == 0) {
            c.deltas = new IProviderRegistry.ProviderDelta[](OUTCOME_BUFFER);
        } else if (i == OUTCOME_BUFFER) {
            _flushOutcomes(c);
            i = 0;
        }
        c.deltas[i].provider = provider;
        ++c.deltaCount;
    }

    /// @dev Sends the buffered deltas to the registry (one call; slashed tokens arrive here).
    function _flushOutcomes(Ctx memory c) internal {
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

    // ------------------------------------------------------------------ claiming

    /// @dev Fills `scan.wanted` slots. The first is drawn uniformly over the free (segment, slot)
    /// pairs the provider may take, which is what assigning replicas at random gives: a segment
    /// with two free slots weighs twice one with one, and a segment after a closed run weighs no
    /// more than any other. Draw `a` is x = keccak256(randomness, a) % (segmentCount x redundancy),
    /// segment x / redundancy, slot index x % redundancy; it is accepted iff the segment is open
    /// (in the bitmap the scan reads), the index is below its number of free slots (its header)
    /// and `_tryClaim` takes a slot (the provider holds none there and is not refused it). The
    /// rest of the ticket scans (`_scanClaims`) from the start of the drawn segment's cell: the
    /// job's segments cut into runs of the ticket's size rounded up to whole header words (four
    /// segments share one), so a ticket's slots share as few header words as they can, and so do
    /// two same-size tickets drawn into one cell (measured: 3,700 gas less per settled segment at
    /// batch 16 than scanning on from the drawn segment + 1). If MAX_DRAW_ATTEMPTS draws are
    /// rejected (few free slots: a job's tail), the whole ticket scans from `scan.start`. Drawing
    /// every slot this way would scatter a batch over header words: about 15,000 gas more per
    /// settled segment at batch 16.
    /// A tie-breaker segment reopened with all its slots empty (slots > redundancy) weighs as
    /// `redundancy` free slots, the most an index can name.
    function _drawClaims(Ctx memory c, ClaimScan memory scan, uint256 randomness) internal returns (uint256[] memory) {
        uint256 perSegment = c.job.redundancy;
        uint256 space = uint256(scan.segmentCount) * perSegment;
        bool took;
        for (uint256 a; a < MAX_DRAW_ATTEMPTS && !took; ++a) {
            uint256 x = uint256(keccak256(abi.encode(randomness, a))) % space;
            uint32 segment = uint32(x / perSegment);
            if ((_closedBits[scan.jobId][segment >> 8] >> (segment & 255)) & 1 == 1) continue; // the scan's open set
            SegmentHeader h = _loadHeader(scan.jobId, segment);
            uint256 slotCount = h.slots() == 0 ? perSegment : h.slots();
            if (x % perSegment + h.assigned() >= slotCount) continue; // the index names no free slot
            bool firstTouch;
            (took, firstTouch) = _tryClaim(c, scan, segment);
            if (took) {
                ++scan.claimed;
                if (firstTouch) ++scan.newlyTouched;
                uint256 cell = (scan.wanted + 3) & ~uint256(3); // the ticket, rounded up to header words
                scan.start = segment - segment % cell;
            }
        }
        return _scanClaims(c, scan);
    }

    /// @dev Fills `scan.wanted` slots from `scan.start`: the open segments from the start up to the
    /// end, then from 0 up to the start, at most MAX_CLAIM_SCAN inspected. Returns the trimmed slots.
    function _scanClaims(Ctx memory c, ClaimScan memory scan) internal returns (uint256[] memory slots) {
        uint256 pos = scan.start;
        uint256 limit = scan.segmentCount;
        while (scan.claimed < scan.wanted && scan.inspected < MAX_CLAIM_SCAN) {
            (uint256 segment, bool found) = _nextOpen(scan.jobId, pos, limit);
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
        slots = scan.slots;
        uint256 claimed = scan.claimed;
        assembly ("memory-safe") {
            mstore(slots, claimed) // trim to the slots actually claimed
        }
        if (scan.newlyTouched != 0) {
            c.job.segmentsTouched += scan.newlyTouched;
            _jobs[scan.jobId].segmentsTouched = c.job.segmentsTouched;
        }
    }

    /// @dev Resolves the job's due tickets first-in first-out: those seeded in an earlier block, at
    /// most MAX_BATCH slots per call (but always at least one ticket). Returns how many resolved.
    /// Every path that changes the open set calls this first, so a due ticket meets the open set
    /// its seed block left, whoever calls and whenever.
    function _resolveDue(Ctx memory c, ClaimQueue memory q) internal returns (uint256 resolved) {
        uint256 budget = MAX_BATCH;
        while (q.head < q.tail) {
            bool held = q.firstCount != 0;
            StoredTicket memory t = held
                ? StoredTicket(q.firstProviderId, q.firstCount, q.firstSeedBlock)
                : _tickets[c.jobId][q.head];
            if (t.seedBlock >= block.number) break;
            if (resolved != 0 && t.count > budget) break;
            if (held) (q.firstProviderId, q.firstCount, q.firstSeedBlock) = (0, 0, 0);
            else delete _tickets[c.jobId][q.head];
            _resolveTicket(c, t, q.head);
            budget -= t.count < budget ? t.count : budget;
            ++q.head;
            ++resolved;
        }
    }

    /// @dev `_resolveDue` for the paths that change the open set; stores the queue if it moved.
    function _resolveDueAndStore(Ctx memory c) internal returns (uint256 resolved) {
        ClaimQueue memory q = _claimQueues[c.jobId];
        if (q.head == q.tail) return 0;
        resolved = _resolveDue(c, q);
        if (resolved != 0) _claimQueues[c.jobId] = q;
    }

    /// @dev Draws one ticket's slots; releases what it could not fill (a lapse on an open job forfeits).
    function _resolveTicket(Ctx memory c, StoredTicket memory t, uint256 index) internal {
        address provider = _providerAccounts[t.providerId];
        uint256 collateral = c.job.collateralPerReplica;
        bytes32 seed = blockhash(t.seedBlock); // zero once MAX_TICKET_AGE blocks old
        uint64 leaseEnd = uint64(block.timestamp) + c.job.leaseDuration;
        uint256 unfilled = t.count;
        uint256 forfeited;
        if (seed == bytes32(0)) {
            if (c.job.status == JobStatus.Open) forfeited = (unfilled * collateral * LAPSE_FORFEIT_BPS) / BPS;
        } else if (c.job.status == JobStatus.Open && leaseEnd <= c.job.deadline) {
            uint256 randomness = _claimRandomness(seed, c.jobId, index);
            ClaimScan memory scan = ClaimScan({
                jobId: c.jobId,
                providerId: t.providerId,
                leaseEnd: leaseEnd,
                segmentCount: c.job.segmentCount,
                start: randomness % c.job.segmentCount,
                wanted: t.count,
                claimed: 0,
                inspected: 0,
                newlyTouched: 0,
                slots: new uint256[](t.count)
            });
            uint256[] memory slots = _drawClaims(c, scan, randomness);
            if (slots.length != 0) emit ReplicasClaimed(c.jobId, provider, leaseEnd, slots);
            unfilled -= slots.length;
        }
        if (unfilled == 0) return;
        IProviderRegistry.ProviderDelta memory d = _outcome(c, provider);
        d.unlock += uint128(unfilled * collateral - forfeited);
        if (forfeited != 0) {
            d.slash += uint128(forfeited);
            c.compensation += forfeited;
        }
        emit ClaimLapsed(c.jobId, provider, unfilled, forfeited);
    }

    /// @dev A ticket's randomness: its draws (`_drawClaims`) and its fallback scan's start. Segment
    /// choice lives here alone, so a VRF can replace the block hash on chains where it is weak: the
    /// claimer supplies nothing, and the seed block's hash was unknown when the request was signed.
    function _claimRandomness(bytes32 seed, uint256 jobId, uint256 index) internal pure virtual returns (uint256) {
        return uint256(keccak256(abi.encode(seed, jobId, index)));
    }

    /// @dev The lowest open segment in [from, limit), in at most three bitmap reads: the segment's
    /// word, else the next word that is not full (from its group word), else the next group that is
    /// not full (from the top word). Positions past the job's end read as open, so the first open
    /// position found is the lowest one; if it lies at or past `limit`, none is open in the range.
    function _nextOpen(uint256 jobId, uint256 from, uint256 limit) internal view returns (uint256 segment, bool found) {
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
    function _lowestBit(uint256 x) internal pure returns (uint256) {
        return Math.log2(x & (~x + 1));
    }

    /// @dev Takes a free slot of `segment` for the provider unless it already holds one there.
    function _tryClaim(Ctx memory c, ClaimScan memory scan, uint32 segment)
        internal
        returns (bool took, bool firstTouch)
    {
        uint256 jobId = scan.jobId;
        SegmentHeader h = _loadHeader(jobId, segment);
        if (h.slots() == 0) {
            h = h.withSlots(c.job.redundancy);
            firstTouch = true;
        }
        uint8 slots = h.slots();
        if (!_inPlay(h.status()) || h.assigned() >= slots) return (false, false);
        // An audited job's original (and tie-breaker) slots leave room before the deadline for the
        // quorum's reveals, an audit and its dispute: 2 leases + 3 reveal windows after the lease.
        if (
            c.job.auditBps != 0 && h.status() == SegmentStatus.Open
                && scan.leaseEnd + 2 * uint256(c.job.leaseDuration) + 3 * uint256(c.job.revealWindow) > c.job.deadline
        ) return (false, false);
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
            state: ReplicaState.Claimed,
            revealRound: 0
        });
        h = h.withAssigned(h.assigned() + 1);
        _storeHeader(jobId, segment, h);
        if (h.assigned() == slots) _setClosed(jobId, segment, true);
        scan.slots[scan.claimed] = (uint256(segment) << 8) | free;
        return (true, firstTouch);
    }

    function _providerIdOrAssign(address provider) internal returns (uint32 id) {
        id = _providerIds[provider];
        if (id == 0) {
            id = ++_providerCount;
            _providerIds[provider] = id;
            _providerAccounts[id] = provider;
        }
    }

    function _loadHeader(uint256 jobId, uint32 segment) internal view returns (SegmentHeader) {
        return SegmentHeaderLib.unpack(_segmentWords[jobId][segment >> 2], segment);
    }

    function _storeHeader(uint256 jobId, uint32 segment, SegmentHeader h) internal {
        mapping(uint256 => uint256) storage words = _segmentWords[jobId];
        words[segment >> 2] = SegmentHeaderLib.pack(words[segment >> 2], segment, h);
    }

    function _setClosed(uint256 jobId, uint32 segment, bool closed) internal {
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

    function _withBit(uint256 bits, uint256 index, bool set) internal pure returns (uint256) {
        uint256 mask = uint256(1) << index;
        return set ? bits | mask : bits & ~mask;
    }

    function _setFee(uint16 feeBps_) internal {
        if (feeBps_ > MAX_FEE_BPS) revert JobMarketFeeTooHigh(feeBps_, MAX_FEE_BPS);
        _feeBps = feeBps_;
        emit FeeChanged(feeBps_);
    }

    function _setTreasury(address treasury_) internal {
        if (treasury_ == address(0)) revert JobMarketZeroAddress();
        _treasury = treasury_;
        emit TreasuryChanged(treasury_);
    }
}
