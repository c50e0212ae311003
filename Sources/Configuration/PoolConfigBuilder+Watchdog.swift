import Foundation

/// The watchdog part of a configuration, in either of Pgpool-II's two styles:
/// 4.2+ (`hostnameN`, `wd_portN`, `pgpool_portN`, `heartbeat_hostnameN`, `heartbeat_portN`, and a
/// `pgpool_node_id` file beside pgpool.conf naming the local member) or 4.1 (`wd_hostname`,
/// `wd_port`, `wd_heartbeat_port`, `other_pgpool_hostnameN`, `other_pgpool_portN`,
/// `other_wd_portN`, `heartbeat_destinationN`, `heartbeat_destination_portN`).
extension PoolConfigBuilder {
    /// The file beside pgpool.conf that holds the local member's number (4.2+ style).
    static let nodeIDFileName = "pgpool_node_id"

    mutating func buildWatchdog() throws(ConfigError) -> WatchdogConfig {
        let enabled = bool("use_watchdog")
        let newStyleIDs = nodeNumbers(of: "hostname")
        let oldStyleIDs = nodeNumbers(of: "other_pgpool_hostname")
        guard enabled else { return .disabled }
        let members: (local: WatchdogMemberConfig, peers: [WatchdogMemberConfig], heartbeatPort: Int, targets: [HeartbeatDestination])
        if !newStyleIDs.isEmpty {
            members = try newStyleMembers(ids: newStyleIDs)
        } else if settings["wd_hostname"] != nil || !oldStyleIDs.isEmpty {
            members = oldStyleMembers(ids: oldStyleIDs)
        } else {
            throw ConfigError(
                kind: .invalidValue, file: fileName, line: settings["use_watchdog"]?.line, parameter: "use_watchdog",
                message: "use_watchdog is on but no watchdog member is configured: set hostname0, wd_port0, pgpool_port0 … "
                    + "(with a \(Self.nodeIDFileName) file beside the configuration), or wd_hostname and other_pgpool_hostname0 …")
        }
        if let setting = settings["wd_authkey"], setting.rawValue.isEmpty {
            note(.warning, line: setting.line, parameter: "wd_authkey", "wd_authkey is empty: anyone who can reach the watchdog ports can join the cluster")
        } else if settings["wd_authkey"] == nil {
            note(.warning, line: nil, parameter: "wd_authkey", "wd_authkey is not set: anyone who can reach the watchdog ports can join the cluster")
        }
        let trusted = string("trusted_servers").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if members.peers.count == 1, bool("enable_consensus_with_half_votes"), trusted.isEmpty {
            note(.warning, line: settings["enable_consensus_with_half_votes"]?.line, parameter: "enable_consensus_with_half_votes",
                 "with two members and enable_consensus_with_half_votes, a member cut off from the other also leads "
                    + "(fails backends over\(string("delegate_ip").isEmpty ? "" : " and takes the virtual IP")); "
                    + "set trusted_servers so that an isolated member can tell, or add a third member")
        }
        let escalation = buildEscalation()
        return WatchdogConfig(
            enabled: true, local: members.local, peers: members.peers, heartbeatListenPort: members.heartbeatPort,
            heartbeatTargets: members.targets, priority: int("wd_priority"), authKey: string("wd_authkey"),
            lifecheckMethod: WatchdogLifecheckMethod(rawValue: string("wd_lifecheck_method")) ?? .heartbeat,
            heartbeatKeepalive: duration("wd_heartbeat_keepalive"), heartbeatDeadtime: duration("wd_heartbeat_deadtime"),
            lifecheckInterval: duration("wd_interval"), lifePoint: int("wd_life_point"),
            lifecheckQuery: string("wd_lifecheck_query"), lifecheckDatabase: string("wd_lifecheck_dbname"),
            lifecheckUser: string("wd_lifecheck_user"), lifecheckPassword: string("wd_lifecheck_password"),
            trustedServers: trusted, pingPath: string("ping_path"), delegateIP: escalation.delegateIP,
            ifUpCommand: escalation.ifUpCommand, ifDownCommand: escalation.ifDownCommand, arpingCommand: escalation.arpingCommand,
            escalationCommand: escalation.escalationCommand, deEscalationCommand: escalation.deEscalationCommand,
            failoverWhenQuorumExists: bool("failover_when_quorum_exists"),
            failoverRequireConsensus: bool("failover_require_consensus"),
            allowMultipleFailoverRequestsFromNode: bool("allow_multiple_failover_requests_from_node"),
            enableConsensusWithHalfVotes: bool("enable_consensus_with_half_votes"),
            removeShutdownNodes: bool("wd_remove_shutdown_nodes"),
            lostNodeRemovalTimeout: duration("wd_lost_node_removal_timeout"),
            noShowNodeRemovalTimeout: duration("wd_no_show_node_removal_timeout"))
    }

