import Foundation
import Watchdog

/// The JSON document of Pgpool-II's `W` reply, which `pcp_watchdog_info` parses and prints.
enum PCPWatchdogInfo {
    private struct Cluster: Encodable {
        var RemoteNodeCount: Int
        var MemberRemoteNodeCount: Int
        var NodesRequireForQuorum: Int
        var QuorumStatus: Int
        var AliveNodeCount: Int
        var Escalated: Int
        var LeaderNodeName: String
        var LeaderHostName: String
        var NodeCount: Int
        var WatchdogNodes: [Node]
    }

    private struct Node: Encodable {
        var ID: Int
        var State: Int
        var Membership: Int
        var MembershipString: String
        var NodeName: String
        var HostName: String
        var StateName: String
        var DelegateIP: String
        var WdPort: Int
        var PgpoolPort: Int
        var Priority: Int
    }

    /// Every member (local first) for index -1, else the member with that id; nil when none has it.
    static func json(_ report: WatchdogReport, index: Int) -> String? {
        let members = index == -1 ? report.members : report.members.filter { $0.id == index }
        guard !members.isEmpty else { return nil }
        let leader = report.leader
        let cluster = Cluster(
            RemoteNodeCount: report.remoteCount, MemberRemoteNodeCount: report.memberRemoteCount,
            NodesRequireForQuorum: report.requiredMembers, QuorumStatus: report.quorum.rawValue,
            AliveNodeCount: report.aliveRemoteCount, Escalated: report.escalated ? 1 : 0,
            LeaderNodeName: leader?.nodeName ?? "Not Set", LeaderHostName: leader?.host ?? "Not Set",
            NodeCount: members.count,
            WatchdogNodes: members.map { member in
                Node(ID: member.id, State: member.state.rawValue, Membership: member.membership.rawValue,
                     MembershipString: member.membership.name, NodeName: member.nodeName, HostName: member.host,
                     StateName: member.state.name, DelegateIP: report.delegateIP.isEmpty ? "Not Set" : report.delegateIP,
                     WdPort: member.wdPort, PgpoolPort: member.pgpoolPort, Priority: member.priority)
            })
        guard let data = try? JSONEncoder().encode(cluster) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
