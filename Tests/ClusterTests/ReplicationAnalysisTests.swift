import Configuration
import Testing

@testable import Cluster

@Suite struct ReplicationAnalysisTests {
    let nodes = (0..<3).map { NodeInfo(id: $0, host: "127.0.0.1", port: 15501 + $0, weight: 1, applicationName: "node\($0)") }

    @Test func walPositions() {
        #expect(ReplicationAnalysis.walPosition("0/3000060") == 0x3000060)
        #expect(ReplicationAnalysis.walPosition("16/B374D848") == (0x16 << 32) | 0xB374D848)
        #expect(ReplicationAnalysis.walPosition("garbage") == nil)
        #expect(ReplicationAnalysis.walPosition("1/2/3") == nil)
    }

    @Test func delaysAndThresholds() {
        let readings = ReplicationReadings(
            nodes: [.init(id: 0, inRecovery: false, walPosition: 10_000), .init(id: 1, inRecovery: true, walPosition: 9_000),
                    .init(id: 2, inRecovery: true, walPosition: 10_500)],
            senders: [.init(applicationName: "node1", state: "streaming", syncState: "sync", replayLagSeconds: 2.5),
                      .init(applicationName: "node2", state: "catchup", syncState: "async", replayLagSeconds: nil)])
        var settings = StreamingReplicationCheckConfig(delayThresholdBytes: 500)
        var (findings, lagging) = ReplicationAnalysis.delays(readings, primaryID: 0, nodes: nodes, settings: settings)
        #expect(findings[1] == ReplicationInfo(delayBytes: 1_000, delaySeconds: 2.5, state: "streaming", syncState: "sync"))
        #expect(findings[2] == ReplicationInfo(delayBytes: 0, delaySeconds: 0, state: "catchup", syncState: "async"))
        #expect(findings[0]?.delayBytes == 0)
        #expect(lagging == [1])
        settings = StreamingReplicationCheckConfig(delayThresholdTime: .seconds(2))
        (findings, lagging) = ReplicationAnalysis.delays(readings, primaryID: 0, nodes: nodes, settings: settings)
        #expect(lagging == [1])
        settings = StreamingReplicationCheckConfig()
        (_, lagging) = ReplicationAnalysis.delays(readings, primaryID: 0, nodes: nodes, settings: settings)
        #expect(lagging.isEmpty)
    }

    @Test func autoFailbackNeedsAStreamingSender() {
        var down = nodes
        down[1].status = .down
        down[2].status = .down
        let readings = ReplicationReadings(nodes: [], senders: [
            .init(applicationName: "node1", state: "streaming", syncState: "async", replayLagSeconds: nil),
            .init(applicationName: "node2", state: "startup", syncState: "async", replayLagSeconds: nil),
        ])
        #expect(ReplicationAnalysis.autoFailbackCandidates(readings, nodes: down) == [1])
    }

    @Test func falsePrimaryIsTheOneNoStandbyFollows() {
        let readings = ReplicationReadings(
            nodes: [.init(id: 0, inRecovery: false, walPosition: nil), .init(id: 1, inRecovery: false, walPosition: nil),
                    .init(id: 2, inRecovery: true, walPosition: nil)],
            senders: [], upstreams: [2: ("localhost", 15502)])
        #expect(ReplicationAnalysis.falsePrimaries(readings, nodes: nodes) == [0])
        let noStandby = ReplicationReadings(nodes: Array(readings.nodes.prefix(2)), senders: [])
        #expect(ReplicationAnalysis.falsePrimaries(noStandby, nodes: nodes) == [1])
        let single = ReplicationReadings(nodes: [readings.nodes[0], readings.nodes[2]], senders: [], upstreams: [2: ("x", 1)])
        #expect(ReplicationAnalysis.falsePrimaries(single, nodes: nodes).isEmpty)
    }
}
