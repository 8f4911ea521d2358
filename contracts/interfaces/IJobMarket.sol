// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IJobMarket — escrowed render jobs settled by redundant-render agreement
/// @notice The path of one job:
/// 1. `createJob` escrows `segments * redundancy * (reward + fee)` from the requester.
/// 2. Providers `requestClaim` replica slots: the request locks `collateralPerReplica` per slot
///    and queues a ticket; in a later block the ticket resolves (`resolveClaims`, or in passing),
///    and the contract draws its segments from the request block's hash, unknown when the request
///    was signed, over the open segments. It never gives one provider two live replicas of one
///    segment. Each assigned slot starts a lease.
/// 3. Before its lease ends a provider `commit`s `keccak256(abi.encode(digest, salt, provider,
///    jobId, segment))` for each replica it rendered; in a Tolerant job
///    `keccak256(abi.encode(digest, keccak256(fingerprint), salt, provider, jobId, segment))`.
/// 4. When every slot of a segment is committed its reveal window opens (`RevealsOpened`). Providers
///    `reveal` digest, salt and result CID. A replica whose peers are all committed already may
///    reveal without committing (a commitment would hide its digest from nobody); that reveal opens
///    the window for the others. Once `quorum` replicas revealed (or all did), agreement is counted:
///    Exact jobs compare digests, Tolerant jobs compare fingerprints within the job's
///    `toleranceBps` (see FingerprintLib). A replica's support is the number of revealed replicas
///    that agree with it, itself included; the accepted result is the lowest-numbered replica with
///    the highest support, once that support reaches `quorum` (never the replica whose reveal
///    completed the quorum). Replicas that agree with it are paid, the other revealed ones lose
///    their collateral; a replica revealing after acceptance is judged against the accepted one.
/// 5. If no digest can reach the quorum any more, one tie-breaker slot opens, paid from the
///    collateral of whoever turns out wrong; if the segment still finds no quorum it fails:
///    collateral is released and its budget forfeited (left in escrow for good: its results are
///    public, so a refund would let a disputing requester keep them for free; see SegmentFailed).
/// 6. Leases and reveal windows that pass unused can be expired by anyone: the slot reopens and
///    the collateral goes to the requester (minus a keeper fee for the caller).
/// 7. Payments, refunds and compensations credit internal balances; everyone `withdraw`s.
///
/// On-chain storage keeps only the first 160 bits of commitments and digests ("seals"); full
/// values travel in events. Two different digests share a seal only after ~2^80 work.
/// Claims, commits and reveals emit one event per call listing their slots, so a batch pays
/// one log, not one per replica. Once a segment is settled and no replica can still reveal,
/// its replica slots are cleared (a storage refund); the events are the permanent record.
/// @notice IJobMarket's types, errors and events, shared by JobMarket and its extension (which
/// implements only part of the functions, so it cannot inherit IJobMarket itself).
interface IJobMarketTypes {
    /// @notice Lifecycle of a job.
    enum JobStatus {
        None, // no such job
        Open, // accepting claims until its deadline
        Cancelled // requester cancelled: no new claims; untouched segments refunded, claimed ones run out
    }

    /// @notice Lifecycle of a segment.
    enum SegmentStatus {
        Open, // replica slots being claimed, committed and revealed
        Accepted, // quorum reached; digest and result CID emitted; late reveals still settle
        Failed, // every slot revealed, no quorum, no tie-breaker left: budget forfeited, nobody paid
        Closed, // ended by `closeSegments` without a quorum: unrevealed units refunded, revealed ones paid or forfeited
        Verifying, // audited job: quorum reached, nobody paid yet; `auditSegments` draws whether it is audited
        Auditing, // one audit slot open (a blind round): an auditor re-renders the segment
        Disputed // the auditor disagreed: two more audit slots; the auditors' majority decides
    }

    /// @notice Lifecycle of one replica slot of a segment.
    enum ReplicaState {
        Empty, // free for a claim; a slot emptied by `abandon` keeps its last holder and lease end (replicaOf), who may not claim the segment again until leaseEnd + leaseDuration
        Claimed, // held under lease; awaiting the commitment
        Committed, // commitment stored; awaiting the reveal window
        Revealed, // digest public; awaiting the quorum decision
        Settled // paid, slashed or released while a sibling may still reveal; the slot is cleared (Empty) once none can
    }

