import Cluster

/// A SwiftPool as one member of a fleet, whichever engine the fleet agrees through (the watchdog
/// or etcd). The failover coordinator routes backend changes through it (`ClusterCoordination`);
/// the admin surfaces (PCP, HTTP, metrics, SQL) read its report and never learn which engine runs.
public protocol CoordinationMember: ClusterCoordination {
    /// The latest picture of the fleet (any thread).
    nonisolated var report: WatchdogReport { get }
    /// Joins the fleet; throws when it cannot (a port in use, a refused login).
    func start() async throws
    /// Leaves the fleet cleanly: de-escalates when escalated and tells the others.
    func stop() async
    /// Asks every other member to reload its configuration (`pcp_reload_config -s c`).
    func reloadCluster() async
    /// `wd_lifecheck_method = external`: something outside says whether a member is alive.
    /// Returns false when the member is unknown or the back end has no such check.
    func reportLifecheck(memberID: Int, alive: Bool) async -> Bool
}
