import Cluster
import Metrics
import Proxy
import Watchdog

/// Everything one scrape shows, gathered by the caller from atomics and snapshots.
public struct MetricsInput: Sendable {
    public var version: String
    public var snapshot: ClusterState.Snapshot
    public var queries: [Int: NodeQueryCounters]
    public var health: [Int: HealthCheckStatistics]
    public var failovers: FailoverStatistics
    public var connections: ConnectionStatistics
    public var proxy: ProxySnapshot
    /// `num_init_children`.
    public var maxClients: Int
    /// Clients waiting for a slot.
    public var waitingClients: Int
    /// `num_init_children × max_pool`: backend connections SwiftPool may hold.
    public var poolCapacity: Int
    public var process: ProcessStats
    /// Also render Pgpool-II exporter's `pgpool2_*` set.
    public var pgpool2: Bool
    /// Scrapes before this one and how long the previous one took.
    public var scrapes: Int
    public var lastScrapeDuration: Double
    /// The watchdog's picture (`WatchdogReport.disabled` without one).
    public var watchdog: WatchdogReport
    /// read_your_writes' positions (nil: not rendered).
    public var walPositions: WALPositions?
    /// Transaction mode's counters.
    public var transactionPool: TransactionPoolStatistics
    /// `transaction_pool_size`: backend connections per node for transaction-mode sessions.
    public var transactionPoolSize: Int

    public init(version: String, snapshot: ClusterState.Snapshot, queries: [Int: NodeQueryCounters],
                health: [Int: HealthCheckStatistics], failovers: FailoverStatistics, connections: ConnectionStatistics,
                proxy: ProxySnapshot, maxClients: Int, waitingClients: Int, poolCapacity: Int, process: ProcessStats,
                pgpool2: Bool, scrapes: Int, lastScrapeDuration: Double, watchdog: WatchdogReport = .disabled,
                walPositions: WALPositions? = nil, transactionPool: TransactionPoolStatistics = TransactionPoolStatistics(),
                transactionPoolSize: Int = 20) {
        self.transactionPool = transactionPool
        self.transactionPoolSize = transactionPoolSize
        self.watchdog = watchdog
        self.walPositions = walPositions
        self.version = version
        self.snapshot = snapshot
        self.queries = queries
        self.health = health
        self.failovers = failovers
        self.connections = connections
        self.proxy = proxy
        self.maxClients = maxClients
        self.waitingClients = waitingClients
        self.poolCapacity = poolCapacity
        self.process = process
        self.pgpool2 = pgpool2
        self.scrapes = scrapes
        self.lastScrapeDuration = lastScrapeDuration
    }
}

/// Renders `/metrics`: SwiftPool's own `swiftpool_*` set, the standard `process_*` set and,
/// when asked, the `pgpool2_*` names of Pgpool-II's exporter.
public enum MetricsRenderer {
    public static func render(_ input: MetricsInput) -> String {
        var out = PrometheusWriter()
        renderNative(input, into: &out)
        renderTransactionPool(input, into: &out)
        renderClassificationCache(input.proxy.classifications, into: &out)
        renderWatchdog(input.watchdog, into: &out)
        renderEtcd(input.watchdog, into: &out)
        renderProcess(input.process, into: &out)
        if input.pgpool2 { renderPgpool2(input, into: &out) }
        return out.text
    }

    static func nodeLabels(_ node: NodeInfo) -> [(String, String)] {
        [("node_id", "\(node.id)"), ("host", node.host), ("port", "\(node.port)")]
    }

