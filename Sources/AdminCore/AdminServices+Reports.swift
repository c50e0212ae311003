extension AdminServices {
    /// One snapshot of everything the SHOW POOL_* and PCP reports show.
    public func reportInput(loadBalanceNode: Int? = nil) async -> ReportInput {
        let snapshot = cluster.snapshot
        let config = config()
        return ReportInput(
            snapshot: snapshot, queries: runtime.statistics.all,
            health: Dictionary(uniqueKeysWithValues: snapshot.nodes.map { ($0.id, healthStatistics($0.id).snapshot) }),
            proxy: await proxySnapshot(), config: config,
            healthChecksEnabled: config.backends.contains { $0.healthCheck.isEnabled }, version: version,
            loadBalanceNode: loadBalanceNode, watchdog: watchdogReport)
    }
}
