import Foundation

/// The coordination back end: `coordination` and the `etcd_*` parameters.
extension PoolConfigBuilder {
    mutating func buildEtcd() throws(ConfigError) -> EtcdConfig {
        let backEnd = CoordinationBackEnd(rawValue: string("coordination")) ?? .watchdog
        guard backEnd == .etcd else { return .disabled }
        let line = settings["coordination"]?.line
        if bool("use_watchdog") {
            throw ConfigError(
                kind: .invalidValue, file: fileName, line: line, parameter: "coordination",
                message: "coordination = 'etcd' and use_watchdog = on exclude each other: the members agree through etcd or through the watchdog")
        }
        let endpoints = list("etcd_endpoints")
        if endpoints.isEmpty {
            throw ConfigError(kind: .invalidValue, file: fileName, line: settings["etcd_endpoints"]?.line, parameter: "etcd_endpoints",
                              message: "coordination = 'etcd' needs at least one etcd endpoint (http://host:2379)")
        }
        for endpoint in endpoints {
            let lower = endpoint.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), URLComponents(string: endpoint)?.host?.isEmpty == false else {
                throw ConfigError(kind: .invalidValue, file: fileName, line: settings["etcd_endpoints"]?.line, parameter: "etcd_endpoints",
                                  message: "\"\(endpoint)\" is not an etcd client URL (http://host:port or https://host:port)")
            }
        }
        var prefix = string("etcd_prefix")
        while prefix.hasSuffix("/") { prefix.removeLast() }
        if prefix.isEmpty || !prefix.hasPrefix("/") {
            throw ConfigError(kind: .invalidValue, file: fileName, line: settings["etcd_prefix"]?.line, parameter: "etcd_prefix",
                              message: "etcd_prefix must be an absolute key path such as /swiftpool/prod")
        }
        let certFile = path("etcd_cert_file"), keyFile = path("etcd_key_file")
        if certFile.isEmpty != keyFile.isEmpty {
            throw ConfigError(kind: .invalidValue, file: fileName, line: settings[certFile.isEmpty ? "etcd_key_file" : "etcd_cert_file"]?.line,
                              parameter: certFile.isEmpty ? "etcd_key_file" : "etcd_cert_file",
                              message: "etcd_cert_file and etcd_key_file go together: set both or neither")
        }
        let username = string("etcd_username")
        if !username.isEmpty, string("etcd_password").isEmpty {
            note(.warning, line: settings["etcd_username"]?.line, parameter: "etcd_password",
                 "etcd_username is set but etcd_password is empty")
        }
        let hosts = listenHosts(list("listen_addresses"), any: ProcessInfo.processInfo.hostName)
        let host = hosts.first.map { $0 == "localhost" ? "127.0.0.1" : $0 } ?? ProcessInfo.processInfo.hostName
        var name = string("etcd_member_name")
        if name.isEmpty { name = "\(ProcessInfo.processInfo.hostName):\(int("port"))" }
        if name.contains("/") {
            throw ConfigError(kind: .invalidValue, file: fileName, line: settings["etcd_member_name"]?.line, parameter: "etcd_member_name",
                              message: "etcd_member_name may not contain '/'")
        }
        return EtcdConfig(
            enabled: true, endpoints: endpoints, prefix: prefix, ttl: duration("etcd_ttl"), memberName: name, host: host,
            pgpoolPort: int("port"), username: username, password: string("etcd_password"), caFile: path("etcd_ca_file"),
            certFile: certFile, keyFile: keyFile, escalation: buildEscalation(),
            failoverWhenQuorumExists: bool("failover_when_quorum_exists"),
            failoverRequireConsensus: bool("failover_require_consensus"),
            allowMultipleFailoverRequestsFromNode: bool("allow_multiple_failover_requests_from_node"))
    }

    /// `delegate_ip` and the commands around it, as the watchdog reads them.
    func buildEscalation() -> EscalationSettings {
        EscalationSettings(
            delegateIP: string("delegate_ip"),
            ifUpCommand: Self.command(string("if_up_cmd"), in: string("if_cmd_path")),
            ifDownCommand: Self.command(string("if_down_cmd"), in: string("if_cmd_path")),
            arpingCommand: Self.command(string("arping_cmd"), in: string("arping_path")),
            escalationCommand: string("wd_escalation_command"), deEscalationCommand: string("wd_de_escalation_command"))
    }
}
