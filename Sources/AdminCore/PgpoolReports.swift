import Cluster
import Configuration
import Foundation
import Proxy
import Watchdog

/// One tabular answer: column names and text rows, as SHOW POOL_* and PCP send them.
public struct ReportTable: Sendable, Equatable {
    public var columns: [String]
    public var rows: [[String]]

    public init(columns: [String], rows: [[String]]) {
        self.columns = columns
        self.rows = rows
    }
}

/// What the reports read: one snapshot of everything, taken by the caller.
public struct ReportInput: Sendable {
    public var snapshot: ClusterState.Snapshot
    public var queries: [Int: NodeQueryCounters]
    public var health: [Int: HealthCheckStatistics.Snapshot]
    public var proxy: ProxySnapshot
    public var config: PoolConfig
    public var healthChecksEnabled: Bool
    public var version: String
    /// The asking session's load-balance node (SQL only).
    public var loadBalanceNode: Int?
    /// The watchdog's picture of its cluster.
    public var watchdog: WatchdogReport

    public init(snapshot: ClusterState.Snapshot, queries: [Int: NodeQueryCounters], health: [Int: HealthCheckStatistics.Snapshot],
                proxy: ProxySnapshot, config: PoolConfig, healthChecksEnabled: Bool, version: String, loadBalanceNode: Int? = nil,
                watchdog: WatchdogReport = .disabled) {
        self.watchdog = watchdog
        self.snapshot = snapshot
        self.queries = queries
        self.health = health
        self.proxy = proxy
        self.config = config
        self.healthChecksEnabled = healthChecksEnabled
        self.version = version
        self.loadBalanceNode = loadBalanceNode
    }
}

/// Pgpool-II 4.3's SHOW POOL_* tables (same columns, same order, values as text), built from
/// SwiftPool's model: a Pgpool-II child process is a client slot here, its pid the session id.
public enum PgpoolReports {
    /// The Pgpool-II version SwiftPool answers as.
    public static let pgpoolVersion = "4.3.5"

    public static func version(_ input: ReportInput) -> ReportTable {
        ReportTable(columns: ["pool_version"], rows: [["\(pgpoolVersion) (SwiftPool \(input.version))"]])
    }

    /// A node's share of the weights of the usable nodes (Pgpool-II's normalized `lb_weight`).
    public static func normalizedWeight(_ node: NodeInfo, in snapshot: ClusterState.Snapshot) -> Double {
        let total = snapshot.nodes.filter(\.status.isUsable).map(\.weight).reduce(0, +)
        return total > 0 && node.status.isUsable ? node.weight / total : 0
    }

    public static func nodes(_ input: ReportInput) -> ReportTable {
        let rows = input.snapshot.nodes.map { node -> [String] in
            let weight = normalizedWeight(node, in: input.snapshot)
            return [
                "\(node.id)", node.host, "\(node.port)", node.status.rawValue, pgStatus(node, input),
                String(format: "%f", weight), node.id == input.snapshot.primaryNodeID ? "primary" : "standby",
                node.role == .unknown ? "unknown" : node.role.rawValue,
                "\(input.queries[node.id]?.value(.select) ?? 0)",
                node.id == input.loadBalanceNode ? "true" : "false",
                "\(node.id == input.snapshot.primaryNodeID ? 0 : node.replication.delayBytes ?? 0)",
                node.replication.state, node.replication.syncState, timestamp(node.lastStatusChange),
            ]
        }
        return ReportTable(columns: ["node_id", "hostname", "port", "status", "pg_status", "lb_weight", "role", "pg_role",
                                     "select_cnt", "load_balance_node", "replication_delay", "replication_state",
                                     "replication_sync_state", "last_status_change"], rows: rows)
    }

    public static let healthCheckColumns = [
        "node_id", "hostname", "port", "status", "role", "last_status_change", "total_count", "success_count",
        "fail_count", "skip_count", "retry_count", "average_retry_count", "max_retry_count", "max_duration",
        "min_duration", "average_duration", "last_health_check", "last_successful_health_check",
        "last_skip_health_check", "last_failed_health_check",
    ]

