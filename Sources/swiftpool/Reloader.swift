import AdminCore
import Cluster
import Configuration
import Logging
import NIOConcurrencyHelpers
import Proxy

/// Re-reads the configuration files and applies them everywhere (SIGHUP, `swiftpool reload`,
/// the admin API). An invalid set is refused as a whole; nothing changes then.
final class Reloader: Sendable {
    private let files: ConfigFiles
    private let current: NIOLockedValueBox<ConfigBundle>
    private let runtime: ProxyRuntime
    private let cluster: ClusterState
    private let coordinator: FailoverCoordinator
    private let healthChecker: HealthChecker
    private let replicationChecker: ReplicationChecker
    private let walTracker: WALPositionTracker
    private let logger: Logger
    private let lock = NIOLock()

    init(files: ConfigFiles, current: NIOLockedValueBox<ConfigBundle>, runtime: ProxyRuntime, cluster: ClusterState,
         coordinator: FailoverCoordinator, healthChecker: HealthChecker, replicationChecker: ReplicationChecker,
         walTracker: WALPositionTracker, logger: Logger) {
        self.walTracker = walTracker
        self.files = files
        self.current = current
        self.runtime = runtime
        self.cluster = cluster
        self.coordinator = coordinator
        self.healthChecker = healthChecker
        self.replicationChecker = replicationChecker
        self.logger = logger
    }

    /// The bundle in effect.
    var bundle: ConfigBundle { current.withLockedValue { $0 } }

    func reload() -> ReloadReport {
        lock.withLock {
            let running = bundle
            var fresh: ConfigBundle
            do {
                fresh = try ConfigBundle.load(files)
            } catch {
                logger.error("reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
                return ReloadReport(reloaded: false, error: "\(error)")
            }
            for line in fresh.diagnostics { logger.warning("\(line)") }
            let plan = ReloadPlan(from: running.config, to: fresh.config)
            for name in plan.restartRequired {
                logger.warning("parameter \"\(name)\" changed but needs a restart; the old value stays in effect")
            }
            fresh.keepRunningValues(of: plan.restartRequired, from: running)
            runtime.update(settings: running.settings.reloaded(with: fresh.settings), authPolicy: fresh.authPolicy,
                           routing: fresh.routing)
            // `ssl` itself needs a restart; certificate and key files are read again.
            if running.config.ssl.enabled { runtime.update(clientTLS: fresh.clientTLS ?? running.clientTLS) }
            runtime.credentials.replacePasswords(fresh.passwords, unusable: fresh.unusablePasswords)
            cluster.replaceNodes(fresh.nodes)
            current.withLockedValue { $0 = fresh }
            let coordinator = self.coordinator
            let failover = fresh.config.failover
            Task { await coordinator.update(settings: failover) }
            healthChecker.stop()
            healthChecker.start(fresh.healthCheckTargets(cluster: cluster))
            replicationChecker.start(fresh.replicationCheck)
            walTracker.start(fresh.walPositionCheck)
            logger.info("configuration reloaded")
            return ReloadReport(reloaded: true, changed: (plan.reloadable + plan.restartRequired).sorted(),
                                restartRequired: plan.restartRequired.sorted())
        }
    }
}
