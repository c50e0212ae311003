import Configuration
import Foundation
import Testing

@Suite("Shipped example configurations")
struct ExampleConfigTests {
    func path(_ relative: String) -> String {
        repositoryRoot.appendingPathComponent(relative).path
    }

    @Test func referenceConfigurationLoadsWithTheWatchdog() throws {
        let loaded = try ConfigLoader.load(path: path("config/reference/pgpool.conf"))
        let config = loaded.config
        #expect(config.port == 15432)
        #expect(config.pcpPort == 19898)
        #expect(config.listenAddresses == ["*"])
        #expect(config.backends.map(\.hostname) == ["pg-1", "pg-2", "pg-3", "pg-4"])
        #expect(config.backends.map(\.port) == [5432, 5432, 5432, 5432])
        #expect(config.backends.map(\.weight) == [0, 1, 1, 1])
        #expect(config.backends.map(\.applicationName) == ["pg-1", "pg-2", "pg-3", "pg-4"])
        #expect(config.backends.allSatisfy { $0.flags == BackendFlags() })
        #expect(config.numInitChildren == 32 && config.maxPool == 4)
        #expect(config.connectionLifeTime == .zero && config.clientIdleLimit == .zero)
        #expect(config.loadBalanceMode && config.statementLevelLoadBalance)
        #expect(config.disableLoadBalanceOnWrite == .transaction)
        #expect(config.streamingReplicationCheck.period == .seconds(5))
        #expect(config.streamingReplicationCheck.user == "repmgr")
        #expect(config.healthCheckDefaults.period == .seconds(10))
        #expect(config.healthCheckDefaults.timeout == .seconds(20))
        #expect(config.healthCheckDefaults.maxRetries == 3)
        #expect(config.healthCheckDefaults.retryDelay == .seconds(1))
        #expect(config.healthCheckDefaults.user == "repmgr")
        #expect(config.failover.failoverCommand.contains("%d %h %p %D %m %H %M %P %r %R %N %S"))
        #expect(!config.failover.followPrimaryCommand.isEmpty)
        #expect(config.enablePoolHba)
        #expect(config.poolPasswdPath == path("config/reference/pool_passwd"))
        #expect(config.value("wd_priority") == "2")
        #expect(config.value("use_watchdog") == "on")
        #expect(!loaded.diagnostics.contains { $0.kind == .notSupportedYet || $0.kind == .unrecognizedParameter })
        let watchdog = config.watchdog
        #expect(watchdog.enabled && watchdog.priority == 2)
        #expect(watchdog.local.name == "swiftpool-1:9000" && watchdog.local.pgpoolPort == 15432)
        #expect(watchdog.peers.map(\.name) == ["swiftpool-2:9000"])
        #expect(watchdog.heartbeatTargets == [HeartbeatDestination(host: "swiftpool-2", port: 9694)])
    }

    @Test func secondReferenceInstanceIsTheOtherMember() throws {
        let loaded = try ConfigLoader.load(path: path("config/reference-2/pgpool.conf"))
        #expect(!loaded.diagnostics.contains { $0.kind == .notSupportedYet || $0.kind == .unrecognizedParameter })
        let first = try ConfigLoader.load(path: path("config/reference/pgpool.conf")).config.watchdog
        let second = loaded.config.watchdog
        #expect(second.local == first.peers.first && second.peers.first == first.local)
        #expect(second.priority < first.priority, "instance 1 is meant to lead")
        #expect(second.authKey == first.authKey)
    }

    @Test func demoConfigurationLoadsCleanly() throws {
        let loaded = try ConfigLoader.load(path: path("config/demo/pgpool.conf"))
        // Only settings of features still to come are reported; nothing is unknown or wrong.
        #expect(loaded.diagnostics.allSatisfy { $0.kind == .notSupportedYet })
        let config = loaded.config
        #expect(config.listenAddresses == ["127.0.0.1"])
        #expect(config.port == 15432 && config.pcpPort == 19898)
        #expect(config.backends.map(\.hostname) == Array(repeating: "127.0.0.1", count: 4))
        #expect(config.backends.map(\.port) == [15501, 15502, 15503, 15504])
        #expect(config.backends.map(\.weight) == [0, 1, 1, 1])
        #expect(config.backends.map(\.applicationName) == ["node0", "node1", "node2", "node3"])
        #expect(config.pidFilePath == path("config/demo/run/swiftpool.pid"))
        #expect(config.socketDirectory == path("config/demo/run"))
        #expect(config.logDirectory == path("config/demo/run"))
        #expect(config.healthCheckDefaults.user == "repmgr" && config.healthCheckDefaults.password == "")
        #expect(config.streamingReplicationCheck.user == "repmgr")
    }

    @Test(arguments: ["config/reference", "config/demo"])
    func companionFilesLoad(directory: String) throws {
        let passwd = try PoolPasswd.load(path: path("\(directory)/pool_passwd"))
        #expect(passwd.diagnostics.isEmpty)
        #expect(passwd.password(for: "postgres") == .plain("postgrespass"))
        #expect(passwd.password(for: "repmgr") == .plain("repmgrpass"))
        #expect(passwd.password(for: "app_readwrite") == .plain("readwrite456"))
        #expect(passwd.password(for: "app_readonly") == .plain("readonly123"))
        let hba = try PoolHba.load(path: path("\(directory)/pool_hba.conf"))
        #expect(hba.diagnostics.isEmpty)
        let local = HbaConnection(kind: .host(address: "127.0.0.1"), database: "swiftpool_test", user: "app_readonly")
        #expect(hba.match(connection: local)?.method == .scramSHA256)
        #expect(hba.match(connection: HbaConnection(kind: .local, database: "postgres", user: "postgres"))?.method == .scramSHA256)
        let pcp = try PCPUsers.load(path: path("\(directory)/pcp.conf"))
        #expect(pcp.passwordMD5(for: "pcpadmin") == "9e5cc4cae447769a19c378d7da878eab")
    }

    @Test func demoRejectsRemoteClients() throws {
        let hba = try PoolHba.load(path: path("config/demo/pool_hba.conf"))
        #expect(hba.match(connection: HbaConnection(kind: .host(address: "10.1.2.3"), database: "x", user: "y")) == nil)
    }
}
