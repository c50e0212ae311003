import Testing
@testable import Proxy
import Cluster
import Configuration
import Routing

@Suite("Client admission")
struct AdmissionStateTests {
    @Test func grantsUpToCapacityThenQueuesInOrder() {
        var state = AdmissionState(capacity: 2, reserved: 0)
        #expect(state.request(1) == .granted)
        #expect(state.request(2) == .granted)
        #expect(state.request(3) == .queued)
        #expect(state.request(4) == .queued)
        #expect(state.release() == 3)
        #expect(state.active == 2)
        #expect(state.release() == 4)
        #expect(state.release() == nil)
        #expect(state.active == 1)
    }

    @Test func withdrawnWaitersAreSkipped() {
        var state = AdmissionState(capacity: 1, reserved: 0)
        _ = state.request(1)
        _ = state.request(2)
        _ = state.request(3)
        let first = state.withdraw(2)
        let second = state.withdraw(2)
        #expect(first)
        #expect(!second)
        #expect(state.release() == 3)
    }

    @Test func reservedConnectionsRefuseInsteadOfQueueing() {
        var state = AdmissionState(capacity: 3, reserved: 1)
        #expect(state.request(1) == .granted)
        #expect(state.request(2) == .granted)
        #expect(state.request(3) == .refused)
        _ = state.release()
        #expect(state.request(4) == .granted)
    }

    @Test func newcomersDoNotOvertakeWaiters() {
        var state = AdmissionState(capacity: 1, reserved: 0)
        _ = state.request(1)
        _ = state.request(2)
        // Slot handed to waiter 2 directly; a newcomer must queue.
        #expect(state.release() == 2)
        #expect(state.request(3) == .queued)
    }

    @Test func growingCapacityAdmitsWaiters() {
        var state = AdmissionState(capacity: 1, reserved: 0)
        _ = state.request(1)
        _ = state.request(2)
        _ = state.request(3)
        #expect(state.resize(capacity: 2, reserved: 0) == [2])
        #expect(state.active == 2)
        #expect(state.waitingCount == 1)
    }
}

@Suite("Settings reload")
struct SettingsReloadTests {
    @Test func restartOnlyValuesKeepTheirRunningValues() {
        var running = ProxySettings()
        running.port = 15432
        running.numInitChildren = 32
        var fresh = ProxySettings()
        fresh.port = 20000
        fresh.numInitChildren = 64
        fresh.clientIdleLimit = .seconds(30)
        fresh.resetQueries = ["DISCARD ALL"]
        let merged = running.reloaded(with: fresh)
        #expect(merged.port == 15432)
        #expect(merged.numInitChildren == 32)
        #expect(merged.clientIdleLimit == .seconds(30))
        #expect(merged.resetQueries == ["DISCARD ALL"])
    }
}

@Suite("Listen addresses")
struct ListenAddressTests {
    @Test func expandsWildcardAndLocalhost() {
        #expect(listenHosts(["*"], any: "::") == ["::"])
        #expect(listenHosts(["localhost", "127.0.0.1", ""], any: "::") == ["127.0.0.1"])
        #expect(listenHosts(["10.0.0.5", "::1"], any: "::") == ["10.0.0.5", "::1"])
        #expect(listenHosts(["*", "localhost"], any: "0.0.0.0") == ["0.0.0.0", "127.0.0.1"])
    }

    @Test func mappedIPv4ClientsAreShownAsIPv4() {
        #expect(ClientSessionHandler.unmappingIPv4("::ffff:127.0.0.1") == "127.0.0.1")
        #expect(ClientSessionHandler.unmappingIPv4("::1") == "::1")
        #expect(ClientSessionHandler.unmappingIPv4("10.1.2.3") == "10.1.2.3")
    }
}

@Suite("Routing helpers")
struct RoutingHelperTests {
    @Test func batchDestinations() {
        #expect(DispatchMachine.combine([], current: .node(2)) == .node(2))
        #expect(DispatchMachine.combine([.node(2), .node(2)], current: .primary) == .node(2))
        #expect(DispatchMachine.combine([.node(2), .node(3)], current: .primary) == .primary)
        #expect(DispatchMachine.combine([.node(2), .primary], current: .primary) == .primary)
        #expect(DispatchMachine.combine([.nodes([0, 2]), .nodes([0, 2])], current: .primary) == .nodes([0, 2]))
        #expect(DispatchMachine.combine([.nodes([0, 2]), .node(2)], current: .primary) == .primary)
    }

    @Test func removingAnUnreachableNode() {
        #expect(DispatchMachine.removing(2, from: .node(2)) == .primary)
        #expect(DispatchMachine.removing(2, from: .nodes([0, 2])) == .primary)
        #expect(DispatchMachine.removing(2, from: .nodes([0, 1, 2])) == .nodes([0, 1]))
        #expect(DispatchMachine.removing(2, from: .node(3)) == .node(3))
        #expect(DispatchMachine.outputNode(of: .nodes([0, 2]), primary: 0) == 0)
        #expect(DispatchMachine.outputNode(of: .node(3), primary: 0) == 3)
    }

    @Test func statementCategoriesAndCounters() {
        func category(_ sql: String) -> StatementCategory {
            DispatchMachine.category(of: SQLClassifier.classify(query: sql).statements[0].kind)
        }
        #expect(category("SELECT 1") == .select)
        #expect(category("INSERT INTO t VALUES (1)") == .insert)
        #expect(category("UPDATE t SET x = 1") == .update)
        #expect(category("DELETE FROM t") == .delete)
        #expect(category("CREATE TABLE t (x int)") == .ddl)
        #expect(category("BEGIN") == .other)
        let statistics = QueryStatistics()
        let node = statistics.counters(for: 1)
        node.count(.select)
        node.count(.select)
        node.count(ErrorSeverity.fatal)
        #expect(statistics.counters(for: 1) === node)
        #expect(statistics.all[1]?.value(.select) == 2)
        #expect(node.value(ErrorSeverity.fatal) == 1)
        #expect(node.value(.insert) == 0)
    }
}

@Suite("Health check statistics")
struct HealthCheckStatisticsTests {
    @Test func recordsOutcomesRetriesAndDurations() {
        let stats = HealthCheckStatistics()
        stats.record(success: true, retries: 0, duration: .milliseconds(3))
        stats.record(success: false, retries: 2, duration: .milliseconds(7))
        stats.recordSkip()
        #expect(stats.checks == 2)
        #expect(stats.successCount == 1 && stats.failureCount == 1 && stats.skipCount == 1)
        #expect(stats.retryCount == 2)
        let snapshot = stats.snapshot
        #expect(snapshot.lastDuration == .milliseconds(7))
        #expect(snapshot.totalDuration == .milliseconds(10))
        #expect(snapshot.minDuration == .milliseconds(3) && snapshot.maxDuration == .milliseconds(7))
        #expect(snapshot.maxRetries == 2 && snapshot.averageRetries == 1)
        #expect(snapshot.lastSuccess != nil && snapshot.lastFailure != nil && snapshot.lastSkip != nil)
        #expect(stats.durations.snapshot.count == 2)
    }
}
