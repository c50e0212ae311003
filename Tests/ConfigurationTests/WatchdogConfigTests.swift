import Configuration
import Foundation
import Testing

@Suite("Watchdog configuration")
struct WatchdogConfigTests {
    /// A directory with pgpool_node_id holding `id` (nil: no file).
    func directory(nodeID: String?) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wdconf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if let nodeID { try nodeID.write(to: dir.appendingPathComponent("pgpool_node_id"), atomically: true, encoding: .utf8) }
        return dir.path
    }

    let shared = """
        use_watchdog = on
        hostname0 = '10.0.0.1'
        wd_port0 = 9000
        pgpool_port0 = 15432
        heartbeat_hostname0 = '10.0.0.1;10.1.0.1'
        heartbeat_port0 = 9694
        hostname1 = '10.0.0.2'
        wd_port1 = 9001
        pgpool_port1 = 15433
        heartbeat_hostname1 = '10.0.0.2'
        heartbeat_port1 = 9695
        hostname2 = '10.0.0.3'
        pgpool_port2 = 15434
        wd_priority = 3
        wd_authkey = 'k'
        if_cmd_path = '/usr/sbin'
        if_up_cmd = 'ip addr add $_IP_$/24 dev eth0'
        if_down_cmd = '/sbin/ip addr del $_IP_$/24 dev eth0'
        delegate_IP = '10.0.0.100'
        """

    @Test func sharedFileWithNodeIDFile() throws {
        let dir = try directory(nodeID: "1\n")
        let config = try ConfigLoader.parse(text: shared, fileName: dir + "/pgpool.conf").config.watchdog
        #expect(config.enabled)
        #expect(config.local == WatchdogMemberConfig(id: 1, host: "10.0.0.2", wdPort: 9001, pgpoolPort: 15433))
        #expect(config.peers.map(\.name) == ["10.0.0.1:9000", "10.0.0.3:9000"])
        #expect(config.heartbeatListenPort == 9695)
        #expect(config.heartbeatTargets == [
            HeartbeatDestination(host: "10.0.0.1", port: 9694), HeartbeatDestination(host: "10.1.0.1", port: 9694),
            HeartbeatDestination(host: "10.0.0.3", port: 9694),
        ])
        #expect(config.priority == 3 && config.authKey == "k")
        #expect(config.ifUpCommand == "/usr/sbin/ip addr add $_IP_$/24 dev eth0")
        #expect(config.expand(config.ifDownCommand) == "/sbin/ip addr del 10.0.0.100/24 dev eth0")
        #expect(config.delegateIP == "10.0.0.100")
    }

    @Test func nodeIDFileMissingOrWrong() throws {
        let missing = try directory(nodeID: nil)
        #expect(throws: ConfigError.self) { try ConfigLoader.parse(text: shared, fileName: missing + "/pgpool.conf") }
        do {
            _ = try ConfigLoader.parse(text: shared, fileName: missing + "/pgpool.conf")
        } catch {
            #expect(error.file == missing + "/pgpool_node_id")
            #expect(error.description.contains("pgpool_node_id"))
        }
        let wrong = try directory(nodeID: "7")
        do {
            _ = try ConfigLoader.parse(text: shared, fileName: wrong + "/pgpool.conf")
            Issue.record("node 7 accepted")
        } catch {
            #expect(error.line == 1 && error.description.contains("\"7\" is not a configured watchdog member number"))
        }
    }

    @Test func pgpool41Style() throws {
        let loaded = try ConfigLoader.parse(text: """
            port = 15433
            use_watchdog = on
            wd_hostname = 'pgpool-2'
            wd_port = 9000
            wd_heartbeat_port = 9694
            other_pgpool_hostname0 = 'pgpool-1'
            other_pgpool_port0 = 15432
            other_wd_port0 = 9000
            heartbeat_destination0 = 'pgpool-1'
            heartbeat_destination_port0 = 9694
            wd_priority = 1
            wd_authkey = 'k'
            """, fileName: "/etc/swiftpool/pgpool.conf")
        let config = loaded.config.watchdog
        #expect(config.local == WatchdogMemberConfig(id: 0, host: "pgpool-2", wdPort: 9000, pgpoolPort: 15433))
        #expect(config.peers == [WatchdogMemberConfig(id: 1, host: "pgpool-1", wdPort: 9000, pgpoolPort: 15432)])
        #expect(config.heartbeatListenPort == 9694)
        #expect(config.heartbeatTargets == [HeartbeatDestination(host: "pgpool-1", port: 9694)])
        #expect(!loaded.diagnostics.contains { $0.kind == .notSupportedYet })
    }

    @Test func watchdogWithoutMembersIsAnError() {
        let error = configError("use_watchdog = on")
        #expect(error?.parameter == "use_watchdog")
        #expect(error?.line == 1)
    }

    @Test func warnsAboutAnEmptyKeyAndALonePairWithHalfVotes() throws {
        let loaded = try ConfigLoader.parse(text: """
            use_watchdog = on
            wd_hostname = 'a'
            other_pgpool_hostname0 = 'b'
            enable_consensus_with_half_votes = on
            """, fileName: "/etc/swiftpool/pgpool.conf")
        let messages = loaded.diagnostics.map(\.message)
        #expect(messages.contains { $0.contains("wd_authkey is not set") })
        #expect(messages.contains { $0.contains("trusted_servers") })
        #expect(loaded.config.watchdog.heartbeatTargets == [HeartbeatDestination(host: "b", port: 9694)])
    }

    @Test func disabledByDefault() throws {
        #expect(try loadConfig("port = 9999").config.watchdog == .disabled)
    }
}
