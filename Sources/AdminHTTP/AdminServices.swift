import Cluster
import Configuration
import Foundation
import Proxy
import Watchdog

/// What the admin API and /metrics read and drive, provided by the executable.
public struct AdminServices: Sendable {
    public var version: String
    /// Seconds since 1970 when SwiftPool started.
    public var startTime: Double
    public var cluster: ClusterState
    public var coordinator: FailoverCoordinator
    public var runtime: ProxyRuntime
    public var healthStatistics: @Sendable (Int) -> HealthCheckStatistics
    public var proxySnapshot: @Sendable () async -> ProxySnapshot
    /// Re-reads the configuration files and applies them (or refuses an invalid set).
    public var reload: @Sendable () -> ReloadReport
    /// Every parameter's effective value, secrets redacted.
    public var configuration: @Sendable () -> [String: String]
    /// The current HTTP settings (they can change on reload).
    public var settings: @Sendable () -> AdminSettings
    /// The configuration in effect.
    public var config: @Sendable () -> PoolConfig
    /// The watchdog, when `use_watchdog` is on.
    public var watchdog: WatchdogService?

    /// The watchdog's picture of the cluster (`WatchdogReport.disabled` without one).
    public var watchdogReport: WatchdogReport { watchdog?.report ?? .disabled }

    public init(version: String, startTime: Double, cluster: ClusterState, coordinator: FailoverCoordinator,
                runtime: ProxyRuntime, healthStatistics: @escaping @Sendable (Int) -> HealthCheckStatistics,
                proxySnapshot: @escaping @Sendable () async -> ProxySnapshot, reload: @escaping @Sendable () -> ReloadReport,
                configuration: @escaping @Sendable () -> [String: String], settings: @escaping @Sendable () -> AdminSettings,
                config: @escaping @Sendable () -> PoolConfig, watchdog: WatchdogService? = nil) {
        self.config = config
        self.watchdog = watchdog
        self.version = version
        self.startTime = startTime
        self.cluster = cluster
        self.coordinator = coordinator
        self.runtime = runtime
        self.healthStatistics = healthStatistics
        self.proxySnapshot = proxySnapshot
        self.reload = reload
        self.configuration = configuration
        self.settings = settings
    }
}

/// Settings of the admin surface that a reload may change.
public struct AdminSettings: Sendable {
    public var authenticator: AdminAuthenticator
    public var metricsNeedAuthentication: Bool
    public var pgpool2Metrics: Bool
    /// `num_init_children × max_pool`.
    public var poolCapacity: Int

    public init(authenticator: AdminAuthenticator, metricsNeedAuthentication: Bool, pgpool2Metrics: Bool, poolCapacity: Int) {
        self.authenticator = authenticator
        self.metricsNeedAuthentication = metricsNeedAuthentication
        self.pgpool2Metrics = pgpool2Metrics
        self.poolCapacity = poolCapacity
    }
}

/// The answer to a reload.
public struct ReloadReport: Sendable, Codable, Equatable {
    /// Whether the new files were applied.
    public var reloaded: Bool
    /// Parameters whose value changed (and took effect, unless listed in `restartRequired`).
    public var changed: [String]
    /// Changed parameters that keep their running value until a restart.
    public var restartRequired: [String]
    /// Why the files were refused (file, line, parameter).
    public var error: String?

    public init(reloaded: Bool, changed: [String] = [], restartRequired: [String] = [], error: String? = nil) {
        self.reloaded = reloaded
        self.changed = changed
        self.restartRequired = restartRequired
        self.error = error
    }
}
