/// A change of backend status, as the failover coordinator carries it out.
public enum BackendOperation: Sendable, Equatable {
    /// Take nodes out of service; `immediate` ends the sessions that use them at once.
    case detach([Int], reason: FailoverReason, immediate: Bool)
    /// Bring a node back (`failback_command`).
    case attach(Int)
    /// Make a node the primary, with or without a switchover.
    case promote(Int, switchover: Bool)
}

/// What a coordination back end decided about an operation asked on this member.
public enum CoordinationVerdict: Sendable {
    /// Carry it out here (no cluster, or this member leads and the cluster agrees).
    case local
    /// Another member (the leader) carried it out or refused it; its result spreads by itself.
    case remote(Result<Void, NodeOperationRefusal>)
    /// No quorum or no consensus: take the nodes out locally only (Pgpool-II's quarantine).
    case quarantine(String)
}

/// How several SwiftPools agree on backend changes: the failover coordinator asks before it acts,
/// so that failover_command runs once, on the member that leads, for the whole cluster.
public protocol ClusterCoordination: Sendable {
    /// Decides where `operation` runs. `confirmed` operations (an operator's, auto_failback)
    /// need neither quorum nor consensus.
    func route(_ operation: BackendOperation, confirmed: Bool) async -> CoordinationVerdict
}

extension CoordinationVerdict {
    /// There is no leader to ask, or it did not answer: an operator's (confirmed) operation fails
    /// with `why`; any other takes the nodes out locally (quarantine).
    public static func noLeader(_ why: String, confirmed: Bool) -> CoordinationVerdict {
        confirmed ? .remote(.failure(.noCoordinator(why))) : .quarantine(why)
    }
}