    public static func healthCheckStats(_ input: ReportInput) -> ReportTable {
        let rows = input.snapshot.nodes.map { node -> [String] in
            let stats = input.health[node.id] ?? HealthCheckStatistics.Snapshot()
            let counted = stats.checks  // averages are over the checks that ran, not the skipped ones
            return [
                "\(node.id)", node.host, "\(node.port)", node.status.rawValue, role(node, input), timestamp(node.lastStatusChange),
                "\(stats.checks + stats.skips)", "\(stats.successes)", "\(stats.failures)", "\(stats.skips)", "\(stats.retries)",
                String(format: "%f", counted > 0 ? Double(stats.retries) / Double(counted) : 0), "\(stats.maxRetries)",
                "\(milliseconds(stats.maxDuration))", "\(milliseconds(stats.minDuration ?? .zero))",
                String(format: "%f", counted > 0 ? Double(milliseconds(stats.totalDuration)) / Double(counted) : 0),
                timestamp(stats.lastCheck), timestamp(stats.lastSuccess), timestamp(stats.lastSkip), timestamp(stats.lastFailure),
            ]
        }
        return ReportTable(columns: healthCheckColumns, rows: rows)
    }

    public static func backendStats(_ input: ReportInput) -> ReportTable {
        let rows = input.snapshot.nodes.map { node -> [String] in
            let counters = input.queries[node.id]
            return ["\(node.id)", node.host, "\(node.port)", node.status.rawValue, role(node, input)]
                + StatementCategory.allCases.map { "\(counters?.value($0) ?? 0)" }
                + [ErrorSeverity.panic, .fatal, .error].map { "\(counters?.value($0) ?? 0)" }
        }
        return ReportTable(columns: ["node_id", "hostname", "port", "status", "role", "select_cnt", "insert_cnt", "update_cnt",
                                     "delete_cnt", "ddl_cnt", "other_cnt", "panic_cnt", "fatal_cnt", "error_cnt"], rows: rows)
    }

    /// One row per client slot (`num_init_children`): a session, or a free slot.
    public static func processes(_ input: ReportInput) -> ReportTable {
        let rows = slots(input).map { session -> [String] in
            guard let session else { return ["0", "", "0", "", "", "", "0", "Wait for connection"] }
            return ["\(session.id)", timestamp(session.since), "1", session.database, session.user, timestamp(session.since),
                    "1", processStatus(session.state)]
        }
        return ReportTable(columns: ["pool_pid", "start_time", "client_connection_count", "database", "username",
                                     "backend_connection_time", "pool_counter", "status"], rows: rows)
    }

    public static let poolsColumns = [
        "pool_pid", "start_time", "client_connection_count", "pool_id", "backend_id", "database", "username",
        "backend_connection_time", "client_connection_time", "client_disconnection_time", "client_idle_duration",
        "majorversion", "minorversion", "pool_counter", "pool_backendpid", "pool_connected", "status",
    ]

    /// One row per client slot × `max_pool` × node, as Pgpool-II lays them out; a session's
    /// connections fill pool_id 0.
    public static func pools(_ input: ReportInput) -> ReportTable {
        var rows: [[String]] = []
        for session in slots(input) {
            for poolID in 0..<max(1, input.config.maxPool) {
                for node in input.snapshot.nodes {
                    if let session, poolID == 0, session.backendNodes.contains(node.id) {
                        rows.append(["\(session.id)", timestamp(session.since), "1", "0", "\(node.id)", session.database,
                                     session.user, timestamp(session.since), timestamp(session.since), "", "0", "3", "0", "1",
                                     "0", "1", processStatus(session.state)])
                    } else {
                        rows.append(["\(session?.id ?? 0)", session.map { timestamp($0.since) } ?? "", "0", "\(poolID)",
                                     "\(node.id)", "", "", "", "", "", "0", "0", "0", "0", "0", "0",
                                     session.map { processStatus($0.state) } ?? "Wait for connection"])
                    }
                }
            }
        }
        return ReportTable(columns: poolsColumns, rows: rows)
    }

