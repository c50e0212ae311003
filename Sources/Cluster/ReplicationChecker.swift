import Clocks
import Configuration
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// The streaming-replication check (`sr_check_period`): every period it reads each usable
/// node's role and WAL position and the primary's `pg_stat_replication`, stores delays and
/// replication states in the cluster state, marks standbys over the delay threshold as lagging,
/// and hands auto-failback candidates and false primaries to the failover coordinator.
public final class ReplicationChecker: Sendable {
    /// Credentials and thresholds of the check.
    public struct Settings: Sendable {
        public var check: StreamingReplicationCheckConfig
        public var password: String?
        public var connectTimeoutSeconds: Int
        public var autoFailback: Bool
        public var autoFailbackInterval: Duration
        public var detachFalsePrimary: Bool

        public init(check: StreamingReplicationCheckConfig, password: String?, connectTimeoutSeconds: Int,
                    failover: FailoverConfig) {
            self.check = check
            self.password = password
            self.connectTimeoutSeconds = connectTimeoutSeconds
            self.autoFailback = failover.autoFailback
            self.autoFailbackInterval = failover.autoFailbackInterval
            self.detachFalsePrimary = failover.detachFalsePrimary
        }
    }

    private let cluster: ClusterState
    private let coordinator: FailoverCoordinator
    private let logger: Logger
    private let loop = BackgroundLoop()
    private let lastFailback = NIOLockedValueBox<[Int: AnyClock<Duration>.Instant]>([:])
    private let clock: AnyClock<Duration>

    /// - Parameter clock: what the period and auto_failback_interval are measured on.
    public init(cluster: ClusterState, coordinator: FailoverCoordinator, logger: Logger,
                clock: AnyClock<Duration> = AnyClock(ContinuousClock())) {
        self.clock = clock
        self.cluster = cluster
        self.coordinator = coordinator
        self.logger = logger
    }

    /// Starts (or restarts, on reload) the check loop; a zero period stops it.
    public func start(_ settings: Settings) {
        stop()
        guard settings.check.isEnabled else { return }
        loop.start { [self] in await run(settings) }
    }

    public func stop() {
        loop.stop()
    }

    /// Checks once right away, so that delays are known from the start, then every period. While
    /// a failover operation (such as the primary search at start) keeps the first check from
    /// running, it is tried again every second.
    private func run(_ settings: Settings) async {
        var checked = false
        while !Task.isCancelled {
            if !coordinator.isBusy {
                await checkOnce(settings)
                checked = true
            }
            let pause = checked ? settings.check.period : min(settings.check.period, .seconds(1))
            do { try await clock.sleep(for: pause) } catch { return }
        }
    }

    /// One round of the check.
    public func checkOnce(_ settings: Settings) async {
        let snapshot = cluster.snapshot
        let usable = snapshot.nodes.filter(\.status.isUsable)
        let primaryID = snapshot.primaryNodeID
        guard let readings = try? await NIOThreadPool.singleton.runIfActive({
            Self.read(usable, primaryID: primaryID, settings: settings)
        }) else { return }
        let effectivePrimary = primaryID ?? readings.nodes.first { !$0.inRecovery }?.id
        let (findings, lagging) = ReplicationAnalysis.delays(
            readings, primaryID: effectivePrimary, nodes: snapshot.nodes, settings: settings.check)
        cluster.updateReplication(findings, lagging: lagging)
        logDelays(findings, lagging: lagging, settings: settings.check, before: snapshot)

        if settings.autoFailback {
            let now = clock.now
            for id in ReplicationAnalysis.autoFailbackCandidates(readings, nodes: cluster.snapshot.nodes) {
                let due = lastFailback.withLockedValue { last in
                    guard last[id].map({ $0.duration(to: now) >= settings.autoFailbackInterval }) ?? true else { return false }
                    last[id] = now
                    return true
                }
                guard due else { continue }
                logger.warning("backend node \(id) streams from the primary again; attaching it (auto_failback)")
                try? await coordinator.attach(id)
            }
        }
        if settings.detachFalsePrimary {
            for id in ReplicationAnalysis.falsePrimaries(readings, nodes: snapshot.nodes) {
                logger.warning("backend node \(id) is a primary that no standby follows; detaching it (detach_false_primary)")
                coordinator.reportFailure(of: id, reason: .falsePrimary)
            }
        }
    }

    private func logDelays(_ findings: [Int: ReplicationInfo], lagging: Set<Int>, settings: StreamingReplicationCheckConfig,
                           before: ClusterState.Snapshot) {
        for (id, info) in findings.sorted(by: { $0.key < $1.key }) where id != before.primaryNodeID {
            let wasLagging = before.node(id)?.isLagging ?? false
            let metadata: Logger.Metadata = ["node": "\(id)", "delay_bytes": "\(info.delayBytes.map(String.init) ?? "unknown")",
                                             "delay_seconds": "\(info.delaySeconds.map { String($0) } ?? "unknown")"]
            if lagging.contains(id), !wasLagging {
                logger.warning("standby is over the delay threshold; it gets no reads", metadata: metadata)
            } else if !lagging.contains(id), wasLagging {
                logger.warning("standby is within the delay threshold again", metadata: metadata)
            } else if settings.logStandbyDelay == .always || (settings.logStandbyDelay == .ifOverThreshold && lagging.contains(id)) {
                logger.info("replication delay", metadata: metadata)
            }
        }
    }

    /// Blocking: asks every node for its role and WAL position, the primary for its senders and
    /// the standbys for their upstream.
    static func read(_ nodes: [NodeInfo], primaryID: Int?, settings: Settings) -> ReplicationReadings {
        var readings = ReplicationReadings(nodes: [], senders: [])
        var primaryConnection: LibPQConnection?
        for node in nodes {
            guard let connection = try? LibPQConnection(
                host: node.host, port: node.port, user: settings.check.user, password: settings.password,
                database: settings.check.database, connectTimeoutSeconds: settings.connectTimeoutSeconds),
                let row = try? connection.queryRow(
                    "SELECT pg_catalog.pg_is_in_recovery(), CASE WHEN pg_catalog.pg_is_in_recovery() "
                        + "THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END",
                    parameters: [])
            else { continue }
            let inRecovery = row[0] == "t"
            readings.nodes.append(.init(id: node.id, inRecovery: inRecovery, walPosition: row[1].flatMap(ReplicationAnalysis.walPosition)))
            if !inRecovery, primaryConnection == nil || node.id == primaryID { primaryConnection = connection }
            if inRecovery, settings.detachFalsePrimary,
               let upstream = try? connection.queryRow("SELECT sender_host, sender_port FROM pg_catalog.pg_stat_wal_receiver",
                                                       parameters: []),
               let host = upstream[0], let port = upstream[1].flatMap({ Int($0) }) {
                readings.upstreams[node.id] = (host, port)
            }
        }
        if let primaryConnection, let rows = try? primaryConnection.queryRows(
            "SELECT application_name, state, sync_state, EXTRACT(EPOCH FROM replay_lag) FROM pg_catalog.pg_stat_replication") {
            readings.senders = rows.map {
                .init(applicationName: $0[0] ?? "", state: $0[1] ?? "", syncState: $0[2] ?? "",
                      replayLagSeconds: $0[3].flatMap { Double($0) })
            }
        }
        return readings
    }
}
