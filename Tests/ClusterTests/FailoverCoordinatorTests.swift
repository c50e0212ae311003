import Clocks
import Configuration
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import Cluster

/// The coordinator's sequencing, with the node-facing hooks answered by the test and real
/// shell commands writing what they were given.
@Suite struct FailoverCoordinatorTests {
    final class Recorder: Sendable {
        let ended = NIOLockedValueBox<[[Int]]>([])
        let primaryAnswers = NIOLockedValueBox<[Int?]>([])
        let primaries = NIOLockedValueBox<[Int?]>([])
        let reachable = NIOLockedValueBox<Set<Int>>([])
        /// Whether the primary gate was closed at each primary search.
        let gateClosedAtSearch = NIOLockedValueBox<[Bool]>([])
    }

    let output = FileManager.default.temporaryDirectory.appendingPathComponent("coordinator-\(UUID()).out").path

    func make(_ failover: FailoverConfig, primary: Int = 0,
              clock: AnyClock<Duration> = AnyClock(ContinuousClock())) -> (FailoverCoordinator, ClusterState, Recorder) {
        let cluster = ClusterState(nodes: (0..<4).map {
            NodeInfo(id: $0, host: "h\($0)", port: 5000 + $0, weight: 1, dataDirectory: "/d\($0)")
        })
        cluster.setPrimary(primary)
        let recorder = Recorder()
        let hooks = FailoverCoordinator.Hooks(
            endSessions: { nodes in recorder.ended.withLockedValue { $0.append(nodes) } },
            primaryChanged: { node in recorder.primaries.withLockedValue { $0.append(node?.id) } },
            probe: { node in recorder.reachable.withLockedValue { $0.contains(node.id) } },
            findPrimary: { _ in
                recorder.gateClosedAtSearch.withLockedValue { $0.append(cluster.primaryGate.isClosed) }
                return recorder.primaryAnswers.withLockedValue { $0.isEmpty ? nil : $0.removeFirst() }
            })
        return (FailoverCoordinator(cluster: cluster, settings: failover, hooks: hooks, logger: Logger(label: "test"), clock: clock),
                cluster, recorder)
    }

    var lines: [String] {
        ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func detachAttachAndRefusals() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let (coordinator, cluster, recorder) = make(FailoverConfig(
            failoverCommand: "echo failover %d %m >> \(output)", failbackCommand: "echo failback %d >> \(output)"))
        #expect(await refusal { try await coordinator.detach(3, immediate: true) } == nil)
        #expect(cluster.snapshot.node(3)?.status == .down)
        #expect(recorder.ended.withLockedValue { $0 } == [[3]])
        #expect(await refusal { try await coordinator.detach(3, immediate: true) } == .alreadyDown(3))
        #expect(await refusal { try await coordinator.detach(2, immediate: false) } == nil)
        #expect(recorder.ended.withLockedValue { $0 } == [[3]], "a graceful detach leaves sessions alone")
        #expect(await refusal { try await coordinator.attach(3) } == nil)
        #expect(cluster.snapshot.node(3)?.status == .waiting)
        #expect(await refusal { try await coordinator.attach(3) } == .alreadyUp(3))
        #expect(await refusal { try await coordinator.detach(9, immediate: true) } == .noSuchNode(9))
        #expect(lines == ["failover 3 0", "failover 2 0", "failback 3"])
        #expect(coordinator.statistics.byReason[.detach] == 2)
        #expect(cluster.snapshot.primaryNodeID == 0, "a standby going down keeps the primary")
    }

