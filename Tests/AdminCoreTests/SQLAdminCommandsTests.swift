import Cluster
import Configuration
import Logging
import Proxy
import Testing

@testable import AdminCore

/// SwiftPool's own SQL commands, answered over the shared admin services with no socket.
struct SQLAdminCommandsTests {
    static let conf = """
        backend_hostname0 = 'db0'
        backend_port0 = 5432
        backend_hostname1 = 'db1'
        backend_port1 = 5433
        backend_weight1 = 3
        sr_check_user = 'checker'
        sr_check_password = 'secret'
        health_check_password = ''
        load_balance_mode = on
        """

    static func services(_ text: String = conf, reload: @escaping @Sendable () -> ReloadReport = { ReloadReport(reloaded: true) })
        throws -> AdminServices
    {
        let config = try ConfigLoader.parse(text: text, fileName: "pgpool.conf").config
        let logger = Logger(label: "test")
        let nodes = config.backends.map {
            NodeInfo(id: $0.index, host: $0.hostname, port: $0.port, weight: $0.weight, status: .up)
        }
        let cluster = ClusterState(nodes: nodes)
        cluster.setPrimary(0)
        let runtime = ProxyRuntime(
            settings: ProxySettings(), credentials: CredentialStore(passwords: [:]), authPolicy: nil, routing: nil,
            cluster: cluster, catalog: CatalogFactsCache(lookup: nil, logger: logger), logger: logger, primaryNode: { nil })
        let coordinator = FailoverCoordinator(
            cluster: cluster, settings: config.failover,
            hooks: .init(endSessions: { _ in }, primaryChanged: { _ in }, probe: { _ in true }, findPrimary: { _ in 0 }),
            logger: logger)
        let statistics = HealthCheckStatistics()
        return AdminServices(
            version: "9.9.9", startTime: 0, cluster: cluster, coordinator: coordinator, runtime: runtime,
            healthStatistics: { _ in statistics }, proxySnapshot: { ProxySnapshot() }, reload: reload,
            config: { config }, pcpUsers: { PCPUsers(users: []) })
    }

    static func answer(_ sql: String, overrides: [String: String] = [:]) async throws -> AdminCommandAnswer {
        let command = try #require(AdminCommand.parse(sql))
        return await SQLAdminCommands(services: try services()).answer(command, loadBalanceNode: 1, overrides: overrides)
    }

    @Test func showsOneParameterAsAColumnNamedAfterIt() async throws {
        #expect(try await Self.answer("PGPOOL SHOW backend_port1") == .table(columns: ["backend_port1"], rows: [["5433"]]))
    }

    @Test func aSessionsOwnValueWins() async throws {
        let answer = try await Self.answer("PGPOOL SHOW load_balance_mode", overrides: ["load_balance_mode": "off"])
        #expect(answer == .table(columns: ["load_balance_mode"], rows: [["off"]]))
    }

    @Test func secretsAreRedactedUnlessEmpty() async throws {
        #expect(try await Self.answer("PGPOOL SHOW sr_check_password") == .table(columns: ["sr_check_password"], rows: [["********"]]))
        #expect(try await Self.answer("PGPOOL SHOW health_check_password") == .table(columns: ["health_check_password"], rows: [[""]]))
        guard case .table(let columns, let rows) = try await Self.answer("PGPOOL SHOW all") else {
            Issue.record("PGPOOL SHOW all is a table")
            return
        }
        #expect(columns == ["item", "value", "description"])
        #expect(rows.first { $0[0] == "sr_check_password" }?[1] == "********")
        #expect(rows.contains { $0[0] == "backend_hostname1" && $0[1] == "db1" })
        #expect(!rows.contains { $0[1] == "secret" })
    }

    @Test func unknownParametersAndWrongContextsAreRefused() async throws {
        #expect(try await Self.answer("PGPOOL SHOW no_such_thing")
            == .error(sqlState: "42704", message: "unrecognized configuration parameter \"no_such_thing\""))
        #expect(try await Self.answer("PGPOOL SET no_such_thing = 1")
            == .error(sqlState: "42704", message: "unrecognized configuration parameter \"no_such_thing\""))
        #expect(try await Self.answer("PGPOOL SET port = 1")
            == .error(sqlState: "55P02", message: "invalid Context, value for parameter \"port\" cannot be changed"))
        #expect(try await Self.answer("PGPOOL RESET all") == .done(tag: "RESET"))
    }

    @Test func reportsComeFromOneSnapshot() async throws {
        #expect(try await Self.answer("SHOW pool_version")
            == .table(columns: ["pool_version"], rows: [["\(PgpoolReports.pgpoolVersion) (SwiftPool 9.9.9)"]]))
        guard case .table(let columns, let rows) = try await Self.answer("SHOW pool_nodes") else {
            Issue.record("SHOW pool_nodes is a table")
            return
        }
        #expect(columns.prefix(4) == ["node_id", "hostname", "port", "status"])
        #expect(rows.map { Array($0.prefix(3)) } == [["0", "db0", "5432"], ["1", "db1", "5433"]])
        let loadBalanceNode = try #require(columns.firstIndex(of: "load_balance_node"))
        #expect(rows.map { $0[loadBalanceNode] } == ["false", "true"])
    }

    @Test func nothingIsAnsweredBeforeTheServicesArePluggedIn() async throws {
        let deferred = DeferredAdminCommands()
        let command = try #require(AdminCommand.parse("SHOW pool_version"))
        #expect(await deferred.answer(command, loadBalanceNode: nil, overrides: [:])
            == .error(sqlState: "57P03", message: "SwiftPool is still starting"))
        deferred.set(SQLAdminCommands(services: try Self.services()))
        guard case .table = await deferred.answer(command, loadBalanceNode: nil, overrides: [:]) else {
            Issue.record("answered once plugged in")
            return
        }
    }

    @Test func effectiveConfigurationListsNodeParametersPerNodeAndRedactsSecrets() throws {
        let values = try Self.services().configuration()
        #expect(values["backend_hostname0"] == "db0")
        #expect(values["backend_weight1"] == "3")
        #expect(values["sr_check_password"] == "********")
        #expect(values["health_check_password"] == "")
    }
}
