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

    /// Called with the HTTP server's new certificate when a reload read it again.
    private let httpCertificateListeners = NIOLockedValueBox<[@Sendable (TLSPEM) -> Void]>([])

    /// Registers the HTTP server, whose certificate a reload replaces.
    func onHTTPCertificateReload(_ listener: @escaping @Sendable (TLSPEM) -> Void) {
        httpCertificateListeners.withLockedValue { $0.append(listener) }
    }

    /// The backend TLS policy after a reload: `backend_sslmode` (and `ssl`, which decides
    /// `auto`) need a restart, so the running mode stays; the CA file and directory are read again.
    private func backendTLS(fresh: ConfigBundle, running: ConfigBundle) -> BackendTLS {
        var ssl = fresh.config.ssl
        ssl.backendMode = running.config.ssl.backendMode
        ssl.enabled = running.config.ssl.enabled
        do {
            return try ConfigBundle.backendTLS(ssl, file: files.config)
        } catch {
            logger.error("backend TLS settings not reloaded; the running ones stay", metadata: ["error": "\(error)"])
            return running.backendTLS
        }
    }

    /// Hands a re-read HTTP certificate to the server and returns the one in effect; switching
    /// HTTPS on or off needs a restart.
    private func httpTLS(fresh: ConfigBundle, running: ConfigBundle) -> TLSPEM? {
        switch (running.httpTLS, fresh.httpTLS) {
        case (let old?, let new?):
            guard old.certificate != new.certificate || old.key != new.key else { return old }
            for listener in httpCertificateListeners.withLockedValue({ $0 }) { listener(new) }
            logger.info("HTTP server certificate reloaded")
            return new
        case (nil, nil):
            return nil
        default:
            logger.warning("http_ssl_cert/http_ssl_key switch HTTPS on or off, which needs a restart; the HTTP server keeps its protocol")
            return running.httpTLS
        }
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
            fresh.backendTLS = backendTLS(fresh: fresh, running: running)
            runtime.update(backendTLS: fresh.backendTLS)
            LibPQConnection.setDefaultParameters(fresh.backendTLS.libpqParameters)
            fresh.httpTLS = httpTLS(fresh: fresh, running: running)
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
