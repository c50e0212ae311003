import Configuration
import Watchdog

/// The fleet as the admin surfaces show it, in the watchdog's terms: the members seen in etcd
/// (and those whose key vanished, as LOST), the leader, and "quorum" meaning etcd answers.
extension EtcdMachine {
    /// This member's state in Pgpool-II's numbers.
    public func localState(now: Double) -> WatchdogState {
        if !reachable { return .inNetworkTrouble }
        if isLeader(now: now) { return .leader }
        if lease == nil { return .joining }
        return leaderKey == nil ? .standingForLeader : .standby
    }

    /// 1 (etcd answers and a leader holds the key), −2 (no leader) or −1 (etcd does not answer).
    public var quorum: QuorumStatus {
        if !reachable { return .absent }
        return leaderKey == nil ? .noLeader : .exists
    }

    /// - Parameters:
    ///   - local: this member's own record (it shows even before etcd has it).
    ///   - requests: requests sent to etcd, keyed `kind|result`.
    ///   - failoverRequests: backend changes decided as leader, by result.
    public func report(now: Double, local: MemberRecord, delegateIP: String, requests: [String: Int],
                       failoverRequests: [String: Int]) -> WatchdogReport {
        var records = members
        records[settings.localName] = local
        let names = Set(records.keys).union(lostMembers.keys).sorted()
        let localState = localState(now: now)
        let fleet: [WatchdogReport.Member] = names.enumerated().map { index, name in
            let record = records[name]
            let isLocal = name == settings.localName
            let state: WatchdogState = isLocal ? localState : record == nil ? .lost : name == leaderKey ? .leader : .standby
            let host = record?.host ?? String(name.split(separator: ":").first ?? Substring(name))
            return WatchdogReport.Member(
                id: index, name: name,
                nodeName: "\(host):\(record?.pgpoolPort ?? 0) Linux \(record?.machine ?? host)",
                host: host, wdPort: 0, pgpoolPort: record?.pgpoolPort ?? 0, priority: 0, state: state,
                membership: record == nil ? .revokedLost : .member, alive: record != nil, isLocal: isLocal,
                escalated: isLocal ? escalated : record?.escalated ?? false,
                heartbeatAge: isLocal || record != nil ? nil : lostMembers[name].map { now - $0 })
        }
        return WatchdogReport(
            enabled: true, members: fleet, state: localState, leaderName: leaderKey, quorum: quorum,
            votingMembers: aliveMembers, aliveMembers: reachable ? aliveMembers : 1, requiredMembers: requiredVotes,
            escalated: escalated, delegateIP: delegateIP, elections: elections, vipUp: vipChanges.up, vipDown: vipChanges.down,
            rejected: [:], failoverRequests: failoverRequests, backEnd: .etcd, etcdRequests: requests, etcdReachable: reachable)
    }
}
