import Watchdog

/// A member's own key: what the others show about it.
public struct MemberRecord: Sendable, Codable, Equatable {
    public var name: String
    public var host: String
    public var pgpoolPort: Int
    /// The machine's host name, for Pgpool-II's node names.
    public var machine: String
    /// Wall-clock start time, seconds since 1970.
    public var started: Double
    /// Whether the member ran its escalation (holds the virtual IP when one is set).
    public var escalated: Bool

    public init(name: String, host: String, pgpoolPort: Int, machine: String, started: Double, escalated: Bool) {
        self.name = name
        self.host = host
        self.pgpoolPort = pgpoolPort
        self.machine = machine
        self.started = started
        self.escalated = escalated
    }
}

/// The backend status the leader decided, which every member applies.
public struct BackendsRecord: Sendable, Codable, Equatable {
    public var view: BackendView
    /// The member that wrote it.
    public var leader: String

    public init(view: BackendView, leader: String) {
        self.view = view
        self.leader = leader
    }
}

/// A backend change a member asks the leader for, and the leader's answer once decided.
public struct RequestRecord: Sendable, Codable, Equatable {
    public var from: String
    public var request: BackendChangeRequest
    /// The asking member's lease (the answer is written under it, so it vanishes with the member).
    public var lease: String
    public var outcome: BackendChangeOutcome?

    public init(from: String, request: BackendChangeRequest, lease: String, outcome: BackendChangeOutcome? = nil) {
        self.from = from
        self.request = request
        self.lease = lease
        self.outcome = outcome
    }
}
