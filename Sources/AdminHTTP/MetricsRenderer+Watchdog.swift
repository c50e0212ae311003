import Configuration
import Metrics
import Watchdog

extension MetricsRenderer {
    /// The `swiftpool_watchdog_*` set; without a watchdog only `swiftpool_watchdog_enabled 0`.
    static func renderWatchdog(_ report: WatchdogReport, into out: inout PrometheusWriter) {
        out.family("swiftpool_watchdog_enabled", .gauge, "1 when use_watchdog is on, or the fleet agrees through etcd.")
        out.sample("swiftpool_watchdog_enabled", [], report.enabled ? 1 : 0)
        guard report.enabled else { return }
        out.family("swiftpool_watchdog_is_leader", .gauge, "1 when this member is the watchdog leader.")
        out.sample("swiftpool_watchdog_is_leader", [], report.state == .leader ? 1 : 0)
        out.family("swiftpool_watchdog_quorum_status", .gauge,
                   "Pgpool-II's quorum status seen by this member: 1 exists, 0 on the edge, -1 absent, -2 no leader.")
        out.sample("swiftpool_watchdog_quorum_status", [], report.quorum.rawValue)
        out.family("swiftpool_watchdog_escalated", .gauge, "1 while this member holds the virtual IP (escalated).")
        out.sample("swiftpool_watchdog_escalated", [], report.escalated ? 1 : 0)
        out.family("swiftpool_watchdog_members", .gauge, "Members that count towards quorum, this one included.")
        out.sample("swiftpool_watchdog_members", [], report.votingMembers)
        out.family("swiftpool_watchdog_alive_members", .gauge, "Alive members that count towards quorum, this one included.")
        out.sample("swiftpool_watchdog_alive_members", [], report.aliveMembers)
        out.family("swiftpool_watchdog_member_state", .gauge,
                   "Each member's state as this member sees it, as Pgpool-II's number (4 LEADER, 7 STANDBY, 8 LOST, 10 SHUTDOWN, …).")
        for member in report.members {
            out.sample("swiftpool_watchdog_member_state", labels(member), member.state.rawValue)
        }
        out.family("swiftpool_watchdog_member_alive", .gauge, "1 when the member is alive as this member sees it.")
        for member in report.members {
            out.sample("swiftpool_watchdog_member_alive", [("member", "\(member.id)")], member.alive ? 1 : 0)
        }
        out.family("swiftpool_watchdog_heartbeat_age_seconds", .gauge,
                   "Seconds since the member was last heard from (+Inf before the first time).")
        for member in report.members where !member.isLocal {
            out.sample("swiftpool_watchdog_heartbeat_age_seconds", [("member", "\(member.id)")], member.heartbeatAge ?? .infinity)
        }
        out.family("swiftpool_watchdog_elections_total", .counter, "Elections this member stood in.")
        out.sample("swiftpool_watchdog_elections_total", [], report.elections)
        out.family("swiftpool_watchdog_vip_changes_total", .counter, "Times this member brought the virtual IP up or down.")
        out.sample("swiftpool_watchdog_vip_changes_total", [("action", "up")], report.vipUp)
        out.sample("swiftpool_watchdog_vip_changes_total", [("action", "down")], report.vipDown)
        out.family("swiftpool_watchdog_messages_rejected_total", .counter,
                   "Incoming watchdog messages and heartbeats dropped, by port and reason.")
        for port in [WatchdogPort.watchdog, .heartbeat] {
            for reason in WatchdogRejection.allCases {
                out.sample("swiftpool_watchdog_messages_rejected_total", [("port", port.rawValue), ("reason", reason.rawValue)],
                           report.rejected["\(port.rawValue)|\(reason.rawValue)", default: 0])
            }
        }
        out.family("swiftpool_watchdog_failover_requests_total", .counter,
                   "Backend changes this member decided as the watchdog leader, by result.")
        for result in ["applied", "quarantined", "refused"] {
            out.sample("swiftpool_watchdog_failover_requests_total", [("result", result)], report.failoverRequests[result, default: 0])
        }
    }

    private static func labels(_ member: WatchdogReport.Member) -> [(String, String)] {
        [("member", "\(member.id)"), ("host", member.host), ("wd_port", "\(member.wdPort)")]
    }
}

extension MetricsRenderer {
    /// The `swiftpool_etcd_*` set; without the etcd back end only `swiftpool_etcd_enabled 0`.
    static func renderEtcd(_ report: WatchdogReport, into out: inout PrometheusWriter) {
        let enabled = report.enabled && report.backEnd == .etcd
        out.family("swiftpool_etcd_enabled", .gauge, "1 when the fleet agrees through etcd (coordination = 'etcd').")
        out.sample("swiftpool_etcd_enabled", [], enabled ? 1 : 0)
        guard enabled else { return }
        out.family("swiftpool_etcd_reachable", .gauge, "1 while the last request to etcd succeeded.")
        out.sample("swiftpool_etcd_reachable", [], report.etcdReachable ? 1 : 0)
        out.family("swiftpool_etcd_requests_total", .counter, "Requests this member sent to etcd, by kind and result.")
        for kind in ["authenticate", "grant", "renew", "register", "campaign", "range", "watch", "txn", "release"] {
            for result in ["ok", "error"] {
                out.sample("swiftpool_etcd_requests_total", [("kind", kind), ("result", result)],
                           report.etcdRequests["\(kind)|\(result)", default: 0])
            }
        }
    }
}
