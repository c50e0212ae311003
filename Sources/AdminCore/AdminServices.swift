import Cluster
import Configuration
import Foundation
import Proxy
import Watchdog

/// What every admin surface (the HTTP API and /metrics, PCP, SwiftPool's SQL commands) reads and
/// drives, provided by the executable.
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
    /// The configuration in effect.
    public var config: @Sendable () -> PoolConfig
    /// pcp.conf's users in effect: the accounts of PCP and the HTTP API.
    public var pcpUsers: @Sendable () -> PCPUsers
    /// The fleet's coordination back end (the watchdog or etcd), when one runs.
    public var coordination: (any CoordinationMember)?

    /// The fleet as the back end sees it (`WatchdogReport.disabled` without one).
    public var watchdogReport: WatchdogReport { coordination?.report ?? .disabled }

    public init(version: String, startTime: Double, cluster: ClusterState, coordinator: FailoverCoordinator,
                runtime: ProxyRuntime, healthStatistics: @escaping @Sendable (Int) -> HealthCheckStatistics,
                proxySnapshot: @escaping @Sendable () async -> ProxySnapshot, reload: @escaping @Sendable () -> ReloadReport,
                config: @escaping @Sendable () -> PoolConfig, pcpUsers: @escaping @Sendable () -> PCPUsers,
                coordination: (any CoordinationMember)? = nil) {
        self.version = version
        self.startTime = startTime
        self.cluster = cluster
        self.coordinator = coordinator
        self.runtime = runtime
        self.healthStatistics = healthStatistics
        self.proxySnapshot = proxySnapshot
        self.reload = reload
        self.config = config
        self.pcpUsers = pcpUsers
        self.coordination = coordination
    }

    /// Every parameter's effective value (per node for node parameters), secrets redacted.
    public func configuration() -> [String: String] {
        EffectiveConfiguration.values(config())
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
