import Cluster
import Foundation
import Proxy

/// JSON shapes of the admin API (keys are written in snake_case).
enum AdminAPIModels {
    struct HealthCheck: Encodable {
        var checks: Int
        var successes: Int
        var failures: Int
        var skips: Int
        var retries: Int
        var maxRetries: Int
        var averageDurationSeconds: Double
        var maxDurationSeconds: Double
        var lastCheck: String?
        var lastSuccess: String?
        var lastFailure: String?
    }

    struct Node: Encodable {
        var id: Int
        var host: String
        var port: Int
        var status: String
        var role: String
        var weight: Double
        var selectCount: Int
        var replicationDelayBytes: UInt64?
        var replicationDelaySeconds: Double?
        var replicationState: String
        var syncState: String
        var lagging: Bool
        var lastStatusChange: String?
        var healthCheck: HealthCheck
    }

    struct NodeList: Encodable { var nodes: [Node] }

    struct NodeOperation: Encodable {
        var result: String
        var node: Node
    }

    struct Clients: Encodable {
        var active: Int
        var idle: Int
        var idleInTransaction: Int
        var waiting: Int
        var max: Int
    }

    struct Failovers: Encodable {
        var total: Int
        /// Keyed by FailoverReason's raw values, already snake_case.
        var byReason: [String: Int]
        var lastAt: String?
    }

    struct Status: Encodable {
        var version: String
        var startedAt: String
        var uptimeSeconds: Double
        var primaryNodeId: Int?
        var nodesUp: Int
        var nodesDown: Int
        var nodesTotal: Int
        var clients: Clients
        var failovers: Failovers
    }

    struct PoolNode: Encodable {
        var nodeId: Int
        var inUse: Int
        var idle: Int
        /// Transaction-mode sessions waiting for a free connection to the node.
        var waiting: Int
    }

    struct Pool: Encodable {
        var clientSlotsUsed: Int
        var clientSlotsMax: Int
        var clientsWaiting: Int
        var backendConnectionsMax: Int
        var occupancyRatio: Double
        var nodes: [PoolNode]
    }

    struct Session: Encodable {
        var id: UInt64
        var user: String
        var database: String
        var applicationName: String
        var clientAddress: String
        var state: String
        var since: String
        var backendNodes: [Int]
        var poolMode: String
        var pinned: [String]
        var preparedStatements: Int
    }

    /// Written by `jsonBody()` (SessionListJSON.swift); `Encodable` for the test that compares.
    struct SessionList: Encodable { var sessions: [Session] }

    struct Configuration: Encodable { var parameters: [String: String] }

    struct Health: Encodable { var status: String }

    struct Readiness: Encodable {
        var ready: Bool
        var primaryNodeId: Int?
    }

    private static let iso8601 = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func timestamp(_ seconds: Double?) -> String? {
        guard let seconds, seconds > 0 else { return nil }
        // The format style, unlike ISO8601DateFormatter, is cheap to use per value (a list of a
        // thousand sessions formats a thousand times).
        return Date(timeIntervalSince1970: seconds).formatted(iso8601)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func node(_ info: NodeInfo, selects: Int, health: HealthCheckStatistics.Snapshot) -> Node {
        Node(id: info.id, host: info.host, port: info.port, status: info.status.rawValue, role: info.role.rawValue,
             weight: info.weight, selectCount: selects, replicationDelayBytes: info.replication.delayBytes,
             replicationDelaySeconds: info.replication.delaySeconds, replicationState: info.replication.state,
             syncState: info.replication.syncState, lagging: info.isLagging, lastStatusChange: timestamp(info.lastStatusChange),
             healthCheck: HealthCheck(
                checks: health.checks, successes: health.successes, failures: health.failures, skips: health.skips,
                retries: health.retries, maxRetries: health.maxRetries, averageDurationSeconds: seconds(health.averageDuration),
                maxDurationSeconds: seconds(health.maxDuration), lastCheck: timestamp(health.lastCheck),
                lastSuccess: timestamp(health.lastSuccess), lastFailure: timestamp(health.lastFailure)))
    }
}
