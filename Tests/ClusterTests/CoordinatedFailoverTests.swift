import Configuration
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import Cluster

/// The failover coordinator under a coordination back end (the watchdog's interface), answered
/// here by a scripted one: where operations run, quarantine, and the leader's view applied.
@Suite struct CoordinatedFailoverTests {
    final class Scripted: ClusterCoordination {
        let verdicts = NIOLockedValueBox<[CoordinationVerdict]>([])
        let asked = NIOLockedValueBox<[(BackendOperation, Bool)]>([])

        func route(_ operation: BackendOperation, confirmed: Bool) async -> CoordinationVerdict {
            asked.withLockedValue { $0.append((operation, confirmed)) }
            return verdicts.withLockedValue { $0.isEmpty ? .local : $0.removeFirst() }
        }
    }

    let output = FileManager.default.temporaryDirectory.appendingPathComponent("coordinated-\(UUID()).out").path

    func make() async -> (FailoverCoordinator, ClusterState, Scripted, NIOLockedValueBox<[[Int]]>) {
        let cluster = ClusterState(nodes: (0..<3).map { NodeInfo(id: $0, host: "h\($0)", port: 5000 + $0, weight: 1) })
        cluster.setPrimary(0)
        let ended = NIOLockedValueBox<[[Int]]>([])
        let coordinator = FailoverCoordinator(
            cluster: cluster, settings: FailoverConfig(failoverCommand: "echo failover %d >> \(output)"),
            hooks: .init(endSessions: { nodes in ended.withLockedValue { $0.append(nodes) } }, primaryChanged: { _ in },
                         probe: { _ in false }, findPrimary: { _ in 0 }),
            logger: Logger(label: "test"))
        let scripted = Scripted()
        await coordinator.coordinate(with: scripted)
        return (coordinator, cluster, scripted, ended)
    }

    var lines: [String] {
        ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func settle(_ condition: () -> Bool) async {
        for _ in 0..<200 where !condition() { try? await Task.sleep(for: .milliseconds(10)) }
    }

    @Test func operatorDetachDoneByTheLeaderRunsNoCommandHere() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let (coordinator, cluster, scripted, _) = await make()
        scripted.verdicts.withLockedValue { $0 = [.remote(.success(()))] }
        try await coordinator.detach(2, immediate: true)
        #expect(scripted.asked.withLockedValue { $0.map(\.0) } == [.detach([2], reason: .detach, immediate: true)])
        #expect(scripted.asked.withLockedValue { $0.map(\.1) } == [true], "an operator's detach is confirmed")
        #expect(cluster.snapshot.node(2)?.status == .waiting, "only the leader's view changes this member")
        #expect(lines.isEmpty, "failover_command runs on the leader only")
        scripted.verdicts.withLockedValue { $0 = [.remote(.failure(.refusedByLeader("backend node 2 is already down")))] }
        await #expect(throws: NodeOperationRefusal.refusedByLeader("backend node 2 is already down")) {
            try await coordinator.detach(2, immediate: true)
        }
    }

    @Test func failureWithoutConsensusIsQuarantinedThenReleased() async throws {
        defer { try? FileManager.default.removeItem(atPath: output) }
        let (coordinator, cluster, scripted, ended) = await make()
        scripted.verdicts.withLockedValue { $0 = [.quarantine("1 of 2 votes needed for consensus")] }
        coordinator.reportFailure(of: 1, reason: .healthCheck)
        await settle { cluster.snapshot.node(1)?.status == .quarantine }
        #expect(cluster.snapshot.node(1)?.status == .quarantine)
        #expect(scripted.asked.withLockedValue { $0.map(\.1) } == [false], "a health-check failure needs consensus")
        #expect(ended.withLockedValue { $0 } == [[1]])
        #expect(coordinator.statistics.quarantines == 1)
        #expect(lines.isEmpty)
        // The cluster agrees later: the leader (here) fails the quarantined node over.
        let result = await coordinator.perform(.detach([1], reason: .healthCheck, immediate: true))
        #expect((try? result.get()) != nil)
        #expect(cluster.snapshot.node(1)?.status == .down)
        #expect(lines == ["failover 1"])
    }

    @Test func quarantineEndsWhenTheNodeAnswers() async throws {
        let (coordinator, cluster, scripted, _) = await make()
        scripted.verdicts.withLockedValue { $0 = [.quarantine("no quorum")] }
        coordinator.reportFailure(of: 2, reason: .healthCheck)
        await settle { cluster.snapshot.node(2)?.status == .quarantine }
        await coordinator.releaseQuarantine(of: 2)
        #expect(cluster.snapshot.node(2)?.status == .waiting)
    }

    @Test func adoptsTheLeadersView() async throws {
        let (coordinator, cluster, _, ended) = await make()
        await coordinator.adopt(down: [2], up: [0, 1], primary: 1)
        #expect(cluster.snapshot.node(2)?.status == .down)
        #expect(cluster.snapshot.primaryNodeID == 1)
        #expect(ended.withLockedValue { $0 } == [[2]])
        await coordinator.adopt(down: [], up: [0, 1, 2], primary: 1)
        #expect(cluster.snapshot.node(2)?.status == .waiting)
        #expect(ended.withLockedValue { $0 } == [[2]], "bringing a node back ends nothing")
    }
}