    /// @notice Why an internal balance was credited. Escrow-funded kinds reduce the job's escrow.
    enum CreditKind {
        Reward, // escrow -> provider whose digest agreed
        Fee, // escrow -> treasury, protocol fee of a paid replica
        Refund, // escrow -> requester, budget of a replica that will not be paid
        TieBreakerReward, // seized collateral -> tie-breaker whose digest agreed
        Compensation, // seized collateral -> requester
        KeeperFee, // seized collateral -> whoever called `expire`
        RefusalFee // escrow -> the first provider that gave a segment back as SceneFault, when the segment closes unrendered
    }

    /// @notice How a job's replicas are compared (JobRules.support).
    enum Verification {
        Exact, // equal pixel digests (same engine build, same processor kind)
        Tolerant // fingerprints that agree within the job's toleranceBps (honest cross-CPU differences pass)
    }

    /// @notice Why a provider gave a claimed slot back (`abandon`), so the requester sees it.
    enum AbandonReason {
        Unspecified, // no reason given
        SceneFault, // the scene does not render: the engine's error (parse error, missing file, no camera)
        SceneUnavailable, // the scene or manifest could not be fetched or is not what the job says
        RenderTimeout, // the render ran past the provider's time limit
        OutOfResources, // the render needs more memory or disk than the provider offers
        TooLittleTime, // the provider cannot finish within the lease
        ProviderStopping // the provider is shutting down or paused
    }

    /// @notice Parameters of a new job.
    struct JobParams {
        string manifestCid; // IPFS CID of the manifest (engine, scene, size, frames, tiling)
        uint32 segmentCount; // segments in the manifest's plan
        uint8 redundancy; // replicas per segment, 1..MAX_REDUNDANCY
        uint8 quorum; // equal digests needed, redundancy/2 < quorum <= redundancy
        uint96 rewardPerReplica; // paid to each agreeing replica
        uint96 collateralPerReplica; // locked per claimed replica; >= rewardPerReplica
        uint32 leaseDuration; // seconds from claim to commit, minLease()..MAX_LEASE
        uint32 revealWindow; // seconds from reveal opening to reveal, minRevealWindow()..MAX_REVEAL_WINDOW
        uint64 deadline; // no claims after deadline - leaseDuration; unsettled budget refundable after
        uint16 minReputation; // providers below this score (basis points) cannot claim
        uint16 maxFeeBps; // highest protocol fee the requester accepts; createJob reverts above it
        Verification verification; // how replicas are compared
        uint16 toleranceBps; // Tolerant: share of compared fingerprint blocks that may differ, 1..MAX_TOLERANCE_BPS; Exact: 0
        // Share of accepted segments re-rendered by a drawn auditor before anyone is paid, in basis
        // points (see `auditSegments`); 0 = no audits. Audits need an Exact job with quorum =
        // redundancy <= MAX_AUDITED_REDUNDANCY and collateral >= AUDIT_COLLATERAL_MULTIPLE x reward;
        // the escrow holds one more unit per segment (the auditor's), refunded when not audited.
        uint16 auditBps;
    }

    /// @notice One replica, addressed by segment and slot index.
    struct SlotRef {
        uint32 segment;
        uint8 replica;
    }

    /// @notice A claim request waiting to resolve (`requestClaim`, `claimQueueOf`).
    struct Ticket {
        address provider;
        uint8 count; // slots asked for (their collateral is locked)
        uint40 seedBlock; // the request's block: its hash draws the slots
    }

    /// @notice One commitment of a batch.
    struct CommitInput {
        uint32 segment;
        uint8 replica;
        bytes32 commitment;
    }

