import Watchdog

/// The etcd back end's decisions, with no I/O: which request to send to etcd next, when this
/// member leads, when it must let go of the virtual IP, and what it shows about the fleet. Every
/// event carries the time (seconds on a monotonic clock); the service sends the requests the
/// actions ask for and feeds their answers back as events.
///
/// Leadership is the leader key held under this member's lease. The lease is renewed every third
/// of its TTL; its deadline is counted from when the last successful renewal was *sent*, so it
/// never ends later here than in etcd. The member stops acting as leader (and de-escalates) a
/// margin before that deadline, so the virtual IP is down before another member can win the key.
public struct EtcdMachine: Sendable {
    public struct Settings: Sendable, Equatable {
        public var localName: String
        /// The lease TTL in seconds.
        public var ttl: Double
        public var failoverWhenQuorumExists: Bool
        public var failoverRequireConsensus: Bool
        public var allowMultipleFailoverRequestsFromNode: Bool

        public init(localName: String, ttl: Double, failoverWhenQuorumExists: Bool = true, failoverRequireConsensus: Bool = true,
                    allowMultipleFailoverRequestsFromNode: Bool = false) {
            self.localName = localName
            self.ttl = ttl
            self.failoverWhenQuorumExists = failoverWhenQuorumExists
            self.failoverRequireConsensus = failoverRequireConsensus
            self.allowMultipleFailoverRequestsFromNode = allowMultipleFailoverRequestsFromNode
        }

        /// Renewals: three per TTL.
        public var renewEvery: Double { ttl / 3 }
        /// How long before the lease deadline a leader lets go: a quarter of the TTL, at least
        /// half a second.
        public var margin: Double { max(0.5, ttl / 4) }
        /// How long one request to etcd may take.
        public var requestTimeout: Double { max(0.5, min(5, ttl / 4)) }
        /// Failure reports older than this no longer count as votes.
        public var voteLifetime: Double { max(30, 2 * ttl) }
    }

    public enum Event: Sendable, Equatable {
        case start
        case tick
        /// A lease was granted (`sentAt`: when the grant was sent).
        case leaseGranted(id: String, ttl: Double, sentAt: Double)
        /// A renewal answered: `ttl` nil means etcd no longer knows the lease.
        case renewed(ttl: Double?, sentAt: Double)
        /// This member's key was written.
        case registered
        /// The leader key transaction answered: won, or held by `holder`.
        case campaigned(won: Bool, holder: String?)
        /// A request to etcd failed (unreachable, timed out, refused).
        case requestFailed(EtcdRequestKind)
        /// A consistent read of every key of the fleet; a watch follows from there.
        case synced(leader: String?, members: [String: MemberRecord], backends: BackendsRecord?)
        /// Keys changed (from the watch), decoded.
        case leaderChanged(String?)
        case memberChanged(name: String, record: MemberRecord?)
        case backendsChanged(BackendsRecord)
        /// The watch ended; a new read and watch follow.
        case watchLost
        /// The member is stopping.
        case shutdown
    }

    public enum Action: Sendable, Equatable {
        case grantLease(ttl: Int)
        case renew(lease: String)
        case register(lease: String, escalated: Bool)
        case campaign(lease: String)
        case escalate
        case deEscalate
        /// Apply the leader's backend view here.
        case adopt(BackendView)
        /// This member just started leading: make etcd's backend view agree with it.
        case tookOver
        /// Stopping: give up the leader key (when held) and the lease.
        case release(lease: String, resign: Bool)
        case log(LogLevel, String)
    }

    public enum LogLevel: Sendable, Equatable {
        case info
        case warning
    }

    public let settings: Settings
    /// The lease this member holds (as far as it knows).
    public private(set) var lease: String?
    /// When the lease ends at the latest unless renewed.
    public private(set) var leaseDeadline: Double = 0
    /// The holder of the leader key as last seen; nil when the key is absent or unknown.
    public private(set) var leaderKey: String?
    /// The members' keys as last seen.
    public private(set) var members: [String: MemberRecord] = [:]
    /// Members whose key vanished, with the time.
    public private(set) var lostMembers: [String: Double] = [:]
    /// The leader's backend view as last seen.
    public private(set) var backends: BackendsRecord?
    /// Whether the last request to etcd succeeded.
    public private(set) var reachable = false
    /// Whether the keys were read and are being watched.
    public private(set) var synced = false
    public private(set) var escalated = false
    public private(set) var elections = 0
    public private(set) var vipChanges: (up: Int, down: Int) = (0, 0)
    private var started = false
    private var stopping = false
    private var registeredLease: String?
    private var registeredEscalation = false
    private var granting = false
    private var renewing = false
    private var registering = false
    private var campaigning = false
    private var lastRenewalSent = -Double.infinity
    private var lastGrantSent = -Double.infinity
    private var wasLeader = false
    var votes: [String: [(member: String, time: Double)]] = [:]

    public init(settings: Settings) {
        self.settings = settings
    }

    /// Whether this member leads now: it holds the leader key under a lease that is safely
    /// alive, and etcd answers.
    public func isLeader(now: Double) -> Bool {
        leaderKey == settings.localName && lease != nil && now < leaseDeadline - settings.margin
    }