    static func renderNative(_ input: MetricsInput, into out: inout PrometheusWriter) {
        let nodes = input.snapshot.nodes
        out.family("swiftpool_build_info", .gauge, "SwiftPool's version; always 1.")
        out.sample("swiftpool_build_info", [("version", input.version)], 1)

        out.family("swiftpool_node_status", .gauge, "1 for the node's current status, 0 for the others.")
        for node in nodes {
            for status in NodeStatus.allCases {
                out.sample("swiftpool_node_status", nodeLabels(node) + [("status", status.rawValue)], node.status == status ? 1 : 0)
            }
        }
        out.family("swiftpool_node_role", .gauge, "1 for the node's current role, 0 for the others.")
        for node in nodes {
            for role in [NodeRole.primary, .standby, .unknown] {
                out.sample("swiftpool_node_role", nodeLabels(node) + [("role", role.rawValue)], node.role == role ? 1 : 0)
            }
        }
        out.family("swiftpool_node_status_change_timestamp_seconds", .gauge, "When the node's status last changed (0: never).")
        for node in nodes { out.sample("swiftpool_node_status_change_timestamp_seconds", nodeLabels(node), node.lastStatusChange) }
        out.family("swiftpool_primary_node_id", .gauge, "Id of the node SwiftPool sends writes to; -1 when none is known.")
        out.sample("swiftpool_primary_node_id", [], input.snapshot.primaryNodeID ?? -1)
        out.family("swiftpool_node_weight", .gauge, "Load-balancing weight of the node (backend_weightN).")
        for node in nodes { out.sample("swiftpool_node_weight", nodeLabels(node), node.weight) }

        out.family("swiftpool_node_queries_total", .counter, "Statements sent to the node, by kind.")
        for node in nodes {
            let counters = input.queries[node.id]
            for category in StatementCategory.allCases {
                out.sample("swiftpool_node_queries_total", nodeLabels(node) + [("kind", "\(category)")], counters?.value(category) ?? 0)
            }
        }
        out.family("swiftpool_node_errors_total", .counter, "ErrorResponse messages the node sent, by severity.")
        for node in nodes {
            let counters = input.queries[node.id]
            for severity in ErrorSeverity.allCases {
                out.sample("swiftpool_node_errors_total", nodeLabels(node) + [("severity", "\(severity)")], counters?.value(severity) ?? 0)
            }
        }
        out.family("swiftpool_node_query_duration_seconds", .histogram,
                   "Time from a query (or an extended-protocol Sync) to the node's ReadyForQuery.")
        let empty = AtomicHistogram().snapshot
        for node in nodes {
            out.histogram("swiftpool_node_query_duration_seconds", nodeLabels(node), input.queries[node.id]?.queryDuration.snapshot ?? empty)
        }

        out.family("swiftpool_client_connections", .gauge, "Client connections by state.")
        var states: [String: Int] = ["active": 0, "idle": 0, "idle_in_transaction": 0, "waiting": input.waitingClients, "starting": 0]
        for session in input.proxy.sessions {
            switch session.state {
            case "active": states["active", default: 0] += 1
            case "idle": states["idle", default: 0] += 1
            case "idle in transaction", "idle in transaction (aborted)": states["idle_in_transaction", default: 0] += 1
            case "waiting": break  // counted by the admission queue
            default: states["starting", default: 0] += 1
            }
        }
        for state in ["active", "idle", "idle_in_transaction", "waiting", "starting"] {
            out.sample("swiftpool_client_connections", [("state", state)], states[state] ?? 0)
        }
        out.family("swiftpool_client_connections_max", .gauge, "Concurrent client sessions allowed (num_init_children).")
        out.sample("swiftpool_client_connections_max", [], input.maxClients)
        out.family("swiftpool_client_connections_accepted_total", .counter, "Client sessions that logged in.")
        out.sample("swiftpool_client_connections_accepted_total", [], input.connections.acceptedTotal)
        out.family("swiftpool_client_connections_rejected_total", .counter, "Clients turned away before their session started, by reason.")
        for reason in ConnectionStatistics.RejectionReason.allCases {
            out.sample("swiftpool_client_connections_rejected_total", [("reason", reason.rawValue)], input.connections.rejectedTotal(reason))
        }
        out.family("swiftpool_client_slot_wait_seconds", .histogram, "Time clients waited for a num_init_children slot.")
        out.histogram("swiftpool_client_slot_wait_seconds", [], input.connections.slotWait.snapshot)
        if let positions = input.walPositions {
            out.family("swiftpool_read_your_writes_primary_reads_total", .counter,
                       "Reads sent to the primary because no standby had replayed their session's last write (read_your_writes).")
            out.sample("swiftpool_read_your_writes_primary_reads_total", [], positions.primaryReadsTotal)
            out.family("swiftpool_read_your_writes_waits_total", .counter,
                       "Reads that waited for a standby to replay their session's write (read_your_writes_wait), by where they went.")
            let waits = positions.waits
            out.sample("swiftpool_read_your_writes_waits_total", [("outcome", "standby")], waits.onStandby)
            out.sample("swiftpool_read_your_writes_waits_total", [("outcome", "primary")], waits.onPrimary)
            out.family("swiftpool_read_your_writes_wait_seconds_total", .counter, "Time reads spent waiting for a standby (read_your_writes_wait).")
            out.sample("swiftpool_read_your_writes_wait_seconds_total", [], positions.waitedSeconds)
            out.family("swiftpool_node_replay_position_age_seconds", .gauge,
                       "Seconds since the standby's replay position was last read (read_your_writes).")
            let ages = positions.replayPositionAges()
            for node in input.snapshot.nodes {
                guard let age = ages[node.id] else { continue }
                out.sample("swiftpool_node_replay_position_age_seconds", nodeLabels(node), age)
            }
        }
        let tls = input.connections.tls
        out.family("swiftpool_client_tls_handshakes_started_total", .counter,
                   "Client TLS handshakes begun, after an SSLRequest (mode=\"sslrequest\") or by direct TLS (mode=\"direct\").")
        out.sample("swiftpool_client_tls_handshakes_started_total", [("mode", "sslrequest")], tls.startedTotal(direct: false))
        out.sample("swiftpool_client_tls_handshakes_started_total", [("mode", "direct")], tls.startedTotal(direct: true))
        out.family("swiftpool_client_tls_handshakes_total", .counter, "Client TLS handshakes completed, by protocol version.")
        for version in TLSStatistics.versions {
            out.sample("swiftpool_client_tls_handshakes_total", [("version", version)], tls.completedTotal(version: version))
        }
        out.family("swiftpool_client_tls_failures_total", .counter, "Client TLS negotiations that failed, by reason.")
        for reason in TLSStatistics.Failure.allCases {
            out.sample("swiftpool_client_tls_failures_total", [("reason", reason.rawValue)], tls.failedTotal(reason))
        }

        let inUse = input.proxy.connectionsInUse
        out.family("swiftpool_backend_connections", .gauge, "Backend connections per node: leased by a session, or idle in the pool.")
        for node in nodes {
            out.sample("swiftpool_backend_connections", nodeLabels(node) + [("state", "in_use")], inUse[node.id] ?? 0)
            out.sample("swiftpool_backend_connections", nodeLabels(node) + [("state", "idle")], input.proxy.idleConnections[node.id] ?? 0)
        }
        let held = inUse.values.reduce(0, +) + input.proxy.idleConnections.values.reduce(0, +)
        out.family("swiftpool_backend_connections_max", .gauge, "Backend connections SwiftPool may hold (num_init_children × max_pool).")
        out.sample("swiftpool_backend_connections_max", [], input.poolCapacity)
        out.family("swiftpool_pool_occupancy_ratio", .gauge, "Backend connections held, in use or idle, over the maximum.")
        out.sample("swiftpool_pool_occupancy_ratio", [], input.poolCapacity > 0 ? Double(held) / Double(input.poolCapacity) : 0)

        out.family("swiftpool_health_check_duration_seconds", .histogram, "Duration of health checks, retries included.")
        for node in nodes {
            out.histogram("swiftpool_health_check_duration_seconds", nodeLabels(node), input.health[node.id]?.durations.snapshot ?? empty)
        }
        out.family("swiftpool_health_checks_total", .counter, "Health checks by result.")
        for node in nodes {
            let stats = input.health[node.id]?.snapshot ?? HealthCheckStatistics.Snapshot()
            out.sample("swiftpool_health_checks_total", nodeLabels(node) + [("result", "success")], stats.successes)
            out.sample("swiftpool_health_checks_total", nodeLabels(node) + [("result", "failure")], stats.failures)
            out.sample("swiftpool_health_checks_total", nodeLabels(node) + [("result", "skip")], stats.skips)
        }
        out.family("swiftpool_health_check_retries_total", .counter, "Health check retries.")
        for node in nodes {
            out.sample("swiftpool_health_check_retries_total", nodeLabels(node), input.health[node.id]?.snapshot.retries ?? 0)
        }
        out.family("swiftpool_health_check_last_success_timestamp_seconds", .gauge, "When a health check last succeeded (0: never).")
        for node in nodes {
            out.sample("swiftpool_health_check_last_success_timestamp_seconds", nodeLabels(node),
                       input.health[node.id]?.snapshot.lastSuccess ?? 0)
        }

        out.family("swiftpool_replication_delay_bytes", .gauge, "WAL the node has not replayed yet, behind the primary's current position.")
        for node in nodes where node.replication.delayBytes != nil {
            out.sample("swiftpool_replication_delay_bytes", nodeLabels(node), Double(node.replication.delayBytes!))
        }
        out.family("swiftpool_replication_delay_seconds", .gauge, "The node's replay lag (pg_stat_replication.replay_lag).")
        for node in nodes where node.replication.delaySeconds != nil {
            out.sample("swiftpool_replication_delay_seconds", nodeLabels(node), node.replication.delaySeconds!)
        }
        out.family("swiftpool_node_lagging", .gauge, "1 while the node is over the delay threshold and gets no reads.")
        for node in nodes { out.sample("swiftpool_node_lagging", nodeLabels(node), node.isLagging ? 1 : 0) }

        out.family("swiftpool_failovers_total", .counter, "Nodes taken out of service, by reason.")
        let failovers = input.failovers.byReason
        for reason in FailoverReason.allCases {
            out.sample("swiftpool_failovers_total", [("reason", reason.rawValue)], failovers[reason] ?? 0)
        }
        out.family("swiftpool_last_failover_timestamp_seconds", .gauge, "When a node was last taken out of service (0: never).")
        out.sample("swiftpool_last_failover_timestamp_seconds", [], input.failovers.lastFailover ?? 0)

        let traffic = input.proxy.traffic
        out.family("swiftpool_client_received_bytes_total", .counter, "Bytes read from clients.")
        out.sample("swiftpool_client_received_bytes_total", [], traffic.fromClients)
        out.family("swiftpool_client_sent_bytes_total", .counter, "Backend bytes forwarded to clients.")
        out.sample("swiftpool_client_sent_bytes_total", [], traffic.toClients)
        out.family("swiftpool_backend_received_bytes_total", .counter, "Bytes read from backends by client sessions.")
        out.sample("swiftpool_backend_received_bytes_total", [], traffic.fromBackends)
        out.family("swiftpool_backend_sent_bytes_total", .counter, "Client bytes forwarded to backends.")
        out.sample("swiftpool_backend_sent_bytes_total", [], traffic.toBackends)
    }

