// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {JobMarket} from "../../contracts/JobMarket.sol";
import {ProviderRegistry} from "../../contracts/ProviderRegistry.sol";
import {RenderToken} from "../../contracts/RenderToken.sol";
import {IJobMarket, IJobMarketTypes} from "../../contracts/interfaces/IJobMarket.sol";
import {TestBase} from "./utils/Vm.sol";

/// @notice The restricted set of actions the invariant fuzzer may take: every protocol verb,
/// performed by a small cast (one requester, four providers, this handler as keeper), with
/// arguments steered towards valid calls so that deep states (tie-breakers, late reveals,
/// expiries, cancellations) are reached. Calls that may legitimately revert are wrapped in try.
contract MarketHandler is TestBase {
    RenderToken public immutable token;
    ProviderRegistry public immutable registry;
    JobMarket public immutable market;

    address public constant REQUESTER = address(0xBEEF);
    uint256 internal constant MAX_JOBS = 6;
    uint256 internal constant MAX_SEGMENTS = 4;

    address[] public providers;
    uint256[] public jobs;
    mapping(bytes32 slotKey => bytes32) internal _digests;
    mapping(bytes32 slotKey => bytes32) internal _salts;
    /// @dev Tolerant jobs: the fingerprint each slot's current holder committed to.
    mapping(bytes32 slotKey => bytes) internal _fingerprints;

    /// @notice Ghost counters: how far the fuzzer got (reported, not asserted).
    uint256 public ghostAccepted;
    uint256 public ghostTieBreakers;
    uint256 public ghostExpired;
    /// @notice Collateral forfeited by give-backs (abandon), checked against the slash and the requester credit.
    uint256 public ghostForfeited;

    bool internal _castReady;

    constructor(RenderToken token_, ProviderRegistry registry_, JobMarket market_) {
        token = token_;
        registry = registry_;
        market = market_;
    }

    /// @notice Funds, registers and stakes the cast; called once by the test after funding this
    /// handler (a second call, e.g. by the fuzzer, does nothing).
    function setUpCast() external {
        if (_castReady) return;
        _castReady = true;
        for (uint160 i = 1; i <= 4; ++i) providers.push(address(0x1000 + i));
        token.transfer(REQUESTER, 1_000_000 ether);
        vm.prank(REQUESTER);
        token.approve(address(market), type(uint256).max);
        for (uint256 i; i < providers.length; ++i) {
            address p = providers[i];
            token.transfer(p, 10_000 ether);
            vm.startPrank(p);
            token.approve(address(registry), type(uint256).max);
            registry.register("bafyprofile");
            registry.stake(2_000 ether);
            vm.stopPrank();
        }
    }

    // ------------------------------------------------------------------ actions

    function createJob(uint256 seed) external {
        if (jobs.length >= MAX_JOBS) return;
        uint8 redundancy = uint8(bound(seed, 1, 3));
        uint8 quorum = redundancy / 2 + 1;
        uint96 reward = uint96(bound(seed >> 8, 1, 50 ether));
        IJobMarketTypes.JobParams memory p = IJobMarketTypes.JobParams({
            manifestCid: "bafymanifest",
            segmentCount: uint32(bound(seed >> 16, 1, MAX_SEGMENTS)),
            redundancy: redundancy,
            quorum: quorum,
            rewardPerReplica: reward,
            collateralPerReplica: reward + uint96(bound(seed >> 24, 0, 50 ether)),
            leaseDuration: uint32(bound(seed >> 32, 60, 600)),
            revealWindow: uint32(bound(seed >> 48, 60, 600)),
            deadline: uint64(block.timestamp + bound(seed >> 64, 2_000, 20_000)),
            minReputation: 0,
            // Mostly accepts the current fee; sometimes a cap below it, which must refuse the job.
            maxFeeBps: (seed >> 96) % 4 == 1 ? uint16(bound(seed >> 100, 0, 1_000)) : uint16(1_000) /* MAX_FEE_BPS */,
            // One job in two is Tolerant, with a tolerance anywhere in its bounds.
            verification: (seed >> 120) % 2 == 0 ? IJobMarketTypes.Verification.Exact : IJobMarketTypes.Verification.Tolerant,
            toleranceBps: 0,
            auditBps: 0
        });
        if (p.verification == IJobMarketTypes.Verification.Tolerant) {
            p.toleranceBps = uint16(bound(seed >> 124, 1, 5_000 /* MAX_TOLERANCE_BPS */));
        } else if (uint256(keccak256(abi.encode(seed, "audit"))) % 2 == 0) {
            // One Exact job in two is audited (quorum = redundancy <= 2, collateral >= 2 rewards).
            p.redundancy = uint8(bound(seed >> 144, 1, 2));
            p.quorum = p.redundancy;
            p.collateralPerReplica = 2 * reward + uint96(bound(seed >> 152, 0, 50 ether));
            p.auditBps = uint16(bound(seed >> 160, 1, 10_000));
        }
        vm.prank(REQUESTER);
        try market.createJob(p) returns (uint256 jobId) {
            if (market.jobOf(jobId).feeBps > p.maxFeeBps) revert("a job was charged more than its maxFeeBps");
            jobs.push(jobId);
        } catch {}
    }

    /// @notice The owner schedules a new fee; after the delay anyone applies it (new jobs only).
    function changeFee(uint256 seed) external {
        vm.prank(market.owner());
        market.scheduleFee(uint16(bound(seed, 0, 1_000)));
        try market.applyFee() {
            revert("a fee applied before its delay");
        } catch {}
        vm.warp(block.timestamp + 3 days); // FEE_DELAY
        market.applyFee();
    }

    /// @notice Every provider, in a seeded order, asks for up to `count` slots of the job; a block
    /// later anyone resolves the tickets (none may claim in the job's creation block).
    function claim(uint256 jobSeed, uint256 providerSeed, uint256 count) external {
        if (jobs.length == 0) return;
        uint256 jobId = _job(jobSeed);
        _nextBlock(bytes32(providerSeed));
        for (uint256 i; i < providers.length; ++i) {
            vm.prank(_provider(providerSeed + i));
            try market.requestClaim(jobId, bound(count, 1, 6)) {} catch {}
        }
        _nextBlock(bytes32(providerSeed));
        market.resolveClaims(jobId);
    }

    /// @notice Every provider commits what it holds in the job, one batch each, as nodes do.
    function commit(uint256 jobSeed, uint256 cheatSeed) external {
        if (jobs.length == 0) return;
        uint256 jobId = _job(jobSeed);
        for (uint256 i; i < providers.length; ++i) _commitAll(jobId, providers[i], cheatSeed);
    }

    /// @notice Every provider reveals what it can in the job, one batch each.
    function reveal(uint256 jobSeed) external {
        if (jobs.length == 0) return;
        uint256 jobId = _job(jobSeed);
        for (uint256 i; i < providers.length; ++i) _revealAll(jobId, providers[i]);
    }

    function _commitAll(uint256 jobId, address p, uint256 cheatSeed) internal {
        IJobMarketTypes.SlotRef[] memory held = _held(jobId, p, IJobMarketTypes.ReplicaState.Claimed);
        IJobMarketTypes.CommitInput[] memory c = new IJobMarketTypes.CommitInput[](held.length);
        uint256 n;
        for (uint256 i; i < held.length; ++i) {
            if (block.timestamp > market.replicaOf(jobId, held[i].segment, held[i].replica).leaseEnd) continue;
            c[n++] = _prepareCommit(jobId, p, held[i], uint256(keccak256(abi.encode(cheatSeed, p, i))));
        }
        if (n == 0) return;
        assembly ("memory-safe") {
            mstore(c, n)
        }
        vm.prank(p);
        market.commit(jobId, c);
    }

    /// @dev Chooses the digest (one replica in six renders garbage: a digest of its own, so it
    /// never agrees with another) and salt, remembers them for the reveal, returns the commitment.
    /// Tolerant jobs: honest replicas' fingerprints differ from the segment's reference in at most
    /// a few blocks (as renders on different CPUs do), garbage ones almost everywhere.
    function _prepareCommit(uint256 jobId, address p, IJobMarketTypes.SlotRef memory ref, uint256 seed)
        internal
        returns (IJobMarketTypes.CommitInput memory)
    {
        bytes32 digest = seed % 6 == 0
            ? keccak256(abi.encode("garbage", jobId, ref.segment, p))
            : keccak256(abi.encode("pixels", jobId, ref.segment));
        bytes32 salt = keccak256(abi.encode(seed, "salt"));
        bytes32 key = _slotKey(jobId, ref.segment, ref.replica);
        _digests[key] = digest;
        _salts[key] = salt;
        if (market.jobOf(jobId).verification == IJobMarketTypes.Verification.Exact) {
            delete _fingerprints[key];
            return IJobMarketTypes.CommitInput(ref.segment, ref.replica, keccak256(abi.encode(digest, salt, p, jobId, ref.segment)));
        }
        bytes memory fp = _fingerprint(jobId, ref.segment, seed % 6 == 0 ? uint256(uint160(p)) : 0, seed % 4);
        _fingerprints[key] = fp;
        return IJobMarketTypes.CommitInput(
            ref.segment, ref.replica, keccak256(abi.encode(digest, keccak256(fp), salt, p, jobId, ref.segment))
        );
    }

    /// @dev A segment's reference fingerprint (variant 0), or a garbage one (another variant),
    /// with `changed` of its blocks altered.
    function _fingerprint(uint256 jobId, uint32 segment, uint256 variant, uint256 changed)
        internal
        pure
        returns (bytes memory fp)
    {
        fp = new bytes(256);
        for (uint256 w; w < 8; ++w) {
            bytes32 word = keccak256(abi.encode("fingerprint", jobId, segment, variant, w));
            for (uint256 b; b < 32; ++b) fp[w * 32 + b] = word[b];
        }
        for (uint256 i; i < changed; ++i) fp[(i * 37 + segment) % 256] ^= 0x01;
    }

    /// @dev The fingerprints the handler's providers committed to, for every slot of a segment.
    function _peerFingerprints(uint256 jobId, uint32 segment) internal view returns (bytes[] memory peers) {
        peers = new bytes[](market.segmentOf(jobId, segment).slots);
        for (uint8 k; k < peers.length; ++k) peers[k] = _fingerprints[_slotKey(jobId, segment, k)];
    }

    function _revealAll(uint256 jobId, address p) internal {
        IJobMarketTypes.SlotRef[] memory committed = _held(jobId, p, IJobMarketTypes.ReplicaState.Committed);
        IJobMarketTypes.SlotRef[] memory claimed = _held(jobId, p, IJobMarketTypes.ReplicaState.Claimed);
        IJobMarketTypes.RevealInput[] memory r = new IJobMarketTypes.RevealInput[](committed.length + claimed.length);
        uint256 n;
        for (uint256 i; i < committed.length; ++i) {
            IJobMarketTypes.SegmentView memory seg = market.segmentOf(jobId, committed[i].segment);
            if (seg.revealDeadline == 0 || block.timestamp > seg.revealDeadline) continue;
            bytes32 key = _slotKey(jobId, committed[i].segment, committed[i].replica);
            r[n++] = IJobMarketTypes.RevealInput(
                committed[i].segment,
                committed[i].replica,
                _digests[key],
                _salts[key],
                "bafyresult",
                _fingerprints[key],
                _peerFingerprints(jobId, committed[i].segment)
            );
        }
        // A claimed replica whose peers are all sealed reveals directly, without a commitment.
        for (uint256 i; i < claimed.length; ++i) {
            IJobMarketTypes.SlotRef memory ref = claimed[i];
            IJobMarketTypes.SegmentView memory seg = market.segmentOf(jobId, ref.segment);
            if (seg.committed + 1 != seg.slots) continue;
            if (block.timestamp > market.replicaOf(jobId, ref.segment, ref.replica).leaseEnd) continue;
            _prepareCommit(jobId, p, ref, uint256(keccak256(abi.encode(p, ref.segment, n)))); // picks the digest
            bytes32 key = _slotKey(jobId, ref.segment, ref.replica);
            r[n++] = IJobMarketTypes.RevealInput(
                ref.segment,
                ref.replica,
                _digests[key],
                bytes32(0),
                "bafyresult",
                _fingerprints[key],
                _peerFingerprints(jobId, ref.segment)
            );
        }
        if (n == 0) return;
        assembly ("memory-safe") {
            mstore(r, n)
        }
        uint256 accepted = _countStatus(jobId, IJobMarketTypes.SegmentStatus.Accepted);
        uint256 tieBreakers = _countTieBreakers(jobId);
        vm.prank(p);
        market.reveal(jobId, r);
        ghostAccepted += _countStatus(jobId, IJobMarketTypes.SegmentStatus.Accepted) - accepted;
        ghostTieBreakers += _countTieBreakers(jobId) - tieBreakers;
    }

    function abandon(uint256 jobSeed, uint256 providerSeed) external {
        if (jobs.length == 0) return;
        uint256 jobId = _job(jobSeed);
        address p = _provider(providerSeed);
        IJobMarketTypes.SlotRef[] memory held = _held(jobId, p, IJobMarketTypes.ReplicaState.Claimed);
        if (held.length == 0) return;
        // What the give-back must forfeit: ABANDON_FORFEIT_BPS of the collateral pro rata of the lease used.
        IJobMarketTypes.JobView memory job = market.jobOf(jobId);
        uint256 forfeit;
        for (uint256 i; i < held.length; ++i) {
            uint64 leaseEnd = market.replicaOf(jobId, held[i].segment, held[i].replica).leaseEnd;
            if (block.timestamp > leaseEnd) return; // expirable, not abandonable
            uint256 remaining = leaseEnd - block.timestamp;
            uint256 elapsed = remaining >= job.leaseDuration ? 0 : job.leaseDuration - remaining;
            forfeit += (uint256(job.collateralPerReplica) * 5_000 /* ABANDON_FORFEIT_BPS */ * elapsed) / (10_000 * uint256(job.leaseDuration));
        }
        uint256 stakedBefore = registry.providerOf(p).staked;
        uint256 requesterBefore = market.balanceOf(REQUESTER);
        uint32 abandonedBefore = registry.providerOf(p).abandoned;
        IJobMarketTypes.AbandonReason reason = IJobMarketTypes.AbandonReason(uint8(jobSeed % 7));
        vm.prank(p);
        market.abandon(jobId, held, reason, "");
        // A scene fault is the requester's: it costs no reputation (issue 9.9).
        uint256 counted = reason == IJobMarketTypes.AbandonReason.SceneFault ? 0 : held.length;
        if (registry.providerOf(p).abandoned != abandonedBefore + counted) revert("a give-back was counted wrongly");
        ghostForfeited += forfeit;
        if (stakedBefore - registry.providerOf(p).staked != forfeit) revert("an abandon slashed other than its forfeit");
        if (market.balanceOf(REQUESTER) - requesterBefore != forfeit) revert("an abandon's forfeit did not reach the requester");
        // The abandoner cannot take the same segments back at once (hostage slots, issue 9.4).
        _nextBlock(bytes32(jobSeed));
        vm.prank(p);
        try market.requestClaim(jobId, held.length) {} catch {}
        _nextBlock(bytes32(jobSeed));
        market.resolveClaims(jobId);
        for (uint256 i; i < held.length; ++i) {
            for (uint8 k; k < 4; ++k) {
                IJobMarketTypes.ReplicaView memory rep = market.replicaOf(jobId, held[i].segment, k);
                if (rep.provider == p && rep.state == IJobMarketTypes.ReplicaState.Claimed) {
                    revert("an abandoner re-claimed the segment it gave back");
                }
            }
        }
    }

    function expire(uint256 jobSeed, uint256 segmentSeed, uint256 replicaSeed) external {
        if (jobs.length == 0) return;
        uint256 jobId = _job(jobSeed);
        uint32 segment = uint32(segmentSeed % market.jobOf(jobId).segmentCount);
        IJobMarketTypes.SlotRef[] memory refs = new IJobMarketTypes.SlotRef[](1);
        refs[0] = IJobMarketTypes.SlotRef(segment, uint8(replicaSeed % 4));
        try market.expire(jobId, refs) {
            ++ghostExpired;
        } catch {}
    }

    function cancel(uint256 jobSeed) external {
        if (jobs.length == 0) return;
        vm.prank(REQUESTER);
        try market.cancelJob(_job(jobSeed)) {} catch {}
    }

    /// @notice Anyone draws the audit of a segment that reached quorum in an audited job.
    function audit(uint256 jobSeed, uint256 segmentSeed) external {
        if (jobs.length == 0) return;
        uint256 jobId = _job(jobSeed);
        uint32[] memory segments = new uint32[](1);
        segments[0] = uint32(segmentSeed % market.jobOf(jobId).segmentCount);
        try market.auditSegments(jobId, segments) {} catch {}
    }

    function closeSegment(uint256 jobSeed, uint256 segmentSeed) external {
        if (jobs.length == 0) return;
        uint256 jobId = _job(jobSeed);
        uint32[] memory segments = new uint32[](1);
        segments[0] = uint32(segmentSeed % market.jobOf(jobId).segmentCount);
        try market.closeSegments(jobId, segments) {} catch {}
    }

    function withdraw(uint256 actorSeed) external {
        address actor = _actor(actorSeed);
        vm.prank(actor);
        try market.withdraw() {} catch {}
    }

    function stake(uint256 providerSeed, uint256 amount) external {
        vm.prank(_provider(providerSeed));
        registry.stake(bound(amount, 1, 100 ether));
    }

    function requestUnstake(uint256 providerSeed, uint256 amount) external {
        address p = _provider(providerSeed);
        uint256 free = registry.freeStake(p);
        if (free == 0) return;
        vm.prank(p);
        registry.requestUnstake(bound(amount, 1, free));
    }

    function withdrawStake(uint256 providerSeed) external {
        vm.prank(_provider(providerSeed));
        try registry.withdrawStake() {} catch {}
    }

    function warp(uint256 secondsSeed) external {
        vm.warp(block.timestamp + bound(secondsSeed, 1, 900));
    }

    // ------------------------------------------------------------------ views for invariants

    function jobCount() external view returns (uint256) {
        return jobs.length;
    }

    function providerCount() external view returns (uint256) {
        return providers.length;
    }

    /// @notice Everyone who can hold a market balance in this game.
    function actorCount() external view returns (uint256) {
        return providers.length + 3;
    }

    function actorAt(uint256 i) public view returns (address) {
        if (i < providers.length) return providers[i];
        if (i == providers.length) return REQUESTER;
        if (i == providers.length + 1) return address(this); // keeper
        return market.treasury();
    }

    // ------------------------------------------------------------------ internal

    function _job(uint256 seed) internal view returns (uint256) {
        return jobs[seed % jobs.length];
    }

    function _provider(uint256 seed) internal view returns (address) {
        return providers[seed % providers.length];
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actorAt(seed % (providers.length + 3));
    }

    function _slotKey(uint256 jobId, uint32 segment, uint8 replica) internal pure returns (bytes32) {
        return keccak256(abi.encode(jobId, segment, replica));
    }

    /// @dev Every replica of `p` in `jobId` that is in `state`.
    function _held(uint256 jobId, address p, IJobMarketTypes.ReplicaState state)
        internal
        view
        returns (IJobMarketTypes.SlotRef[] memory refs)
    {
        uint32 segments = market.jobOf(jobId).segmentCount;
        refs = new IJobMarketTypes.SlotRef[](segments * 4);
        uint256 n;
        for (uint32 segment; segment < segments; ++segment) {
            for (uint8 replica; replica < 4; ++replica) {
                IJobMarketTypes.ReplicaView memory rep = market.replicaOf(jobId, segment, replica);
                if (rep.provider == p && rep.state == state) refs[n++] = IJobMarketTypes.SlotRef(segment, replica);
            }
        }
        assembly ("memory-safe") {
            mstore(refs, n)
        }
    }

    function _countStatus(uint256 jobId, IJobMarketTypes.SegmentStatus status) internal view returns (uint256 n) {
        uint32 segments = market.jobOf(jobId).segmentCount;
        for (uint32 s; s < segments; ++s) {
            if (market.segmentOf(jobId, s).status == status) ++n;
        }
    }

    function _countTieBreakers(uint256 jobId) internal view returns (uint256 n) {
        uint32 segments = market.jobOf(jobId).segmentCount;
        for (uint32 s; s < segments; ++s) n += market.segmentOf(jobId, s).tieBreakers;
    }
}
