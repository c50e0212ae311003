/// Which engine several SwiftPools agree through (`coordination`).
public enum CoordinationBackEnd: String, Sendable, Equatable {
    /// Pgpool-II's watchdog among the SwiftPools themselves (with `use_watchdog = on`).
    case watchdog
    /// An etcd cluster: a leased leader key and the backend status stored under `etcd_prefix`.
    case etcd
}

/// The etcd back end's settings (`coordination = 'etcd'` and the `etcd_*` parameters).
public struct EtcdConfig: Sendable, Equatable {
    public var enabled: Bool
    /// Client URLs of the etcd members (`http://host:port` or `https://host:port`).
    public var endpoints: [String]
    /// Where this fleet's keys live, without a trailing slash (`/swiftpool/prod`).
    public var prefix: String
    /// The lease time of the leader and member keys.
    public var ttl: Duration
    /// This member's name in the fleet (unique among the members sharing `prefix`).
    public var memberName: String
    /// The host and SQL port other members and operators see for this member.
    public var host: String
    public var pgpoolPort: Int
    /// etcd's user and password; an empty user means no authentication.
    public var username: String
    public var password: String
    /// TLS: the CA that signs etcd's certificates, and the client certificate and key (PEM files).
    public var caFile: String
    public var certFile: String
    public var keyFile: String
    /// The virtual IP and the commands around it, run by the lease holder.
    public var escalation: EscalationSettings
    /// As for the watchdog: no failover while etcd cannot be written; a failure needs reports
    /// from a majority of the members seen in etcd.
    public var failoverWhenQuorumExists: Bool
    public var failoverRequireConsensus: Bool
    public var allowMultipleFailoverRequestsFromNode: Bool

    public init(enabled: Bool, endpoints: [String], prefix: String, ttl: Duration, memberName: String, host: String, pgpoolPort: Int,
                username: String, password: String, caFile: String, certFile: String, keyFile: String,
                escalation: EscalationSettings, failoverWhenQuorumExists: Bool, failoverRequireConsensus: Bool,
                allowMultipleFailoverRequestsFromNode: Bool) {
        self.enabled = enabled
        self.endpoints = endpoints
        self.prefix = prefix
        self.ttl = ttl
        self.memberName = memberName
        self.host = host
        self.pgpoolPort = pgpoolPort
        self.username = username
        self.password = password
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
        self.escalation = escalation
        self.failoverWhenQuorumExists = failoverWhenQuorumExists
        self.failoverRequireConsensus = failoverRequireConsensus
        self.allowMultipleFailoverRequestsFromNode = allowMultipleFailoverRequestsFromNode
    }

    /// The etcd back end off.
    public static let disabled = EtcdConfig(
        enabled: false, endpoints: [], prefix: "/swiftpool/default", ttl: .seconds(30), memberName: "", host: "localhost",
        pgpoolPort: 9999, username: "", password: "", caFile: "", certFile: "", keyFile: "", escalation: .none,
        failoverWhenQuorumExists: true, failoverRequireConsensus: true, allowMultipleFailoverRequestsFromNode: false)

    /// Whether any endpoint is reached over TLS.
    public var usesTLS: Bool { endpoints.contains { $0.lowercased().hasPrefix("https://") } }
}