    /// @notice One reveal of a batch.
    struct RevealInput {
        uint32 segment;
        uint8 replica;
        bytes32 digest;
        bytes32 salt;
        string resultCid;
        bytes fingerprint; // Tolerant job: the FINGERPRINT_BYTES fingerprint of the result; Exact job: empty
        // Tolerant job: entry k is the fingerprint replica k revealed (its ReplicasRevealed event),
        // for every other replica of the segment that revealed already; other entries may be empty
        // and the array may be shorter than the slots. Needed when this reveal counts agreement
        // (quorum reached or last reveal) or the segment is already accepted. Exact job: ignored.
        bytes[] peerFingerprints;
    }

    /// @notice A job as stored.
    struct JobView {
        address requester;
        JobStatus status;
        uint32 segmentCount;
        uint32 segmentsTouched;
        uint8 redundancy;
        uint8 quorum;
        Verification verification;
        uint16 feeBps;
        uint16 minReputation;
        uint96 rewardPerReplica;
        uint96 collateralPerReplica;
        uint32 leaseDuration;
        uint32 revealWindow;
        uint64 deadline;
        uint128 escrow;
        uint16 toleranceBps;
        uint16 auditBps;
    }

    /// @notice A segment as stored.
    struct SegmentView {
        SegmentStatus status;
        uint8 slots; // redundancy + tie-breakers opened
        uint8 assigned; // slots held (claimed, committed or revealed)
        uint8 committed; // slots committed or revealed
        uint8 revealed; // slots revealed
        uint8 tieBreakers;
        uint64 revealDeadline; // 0 while the reveal window is not open; Verifying: the quorum's block number (the audit draw's seed)
        bytes20 acceptedSeal; // the accepted replica's seal while a late replica may still reveal; 0 otherwise
        uint8 round; // blind round (see `reveal`): the digest chain link a reveal now carries
    }

    /// @notice A replica slot as stored.
    struct ReplicaView {
        address provider;
        ReplicaState state;
        uint64 leaseEnd;
        bytes20 seal; // commitment prefix while Committed; once Revealed the digest prefix (Exact) or keccak256(fingerprint) prefix (Tolerant)
    }

    // ---------------------------------------------------------------- errors

    error JobMarketEmptyManifest();
    error JobMarketInvalidSegmentCount(uint256 segmentCount, uint256 max);
    error JobMarketInvalidRedundancy(uint8 redundancy, uint8 max);
    error JobMarketInvalidQuorum(uint8 quorum, uint8 redundancy);
    error JobMarketZeroReward();
    error JobMarketCollateralBelowReward(uint96 collateral, uint96 reward);
    error JobMarketInvalidLease(uint32 leaseDuration, uint32 min, uint32 max);
    error JobMarketInvalidRevealWindow(uint32 revealWindow, uint32 min, uint32 max);
    error JobMarketInvalidDeadline(uint64 deadline, uint64 earliest, uint64 latest);
    error JobMarketInvalidMinReputation(uint16 minReputation, uint16 max);
    error JobMarketUnknownJob(uint256 jobId);
    error JobMarketJobNotOpen(uint256 jobId);
    error JobMarketClaimWindowClosed(uint256 jobId, uint64 lastClaimAt);
    error JobMarketInvalidClaimCount(uint256 count, uint256 max);
    /// @notice A claim request in the job's creation block: retry from block `fromBlock`.
    error JobMarketTooEarly(uint256 jobId, uint256 fromBlock);
    /// @notice MAX_QUEUED_TICKETS claim requests of this job are waiting: `resolveClaims`, then retry.
    error JobMarketClaimQueueFull(uint256 jobId);
    /// @notice The caller gave a slot of this job back and may not request claims on it before `until`.
    error JobMarketGiveBackCooldown(uint256 jobId, uint64 until);
    error JobMarketEmptyBatch();
    error JobMarketBatchTooLarge(uint256 length, uint256 max);
    error JobMarketInvalidSegment(uint256 jobId, uint32 segment);
    error JobMarketInvalidReplica(uint256 jobId, uint32 segment, uint8 replica);
    error JobMarketNotReplicaHolder(uint256 jobId, uint32 segment, uint8 replica, address caller);
    error JobMarketWrongReplicaState(uint256 jobId, uint32 segment, uint8 replica, ReplicaState state);
    error JobMarketLeaseExpired(uint256 jobId, uint32 segment, uint64 leaseEnd);
    error JobMarketZeroCommitment(uint256 jobId, uint32 segment);
    error JobMarketRevealNotOpen(uint256 jobId, uint32 segment);
    error JobMarketRevealWindowClosed(uint256 jobId, uint32 segment, uint64 revealDeadline);
    error JobMarketCommitmentMismatch(uint256 jobId, uint32 segment, uint8 replica);
    error JobMarketEmptyResultCid(uint256 jobId, uint32 segment);
    error JobMarketNotExpirable(uint256 jobId, uint32 segment, uint8 replica);
    error JobMarketNotRequester(uint256 jobId, address caller);
    error JobMarketSegmentNotClosable(uint256 jobId, uint32 segment);
    error JobMarketNothingToWithdraw(address account);
    error JobMarketFeeTooHigh(uint16 feeBps, uint16 max);
    /// @notice The current fee is above the job's `maxFeeBps` (the fee changed since the requester looked).
    error JobMarketFeeAboveMax(uint16 feeBps, uint16 maxFeeBps);
    /// @notice `applyFee` with no fee scheduled.
    error JobMarketNoFeeScheduled();
    /// @notice `applyFee` before the scheduled fee's delay has passed.
    error JobMarketFeeNotDue(uint64 effectiveAt);
    error JobMarketZeroAddress();
    /// @notice The constructor's extension blueprint holds no code, or code other than the
    /// JobMarketExtension creation code whose hash JobMarket was compiled with.
    error JobMarketInvalidExtensionBlueprint(address blueprint);
    /// @notice A deployment's minimum lease or reveal window is outside [floor, max].
    error JobMarketInvalidTimingMinimum(uint32 minimum, uint32 floor, uint32 max);
    /// @notice The token delivered less than was pulled (a fee-on-transfer or rebasing token):
    /// such tokens are refused, as escrow is accounted at face value.
    error JobMarketTransferShortfall(uint256 expected, uint256 received);
    error JobMarketAbandonDetailTooLong(uint256 length, uint256 max);

