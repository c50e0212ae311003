import Watchdog

/// Backend changes under etcd: only the leader decides, as under the watchdog.
extension EtcdMachine {
    public enum Decision: Sendable, Equatable {
        /// Carry it out on the leader; the new backend view goes to etcd.
        case perform
        /// Not now: the asking member quarantines the nodes locally.
        case quarantine(String)
        /// This member does not lead.
        case notLeader
    }

    /// Members whose key is in etcd, this one included: the electorate for consensus.
    public var aliveMembers: Int { max(1, Set(members.keys).union([settings.localName]).count) }

    /// Votes a failure needs: a majority of the alive members.
    public var requiredVotes: Int { aliveMembers / 2 + 1 }

    /// Decides a backend change asked by `member` (this one included). Confirmed requests
    /// (an operator's, auto_failback) need only leadership; failures need etcd to answer with
    /// `failover_when_quorum_exists`, and reports from a majority of the members with
    /// `failover_require_consensus`.
    public mutating func decide(_ request: BackendChangeRequest, from member: String, now: Double) -> Decision {
        guard isLeader(now: now) else { return .notLeader }
        if request.confirmed { return .perform }
        if settings.failoverWhenQuorumExists, !reachable {
            return .quarantine("etcd does not answer; no failover without it")
        }
        guard settings.failoverRequireConsensus else { return .perform }
        var cast = votes[request.voteKey] ?? []
        cast.removeAll { $0.time < now - settings.voteLifetime }
        if settings.allowMultipleFailoverRequestsFromNode || !cast.contains(where: { $0.member == member }) {
            cast.append((member, now))
        }
        let needed = requiredVotes
        if cast.count >= needed {
            votes[request.voteKey] = nil
            return .perform
        }
        votes[request.voteKey] = cast
        return .quarantine("\(cast.count) of \(needed) votes needed for consensus")
    }
}
