import AdminCore
import Cluster
import Proxy
import Watchdog

/// Builds what the admin surfaces (HTTP, PCP, SQL) share from the running components.
enum AdminSurface {
    static func services(version: String, startTime: Double, cluster: ClusterState, coordinator: FailoverCoordinator,
                         runtime: ProxyRuntime, server: ProxyServer, healthChecker: HealthChecker, reloader: Reloader,
                         coordination: (any CoordinationMember)?)
        -> AdminServices
    {
        AdminServices(
            version: version, startTime: startTime, cluster: cluster, coordinator: coordinator, runtime: runtime,
            healthStatistics: { healthChecker.statistics(for: $0) },
            proxySnapshot: { await server.snapshot() },
            reload: { reloader.reload() },
            config: { reloader.bundle.config },
            pcpUsers: { reloader.bundle.pcpUsers },
            coordination: coordination)
    }
}