    /// @notice A Tolerant job needs 1..max (`max` = MAX_TOLERANCE_BPS); an Exact job needs 0 (`max` = 0).
    error JobMarketInvalidTolerance(Verification verification, uint16 toleranceBps, uint16 max);
    /// @notice `auditBps` above 10,000, or audits asked of a job that cannot have them: they need an
    /// Exact job whose quorum equals its redundancy, at most MAX_AUDITED_REDUNDANCY.
    error JobMarketInvalidAudit(uint16 auditBps, Verification verification, uint8 redundancy, uint8 quorum);
    /// @notice An audited job needs collateral of at least AUDIT_COLLATERAL_MULTIPLE rewards (a
    /// losing auditor's collateral pays the two escalation auditors).
    error JobMarketAuditCollateralTooLow(uint96 collateralPerReplica, uint256 minimum);
    /// @notice `auditSegments` on a segment that is not Verifying, or in the block that accepted it
    /// (its audit draw uses that block's hash).
    error JobMarketAuditNotDue(uint256 jobId, uint32 segment);
    /// @notice A reveal's fingerprint must be FINGERPRINT_BYTES long in a Tolerant job and empty in an Exact one.
    error JobMarketInvalidFingerprintLength(uint256 jobId, uint32 segment, uint256 length, uint256 expected);
    /// @notice The reveal had to compare with replica `replica`'s fingerprint but `peerFingerprints`
    /// lacks it or holds another one: pass the fingerprint from that replica's ReplicasRevealed
    /// event (a peer may have revealed in the same block: read the events again and retry).
    error JobMarketPeerFingerprintInvalid(uint256 jobId, uint32 segment, uint8 replica);

    // ---------------------------------------------------------------- events