    @Test func primaryFailureSearchesAndRunsFollowPrimaryForTheOthers() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let (coordinator, cluster, recorder) = make(FailoverConfig(
            failoverCommand: "echo failover %d %m %P >> \(output)",
            followPrimaryCommand: "echo follow %d %m %H %r %M %P >> \(output)", searchPrimaryTimeout: .seconds(10)))
        recorder.primaryAnswers.withLockedValue { $0 = [nil, 1] }
        coordinator.reportFailure(of: 0, reason: .healthCheck)
        try await waitUntil { lines.count == 4 }
        #expect(lines == ["failover 0 1 0", "follow 0 1 h1 5001 0 0", "follow 2 1 h1 5001 0 0", "follow 3 1 h1 5001 0 0"])
        #expect(cluster.snapshot.primaryNodeID == 1)
        #expect(recorder.primaries.withLockedValue { $0 } == [1])
        #expect(cluster.snapshot.nodes.map(\.status) == [.down, .waiting, .down, .down])
        #expect(coordinator.statistics.byReason[.healthCheck] == 1)
        #expect(coordinator.statistics.byReason[.followPrimary] == 2)
    }

    @Test func loginsWaitFromThePrimarysLossUntilTheSearchEnds() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let (coordinator, cluster, recorder) = make(FailoverConfig(
            failoverCommand: "echo failover %d >> \(output)", searchPrimaryTimeout: .seconds(10)))
        #expect(await refusal { try await coordinator.detach(3, immediate: true) } == nil)
        #expect(!cluster.primaryGate.isClosed, "a standby's loss leaves the primary alone")
        let opened = NIOLockedValueBox(false)
        recorder.primaryAnswers.withLockedValue { $0 = [nil, 1] }
        coordinator.reportFailure(of: 0, reason: .healthCheck)
        try await waitUntil { cluster.primaryGate.isClosed || cluster.snapshot.primaryNodeID == 1 }
        let ticket = cluster.primaryGate.whenOpen { opened.withLockedValue { $0 = true } }
        try await waitUntil { cluster.snapshot.primaryNodeID == 1 }
        #expect(recorder.gateClosedAtSearch.withLockedValue { $0 } == [true, true])
        #expect(!cluster.primaryGate.isClosed)
        #expect(ticket == nil || opened.withLockedValue { $0 }, "a login waiting meanwhile goes on")
    }

    @Test func theFailoverCommandIsToldWhyItRuns() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let (coordinator, _, recorder) = make(FailoverConfig(
            failoverCommand: "echo failover %d $SWIFTPOOL_FAILOVER_REASON >> \(output)", searchPrimaryTimeout: .seconds(10)))
        #expect(await refusal { try await coordinator.detach(3, immediate: true) } == nil)
        recorder.primaryAnswers.withLockedValue { $0 = [1] }
        #expect(await refusal { try await coordinator.promote(1, switchover: true) } == nil)
        coordinator.reportFailure(of: 2, reason: .healthCheck)
        try await waitUntil { lines.count == 3 }
        #expect(lines == ["failover 3 detach", "failover 0 switchover", "failover 2 health_check"])
    }

    @Test func backendErrorsAreConfirmedFirst() async throws {
        let (coordinator, cluster, recorder) = make(FailoverConfig())
        recorder.reachable.withLockedValue { $0 = [2] }
        coordinator.backendLost(2, afterShutdownMessage: false)
        coordinator.backendLost(3, afterShutdownMessage: false)
        coordinator.backendLost(1, afterShutdownMessage: true)  // failover_on_backend_shutdown is off
        await coordinator.settled()
        #expect(cluster.snapshot.nodes.map(\.status) == [.waiting, .waiting, .waiting, .down])
    }

    @Test func thePrimarySearchTriesOnceASecondAndGivesUpAtItsTimeout() async throws {
        let clock = TestClock()
        let (coordinator, _, recorder) = make(FailoverConfig(searchPrimaryTimeout: .seconds(10)), clock: AnyClock(clock))
        recorder.primaryAnswers.withLockedValue { $0 = Array(repeating: nil, count: 100) }
        let finished = NIOLockedValueBox(false)
        let search = Task {
            let found = await coordinator.findPrimary()
            finished.withLockedValue { $0 = true }
            return found
        }
        func tried() -> Int { 100 - recorder.primaryAnswers.withLockedValue { $0.count } }
        try await waitUntil { tried() == 1 }
        for second in 1...9 {
            await clock.advance(by: .seconds(1))
            try await waitUntil { tried() == second + 1 }
        }
        #expect(!finished.withLockedValue { $0 }, "9 s into a 10 s search")
        await clock.advance(by: .seconds(1))
        #expect(await search.value == nil)
        #expect(tried() == 11)
    }

    @Test func promote() async throws {
        let (coordinator, cluster, recorder) = make(FailoverConfig())
        #expect(await refusal { try await coordinator.promote(0, switchover: false) } == .alreadyPrimary(0))
        #expect(await refusal { try await coordinator.promote(2, switchover: true) } == .noFailoverCommand)
        #expect(await refusal { try await coordinator.promote(2, switchover: false) } == nil)
        #expect(cluster.snapshot.primaryNodeID == 2)
        #expect(recorder.ended.withLockedValue { $0 } == [[0]], "sessions writing to the old primary end")
        try await coordinator.detach(3, immediate: true)
        #expect(await refusal { try await coordinator.promote(3, switchover: false) } == .notUsable(3))
    }

    @Test func switchoverDetachesThePrimaryAndPromotesTheChosenNode() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let (coordinator, cluster, recorder) = make(FailoverConfig(failoverCommand: "echo failover %d %m >> \(output)"))
        recorder.primaryAnswers.withLockedValue { $0 = [2] }
        #expect(await refusal { try await coordinator.promote(2, switchover: true) } == nil)
        #expect(lines == ["failover 0 2"])
        #expect(cluster.snapshot.primaryNodeID == 2)
        #expect(cluster.snapshot.node(0)?.status == .down)
        #expect(coordinator.statistics.byReason[.switchover] == 1)
    }

    @Test func disallowedNodeStaysAttached() async throws {
        let cluster = ClusterState(nodes: [NodeInfo(id: 0, host: "a", port: 1, weight: 1),
                                           NodeInfo(id: 1, host: "b", port: 2, weight: 1, flags: BackendFlags(allowToFailover: false))])
        let coordinator = FailoverCoordinator(
            cluster: cluster, settings: FailoverConfig(),
            hooks: .init(endSessions: { _ in }, primaryChanged: { _ in }, probe: { _ in false }, findPrimary: { _ in 0 }),
            logger: Logger(label: "test"))
        coordinator.reportFailure(of: 1, reason: .healthCheck)
        await coordinator.settled()
        #expect(cluster.snapshot.node(1)?.status == .waiting)
        #expect(await refusal { try await coordinator.detach(1, immediate: true) } == nil)
    }

    func refusal(_ body: () async throws -> Void) async -> NodeOperationRefusal? {
        do {
            try await body()
            return nil
        } catch let refusal as NodeOperationRefusal {
            return refusal
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while !condition() {
            guard ContinuousClock.now < deadline else { Issue.record("condition not reached"); return }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
