import AdminCore
import Configuration
import Foundation
import Watchdog

/// `/api/v1/watchdog`, `/api/v1/watchdog/leader` and the external life check.
extension AdminRouter {
    struct WatchdogMemberModel: Encodable {
        var id: Int
        var name: String
        var nodeName: String
        var host: String
        var wdPort: Int
        var pgpoolPort: Int
        var priority: Int
        var state: String
        var stateCode: Int
        var membership: String
        var alive: Bool
        var local: Bool
        var escalated: Bool
        var heartbeatAgeSeconds: Double?

        enum CodingKeys: String, CodingKey {
            case id, name, nodeName, host, wdPort, pgpoolPort, priority, state, stateCode, membership, alive, local, escalated
            case heartbeatAgeSeconds
        }

        /// Like the synthesized encoding, but `heartbeat_age_seconds` is `null` rather than absent.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(name, forKey: .name)
            try container.encode(nodeName, forKey: .nodeName)
            try container.encode(host, forKey: .host)
            try container.encode(wdPort, forKey: .wdPort)
            try container.encode(pgpoolPort, forKey: .pgpoolPort)
            try container.encode(priority, forKey: .priority)
            try container.encode(state, forKey: .state)
            try container.encode(stateCode, forKey: .stateCode)
            try container.encode(membership, forKey: .membership)
            try container.encode(alive, forKey: .alive)
            try container.encode(local, forKey: .local)
            try container.encode(escalated, forKey: .escalated)
            try container.encode(heartbeatAgeSeconds, forKey: .heartbeatAgeSeconds)
        }
    }

    struct WatchdogLeaderModel: Encodable {
        var id: Int
        var name: String
        var host: String
    }

    struct WatchdogQuorumModel: Encodable {
        var status: Int
        var text: String
        var members: Int
        var alive: Int
        var required: Int
    }

    struct WatchdogModel: Encodable {
        var enabled: Bool
        var localId: Int?
        var state: String?
        var stateCode: Int?
        var leader: WatchdogLeaderModel?
        var quorum: WatchdogQuorumModel?
        var escalated: Bool?
        var delegateIp: String?
        var elections: Int?
        var vipChanges: Int?
        var members: [WatchdogMemberModel]?
        var backEnd: String?
        var etcd: EtcdModel?

        enum CodingKeys: String, CodingKey {
            case enabled, localId, state, stateCode, leader, quorum, escalated, delegateIp, elections, vipChanges, members, backEnd, etcd
        }

        /// Without a watchdog only `enabled`; with one every key, `leader` `null` when there is none.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(enabled, forKey: .enabled)
            guard enabled else { return }
            try container.encode(localId, forKey: .localId)
            try container.encode(state, forKey: .state)
            try container.encode(stateCode, forKey: .stateCode)
            try container.encode(leader, forKey: .leader)
            try container.encode(quorum, forKey: .quorum)
            try container.encode(escalated, forKey: .escalated)
            try container.encode(delegateIp, forKey: .delegateIp)
            try container.encode(elections, forKey: .elections)
            try container.encode(vipChanges, forKey: .vipChanges)
            try container.encode(members, forKey: .members)
            try container.encode(backEnd, forKey: .backEnd)
            try container.encodeIfPresent(etcd, forKey: .etcd)
        }
    }

    /// What only the etcd back end reports: whether etcd answers, and the requests sent to it.
    struct EtcdModel: Encodable {
        var reachable: Bool
        var requests: [String: Int]
    }

    struct LeaderCheckModel: Encodable {
        var leader: Bool
        var watchdog: Bool
        var state: String?
        var quorum: String?
    }

    static func watchdogModel(_ report: WatchdogReport) -> WatchdogModel {
        guard report.enabled else { return WatchdogModel(enabled: false) }
        return WatchdogModel(
            enabled: true, localId: report.local?.id, state: report.state.name, stateCode: report.state.rawValue,
            leader: report.leader.map { WatchdogLeaderModel(id: $0.id, name: $0.name, host: $0.host) },
            quorum: WatchdogQuorumModel(status: report.quorum.rawValue, text: report.quorum.text, members: report.votingMembers,
                                        alive: report.aliveMembers, required: report.requiredMembers),
            escalated: report.escalated, delegateIp: report.delegateIP, elections: report.elections,
            vipChanges: report.vipUp + report.vipDown,
            members: report.members.map { member in
                WatchdogMemberModel(
                    id: member.id, name: member.name, nodeName: member.nodeName, host: member.host, wdPort: member.wdPort,
                    pgpoolPort: member.pgpoolPort, priority: member.priority, state: member.state.name, stateCode: member.state.rawValue,
                    membership: member.membership.name, alive: member.alive, local: member.isLocal, escalated: member.escalated,
                    heartbeatAgeSeconds: member.heartbeatAge.map { ($0 * 1000).rounded() / 1000 })
            },
            backEnd: report.backEnd.rawValue,
            etcd: report.backEnd == .etcd ? EtcdModel(reachable: report.etcdReachable, requests: report.etcdRequests) : nil)
    }

    /// 200 only on the member a load balancer should send clients to: the watchdog leader with
    /// quorum, or a SwiftPool without a watchdog. Needs no credentials, like `/readyz`.
    func leaderCheck(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            return .error(405, "method_not_allowed", "use GET", headers: [("Allow", "GET, HEAD")])
        }
        let report = services.watchdogReport
        guard report.enabled else { return .json(LeaderCheckModel(leader: true, watchdog: false)) }
        let active = report.isActiveLeader
        return .json(LeaderCheckModel(leader: active, watchdog: true, state: report.state.name, quorum: report.quorum.text),
                     status: active ? 200 : 503)
    }

    /// `POST /api/v1/watchdog/members/{id}/lifecheck` with `{"alive": true|false}` (only with
    /// `wd_lifecheck_method = external`).
    func externalLifecheck(_ request: HTTPRequest, memberText: String) -> HTTPResponse {
        guard request.method == "POST" else { return .error(405, "method_not_allowed", "use POST", headers: [("Allow", "POST")]) }
        guard let watchdog = services.coordination, services.watchdogReport.backEnd == .watchdog else {
            return .error(409, "watchdog_disabled", "use_watchdog is off")
        }
        guard services.config().watchdog.lifecheckMethod == .external else {
            return .error(409, "not_external", "wd_lifecheck_method is not external; members are checked by SwiftPool itself")
        }
        guard let id = Int(memberText) else { return .error(400, "bad_request", "member id must be an integer: \(memberText)") }
        struct Body: Decodable { var alive: Bool }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(request.body)) else {
            return .error(400, "bad_request", "the body must be {\"alive\": true} or {\"alive\": false}")
        }
        let known = wait { await watchdog.reportLifecheck(memberID: id, alive: body.alive) }
        guard known else { return .error(404, "not_found", "watchdog member \(id) is not a remote member") }
        return .json(Self.watchdogModel(watchdog.report))
    }
}