    /// SHOW POOL_STATUS: every parameter's value with its description, then the backends.
    public static func status(_ input: ReportInput) -> ReportTable {
        var rows: [[String]] = []
        for definition in ParameterTable.all where definition.nodeSuffix == .none || definition.nodeSuffix == .optional {
            let raw = input.config.value(definition.name) ?? ""
            let value = definition.isSecret && !raw.isEmpty ? "********" : raw
            rows.append([definition.name, value, definition.summary])
        }
        rows += watchdogRows(input.watchdog)
        for node in input.snapshot.nodes {
            rows.append(["backend_hostname\(node.id)", node.host, "backend #\(node.id) hostname"])
            rows.append(["backend_port\(node.id)", "\(node.port)", "backend #\(node.id) port number"])
            rows.append(["backend_weight\(node.id)", String(format: "%f", node.weight), "weight of backend #\(node.id)"])
            rows.append(["backend_status\(node.id)", node.status.rawValue, "status of backend #\(node.id)"])
            rows.append(["backend_flag\(node.id)", node.flags.description, "backend #\(node.id) flag"])
        }
        return ReportTable(columns: ["item", "value", "description"], rows: rows)
    }

    /// The watchdog members as configured and as this member sees them now (SHOW POOL_STATUS and
    /// PGPOOL SHOW watchdog).
    public static func watchdogRows(_ report: WatchdogReport) -> [[String]] {
        guard report.enabled else { return [] }
        var rows: [[String]] = []
        for member in report.members {
            rows.append(["hostname\(member.id)", member.host, "watchdog member #\(member.id) host name\(member.isLocal ? " (this member)" : "")"])
            rows.append(["wd_port\(member.id)", "\(member.wdPort)", "watchdog member #\(member.id) watchdog port"])
            rows.append(["pgpool_port\(member.id)", "\(member.pgpoolPort)", "watchdog member #\(member.id) client port"])
            rows.append(["wd_state\(member.id)", member.state.name, "watchdog member #\(member.id) state as this member sees it"])
        }
        rows.append(["wd_leader", report.leader?.nodeName ?? "", "current watchdog leader"])
        rows.append(["wd_quorum", report.quorum.text, "watchdog quorum (\(report.aliveMembers) of \(report.votingMembers) members alive, \(report.requiredMembers) required)"])
        rows.append(["wd_escalated", report.escalated ? "on" : "off", "whether this member holds the virtual IP"])
        return rows
    }

    /// Sessions in id order, then free slots (nil) up to `num_init_children`.
    static func slots(_ input: ReportInput) -> [ProxySnapshot.Session?] {
        let sessions = input.proxy.sessions.filter { $0.state != "waiting" }.sorted { $0.id < $1.id }
        let free = max(0, input.config.numInitChildren - sessions.count)
        return sessions.map { Optional($0) } + Array(repeating: nil, count: free)
    }

    static func processStatus(_ state: String) -> String {
        switch state {
        case "active": "Execute command"
        case "idle": "Idle"
        case "idle in transaction", "idle in transaction (aborted)": "Idle in transaction"
        default: "Wait for connection"
        }
    }

    static func role(_ node: NodeInfo, _ input: ReportInput) -> String {
        node.id == input.snapshot.primaryNodeID ? "primary" : "standby"
    }

    static func pgStatus(_ node: NodeInfo, _ input: ReportInput) -> String {
        guard input.healthChecksEnabled else { return "unknown" }
        return node.status.isUsable ? "up" : "down"
    }

    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds) * 1000 + Int(duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// `YYYY-MM-DD HH:MM:SS` in local time; empty for "never".
    public static func timestamp(_ seconds: Double?) -> String {
        guard let seconds, seconds > 0 else { return "" }
        var time = time_t(seconds)
        var parts = tm()
        localtime_r(&time, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}