    /// @notice A job was posted and its escrow pulled. Carries every parameter, so provider nodes
    /// (which filter jobs by it) and auditors (who rebuild escrow from it) never read storage.
    event JobCreated(
        uint256 indexed jobId, address indexed requester, JobParams params, uint16 feeBps, uint256 escrow
    );
    /// @notice A provider asked for `count` replica slots of the job (`requestClaim`); `count` x
    /// collateral is locked now, and the slots are drawn when the ticket resolves, from the hash of
    /// `seedBlock` (the request's own block, unknown when the request was signed).
    event ClaimRequested(uint256 indexed jobId, address indexed provider, uint256 count, uint256 seedBlock);
    /// @notice `unfilled` slots of a provider's ticket were not assigned: no open segment took them,
    /// the job stopped taking claims, or the ticket lapsed (its seed block's hash was no longer
    /// available, MAX_TICKET_AGE blocks). Their collateral is released but for `forfeited`, which a
    /// lapse on an open job costs (LAPSE_FORFEIT_BPS; to the requester): waiting to see where a
    /// ticket would land and letting it lapse is never free.
    event ClaimLapsed(uint256 indexed jobId, address indexed provider, uint256 unfilled, uint256 forfeited);
    /// @notice A provider was assigned replica slots (one event per resolved ticket). Each entry of
    /// `slots` is `segment << 8 | replica`. Watched by that provider's node to render them.
    event ReplicasClaimed(uint256 indexed jobId, address indexed provider, uint64 leaseEnd, uint256[] slots);
    /// @notice Commitments were stored for `slots` (`segment << 8 | replica`), one event per `commit`.
    event ReplicasCommitted(uint256 indexed jobId, address indexed provider, uint256[] slots);
    /// @notice Every slot of these segments is committed: their replicas may reveal until
    /// `revealDeadline`. Watched by provider nodes to send their reveals.
    event RevealsOpened(uint256 indexed jobId, uint64 revealDeadline, uint32[] segments);
    /// @notice Replicas revealed (`digests[i]`, `resultCids[i]` and `fingerprints[i]` belong to
    /// `slots[i]`, `segment << 8 | replica`; fingerprints are empty in Exact jobs). Watched by
    /// provider nodes (a Tolerant reveal passes its peers' fingerprints), requesters (every agreeing
    /// replica's result is a candidate for compositing) and auditors. Once its segment is accepted,
    /// a revealed replica that agrees with the accepted one was paid (see `Credited`), one that does
    /// not was rejected (`ReplicaRejected`).
    event ReplicasRevealed(
        uint256 indexed jobId,
        address indexed provider,
        uint256[] slots,
        bytes32[] digests,
        string[] resultCids,
        bytes[] fingerprints
    );
    /// @notice The segment reached quorum. `replica` is the accepted result (the lowest-numbered
    /// replica with the highest support, never chosen by whoever completed the quorum); `agreeing`
    /// is the bitmask (bit k = replica k) of the revealed replicas that agree with it, all paid.
    /// Digests, result CIDs and fingerprints are in their ReplicasRevealed events. Watched by
    /// requesters to composite (the accepted result first, the other agreeing ones as fallbacks),
    /// by auditors to re-check them.
    event SegmentAccepted(uint256 indexed jobId, uint32 indexed segment, uint8 replica, uint8 agreeing);
    /// @notice Audited job: the segment reached quorum (`replica`, `agreeing` as in SegmentAccepted)
    /// but nobody is paid yet: from the next block `auditSegments` draws whether it is audited
    /// (with probability auditBps / 10,000, from this block's hash). Results stay sealed until
    /// SegmentAccepted.
    event SegmentVerifying(uint256 indexed jobId, uint32 indexed segment, uint8 replica, uint8 agreeing);
    /// @notice The segment is audited: slot `slot` opened for a drawn auditor, in a new blind round.
    event AuditOpened(uint256 indexed jobId, uint32 segment, uint8 slot);
    /// @notice The auditor disagreed with the accepted result: two more audit slots opened (`slots`
    /// in total), in a new blind round. Two agreeing auditors of the three decide.
    event AuditDisputed(uint256 indexed jobId, uint32 segment, uint8 slots);
    /// @notice A replica's digest lost the quorum: its collateral was seized.
    event ReplicaRejected(
        uint256 indexed jobId, uint32 segment, uint8 replica, address indexed provider, uint256 slashed
    );
    /// @notice A lease or reveal window passed unused: collateral seized, slot reopened when possible.
    event ReplicaExpired(
        uint256 indexed jobId,
        uint32 segment,
        uint8 replica,
        address indexed provider,
        address keeper,
        uint256 slashed
    );
    /// @notice The provider gave its claim back before its lease ended: collateral returned but for
    /// `forfeited`, the part of it the lease already used cost (ABANDON_FORFEIT_BPS pro rata of the
    /// lease elapsed), credited to the requester as Compensation. The slot reopens for others; the
    /// provider may not claim this segment again until its lease would have ended plus one lease.
    /// `reason` and `detail` (at most MAX_ABANDON_DETAIL bytes, e.g. the engine's error line) say why.
    event ReplicaAbandoned(
        uint256 indexed jobId,
        uint32 segment,
        uint8 replica,
        address indexed provider,
        AbandonReason reason,
        string detail,
        uint256 forfeited
    );
    /// @notice Collateral returned without a verdict (segment failed or closed through no fault of the replica).
    event ReplicaReleased(uint256 indexed jobId, uint32 segment, uint8 replica, address indexed provider);
    /// @notice No digest can reach quorum: one more slot opened (`slots` in total).
    event TieBreakerOpened(uint256 indexed jobId, uint32 segment, uint8 slots);
    /// @notice A slot of `segment` opened after some of its replicas revealed in the current round
    /// (Exact jobs): round `round` begins; its replicas reveal link `round` of their digest chain
    /// (see `reveal`).
    event BlindRoundOpened(uint256 indexed jobId, uint32 segment, uint8 round);
    /// @notice Every slot revealed, no digest reached the quorum and no tie-breaker can open (none
    /// left, the job cancelled, or its lease would end past the deadline): collateral released,
    /// nobody paid, the segment's budget forfeited (it stays in the job's escrow for good) —
    /// its results are public, so refunding it would let a requester who disputes with its own
    /// replica keep them for free.
    event SegmentFailed(uint256 indexed jobId, uint32 segment);
    /// @notice Segment ended by `closeSegments` (after cancellation or the job deadline) without a quorum.
    event SegmentClosed(uint256 indexed jobId, uint32 segment);
    /// @notice The requester cancelled; `refunded` is the budget of untouched segments.
    event JobCancelled(uint256 indexed jobId, uint256 refunded);
    /// @notice The requester recorded the composited output.
    event OutputRecorded(uint256 indexed jobId, string outputCid);
    /// @notice An internal balance grew. `jobId` says which job the money came from; escrow-funded
    /// kinds (Reward, Fee, Refund) reduce that job's escrow. Credits of one kind to one account
    /// within one transaction are summed into one event.
    event Credited(address indexed account, uint256 indexed jobId, CreditKind kind, uint256 amount);
    /// @notice An internal balance was paid out.
    event Withdrawn(address indexed account, uint256 amount);
    /// @notice The protocol fee for new jobs changed (at deployment, then by `applyFee`).
    event FeeChanged(uint16 feeBps);
    /// @notice A new fee was scheduled; `applyFee` makes it the fee for new jobs from `effectiveAt`.
    event FeeScheduled(uint16 feeBps, uint64 effectiveAt);
    /// @notice The fee recipient changed.
    event TreasuryChanged(address treasury);
    /// @notice Emitted once, at deployment: accepted replicas of a reward below `minCreditReward`
    /// (a deployment parameter, fixed for good), and those of a job the provider posted itself,
    /// are paid but earn no reputation (`accepted` in the registry). Read by the sdk's fold, which
    /// counts reputation the way the registry does; the market has no getter for it (code size).
    event CreditRuleSet(uint96 minCreditReward);

}