    /// The fleet's leader as this member sees it.
    public var leader: String? { leaderKey }

    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .start:
            started = true
        case .tick:
            break
        case .leaseGranted(let id, let ttl, let sentAt):
            granting = false
            reachable = true
            lease = id
            leaseDeadline = sentAt + ttl
            lastRenewalSent = sentAt
            actions.append(.log(.info, "etcd: lease \(id) granted (\(Int(ttl)) s)"))
        case .renewed(let ttl, let sentAt):
            renewing = false
            reachable = true
            if let ttl {
                leaseDeadline = max(leaseDeadline, sentAt + ttl)
            } else if let lost = lease {
                actions.append(.log(.warning, "etcd: lease \(lost) expired; this member joins again with a new one"))
                lease = nil
                registeredLease = nil
                leaseDeadline = 0
            }
        case .registered:
            registering = false
            reachable = true
        case .campaigned(let won, let holder):
            campaigning = false
            reachable = true
            if won {
                leaderKey = settings.localName
            } else if let holder {
                leaderKey = holder
            }
        case .requestFailed(let kind):
            switch kind {
            case .grant: granting = false
            case .renew: renewing = false
            case .register:
                registering = false
                registeredLease = nil
            case .campaign: campaigning = false
            default: break
            }
            if reachable { actions.append(.log(.warning, "etcd: \(kind.rawValue) failed; etcd is unreachable or has no quorum")) }
            reachable = false
        case .synced(let leader, let seen, let record):
            reachable = true
            synced = true
            leaderKey = leader
            for name in members.keys where seen[name] == nil { lostMembers[name] = now }
            for name in seen.keys { lostMembers[name] = nil }
            members = seen
            if let record { actions += apply(record) }
        case .leaderChanged(let holder):
            if leaderKey != holder, let holder { actions.append(.log(.info, "etcd: the leader is \(holder)")) }
            leaderKey = holder
        case .memberChanged(let name, let record):
            if let record {
                if members[name] == nil, name != settings.localName { actions.append(.log(.info, "etcd: member \(name) joined")) }
                members[name] = record
                lostMembers[name] = nil
            } else if members.removeValue(forKey: name) != nil {
                if name != settings.localName {
                    lostMembers[name] = now
                    actions.append(.log(.warning, "etcd: member \(name) is lost"))
                } else {
                    registeredLease = nil
                }
            }
        case .backendsChanged(let record):
            actions += apply(record)
        case .watchLost:
            synced = false
        case .shutdown:
            stopping = true
            if escalated {
                escalated = false
                vipChanges.down += 1
                actions.append(.deEscalate)
            }
            if let lease { actions.append(.release(lease: lease, resign: leaderKey == settings.localName)) }
            return actions
        }
        guard started, !stopping else { return actions }
        actions += advance(now: now)
        return actions
    }

    private mutating func apply(_ record: BackendsRecord) -> [Action] {
        let changed = backends != record
        backends = record
        guard changed, record.leader != settings.localName else { return [] }
        return [.adopt(record.view)]
    }

    /// What the time calls for: renewals, a new lease, registration, a campaign, escalation.
    private mutating func advance(now: Double) -> [Action] {
        var actions: [Action] = []
        if let lease {
            if !renewing, now >= lastRenewalSent + settings.renewEvery {
                renewing = true
                lastRenewalSent = now
                actions.append(.renew(lease: lease))
            }
        } else if !granting, now >= lastGrantSent + settings.renewEvery {
            granting = true
            lastGrantSent = now
            actions.append(.grantLease(ttl: Int(settings.ttl.rounded())))
        }
        let leading = isLeader(now: now)
        if let lease, reachable, !registering, registeredLease != lease || registeredEscalation != escalatedAfter(leading) {
            registering = true
            registeredLease = lease
            registeredEscalation = escalatedAfter(leading)
            actions.append(.register(lease: lease, escalated: registeredEscalation))
        }
        if let lease, reachable, synced, leaderKey == nil, !campaigning {
            campaigning = true
            actions.append(.campaign(lease: lease))
        }
        if leading, !wasLeader {
            elections += 1
            actions.append(.log(.warning, "etcd: this member is now the leader"))
            actions.append(.tookOver)
        } else if !leading, wasLeader {
            actions.append(.log(.warning, leaderKey == settings.localName
                ? "etcd: this member cannot renew its lease in time and stops leading"
                : "etcd: this member is no longer the leader"))
        }
        wasLeader = leading
        if leading, synced, !escalated {
            escalated = true
            vipChanges.up += 1
            actions.append(.escalate)
        } else if !leading, escalated {
            escalated = false
            vipChanges.down += 1
            actions.append(.deEscalate)
        }
        return actions
    }

    private func escalatedAfter(_ leading: Bool) -> Bool { leading && synced }
}

/// The kinds of request sent to etcd, for counters and logs.
public enum EtcdRequestKind: String, Sendable, CaseIterable {
    case authenticate
    case grant
    case renew
    case register
    case campaign
    case range
    case watch
    case txn
    case release
}
