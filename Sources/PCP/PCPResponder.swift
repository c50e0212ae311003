import AdminCore
import Cluster
import Foundation
import Logging

/// Carries out one PCP command through the same services as the HTTP API and the SQL
/// commands, and builds Pgpool-II's reply packets.
public struct PCPResponder: Sendable {
    let services: AdminServices
    let logger: Logger
    /// Sends SIGTERM (smart), SIGINT (fast) or SIGQUIT (immediate) to SwiftPool itself.
    let stop: @Sendable (UInt8) -> Void

    public init(services: AdminServices, logger: Logger, stop: @escaping @Sendable (UInt8) -> Void) {
        self.services = services
        self.logger = logger
        self.stop = stop
    }

    /// The replies to `command`; an ERROR packet when it cannot be done (the connection stays).
    public func respond(to command: PCPCommand, user: String) async -> [PCPMessage] {
        switch command {
        case .nodeCount:
            return [.strings("l", ["CommandComplete", "\(services.cluster.snapshot.nodes.count)"])]
        case .nodeInfo(let id):
            let nodes = services.cluster.snapshot.nodes.filter { id == -1 || $0.id == id }
            guard !nodes.isEmpty else { return [.error(severity: "ERROR", message: "informing node info failed", detail: "invalid node ID")] }
            return [.strings("i", ["ArraySize", "\(nodes.count)"])] + nodes.map(nodeInfo) + [.strings("i", ["CommandComplete"])]
        case .attach(let id):
            return await operation("attach", id: id, user: user, reply: "c") { try await $0.attach(id) }
        case .detach(let id, let graceful):
            return await operation(graceful ? "graceful detach" : "detach", id: id, user: user, reply: "d") {
                try await $0.detach(id, immediate: !graceful)
            }
        case .promote(let id, let switchover):
            return await operation(switchover ? "switchover to" : "promote", id: id, user: user, reply: "d") {
                try await $0.promote(id, switchover: switchover)
            }
        case .poolStatus:
            let table = PgpoolReports.status(await services.reportInput())
            var count: [UInt8] = []
            withUnsafeBytes(of: Int32(table.rows.count).bigEndian) { count = Array($0) }
            return [.strings("b", ["ArraySize"], then: count)]
                + table.rows.map { PCPMessage.strings("b", ["ProcessConfig", $0[0], $0[1], String($0[2].prefix(80))]) }
                + [.strings("b", ["CommandComplete"])]
        case .processCount:
            let table = PgpoolReports.processes(await services.reportInput())
            return [.strings("n", ["CommandComplete", "\(table.rows.count)"] + table.rows.map { $0[0] })]
        case .processInfo(let pid):
            let table = PgpoolReports.pools(await services.reportInput())
            let rows = table.rows.filter { pid == 0 || $0[0] == "\(pid)" }
            guard pid == 0 || !rows.isEmpty else {
                return [.error(severity: "ERROR", message: "informing process info failed", detail: "invalid process ID : \(pid)")]
            }
            return [.strings("p", ["ArraySize", "\(rows.count)"])] + rows.map { .strings("p", ["ProcessInfo"] + $0) }
                + [.strings("p", ["CommandComplete"])]
        case .healthCheckStats(let id):
            let table = PgpoolReports.healthCheckStats(await services.reportInput())
            guard let row = table.rows.first(where: { $0[0] == "\(id)" }) else {
                return [.error(severity: "ERROR", message: "informing health check stats info failed",
                               detail: "stats data for node ID \(id) does not exist")]
            }
            return [.strings("h", ["CommandComplete"] + row)]
        case .reload(let cluster):
            let report = services.reload()
            guard report.reloaded else {
                return [.error(severity: "ERROR", message: "process reload config request failed", detail: report.error)]
            }
            logger.warning("configuration reloaded through PCP", metadata: ["user": "\(user)", "scope": "\(cluster ? "cluster" : "local")"])
            if cluster, let coordination = services.coordination { await coordination.reloadCluster() }
            return [.strings("z", ["CommandComplete"])]
        case .stop(let mode):
            logger.warning("shutdown requested through PCP", metadata: ["user": "\(user)", "mode": "\(Character(UnicodeScalar(mode)))"])
            stop(mode)
            return [.strings("t", ["CommandComplete"])]
        case .watchdogInfo(let index):
            let report = services.watchdogReport
            guard report.enabled else {
                return [.error(severity: "ERROR", message: "PCP: informing watchdog info failed", detail: "watchdog is not enabled")]
            }
            guard let json = PCPWatchdogInfo.json(report, index: index) else {
                return [.error(severity: "ERROR", message: "PCP: informing watchdog info failed", detail: "invalid watchdog index \(index)")]
            }
            return [.strings("w", ["CommandComplete", json])]
        case .recovery:
            return [.error(severity: "ERROR", message: "process recovery request failed",
                           detail: "online recovery is not supported by SwiftPool")]
        case .setParameter(let name, _):
            return [.error(severity: "ERROR", message: "set configuration parameter failed",
                           detail: "parameter \"\(name)\" cannot be set through PCP")]
        }
    }

    private func operation(_ name: String, id: Int, user: String, reply: Character,
                           _ body: @Sendable (FailoverCoordinator) async throws -> Void) async -> [PCPMessage] {
        do {
            try await body(services.coordinator)
            logger.warning("PCP: \(name) backend node \(id)", metadata: ["user": "\(user)"])
            return [.strings(reply, ["CommandComplete"])]
        } catch let refusal as NodeOperationRefusal {
            return [.error(severity: "ERROR", message: "\(name) of node \(id) failed", detail: refusal.description)]
        } catch {
            return [.error(severity: "ERROR", message: "\(name) of node \(id) failed", detail: "\(error)")]
        }
    }

    private func nodeInfo(_ node: NodeInfo) -> PCPMessage {
        let snapshot = services.cluster.snapshot
        let weight = PgpoolReports.normalizedWeight(node, in: snapshot)
        let status: Int = switch node.status {
        case .unused: 0
        case .waiting: 1
        case .up: 2
        case .down, .quarantine: 3
        }
        let isPrimary = node.id == snapshot.primaryNodeID
        return .strings("i", [
            "NodeInfo", node.host, "\(node.port)", "\(status)", node.status == .quarantine ? "1" : "0",
            node.status.isUsable ? "up" : "down", String(format: "%f", weight * Double(Int32.max)),
            isPrimary ? "2" : "3", node.role.rawValue,
            "\(isPrimary ? 0 : node.replication.delayBytes ?? 0)", node.replication.state, node.replication.syncState,
            "\(Int(node.lastStatusChange))",
        ])
    }
}