    static func renderProcess(_ process: ProcessStats, into out: inout PrometheusWriter) {
        out.family("process_cpu_seconds_total", .counter, "Total user and system CPU time spent in seconds.")
        out.sample("process_cpu_seconds_total", [], process.cpuSeconds)
        out.family("process_resident_memory_bytes", .gauge, "Resident memory size in bytes.")
        out.sample("process_resident_memory_bytes", [], process.residentBytes)
        out.family("process_virtual_memory_bytes", .gauge, "Virtual memory size in bytes.")
        out.sample("process_virtual_memory_bytes", [], process.virtualBytes)
        out.family("process_open_fds", .gauge, "Number of open file descriptors.")
        out.sample("process_open_fds", [], process.openFileDescriptors)
        out.family("process_max_fds", .gauge, "Maximum number of open file descriptors.")
        out.sample("process_max_fds", [], process.maxFileDescriptors)
        out.family("process_start_time_seconds", .gauge, "Start time of the process since unix epoch in seconds.")
        out.sample("process_start_time_seconds", [], process.startTime)
    }

    /// Pgpool-II exporter's names, types, labels and units, so its dashboards and alerts work.
    static func renderPgpool2(_ input: MetricsInput, into out: inout PrometheusWriter) {
        let nodes = input.snapshot.nodes
        func labels(_ node: NodeInfo) -> [(String, String)] {
            [("hostname", node.host), ("port", "\(node.port)"), ("role", node.role == .primary ? "primary" : "standby")]
        }
        func up(_ node: NodeInfo) -> Int { node.status == .up || node.status == .waiting ? 1 : 0 }

        out.family("pgpool2_up", .gauge, "Whether the Pgpool-II compatible metrics could be collected.")
        out.sample("pgpool2_up", [], 1)
        out.family("pgpool2_scrapes_total", .counter, "Total number of times metrics were scraped.")
        out.sample("pgpool2_scrapes_total", [], input.scrapes)
        out.family("pgpool2_last_scrape_duration_seconds", .gauge, "Duration of the last scrape.")
        out.sample("pgpool2_last_scrape_duration_seconds", [], input.lastScrapeDuration)
        out.family("pgpool2_last_scrape_error", .gauge, "Whether the last scrape failed (always 0: nothing to query).")
        out.sample("pgpool2_last_scrape_error", [], 0)

        out.family("pgpool2_pool_nodes_status", .gauge, "Backend node Status (1 for up or waiting, 0 for down or unused)")
        for node in nodes { out.sample("pgpool2_pool_nodes_status", labels(node), up(node)) }
        out.family("pgpool2_pool_nodes_select_cnt", .counter, "SELECT statement counts issued to each backend")
        for node in nodes { out.sample("pgpool2_pool_nodes_select_cnt", labels(node), input.queries[node.id]?.value(.select) ?? 0) }
        out.family("pgpool2_pool_nodes_replication_delay", .gauge, "Replication delay")
        for node in nodes { out.sample("pgpool2_pool_nodes_replication_delay", labels(node), Double(node.replication.delayBytes ?? 0)) }

        out.family("pgpool2_pool_backend_stats_status", .gauge, "Backend node Status (1 for up or waiting, 0 for down or unused)")
        for node in nodes { out.sample("pgpool2_pool_backend_stats_status", labels(node), up(node)) }
        let kinds: [(String, StatementCategory)] = [("select", .select), ("insert", .insert), ("update", .update),
                                                    ("delete", .delete), ("ddl", .ddl), ("other", .other)]
        for (word, category) in kinds {
            let name = "pgpool2_pool_backend_stats_\(word)_cnt"
            out.family(name, .counter, "\(word.uppercased()) statement counts issued to each backend")
            for node in nodes { out.sample(name, labels(node), input.queries[node.id]?.value(category) ?? 0) }
        }
        for (word, severity) in [("panic", ErrorSeverity.panic), ("fatal", .fatal), ("error", .error)] {
            let name = "pgpool2_pool_backend_stats_\(word)_cnt"
            out.family(name, .counter, "\(word.uppercased()) message counts returned from backend")
            for node in nodes { out.sample(name, labels(node), input.queries[node.id]?.value(severity) ?? 0) }
        }

        let stats = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, input.health[$0.id]?.snapshot ?? HealthCheckStatistics.Snapshot()) })
        func milliseconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        }
        let healthFamilies: [(String, String, (NodeInfo, HealthCheckStatistics.Snapshot) -> Double)] = [
            ("status", "Backend node Status (1 for up or waiting, 0 for down or unused)", { node, _ in Double(up(node)) }),
            ("total_count", "Number of health check count in total", { Double($1.checks) }),
            ("success_count", "Number of successful health check count in total", { Double($1.successes) }),
            ("fail_count", "Number of failed health check count in total", { Double($1.failures) }),
            ("skip_count", "Number of skipped health check count in total", { Double($1.skips) }),
            ("retry_count", "Number of retried health check count in total", { Double($1.retries) }),
            ("average_retry_count", "Number of average retried health check count in a health check session", { $1.averageRetries }),
            ("max_retry_count", "Number of maximum retried health check count in a health check session", { Double($1.maxRetries) }),
            ("max_duration", "Maximum health check duration in Millie seconds", { milliseconds($1.maxDuration) }),
            ("min_duration", "Minimum health check duration in Millie seconds", { milliseconds($1.minDuration ?? .zero) }),
            ("average_duration", "Average health check duration in Millie seconds", { milliseconds($1.averageDuration) }),
        ]
        for (column, help, value) in healthFamilies {
            let name = "pgpool2_pool_health_check_stats_\(column)"
            out.family(name, .gauge, help)
            for node in nodes { out.sample(name, labels(node), value(node, stats[node.id]!)) }
        }

        let used = frontendUse(input.proxy.sessions)
        out.family("pgpool2_frontend_used", .gauge, "Number of used child processes")
        for entry in used {
            out.sample("pgpool2_frontend_used", [("username", entry.user), ("database", entry.database)], entry.count)
        }
        let usedTotal = used.reduce(0) { $0 + $1.count }
        out.family("pgpool2_frontend_total", .gauge, "Number of total child processed")
        out.sample("pgpool2_frontend_total", [], input.maxClients)
        out.family("pgpool2_frontend_used_ratio", .gauge, "Ratio of child processes to total processes")
        out.sample("pgpool2_frontend_used_ratio", [], input.maxClients > 0 ? Double(usedTotal) / Double(input.maxClients) : 0)

        let backendsUsed = input.proxy.connectionsInUse.values.reduce(0, +)
        out.family("pgpool2_backend_total", .gauge, "Number of total possible backend connections")
        out.sample("pgpool2_backend_total", [], input.poolCapacity)
        out.family("pgpool2_backend_used", .gauge, "Number of backend connections in use")
        out.sample("pgpool2_backend_used", [], backendsUsed)
        out.family("pgpool2_backend_used_ratio", .gauge, "Ratio of backend connections in use to total possible backend connections")
        out.sample("pgpool2_backend_used_ratio", [], input.poolCapacity > 0 ? Double(backendsUsed) / Double(input.poolCapacity) : 0)
    }

    /// At most this many (user, database) label pairs; the rest are summed under `(other)`.
    static let maxFrontendLabelSets = 50

    /// Sessions per user and database for `pgpool2_frontend_used`. Only sessions past
    /// authentication count: a name a client merely claimed in its startup packet never becomes a
    /// label, and the number of label sets is bounded whatever clients send. Names are told apart
    /// byte for byte, as PostgreSQL tells roles apart.
    static func frontendUse(_ sessions: [ProxySnapshot.Session]) -> [(user: String, database: String, count: Int)] {
        var used: [[UInt8]: (user: String, database: String, count: Int)] = [:]
        for session in sessions where !session.user.isEmpty && session.state != "starting" && session.state != "waiting" {
            let key = Array(session.user.utf8) + [0] + Array(session.database.utf8)
            used[key, default: (session.user, session.database, 0)].count += 1
        }
        // Busiest first; ties, and the order of the kept ones, by name byte for byte.
        let ranked = used.sorted {
            $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key.lexicographicallyPrecedes($1.key)
        }
        let kept = ranked.prefix(maxFrontendLabelSets).sorted { $0.key.lexicographicallyPrecedes($1.key) }
        let rest = ranked.dropFirst(maxFrontendLabelSets).reduce(0) { $0 + $1.value.count }
        return kept.map(\.value) + (rest > 0 ? [("(other)", "(other)", rest)] : [])
    }
}