/// @notice The market's functions (types, errors and events in IJobMarketTypes). Read the path of
/// one job above.
interface IJobMarket is IJobMarketTypes {
    // ---------------------------------------------------------------- requester

    /// @notice Posts a job and pulls its escrow (approve first). Returns the job id.
    function createJob(JobParams calldata params) external returns (uint256 jobId);
    /// @notice Posts a job, paying with an EIP-2612 permit instead of a prior approval.
    function createJobWithPermit(JobParams calldata params, uint256 permitDeadline, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint256 jobId);
    /// @notice Stops new claims and refunds the budget of segments nobody ever claimed.
    function cancelJob(uint256 jobId) external;
    /// @notice Ends segments that can no longer settle: after the job deadline; after a
    /// cancellation for segments whose slots are not all held; or, at any time, a segment whose
    /// reveal window never opened while a committed replica has waited COMMIT_WAIT_LEASES leases
    /// past its own lease end (its peers never all committed: the wait of honest collateral is
    /// bounded). Anyone may call. Expired replicas are seized, the others released. A unit whose
    /// replica revealed never returns to the requester (its result is public): it is forfeited (left
    /// in the job's escrow for good), so that neither a cancellation nor a dispute profits anybody.
    /// Only the other units are refunded.
    function closeSegments(uint256 jobId, uint32[] calldata segments) external;
    /// @notice Records the composited output's CID (requester only).
    function recordOutput(uint256 jobId, string calldata outputCid) external;

