import Foundation
import Testing

@testable import Cluster

@Suite struct StatusFileTests {
    @Test func formatAndParseRoundTrip() {
        var nodes = [NodeInfo(id: 0, host: "a", port: 1, weight: 1, status: .up),
                     NodeInfo(id: 2, host: "b", port: 2, weight: 1, status: .down)]
        let snapshot = ClusterState.Snapshot(nodes: nodes, primaryNodeID: 0)
        #expect(StatusFile.format(snapshot) == "up\nunused\ndown\n")
        #expect(StatusFile.parse("up\nunused\ndown\n") == [0: .up, 1: .unused, 2: .down])
        nodes[0].status = .waiting
        #expect(StatusFile.format(ClusterState.Snapshot(nodes: nodes, primaryNodeID: nil)).hasPrefix("up\n"))
    }

    @Test func fileWithoutAnUpNodeOrUnknownWordsIsIgnored() {
        #expect(StatusFile.parse("down\ndown\n") == nil)
        #expect(StatusFile.parse("up\nsideways\n") == nil)
        #expect(StatusFile.parse("") == nil)
    }

    @Test func writeReadAndSkipWhenNothingIsUp() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pgpool_status-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cluster = ClusterState(nodes: [NodeInfo(id: 0, host: "a", port: 1, weight: 1), NodeInfo(id: 1, host: "b", port: 2, weight: 1)])
        cluster.setStatus(.down, of: 1)
        try StatusFile.write(cluster.snapshot, to: path)
        #expect(StatusFile.read(path: path) == [0: .up, 1: .down])
        cluster.setStatus(.down, of: 0)
        try StatusFile.write(cluster.snapshot, to: path)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "up\ndown\n")
    }

    @Test func clusterStateRecordsChangesAndTellsObservers() {
        let cluster = ClusterState(nodes: [NodeInfo(id: 0, host: "a", port: 1, weight: 1, lastStatusChange: 1)])
        #expect(cluster.snapshot.nodes[0].lastStatusChange == 1)
        let seen = Counter()
        cluster.observeStatus { _ in seen.add() }
        let generation = cluster.generation
        #expect(cluster.setStatus(.down, of: 0))
        #expect(!cluster.setStatus(.down, of: 0))
        #expect(cluster.generation == generation + 1)
        #expect(seen.value == 1)
        #expect(cluster.snapshot.nodes[0].lastStatusChange > 1)
        cluster.updateReplication([0: ReplicationInfo(delayBytes: 5)], lagging: [])
        #expect(cluster.generation == generation + 1)
        cluster.updateReplication([:], lagging: [0])
        #expect(cluster.generation == generation + 2)
        #expect(cluster.snapshot.nodes[0].replication.delayBytes == 5)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
