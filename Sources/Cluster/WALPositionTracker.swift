import Clocks
import Logging
import NIOPosix

/// read_your_writes: every `read_your_writes_check_period` reads the primary's WAL insert
/// position, then each usable standby's replay position, into ``WALPositions``. It keeps one
/// connection per node (as sr_check_user) and opens it again when it fails.
public final class WALPositionTracker: Sendable {
    public struct Settings: Sendable {
        /// Whether read_your_writes is on.
        public var enabled: Bool
        public var period: Duration
        /// Who connects, as for the streaming-replication check.
        public var connection: ReplicationChecker.Settings

        public init(enabled: Bool, period: Duration, connection: ReplicationChecker.Settings) {
            self.enabled = enabled
            self.period = period
            self.connection = connection
        }
    }

    public let positions: WALPositions
    private let cluster: ClusterState
    private let logger: Logger
    private let clock: AnyClock<Duration>
    private let loop = BackgroundLoop()

    public init(cluster: ClusterState, positions: WALPositions = WALPositions(), logger: Logger,
                clock: AnyClock<Duration> = AnyClock(ContinuousClock())) {
        self.cluster = cluster
        self.positions = positions
        self.logger = logger
        self.clock = clock
    }

    /// Starts (or restarts, on reload) the loop; stops it when read_your_writes is off.
    public func start(_ settings: Settings) {
        stop()
        guard settings.enabled, settings.period > .zero else { return }
        loop.start { [self] in await run(settings) }
    }

    public func stop() {
        loop.stop()
    }

    private func run(_ settings: Settings) async {
        let connections = NodeConnections()
        var primary: Int?
        while !Task.isCancelled {
            let snapshot = cluster.snapshot
            if snapshot.primaryNodeID != primary {
                primary = snapshot.primaryNodeID
                positions.reset()
            }
            if let primary, let primaryNode = snapshot.nodes.first(where: { $0.id == primary }) {
                let standbys = snapshot.nodes.filter { $0.id != primary && $0.status.isUsable }
                let positions = self.positions
                _ = try? await NIOThreadPool.singleton.runIfActive {
                    connections.read(primary: primaryNode, standbys: standbys, into: positions, settings: settings.connection)
                }
            }
            do { try await clock.sleep(for: settings.period) } catch { return }
        }
        connections.closeAll()
    }
}

/// The tracker's connections, used from one thread-pool job at a time (the loop awaits each).
private final class NodeConnections: @unchecked Sendable {
    private var byNode: [Int: LibPQConnection] = [:]

    func read(primary: NodeInfo, standbys: [NodeInfo], into positions: WALPositions, settings: ReplicationChecker.Settings) {
        let sample = positions.beginSample()
        if let text = query(primary, "SELECT pg_catalog.pg_current_wal_insert_lsn()", settings),
           let position = ReplicationAnalysis.walPosition(text) {
            positions.recordPrimary(position, sample: sample)
        }
        for standby in standbys {
            let text = query(standby, "SELECT pg_catalog.pg_last_wal_replay_lsn()", settings)
            positions.recordReplay(text.flatMap(ReplicationAnalysis.walPosition), node: standby.id)
        }
    }

    private func query(_ node: NodeInfo, _ sql: String, _ settings: ReplicationChecker.Settings) -> String? {
        if byNode[node.id] == nil {
            byNode[node.id] = try? LibPQConnection(
                host: node.host, port: node.port, user: settings.check.user, password: settings.password,
                database: settings.check.database, connectTimeoutSeconds: settings.connectTimeoutSeconds)
        }
        guard let connection = byNode[node.id] else { return nil }
        do {
            return try connection.queryScalar(sql)
        } catch {
            byNode[node.id] = nil
            return nil
        }
    }

    func closeAll() { byNode.removeAll() }
}
