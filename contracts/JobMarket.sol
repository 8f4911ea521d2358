// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IProviderRegistry} from "./interfaces/IProviderRegistry.sol";
import {JobMarketBase} from "./JobMarketBase.sol";
import {JobMarketExtension} from "./JobMarketExtension.sol";
import {EXTENSION_CREATION_CODE_HASH} from "./generated/ExtensionCodeHash.sol";
import {ProviderRegistry} from "./ProviderRegistry.sol";
import {SegmentHeader, SegmentHeaderLib} from "./libraries/SegmentHeader.sol";
import {FingerprintLib} from "./libraries/Fingerprint.sol";
import {JobRules} from "./JobRules.sol";
import {AgreementLib} from "./libraries/Agreement.sol";

/// @title JobMarket — escrowed render jobs settled by redundant-render agreement
/// @notice Behaviour, errors and events are documented in IJobMarketTypes. This code holds job creation,
/// claiming, commit, reveal and settlement, withdraw and the views; cancel, close, abandon, expire
/// and the admin paths run in JobMarketExtension by delegatecall (see JobMarketBase).
contract JobMarket is JobMarketBase, IJobMarket {
    using SafeERC20 for IERC20;
    using SegmentHeaderLib for SegmentHeader;

    /// @dev JobMarketExtension, deployed here with the same immutables from the creation code its
    /// blueprint holds, checked against EXTENSION_CREATION_CODE_HASH (see JobMarketBase).
    address private immutable _extension;
    /// @dev The agreement rule of a segment's replicas (JobRules), deployed here, immutable.
    JobRules private immutable _rules;

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
    /// @param extensionBlueprint the two JobMarketExtensionBlueprint parts (0 then 1): the creation
    /// code they hold must hash to EXTENSION_CREATION_CODE_HASH, so no deployer can bring other
    /// extension code
    constructor(
        IERC20 token_,
        uint64 unbondingDelay_,
        address admin,
        address treasury_,
        uint16 feeBps_,
        uint32 minLease_,
        uint32 minRevealWindow_,
        uint96 minCreditReward_,
        address[2] memory extensionBlueprint
    ) JobMarketBase(token_, _newRegistry(token_, unbondingDelay_), admin, minLease_, minRevealWindow_, minCreditReward_) {
        _extension = _deployExtension(
            extensionBlueprint, abi.encode(token_, _registry, admin, minLease_, minRevealWindow_, minCreditReward_)
        );
        _rules = new JobRules();
        emit CreditRuleSet(minCreditReward_);
        _setTreasury(treasury_);
        _setFee(feeBps_);
    }

    /// @dev The market's own registry, deployed before the base constructor runs (its address is an
    /// immutable there), after the zero-token check (a zero admin fails in Ownable's constructor).
    function _newRegistry(IERC20 token_, uint64 unbondingDelay_) private returns (IProviderRegistry) {
        if (address(token_) == address(0)) revert JobMarketZeroAddress();
        return new ProviderRegistry(token_, unbondingDelay_);
    }

    /// @dev Deploys JobMarketExtension from the creation code the two `parts` hold after their
    /// 0xFE byte (JobMarketExtensionBlueprint), refusing any code whose hash is not the compiled one.
    function _deployExtension(address[2] memory parts, bytes memory constructorArgs) private returns (address extension) {
        (uint256 first, uint256 second) = (parts[0].code.length, parts[1].code.length);
        if (first == 0 || second == 0) revert JobMarketInvalidExtensionBlueprint(first == 0 ? parts[0] : parts[1]);
        bytes memory creationCode = new bytes(first + second - 2);
        (address a, address b) = (parts[0], parts[1]);
        assembly ("memory-safe") {
            extcodecopy(a, add(creationCode, 32), 1, sub(first, 1))
            extcodecopy(b, add(add(creationCode, 32), sub(first, 1)), 1, sub(second, 1))
        }
        if (keccak256(creationCode) != EXTENSION_CREATION_CODE_HASH) revert JobMarketInvalidExtensionBlueprint(parts[0]);
        bytes memory initCode = abi.encodePacked(creationCode, constructorArgs);
        assembly ("memory-safe") {
            extension := create(0, add(initCode, 32), mload(initCode))
        }
        if (extension == address(0)) revert JobMarketInvalidExtensionBlueprint(parts[0]);
    }

    // ================================================================== requester

    /// @inheritdoc IJobMarket
    function createJob(JobParams calldata) external returns (uint256) {
        _delegate();
    }

    /// @inheritdoc IJobMarket
    function createJobWithPermit(JobParams calldata, uint256, uint8, bytes32, bytes32) external returns (uint256) {
        _delegate();
    }

    /// @inheritdoc IJobMarket
    function recordOutput(uint256, string calldata) external {
        _delegate();
    }

    // ================================================================== provider

    /// @inheritdoc IJobMarket
    function requestClaim(uint256, uint256) external {
        _delegate();
    }

    /// @inheritdoc IJobMarket
    function resolveClaims(uint256) external returns (uint256) {
        _delegate();
    }

    /// @inheritdoc IJobMarket
    function auditSegments(uint256 jobId, uint32[] calldata segments) external nonReentrant {
        _checkBatch(segments.length);
        Ctx memory c = _context(jobId);
        _resolveDueElsewhere(jobId); // an audit slot changes the open set
        for (uint256 i; i < segments.length; ++i) {
            uint32 segment = segments[i];
            _checkSegment(c, segment);
            SegmentHeader h = _loadHeader(jobId, segment);
            uint64 quorumBlock = h.revealDeadline();
            if (h.status() != SegmentStatus.Verifying || block.number <= quorumBlock) {
                revert JobMarketAuditNotDue(jobId, segment);
            }
            h = h.withRevealDeadline(0);
            bytes32 seed = blockhash(quorumBlock); // zero once 256 blocks old: then always audited
            if (seed == bytes32(0) || uint256(keccak256(abi.encode(seed, jobId, segment))) % BPS < c.job.auditBps) {
                bool open = c.job.status == JobStatus.Open;
                bool inTime = block.timestamp + c.job.leaseDuration <= c.job.deadline;
                bool claimable;
                if (open && inTime) (h, claimable) = _nextRoundIfRevealed(c, segment, h);
                if (claimable) {
                    uint8 slot = h.slots();
                    _storeHeader(jobId, segment, h.withStatus(SegmentStatus.Auditing).withSlots(slot + 1));
                    _setClosed(jobId, segment, false);
                    emit AuditOpened(jobId, segment, slot);
                    continue;
                }
                if (open && !inTime) {
                    // Drawn for an audit that can no longer run: nobody checked the result, so
                    // nobody is paid (the replicas draw their audit in the block after the quorum;
                    // one that waits for the deadline to dodge it gains nothing).
                    _releaseAll(c, segment, h.slots());
                    _refundUnits(c, _unitsPerSegment(c));
                    _storeHeader(jobId, segment, h.withStatus(SegmentStatus.Closed));
                    emit SegmentClosed(jobId, segment);
                    continue;
                }
            }
            _refundUnits(c, 1); // the audit unit
            _storeHeader(jobId, segment, _acceptAudited(c, _replicas[jobId][segment], segment, h, h.winner(), _originals(c)));
        }
        _settle(c);
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
        string[] memory resultCids = new string[](reveals.length);
        bytes[] memory fingerprints = new bytes[](reveals.length);
        for (uint256 i; i < reveals.length; ++i) {
            RevealInput calldata rv = reveals[i];
            slots[i] = (uint256(rv.segment) << 8) | rv.replica;
            digests[i] = rv.digest;
            resultCids[i] = rv.resultCid;
            fingerprints[i] = rv.fingerprint;
        }
        // Emitted before the verdicts it leads to (SegmentAccepted, ReplicaRejected, Credited).
        emit ReplicasRevealed(jobId, msg.sender, slots, digests, resultCids, fingerprints);
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

    // ================================================================== anyone

    /// @inheritdoc IJobMarket
    function withdraw() external {
        _delegate();
    }

    // ================================================================== admin

    // ================================================================== in JobMarketExtension

    /// @inheritdoc IJobMarket
    function cancelJob(uint256) external {
        _delegate();
    }

    /// @inheritdoc IJobMarket
    function closeSegments(uint256, uint32[] calldata) external {
        _delegate();
    }

    /// @inheritdoc IJobMarket
    function abandon(uint256, SlotRef[] calldata, AbandonReason, string calldata) external {
        _delegate();
    }

    /// @inheritdoc IJobMarket
    function expire(uint256, SlotRef[] calldata) external {
        _delegate();
    }

    /// @notice Schedules a new protocol fee (at most MAX_FEE_BPS) for jobs created once it is
    /// applied, no earlier than FEE_DELAY from now; replaces any fee scheduled before. Owner only.
    function scheduleFee(uint16) external {
        _delegate();
    }

    /// @inheritdoc IJobMarket
    function applyFee() external {
        _delegate();
    }

    /// @notice Sets the receiver of protocol fees credited from now on. Owner only.
    function setTreasury(address) external {
        _delegate();
    }

    /// @dev Resolves the job's due tickets in the extension (JobMarketExtension.resolveDueClaims).
    function _resolveDueElsewhere(uint256 jobId) private {
        (bool ok, bytes memory data) =
            _extension.delegatecall(abi.encodeCall(JobMarketExtension.resolveDueClaims, (jobId)));
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(data, 32), mload(data))
            }
        }
    }

    /// @dev Runs the extension's function of the same selector on this contract's storage and
    /// passes its result or revert through unchanged (OpenZeppelin Proxy's pattern).
    function _delegate() private {
        address extension = _extension;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), extension, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
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
            acceptedSeal: h.status() == SegmentStatus.Accepted ? _replicas[jobId][segment][h.winner()].seal : bytes20(0),
            round: h.round()
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
    function claimQueueOf(uint256 jobId)
        external
        view
        returns (uint256 createdBlock, uint256 head, Ticket[] memory waiting)
    {
        ClaimQueue memory q = _claimQueues[jobId];
        waiting = new Ticket[](q.tail - q.head);
        for (uint256 i; i < waiting.length; ++i) {
            StoredTicket memory t = i == 0 && q.firstCount != 0
                ? StoredTicket(q.firstProviderId, q.firstCount, q.firstSeedBlock)
                : _tickets[jobId][q.head + i];
            waiting[i] = Ticket(_providerAccounts[t.providerId], t.count, t.seedBlock);
        }
        return (q.createdBlock, q.head, waiting);
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

    // ================================================================== internal: settlement

    /// @dev Checks one reveal against its commitment, then settles the replica or tallies the segment.
    function _revealOne(Ctx memory c, uint32 providerId, RevealInput calldata rv) private returns (bool opened) {
        uint256 jobId = c.jobId;
        Replica storage rep = _heldReplica(c, rv.segment, rv.replica, providerId);
        SegmentHeader h = _loadHeader(jobId, rv.segment);
        if (bytes(rv.resultCid).length == 0) revert JobMarketEmptyResultCid(jobId, rv.segment);
        bool tolerant = c.job.verification == Verification.Tolerant;
        uint256 fingerprintLength = tolerant ? FingerprintLib.FINGERPRINT_BYTES : 0;
        if (rv.fingerprint.length != fingerprintLength) {
            revert JobMarketInvalidFingerprintLength(jobId, rv.segment, rv.fingerprint.length, fingerprintLength);
        }
        bytes32 fingerprintHash = tolerant ? keccak256(rv.fingerprint) : bytes32(0);
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
            bytes32 commitment = tolerant
                ? keccak256(abi.encode(rv.digest, fingerprintHash, rv.salt, msg.sender, jobId, rv.segment))
                : keccak256(abi.encode(rv.digest, rv.salt, msg.sender, jobId, rv.segment));
            if (bytes20(commitment) != rep.seal) revert JobMarketCommitmentMismatch(jobId, rv.segment, rv.replica);
        } else {
            revert JobMarketWrongReplicaState(jobId, rv.segment, rv.replica, state);
        }

        rep.seal = tolerant ? bytes20(fingerprintHash) : bytes20(_chainToRoundZero(rv.digest, h.round()));
        rep.state = ReplicaState.Revealed;
        if (h.round() != 0) rep.revealRound = h.round();
        h = h.withRevealed(h.revealed() + 1);

        if (h.status() == SegmentStatus.Accepted) {
            // A late reveal is judged against the accepted replica alone.
            uint8 pair = uint8((uint256(1) << h.winner()) | (uint256(1) << rv.replica));
            (,, uint8 agreeing) = _support(c, _replicas[jobId][rv.segment], h.slots(), rv, pair);
            _settleLate(c, rv.segment, rv.replica, rep, agreeing == pair);
            _clearIfResolved(c, rv.segment, h.slots());
        } else {
            h = h.status() == SegmentStatus.Open ? _tally(c, rv, h) : _auditTally(c, rv, h);
            // A tally that opened a tie-breaker or audit slots closed the window again, and a
            // Verifying segment's field holds its quorum block: nothing to announce.
            opened = opened && h.revealDeadline() != 0 && h.status() != SegmentStatus.Verifying;
        }
        _storeHeader(jobId, rv.segment, h);
    }

    /// @dev Link `round` of a digest chain hashed down to link 0 (IJobMarket.reveal): what replicas
    /// of every round compare on.
    function _chainToRoundZero(bytes32 link, uint8 round) private pure returns (bytes32) {
        for (uint8 i; i < round; ++i) {
            link = keccak256(abi.encode(link));
        }
        return link;
    }

    /// @dev Counts agreement after a reveal of an open segment; accepts, opens a tie-breaker or fails.
    function _tally(Ctx memory c, RevealInput calldata rv, SegmentHeader h) private returns (SegmentHeader) {
        uint256 unrevealed = h.slots() - h.revealed();
        // Fewer reveals than the quorum and more to come: nothing can be decided yet.
        if (h.revealed() < c.job.quorum && unrevealed != 0) return h;
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][rv.segment];
        uint8 revealed;
        for (uint8 k; k < h.slots(); ++k) {
            if (reps[k].state == ReplicaState.Revealed) revealed |= uint8(uint256(1) << k);
        }
        (uint8 winner, uint8 best, uint8 agreeing) = _support(c, reps, h.slots(), rv, revealed);
        if (best >= c.job.quorum) {
            if (c.job.auditBps != 0) {
                // Nobody is paid before the audit draw (auditSegments, seeded by this block's hash).
                emit SegmentVerifying(c.jobId, rv.segment, winner, agreeing);
                return h.withStatus(SegmentStatus.Verifying).withWinner(winner).withRevealDeadline(uint64(block.number));
            }
            emit SegmentAccepted(c.jobId, rv.segment, winner, agreeing);
            _settleAccepted(c, reps, rv.segment, h.slots(), agreeing, _originals(c));
            return h.withStatus(SegmentStatus.Accepted).withWinner(winner);
        }
        if (unrevealed != 0) return h; // waiting for the other reveals
        return _escalateOrFail(c, rv.segment, h);
    }

    /// @dev A reveal into an audited segment (Auditing or Disputed), once every slot revealed. The
    /// auditor agreeing with the accepted result settles it (the auditor paid from the audit unit);
    /// disagreeing opens two escalation slots in a new blind round. Disputed: the seal two of the
    /// three auditors share wins (the accepted replica if it is theirs, else the lowest slot that
    /// holds it); none shared fails the segment. An escalation that cannot open (the last blind
    /// round, the job not open, a lease past the deadline) leaves the accepted result standing and
    /// releases the auditor without a verdict.
    function _auditTally(Ctx memory c, RevealInput calldata rv, SegmentHeader h) private returns (SegmentHeader) {
        uint8 slots = h.slots();
        if (h.revealed() < slots) return h;
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][rv.segment];
        bytes20 accepted = reps[h.winner()].seal;
        if (h.status() == SegmentStatus.Auditing) {
            uint8 auditor = slots - 1;
            uint8 units = _originals(c) | uint8(uint256(1) << auditor);
            if (reps[auditor].seal == accepted) return _acceptAudited(c, reps, rv.segment, h, h.winner(), units);
            bool claimable;
            bool canEscalate = c.job.status == JobStatus.Open && block.timestamp + c.job.leaseDuration <= c.job.deadline;
            if (canEscalate) (h, claimable) = _nextRoundIfRevealed(c, rv.segment, h);
            if (!(canEscalate && claimable)) {
                _release(c, rv.segment, auditor, reps[auditor]);
                reps[auditor].state = ReplicaState.Settled;
                _refundUnits(c, 1);
                return _acceptAudited(c, reps, rv.segment, h, h.winner(), _originals(c));
            }
            _resolveDueElsewhere(c.jobId); // a due ticket meets the open set it was drawn against
            _setClosed(c.jobId, rv.segment, false);
            emit AuditDisputed(c.jobId, rv.segment, slots + ESCALATION_SLOTS);
            return h.withStatus(SegmentStatus.Disputed).withSlots(slots + ESCALATION_SLOTS).withRevealDeadline(0);
        }
        uint8 first = slots - 1 - ESCALATION_SLOTS;
        (bytes20 a0, bytes20 a1, bytes20 a2) = (reps[first].seal, reps[first + 1].seal, reps[first + 2].seal);
        bytes20 majority = a0 == a1 || a0 == a2 ? a0 : a1 == a2 ? a1 : bytes20(0);
        uint8 winner = h.winner();
        if (majority == bytes20(0)) {
            _releaseAll(c, rv.segment, slots);
            _refundUnits(c, 1); // the audit unit; the originals' stay forfeited (their results are public)
            emit SegmentFailed(c.jobId, rv.segment);
            return h.withStatus(SegmentStatus.Failed);
        }
        if (majority != accepted) {
            winner = 0;
            while (reps[winner].seal != majority) ++winner;
        }
        return _acceptAudited(c, reps, rv.segment, h, winner, _originals(c) | uint8(uint256(1) << first));
    }

    /// @dev Support over the replicas in `considered` (bit k = replica k, all revealed): the
    /// lowest-numbered replica with the highest support, that support and the bitmask of the
    /// replicas agreeing with it (JobRules.support: Exact, equal seals agree; Tolerant, this
    /// reveal's fingerprint and the peers' it passed are compared).
    function _support(
        Ctx memory c,
        mapping(uint8 => Replica) storage reps,
        uint8 slots,
        RevealInput calldata rv,
        uint8 considered
    ) private view returns (uint8, uint8, uint8) {
        bytes20[] memory seals = new bytes20[](slots);
        for (uint8 k; k < slots; ++k) {
            if ((considered >> k) & 1 != 0) seals[k] = reps[k].seal;
        }
        if (c.job.verification == Verification.Exact) return AgreementLib.exactBest(seals, considered);
        return _rules.support(
            c.jobId,
            rv.segment,
            c.job.verification,
            c.job.toleranceBps,
            rv.replica,
            rv.fingerprint,
            rv.peerFingerprints,
            seals,
            considered
        );
    }

    /// @dev Every slot revealed and no digest reached the quorum: open a tie-breaker slot while
    /// the job can still take claims, otherwise fail the segment (collateral back, budget forfeited).
    function _escalateOrFail(Ctx memory c, uint32 segment, SegmentHeader h) private returns (SegmentHeader) {
        uint8 slots = h.slots();
        bool canEscalate = h.tieBreakers() < MAX_TIE_BREAKERS && c.job.status == JobStatus.Open
            && block.timestamp + c.job.leaseDuration <= c.job.deadline;
        bool claimable;
        if (canEscalate) (h, claimable) = _nextRoundIfRevealed(c, segment, h);
        if (canEscalate && claimable) {
            _resolveDueElsewhere(c.jobId); // a due ticket meets the open set it was drawn against
            _setClosed(c.jobId, segment, false);
            emit TieBreakerOpened(c.jobId, segment, slots + 1);
            return h.withTieBreakers(h.tieBreakers() + 1).withSlots(slots + 1).withRevealDeadline(0);
        }
        _releaseAll(c, segment, slots);
        // Every slot revealed (the results are public) and they disagree: nobody may recover the
        // budget, or a requester disputing with its own replica would keep honest results for free.
        // It is forfeited: it stays in the job's escrow for good.
        emit SegmentFailed(c.jobId, segment);
        return h.withStatus(SegmentStatus.Failed);
    }

    /// @dev Returns every held replica's collateral without a verdict and clears the segment's slots
    /// (a segment that fails, or is closed unpaid).
    function _releaseAll(Ctx memory c, uint32 segment, uint8 slots) private {
        mapping(uint8 => Replica) storage reps = _replicas[c.jobId][segment];
        for (uint8 k; k < slots; ++k) {
            _release(c, segment, k, reps[k]);
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

    // ================================================================== internal: money verbs

    // ================================================================== internal: registry outcomes

    // ================================================================== internal: storage helpers
}
