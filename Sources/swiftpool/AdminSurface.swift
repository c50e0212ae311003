import AdminHTTP
import Cluster
import Configuration
import Foundation
import Logging
import Proxy
import Watchdog

/// Builds what the HTTP server serves from the running components.
enum AdminSurface {
    static func services(version: String, startTime: Double, cluster: ClusterState, coordinator: FailoverCoordinator,
                         runtime: ProxyRuntime, server: ProxyServer, healthChecker: HealthChecker, reloader: Reloader,
                         watchdog: WatchdogService?)
        -> AdminServices
    {
        AdminServices(
            version: version, startTime: startTime, cluster: cluster, coordinator: coordinator, runtime: runtime,
            healthStatistics: { healthChecker.statistics(for: $0) },
            proxySnapshot: { await server.snapshot() },
            reload: { reloader.reload() },
            configuration: { effectiveConfiguration(reloader.bundle.config) },
            settings: { settings(reloader.bundle) },
            config: { reloader.bundle.config },
            watchdog: watchdog)
    }

    /// The admin settings of a configuration: pcp.conf's users and the bearer token.
    static func settings(_ bundle: ConfigBundle) -> AdminSettings {
        let http = bundle.config.http
        var token: String?
        if !http.bearerTokenFile.isEmpty {
            token = (try? String(contentsOfFile: http.bearerTokenFile, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return AdminSettings(
            authenticator: AdminAuthenticator(users: bundle.pcpUsers, bearerToken: token),
            metricsNeedAuthentication: http.metricsNeedAuthentication, pgpool2Metrics: http.pgpool2Metrics,
            poolCapacity: bundle.config.numInitChildren * bundle.config.maxPool)
    }

    /// Every parameter's value (per node for node parameters), secrets replaced by `********`.
    static func effectiveConfiguration(_ config: PoolConfig) -> [String: String] {
        var values: [String: String] = [:]
        for definition in ParameterTable.all {
            switch definition.nodeSuffix {
            case .none:
                values[definition.name] = config.value(definition.name)
            case .optional:
                values[definition.name] = config.value(definition.name)
                for backend in config.backends { values["\(definition.name)\(backend.index)"] = config.value("\(definition.name)\(backend.index)") }
            case .required:
                guard definition.name.hasPrefix("backend_") else { continue }
                for backend in config.backends { values["\(definition.name)\(backend.index)"] = config.value("\(definition.name)\(backend.index)") }
            }
        }
        for key in values.keys where isSecret(key) && !(values[key] ?? "").isEmpty { values[key] = "********" }
        return values
    }

    static func isSecret(_ name: String) -> Bool { ParameterDefinition.isSecret(name) }
}
