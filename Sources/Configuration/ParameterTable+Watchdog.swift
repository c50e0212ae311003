/// Pgpool-II 4.3's watchdog parameters.
extension ParameterTable {
    static let watchdog: [ParameterDefinition] = [
        .bool(
            "use_watchdog", false, .restart, .watchdog, implemented: true,
            "Run the watchdog: several SwiftPools elect a leader, share backend status and move a virtual IP."),
        .string(
            "trusted_servers", "", .restart, .watchdog, implemented: true,
            "Hosts pinged to tell a network failure from a peer failure, separated by commas; a member that reaches none of them never holds the virtual IP."),
        .string("ping_path", "/bin", .restart, .watchdog, implemented: true, "Directory of the ping command."),
        .string(
            "hostname", "", .restart, .watchdog, implemented: true, suffix: .required,
            "Host name or address of watchdog member N (the pgpool_node_id file names the local one)."),
        .int(
            "wd_port", "9000", 1024, 65535, .restart, .watchdog, implemented: true, suffix: .optional,
            "Watchdog TCP port of member N (wd_portN); without a number, the local member's port (Pgpool-II 4.1 style)."),
        .int(
            "pgpool_port", "9999", 1024, 65535, .restart, .watchdog, implemented: true, suffix: .required,
            "Client port of watchdog member N."),
        .int(
            "wd_priority", "1", 0, intMax, .restart, .watchdog, implemented: true,
            "Leader election priority of this member; the higher value wins, the earlier start breaks a tie."),
        .string(
            "wd_authkey", "", .restart, .watchdog, implemented: true,
            "Key of the HMAC-SHA256 that signs every watchdog message and heartbeat; members with different keys ignore each other."),
        .string(
            "wd_ipc_socket_dir", "/tmp", .restart, .watchdog,
            "Directory of the watchdog IPC socket (SwiftPool's watchdog runs inside the proxy process and needs none)."),
        .string(
            "delegate_IP", "", .restart, .watchdog, implemented: true,
            "Virtual IP address held by the watchdog leader while it has quorum; '' for none."),
        .string("if_cmd_path", "/sbin", .restart, .watchdog, implemented: true, "Directory of if_up_cmd and if_down_cmd when their first word is a relative path."),
        .string(
            "if_up_cmd", "/usr/bin/sudo /sbin/ip addr add $_IP_$/24 dev eth0 label eth0:0", .restart, .watchdog,
            implemented: true, "Command that brings up the virtual IP ($_IP_$ is replaced by delegate_IP)."),
        .string(
            "if_down_cmd", "/usr/bin/sudo /sbin/ip addr del $_IP_$/24 dev eth0", .restart, .watchdog,
            implemented: true, "Command that brings down the virtual IP."),
        .string("arping_path", "/usr/sbin", .restart, .watchdog, implemented: true, "Directory of arping_cmd when its first word is a relative path."),
        .string(
            "arping_cmd", "/usr/bin/sudo /usr/sbin/arping -U $_IP_$ -w 1 -I eth0", .restart, .watchdog,
            implemented: true, "Command that announces the virtual IP after it came up (gratuitous ARP)."),
        .bool(
            "clear_memqcache_on_escalation", true, .reload, .watchdog,
            "Clear the query cache when this member becomes leader (SwiftPool has no query cache)."),
        .string(
            "wd_escalation_command", "", .reload, .watchdog, implemented: true,
            "Command run when this member becomes leader with quorum, before the virtual IP comes up."),
        .string(
            "wd_de_escalation_command", "", .reload, .watchdog, implemented: true,
            "Command run when this member stops holding the virtual IP, before it goes down."),
        .bool(
            "failover_when_quorum_exists", true, .restart, .watchdog, implemented: true,
            "Fail over only while the watchdog cluster has quorum; otherwise the node is quarantined locally."),
        .bool(
            "failover_require_consensus", true, .restart, .watchdog, implemented: true,
            "Fail over only when enough watchdog members saw the failure; otherwise the node is quarantined locally."),
        .bool(
            "allow_multiple_failover_requests_from_node", false, .restart, .watchdog, implemented: true,
            "Let repeated failover requests of one watchdog member count as several votes."),
        .bool(
            "enable_consensus_with_half_votes", false, .restart, .watchdog, implemented: true,
            "With an even number of members, half of them is enough for quorum and consensus."),
        .bool(
            "wd_remove_shutdown_nodes", false, .reload, .watchdog, implemented: true,
            "Cleanly stopped members stop counting towards quorum until they return."),
        .int(
            "wd_lost_node_removal_timeout", "0", 0, intMax, unit: .seconds, .reload, .watchdog, implemented: true,
            "Lost members stop counting towards quorum after this long; 0 never."),
        .int(
            "wd_no_show_node_removal_timeout", "0", 0, intMax, unit: .seconds, .reload, .watchdog, implemented: true,
            "Members that never showed up stop counting towards quorum this long after start; 0 never."),
        .list(
            "wd_monitoring_interfaces_list", ",", "", .restart, .watchdog,
            "Network interfaces whose link state the watchdog watches (not supported: use trusted_servers)."),
        .enumeration(
            "wd_lifecheck_method", ["query", "heartbeat", "external"], "heartbeat", .restart, .watchdog,
            implemented: true,
            "How members check each other: heartbeat (UDP), query (wd_lifecheck_query through the member's pgpool_port) or external (reported through the admin API)."),
        .int(
            "wd_interval", "10", 0, intMax, unit: .seconds, .restart, .watchdog, implemented: true,
            "Interval of the query life check."),
        .string(
            "heartbeat_hostname", "", .restart, .watchdog, implemented: true, suffix: .required,
            "Address heartbeats to watchdog member N are sent to (several separated by ';')."),
        .int(
            "heartbeat_port", "9694", 1024, 65535, .restart, .watchdog, implemented: true, suffix: .required,
            "UDP heartbeat port of watchdog member N."),
        .string(
            "heartbeat_device", "", .restart, .watchdog, suffix: .required,
            "Network device heartbeats to member N are sent from (not supported: the routing table decides)."),
        .int(
            "wd_heartbeat_keepalive", "2", 1, intMax, unit: .seconds, .restart, .watchdog, implemented: true,
            "Interval between heartbeats and between status messages."),
        .int(
            "wd_heartbeat_deadtime", "30", 1, intMax, unit: .seconds, .restart, .watchdog, implemented: true,
            "A member without heartbeats for this long is lost."),
        .int(
            "wd_life_point", "3", 0, intMax, .restart, .watchdog, implemented: true,
            "Failed query life checks in a row before a member is lost."),
        .string("wd_lifecheck_query", "SELECT 1", .restart, .watchdog, implemented: true, "Query of the query life check."),
        .string("wd_lifecheck_dbname", "template1", .reload, .watchdog, implemented: true, "Database of the query life check."),
        .string("wd_lifecheck_user", "nobody", .reload, .watchdog, implemented: true, "User of the query life check."),
        .string("wd_lifecheck_password", "", .reload, .watchdog, implemented: true, "Password of wd_lifecheck_user."),
        .string(
            "wd_hostname", "", .restart, .watchdog, implemented: true,
            "Host name or address of the local member (Pgpool-II 4.1 style; 4.2+ uses hostnameN)."),
        .int(
            "wd_heartbeat_port", "9694", 1024, 65535, .restart, .watchdog, implemented: true,
            "UDP port the local member receives heartbeats on (Pgpool-II 4.1 style)."),
        .string(
            "other_pgpool_hostname", "", .restart, .watchdog, implemented: true, suffix: .required,
            "Host of the other member N (Pgpool-II 4.1 style)."),
        .int(
            "other_pgpool_port", "9999", 1024, 65535, .restart, .watchdog, implemented: true, suffix: .required,
            "Client port of the other member N (Pgpool-II 4.1 style)."),
        .int(
            "other_wd_port", "9000", 1024, 65535, .restart, .watchdog, implemented: true, suffix: .required,
            "Watchdog port of the other member N (Pgpool-II 4.1 style)."),
        .string(
            "heartbeat_destination", "", .restart, .watchdog, implemented: true, suffix: .required,
            "Heartbeat destination N (Pgpool-II 4.1 style)."),
        .int(
            "heartbeat_destination_port", "9694", 1024, 65535, .restart, .watchdog, implemented: true,
            suffix: .required, "UDP port of heartbeat destination N (Pgpool-II 4.1 style)."),
    ]
}