    // ---------------------------------------------------------------- provider

    /// @notice Asks for `count` (1..MAX_BATCH) replica slots of `jobId`: locks `count` x
    /// collateral now and queues a ticket seeded by this block. Nobody can know where a ticket lands
    /// when it is signed: its slots are drawn when it resolves, in a later block, from this block's
    /// hash (`_claimRandomness`, a hook for a VRF on chains whose block hashes are weak), over the
    /// open segments. Due tickets of the job resolve first-in first-out, at most MAX_BATCH slots per
    /// call, at the start of every call that changes which segments are open (this one, `abandon`,
    /// `expire`, `closeSegments`, a `reveal` that opens a tie-breaker) and in `resolveClaims`: neither
    /// the requester nor anyone else can choose the open set a due ticket meets. Not in the job's
    /// creation block (JobMarketTooEarly), nor within one lease of the caller's last give-back on this
    /// job (JobMarketGiveBackCooldown): re-drawing by giving slots back costs time.
    function requestClaim(uint256 jobId, uint256 count) external;
    /// @notice Resolves the job's due tickets (anyone may call; a provider calls it a block after
    /// its request). Returns the number of tickets resolved (0 if none was due).
    function resolveClaims(uint256 jobId) external returns (uint256 resolved);
    /// @notice Audited jobs: for each listed Verifying segment, from the block after its quorum,
    /// draws from the quorum block's hash whether it is audited (probability auditBps / 10,000; a
    /// hash older than 256 blocks always audits, so waiting never avoids an audit). Not audited:
    /// the segment is accepted and settled (the audit unit refunded). Audited: one audit slot opens
    /// in a new blind round (AuditOpened), taken through claim tickets like any slot; an auditor
    /// that agrees is paid from the audit unit and the segment is accepted; one that disagrees
    /// opens two more slots (AuditDisputed); then the digest two of the three auditors share wins:
    /// if it is not the accepted one, the replicas that agreed on it are slashed, their units
    /// refunded, and the auditors paid from the audit unit and the seized collateral; if it is, the
    /// dissenting auditor pays the two escalation auditors. No two auditors agreeing fails the
    /// segment. An audit drawn when its slot's lease would end past the deadline (of an open job)
    /// closes the segment unpaid: collateral released, every unit refunded (SegmentClosed) — so
    /// waiting to draw gains nothing; an audited job's original slots stop taking claims 2 leases
    /// + 3 reveal windows before the deadline, leaving an honest segment room for its audit. If an
    /// audit can open no slot for another reason (last blind round, job cancelled), the segment is
    /// accepted as it stands. Anyone may call; the segment's replicas do, the block after the quorum.
    function auditSegments(uint256 jobId, uint32[] calldata segments) external;
    /// @notice Stores commitments for replicas the caller holds, before their leases end.
    function commit(uint256 jobId, CommitInput[] calldata commits) external;
    /// @notice Reveals digests, salts, result CIDs and (Tolerant jobs) fingerprints; settles every
    /// segment that reaches quorum.
    /// A committed replica reveals while its segment's window is open (salt checked against the
    /// commitment); a claimed, uncommitted replica may reveal before its lease ends when every other
    /// slot of its segment is committed (salt ignored), which opens the window for the others.
    /// Blind rounds (Exact jobs): a replica revealing in round k reveals link k of a hash chain
    /// over its pixels, d_MAX_ROUND = the pixel digest, d_(k-1) = keccak256(d_k), and the market
    /// stores d_0 = keccak256^k(d_k) as its seal, so replicas of different rounds compare as
    /// before. A slot that opens after some replica revealed in the current round (a tie-breaker,
    /// a slot whose holder missed the reveal) starts the next round (BlindRoundOpened): its new
    /// holder must reveal a link deeper than any revealed so far, which nobody can compute from a
    /// revealed digest, only from the pixels. At the last round no such slot opens (the segment
    /// fails instead).
    function reveal(uint256 jobId, RevealInput[] calldata reveals) external;
    /// @notice Gives back claimed, uncommitted replicas before their leases end. Collateral is
    /// returned but for ABANDON_FORFEIT_BPS of it pro rata of the lease already elapsed (to the
    /// requester), and the caller may not claim the same segment again before its lease would have
    /// ended plus one more lease: holding slots by abandoning and re-claiming costs stake for every
    /// second held, and the slots go to others. `reason` and `detail` (at most MAX_ABANDON_DETAIL
    /// bytes) are published in ReplicaAbandoned for the requester. A give-back for `SceneFault` is
    /// not counted against the provider's reputation, and the first provider that gives a segment
    /// back for it is owed SCENE_FAULT_FEE_BPS of one reward from the segment's budget if the
    /// segment is closed without being rendered (if anyone renders it, the claim was false: no fee).
    function abandon(uint256 jobId, SlotRef[] calldata slots, AbandonReason reason, string calldata detail) external;