    /// A command whose first word is a relative path runs from `directory`, as Pgpool-II does.
    static func command(_ command: String, in directory: String) -> String {
        let trimmed = command.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, !trimmed.hasPrefix("/"), !directory.isEmpty else { return trimmed }
        return directory.hasSuffix("/") ? directory + trimmed : directory + "/" + trimmed
    }

    private func nodeNumbers(of name: String) -> [Int] {
        settings.values.compactMap { setting in
            guard setting.reference.name == name, let node = setting.reference.node, !setting.rawValue.isEmpty else { return nil }
            return node
        }.sorted()
    }

    private mutating func newStyleMembers(ids: [Int]) throws(ConfigError)
        -> (local: WatchdogMemberConfig, peers: [WatchdogMemberConfig], heartbeatPort: Int, targets: [HeartbeatDestination])
    {
        let localID = try readNodeID(ids: ids)
        let all = ids.map { id in
            WatchdogMemberConfig(id: id, host: string("hostname", node: id), wdPort: int("wd_port", node: id), pgpoolPort: int("pgpool_port", node: id))
        }
        var targets: [HeartbeatDestination] = []
        for member in all where member.id != localID {
            let hosts = string("heartbeat_hostname", node: member.id).split(separator: ";")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let port = int("heartbeat_port", node: member.id)
            targets += (hosts.isEmpty ? [member.host] : hosts).map { HeartbeatDestination(host: $0, port: port) }
        }
        guard let local = all.first(where: { $0.id == localID }) else { preconditionFailure("checked by readNodeID") }
        return (local, all.filter { $0.id != localID }, int("heartbeat_port", node: localID), targets)
    }

    private func readNodeID(ids: [Int]) throws(ConfigError) -> Int {
        let path = resolvePath(Self.nodeIDFileName, against: configDirectory)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(
                kind: .unreadableFile, file: path, parameter: "use_watchdog",
                message: "cannot read the watchdog member number: with hostname0 … every member needs a file "
                    + "\(Self.nodeIDFileName) beside its configuration holding its own number (one of \(ids.map(String.init).joined(separator: ", ")))")
        }
        let trimmed = text.split(whereSeparator: \.isNewline).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard let id = Int(trimmed), ids.contains(id) else {
            throw ConfigError(
                kind: .invalidValue, file: path, line: 1, parameter: Self.nodeIDFileName,
                message: "\"\(trimmed)\" is not a configured watchdog member number (expected one of \(ids.map(String.init).joined(separator: ", ")))")
        }
        return id
    }

    private mutating func oldStyleMembers(ids: [Int])
        -> (local: WatchdogMemberConfig, peers: [WatchdogMemberConfig], heartbeatPort: Int, targets: [HeartbeatDestination])
    {
        let localHost = string("wd_hostname")
        let local = WatchdogMemberConfig(id: 0, host: localHost.isEmpty ? "localhost" : localHost, wdPort: int("wd_port"), pgpoolPort: int("port"))
        let peers = ids.map { id in
            WatchdogMemberConfig(
                id: id + 1, host: string("other_pgpool_hostname", node: id), wdPort: int("other_wd_port", node: id),
                pgpoolPort: int("other_pgpool_port", node: id))
        }
        let heartbeatPort = int("wd_heartbeat_port")
        var targets = nodeNumbers(of: "heartbeat_destination").map { id in
            HeartbeatDestination(host: string("heartbeat_destination", node: id), port: int("heartbeat_destination_port", node: id))
        }
        if targets.isEmpty, string("wd_lifecheck_method") == "heartbeat", !peers.isEmpty {
            targets = peers.map { HeartbeatDestination(host: $0.host, port: heartbeatPort) }
            note(.notice, line: nil, parameter: "heartbeat_destination0",
                 "no heartbeat_destinationN is set; heartbeats go to each other_pgpool_hostnameN on port \(heartbeatPort)")
        }
        return (local, peers, heartbeatPort, targets)
    }
}
