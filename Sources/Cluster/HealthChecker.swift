import Clocks
import Configuration
import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// Checks every backend node on its own schedule (`health_check_period[N]`): a connection with
/// libpq on the thread pool, retried `health_check_max_retries` times `health_check_retry_delay`
/// apart, all within `health_check_timeout`. A node that fails every try is marked down in the
/// cluster state, so that sessions stop using it; nodes already down are skipped.
public final class HealthChecker: Sendable {
    /// How to reach one node and how to check it.
    public struct Target: Sendable {
        public var node: NodeInfo
        public var settings: HealthCheckConfig
        /// The password to use (already looked up in pool_passwd when the setting is empty).
        public var password: String?

        public init(node: NodeInfo, settings: HealthCheckConfig, password: String?) {
            self.node = node
            self.settings = settings
            self.password = password
        }
    }

    private let cluster: ClusterState
    private let clock: AnyClock<Duration>
    private let logger: Logger
    private let onFailure: @Sendable (Int) -> Void
    private let onRecovery: @Sendable (Int) -> Void
    private let targets = NIOLockedValueBox<[Int: Target]>([:])
    private let tasks = NIOLockedValueBox<[Task<Void, Never>]>([])
    private let statistics = NIOLockedValueBox<[Int: HealthCheckStatistics]>([:])

    /// - Parameters:
    ///   - onFailure: called with a node's id when every try of a check failed.
    ///   - onRecovery: called with the id of a quarantined node whose check succeeded.
    ///   - clock: what periods, retry delays and timeouts are measured on (tests pass a test clock).
    public init(cluster: ClusterState, logger: Logger, onFailure: @escaping @Sendable (Int) -> Void,
                onRecovery: @escaping @Sendable (Int) -> Void = { _ in }, clock: AnyClock<Duration> = AnyClock(ContinuousClock())) {
        self.clock = clock
        self.cluster = cluster
        self.logger = logger
        self.onFailure = onFailure
        self.onRecovery = onRecovery
    }

    /// The statistics of `nodeID` (created on first use).
    public func statistics(for nodeID: Int) -> HealthCheckStatistics {
        statistics.withLockedValue { all in
            if let existing = all[nodeID] { return existing }
            let created = HealthCheckStatistics()
            all[nodeID] = created
            return created
        }
    }

    /// Starts a check loop for every target whose period is above zero.
    public func start(_ targets: [Target]) {
        self.targets.withLockedValue { known in
            for target in targets { known[target.node.id] = target }
        }
        let started = targets.filter(\.settings.isEnabled).map { target in
            Task { [self] in await run(target) }
        }
        tasks.withLockedValue { $0 += started }
    }

    /// Stops every loop (shutdown or reload).
    public func stop() {
        tasks.withLockedValue { tasks in
            tasks.forEach { $0.cancel() }
            tasks.removeAll()
        }
    }

    private func run(_ target: Target) async {
        let stats = statistics(for: target.node.id)
        while !Task.isCancelled {
            do { try await clock.sleep(for: target.settings.period) } catch { return }
            let status = cluster.snapshot.node(target.node.id)?.status ?? .unused
            guard status != .down, status != .unused else {
                stats.recordSkip()
                continue
            }
            let started = clock.now
            let (healthy, retries, error) = await check(target)
            stats.record(success: healthy, retries: retries, duration: started.duration(to: clock.now))
            if healthy, status == .quarantine { onRecovery(target.node.id) }
            // The node answered: it is up, not merely waiting for a session to use it.
            if healthy, status == .waiting { cluster.markUsed(target.node.id) }
            if !healthy, !Task.isCancelled {
                onFailure(target.node.id)
                logger.error("health check failed", metadata: [
                    "node": "\(target.node.id)", "address": "\(target.node.host):\(target.node.port)",
                    "retries": "\(retries)", "error": "\(error ?? "")",
                ])
            }
        }
    }

    /// One connection attempt to `node` with its health-check settings (no retries): whether it
    /// accepts connections now.
    public func probe(_ node: NodeInfo) async -> Bool {
        guard var target = targets.withLockedValue({ $0[node.id] }) else { return false }
        target.settings.maxRetries = 0
        return await check(target).0
    }

    /// One check with its retries: (healthy, retries used, last error).
    private func check(_ target: Target) async -> (Bool, Int, String?) {
        let settings = target.settings
        let deadline = clock.now.advanced(by: settings.timeout > .zero ? settings.timeout : .seconds(365 * 24 * 3600))
        var lastError: String?
        for attempt in 0...max(0, settings.maxRetries) {
            if attempt > 0 {
                guard clock.now.advanced(by: settings.retryDelay) < deadline else { return (false, attempt - 1, lastError) }
                do { try await clock.sleep(for: settings.retryDelay) } catch { return (true, attempt, nil) }
            }
            let remaining = clock.now.duration(to: deadline)
            let connectTimeout = settings.connectTimeout > .zero ? min(settings.connectTimeout, remaining) : remaining
            let result: Result<Void, LibPQError>? = try? await NIOThreadPool.singleton.runIfActive {
                Result { () throws(LibPQError) in
                    _ = try LibPQConnection(
                        host: target.node.host, port: target.node.port, user: settings.user, password: target.password,
                        database: settings.database.isEmpty ? "postgres" : settings.database,
                        connectTimeoutSeconds: Int(connectTimeout.components.seconds))
                }
            }
            switch result {
            case .success?: return (true, attempt, nil)
            case .failure(let error)?: lastError = error.message
            case nil: lastError = "the thread pool is not running"
            }
        }
        return (false, max(0, settings.maxRetries), lastError)
    }

}
