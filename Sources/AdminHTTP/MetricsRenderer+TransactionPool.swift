import Metrics
import Proxy

/// `swiftpool_transaction_pool_*`: clients by pool mode, the transaction pool's connections and
/// waits per node, pins, refusals, settings replays and prepared statements.
extension MetricsRenderer {
    static func renderTransactionPool(_ input: MetricsInput, into out: inout PrometheusWriter) {
        let sessions = input.proxy.sessions
        let stats = input.transactionPool
        out.family("swiftpool_client_pool_mode_sessions", .gauge, "Client sessions by pool mode (pool_mode, pool_mode_list).")
        for mode in ["session", "transaction"] {
            out.sample("swiftpool_client_pool_mode_sessions", [("pool_mode", mode)], sessions.filter { $0.poolMode == mode }.count)
        }
        out.family("swiftpool_transaction_pool_connections", .gauge,
                   "Transaction-mode backend connections per node: lent to a session for a unit of work (or being opened), or idle.")
        for node in input.snapshot.nodes {
            let pool = input.proxy.transactionPool[node.id] ?? ProxySnapshot.TransactionPoolNode()
            out.sample("swiftpool_transaction_pool_connections", nodeLabels(node) + [("state", "in_use")], pool.open - pool.idle)
            out.sample("swiftpool_transaction_pool_connections", nodeLabels(node) + [("state", "idle")], pool.idle)
        }
        out.family("swiftpool_transaction_pool_connections_max", .gauge, "Transaction-mode backend connections allowed per node (transaction_pool_size).")
        out.sample("swiftpool_transaction_pool_connections_max", [], input.transactionPoolSize)
        out.family("swiftpool_transaction_pool_waiting_clients", .gauge, "Transaction-mode sessions waiting for a free connection to the node.")
        for node in input.snapshot.nodes {
            out.sample("swiftpool_transaction_pool_waiting_clients", nodeLabels(node), input.proxy.transactionPool[node.id]?.waiting ?? 0)
        }
        out.family("swiftpool_transaction_pool_wait_seconds", .histogram,
                   "Time a unit of work waited for a free connection (units served at once are not recorded).")
        out.histogram("swiftpool_transaction_pool_wait_seconds", [], stats.wait.snapshot)
        out.family("swiftpool_transaction_pool_prepared_statements", .gauge,
                   "Protocol-level statements SwiftPool keeps prepared on transaction-mode backend connections.")
        out.sample("swiftpool_transaction_pool_prepared_statements", [], input.proxy.preparedStatementsCached)
        let counters: [(name: String, help: String, value: Int)] = [
            ("swiftpool_transaction_pool_leases_total",
             "Connections lent to transaction-mode sessions for a unit of work or a login.", stats.leasesTotal),
            ("swiftpool_transaction_pool_timeouts_total",
             "Units of work that found no free connection within transaction_pool_timeout (the client got 53300).", stats.timeoutsTotal),
            ("swiftpool_transaction_pool_settings_replays_total",
             "Connections brought to a client's session settings (RESET ALL and its SETs) before its unit of work.", stats.replaysTotal),
            ("swiftpool_transaction_pool_reprepares_total",
             "Statements prepared again because a client's unit of work landed on a connection that lacked them.", stats.preparedAgainTotal),
            ("swiftpool_transaction_pool_failovers_followed_total",
             "Transaction-mode sessions that went on with the new primary after a failover instead of ending.", stats.failoversFollowedTotal),
            ("swiftpool_transaction_pool_places_moved_total",
             "Places of transaction_pool_size an event loop gave up for another whose sessions waited (each closes a backend connection).",
             stats.placesMovedTotal),
            ("swiftpool_transaction_pool_logins_without_lease_total",
             "Transaction-mode logins answered from what a recent login with the same startup packet learnt, without a backend connection.",
             stats.loginsWithoutLeaseTotal),
        ]
        for counter in counters {
            out.family(counter.name, .counter, counter.help)
            out.sample(counter.name, [], counter.value)
        }
        out.family("swiftpool_transaction_pool_pinned_clients", .gauge, "Transaction-mode sessions pinned to their backend connection.")
        out.sample("swiftpool_transaction_pool_pinned_clients", [], sessions.filter { !$0.pinned.isEmpty }.count)
        out.family("swiftpool_transaction_pool_pins_total", .counter, "Sessions pinned to their backend connection, by reason.")
        for reason in PinReason.allCases {
            out.sample("swiftpool_transaction_pool_pins_total", [("reason", reason.rawValue)], stats.pinsTotal(reason))
        }
        out.family("swiftpool_transaction_pool_refusals_total", .counter,
                   "Statements refused with 0A000 because transaction_pool_pinning is off, by what they would have pinned.")
        for reason in PinReason.allCases {
            out.sample("swiftpool_transaction_pool_refusals_total", [("reason", reason.rawValue)], stats.refusalsTotal(reason))
        }
    }
}