    // ---------------------------------------------------------------- anyone

    /// @notice Expires replicas whose lease passed without a commit, or whose reveal window passed
    /// without a reveal. The caller earns KEEPER_FEE_BPS of the seized collateral. Expiring one
    /// replica that missed an open segment's reveal window expires every replica of that segment
    /// that missed it (they share the deadline); listing those too in the same call is no error.
    function expire(uint256 jobId, SlotRef[] calldata slots) external;
    /// @notice Pays out the caller's internal balance.
    function withdraw() external;
    /// @notice Makes the scheduled fee the fee for new jobs once its delay has passed (anyone may call).
    function applyFee() external;

    // ---------------------------------------------------------------- views

    function token() external view returns (address);
    function registry() external view returns (address);
    /// @notice Shortest lease a job may ask for, fixed at deployment (JobMarketInvalidLease below it).
    function minLease() external view returns (uint32);
    /// @notice Shortest reveal window a job may ask for, fixed at deployment.
    function minRevealWindow() external view returns (uint32);
    function treasury() external view returns (address);
    /// @notice The protocol fee charged on jobs created now (each job keeps the fee it was created with).
    function feeBps() external view returns (uint16);
    /// @notice The scheduled fee and the earliest time `applyFee` can apply it; (0, 0) when none.
    function pendingFee() external view returns (uint16 feeBps, uint64 effectiveAt);
    function jobCount() external view returns (uint256);
    function jobOf(uint256 jobId) external view returns (JobView memory);
    function segmentOf(uint256 jobId, uint32 segment) external view returns (SegmentView memory);
    function replicaOf(uint256 jobId, uint32 segment, uint8 replica) external view returns (ReplicaView memory);
    /// @notice The job's block of creation and its waiting tickets, oldest first (`head` is the
    /// index of the first, the event order of ClaimRequested).
    function claimQueueOf(uint256 jobId) external view returns (uint256 createdBlock, uint256 head, Ticket[] memory waiting);
    function balanceOf(address account) external view returns (uint256);
    /// @notice Sum of all internal balances not yet withdrawn.
    function totalBalances() external view returns (uint256);
    /// @notice Sum of all job escrows not yet paid out or refunded.
    function totalEscrow() external view returns (uint256);
}
