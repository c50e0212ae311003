import Cluster
import Configuration
import NIOConcurrencyHelpers
import Proxy

/// SHOW POOL_* and PGPOOL SHOW/SET/RESET on the SQL port, over the same services as the HTTP
/// API and PCP.
public struct SQLAdminCommands: AdminCommandService {
    let services: AdminServices

    public init(services: AdminServices) {
        self.services = services
    }

    public func answer(_ command: AdminCommand, loadBalanceNode: Int?, overrides: [String: String]) async -> AdminCommandAnswer {
        switch command {
        case .show(let report):
            let input = await services.reportInput(loadBalanceNode: loadBalanceNode)
            let table: ReportTable = switch report {
            case .nodes: PgpoolReports.nodes(input)
            case .processes: PgpoolReports.processes(input)
            case .pools: PgpoolReports.pools(input)
            case .status: PgpoolReports.status(input)
            case .version: PgpoolReports.version(input)
            case .healthCheckStats: PgpoolReports.healthCheckStats(input)
            case .backendStats: PgpoolReports.backendStats(input)
            }
            return .table(columns: table.columns, rows: table.rows)
        case .pgpoolShow(let name):
            return show(name, overrides: overrides)
        case .pgpoolSet(let name, let value):
            guard let definition = ParameterTable.definition(named: name) else { return unrecognized(name) }
            guard definition.context == .session else { return invalidContext(name) }
            if let value, ValueParser.parse(value, as: definition) == nil
                || (name == "read_your_writes_position" && !value.isEmpty && ReplicationAnalysis.walPosition(value) == nil) {
                return .error(sqlState: "22023", message: "invalid value for parameter \"\(name)\": \"\(value)\"")
            }
            return .done(tag: "SET")
        case .pgpoolReset(let name):
            if name == "all" { return .done(tag: "RESET") }
            guard let definition = ParameterTable.definition(named: name) else { return unrecognized(name) }
            guard definition.context == .session else { return invalidContext(name) }
            return .done(tag: "RESET")
        }
    }

    /// A parameter (one column named after it), a group or `all` (item, value, description).
    private func show(_ name: String, overrides: [String: String]) -> AdminCommandAnswer {
        let config = services.config()
        func value(_ parameter: String) -> String {
            EffectiveConfiguration.value(parameter, in: config, override: overrides[parameter])
        }
        let groups: [String: (ParameterDefinition) -> Bool] = [
            "all": { _ in true },
            "backend": { $0.name.hasPrefix("backend_") },
            "health_check": { $0.name.hasPrefix("health_check") || $0.name == "connect_timeout" },
            "watchdog": { $0.group == .watchdog && !$0.name.hasPrefix("heartbeat") },
            "heartbeat": { $0.name.hasPrefix("heartbeat") },
        ]
        if let filter = groups[name] {
            var rows: [[String]] = []
            for definition in ParameterTable.all where filter(definition) {
                if definition.nodeSuffix == .required {
                    for backend in config.backends where definition.name.hasPrefix("backend_") {
                        rows.append(["\(definition.name)\(backend.index)", value("\(definition.name)\(backend.index)"), definition.summary])
                    }
                    continue
                }
                rows.append([definition.name, value(definition.name), definition.summary])
            }
            if name == "watchdog" || name == "all" { rows += PgpoolReports.watchdogRows(services.watchdogReport) }
            return .table(columns: ["item", "value", "description"], rows: rows)
        }
        guard config.value(name) != nil else { return unrecognized(name) }
        return .table(columns: [name], rows: [[value(name)]])
    }

    private func unrecognized(_ name: String) -> AdminCommandAnswer {
        .error(sqlState: "42704", message: "unrecognized configuration parameter \"\(name)\"")
    }

    private func invalidContext(_ name: String) -> AdminCommandAnswer {
        .error(sqlState: "55P02", message: "invalid Context, value for parameter \"\(name)\" cannot be changed")
    }
}

/// The admin command service, plugged in once the components it reads exist.
public final class DeferredAdminCommands: AdminCommandService {
    private let service = NIOLockedValueBox<AdminCommandService?>(nil)

    public init() {}

    public func set(_ service: AdminCommandService) {
        self.service.withLockedValue { $0 = service }
    }

    public func answer(_ command: AdminCommand, loadBalanceNode: Int?, overrides: [String: String]) async -> AdminCommandAnswer {
        guard let service = service.withLockedValue({ $0 }) else {
            return .error(sqlState: "57P03", message: "SwiftPool is still starting")
        }
        return await service.answer(command, loadBalanceNode: loadBalanceNode, overrides: overrides)
    }
}
