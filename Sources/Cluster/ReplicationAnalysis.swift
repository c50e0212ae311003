import Configuration

/// What one round of the streaming-replication check read from the nodes.
public struct ReplicationReadings: Sendable, Equatable {
    /// One node's answer to `pg_is_in_recovery()` and its WAL position (current LSN on a
    /// primary, replay LSN on a standby).
    public struct Node: Sendable, Equatable {
        public var id: Int
        public var inRecovery: Bool
        public var walPosition: UInt64?

        public init(id: Int, inRecovery: Bool, walPosition: UInt64?) {
            self.id = id
            self.inRecovery = inRecovery
            self.walPosition = walPosition
        }
    }

    /// One row of the primary's `pg_stat_replication`.
    public struct Sender: Sendable, Equatable {
        public var applicationName: String
        public var state: String
        public var syncState: String
        public var replayLagSeconds: Double?

        public init(applicationName: String, state: String, syncState: String, replayLagSeconds: Double?) {
            self.applicationName = applicationName
            self.state = state
            self.syncState = syncState
            self.replayLagSeconds = replayLagSeconds
        }
    }

    /// The nodes that answered.
    public var nodes: [Node]
    /// The primary's WAL senders.
    public var senders: [Sender]
    /// Where each standby's WAL receiver streams from (`sender_host`, `sender_port`).
    public var upstreams: [Int: (host: String, port: Int)]

    public init(nodes: [Node], senders: [Sender], upstreams: [Int: (host: String, port: Int)] = [:]) {
        self.nodes = nodes
        self.senders = senders
        self.upstreams = upstreams
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.nodes == rhs.nodes && lhs.senders == rhs.senders
            && lhs.upstreams.mapValues { "\($0.host):\($0.port)" } == rhs.upstreams.mapValues { "\($0.host):\($0.port)" }
    }
}

/// Turns a round of readings into replication delays, lagging standbys, auto-failback
/// candidates and false primaries. Pure.
public enum ReplicationAnalysis {
    /// A WAL position written `X/Y` (hexadecimal halves) as a byte offset.
    public static func walPosition(_ text: String) -> UInt64? {
        let halves = text.split(separator: "/")
        guard halves.count == 2, let high = UInt64(halves[0], radix: 16), let low = UInt64(halves[1], radix: 16),
              high <= UInt64(UInt32.max), low <= UInt64(UInt32.max) else { return nil }
        return high << 32 | low
    }

    /// Each answering standby's delay behind `primaryID` and its replication state, and the
    /// standbys over either threshold.
    public static func delays(
        _ readings: ReplicationReadings, primaryID: Int?, nodes: [NodeInfo], settings: StreamingReplicationCheckConfig
    ) -> (findings: [Int: ReplicationInfo], lagging: Set<Int>) {
        let primaryPosition = readings.nodes.first { $0.id == primaryID }?.walPosition
        var findings: [Int: ReplicationInfo] = [:]
        var lagging: Set<Int> = []
        for reading in readings.nodes {
            guard let node = nodes.first(where: { $0.id == reading.id }) else { continue }
            if reading.id == primaryID {
                findings[reading.id] = ReplicationInfo(delayBytes: 0, delaySeconds: 0)
                continue
            }
            var info = ReplicationInfo()
            if let primaryPosition, let position = reading.walPosition {
                info.delayBytes = primaryPosition > position ? primaryPosition - position : 0
            }
            if !node.applicationName.isEmpty, let sender = readings.senders.first(where: { $0.applicationName == node.applicationName }) {
                info.state = sender.state
                info.syncState = sender.syncState
                info.delaySeconds = sender.replayLagSeconds ?? 0
            }
            findings[reading.id] = info
            let overBytes = settings.delayThresholdBytes > 0 && (info.delayBytes ?? 0) > settings.delayThresholdBytes
            let thresholdSeconds = Double(settings.delayThresholdTime.components.seconds)
                + Double(settings.delayThresholdTime.components.attoseconds) / 1e18
            let overTime = thresholdSeconds > 0 && (info.delaySeconds ?? 0) > thresholdSeconds
            if overBytes || overTime { lagging.insert(reading.id) }
        }
        return (findings, lagging)
    }

    /// Down standbys that stream from the primary again (`auto_failback`): found in
    /// `pg_stat_replication` by their application name, in state `streaming`.
    public static func autoFailbackCandidates(_ readings: ReplicationReadings, nodes: [NodeInfo]) -> [Int] {
        nodes.filter { node in
            node.status == .down && !node.applicationName.isEmpty
                && readings.senders.contains { $0.applicationName == node.applicationName && $0.state == "streaming" }
        }.map(\.id)
    }

    /// With more than one node out of recovery: the ones that are not the true primary. The true
    /// primary is the one every answering standby streams from; without standbys, the lowest id.
    /// Empty when there is at most one primary or no primary is followed by all standbys.
    public static func falsePrimaries(_ readings: ReplicationReadings, nodes: [NodeInfo]) -> [Int] {
        let primaries = readings.nodes.filter { !$0.inRecovery }.map(\.id).sorted()
        guard primaries.count > 1 else { return [] }
        let standbys = readings.nodes.filter(\.inRecovery).map(\.id)
        guard !standbys.isEmpty else { return Array(primaries.dropFirst()) }
        let followed = primaries.filter { primary in
            guard let node = nodes.first(where: { $0.id == primary }) else { return false }
            return standbys.allSatisfy { standby in
                guard let upstream = readings.upstreams[standby] else { return false }
                return upstream.port == node.port && sameHost(upstream.host, node.host)
            }
        }
        guard followed.count == 1 else { return [] }
        return primaries.filter { $0 != followed[0] }
    }

    static func sameHost(_ a: String, _ b: String) -> Bool {
        let loopback: Set<String> = ["localhost", "127.0.0.1", "::1"]
        return a == b || (loopback.contains(a) && loopback.contains(b))
    }
}
