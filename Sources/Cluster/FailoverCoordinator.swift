import Clocks
import Configuration
import Logging
import Synchronization

/// Carries out failovers, failbacks and switchovers one at a time: marks nodes, ends the
/// sessions that used them, runs the operator's commands, and finds the primary again. It is
/// also the library API behind the operator's attach, detach and promote.
public actor FailoverCoordinator {
    /// How the coordinator reaches the rest of SwiftPool and the nodes.
    public struct Hooks: Sendable {
        /// End the client sessions that hold a connection to any of these nodes.
        public var endSessions: @Sendable (_ nodes: [Int]) -> Void
        /// The primary changed (or is no longer known).
        public var primaryChanged: @Sendable (NodeInfo?) -> Void
        /// One connection attempt: is the node reachable now?
        public var probe: @Sendable (NodeInfo) async -> Bool
        /// One pass over `nodes`: the one that is not in recovery, if any answers so.
        public var findPrimary: @Sendable (_ nodes: [NodeInfo]) async -> Int?

        public init(endSessions: @escaping @Sendable ([Int]) -> Void, primaryChanged: @escaping @Sendable (NodeInfo?) -> Void,
                    probe: @escaping @Sendable (NodeInfo) async -> Bool,
                    findPrimary: @escaping @Sendable ([NodeInfo]) async -> Int?) {
            self.endSessions = endSessions
            self.primaryChanged = primaryChanged
            self.probe = probe
            self.findPrimary = findPrimary
        }
    }

    public nonisolated let statistics = FailoverStatistics()
    private let cluster: ClusterState
    private let logger: Logger
    private let hooks: Hooks
    private var settings: FailoverConfig
    private var tail: Task<Void, Never>?
    private var reportedFailures: Set<Int> = []
    /// Operations asked for but not started yet.
    private var waitingOperations = 0
    /// When the running primary search gives up.
    private var searchDeadline: AnyClock<Duration>.Instant?
    private let clock: AnyClock<Duration>
    /// Failure reports handed to the actor but not handled yet (see ``settled()``).
    private let unhandledReports = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let onError: Atomic<Bool>
    private let onShutdown: Atomic<Bool>
    /// The coordination back end (watchdog or etcd), when SwiftPool runs as one member of several.
    private var coordination: (any ClusterCoordination)?

    /// - Parameter clock: what the primary search waits on (tests pass a test clock).
    public init(cluster: ClusterState, settings: FailoverConfig, hooks: Hooks, logger: Logger,
                clock: AnyClock<Duration> = AnyClock(ContinuousClock())) {
        self.clock = clock
        self.cluster = cluster
        self.settings = settings
        self.hooks = hooks
        self.logger = logger
        onError = Atomic(settings.onBackendError)
        onShutdown = Atomic(settings.onBackendShutdown)
    }

    /// True while a failover, failback or switchover runs (the replication check waits).
    public nonisolated var isBusy: Bool { busy.load(ordering: .relaxed) }

    /// Applies reloaded settings to the next operation.
    public func update(settings: FailoverConfig) {
        self.settings = settings
        onError.store(settings.onBackendError, ordering: .relaxed)
        onShutdown.store(settings.onBackendShutdown, ordering: .relaxed)
    }

    /// From now on, every operation asked on this member is first routed through `coordination`.
    public func coordinate(with coordination: any ClusterCoordination) {
        self.coordination = coordination
    }

    // MARK: Operator API

    /// Takes a node out of service. `immediate` ends the sessions using it at once; otherwise
    /// they finish on their own while new sessions and statements avoid it.
    public func detach(_ id: Int, immediate: Bool) async throws(NodeOperationRefusal) {
        try await operate(.detach([id], reason: .detach, immediate: immediate), confirmed: true)
    }

    /// Brings a down node back (`failback_command` runs).
    public func attach(_ id: Int) async throws(NodeOperationRefusal) {
        try await operate(.attach(id), confirmed: true)
    }

    /// Makes `id` the primary. With `switchover`, the current primary is detached and
    /// failover_command is told to promote `id` (`%m`), then the other nodes follow it; without,
    /// only SwiftPool's idea of the primary changes.
    public func promote(_ id: Int, switchover: Bool) async throws(NodeOperationRefusal) {
        try await operate(.promote(id, switchover: switchover), confirmed: true)
    }

    private func operate(_ operation: BackendOperation, confirmed: Bool) async throws(NodeOperationRefusal) {
        if let coordination {
            switch await coordination.route(operation, confirmed: confirmed) {
            case .local: break
            case .remote(let result): return try result.get()
            case .quarantine(let why): throw NodeOperationRefusal.noCoordinator(why)
            }
        }
        try await perform(operation).get()
    }

    /// Carries `operation` out here without asking anyone: the fleet's leader does this for the
    /// whole cluster.
    public func perform(_ operation: BackendOperation) async -> Result<Void, NodeOperationRefusal> {
        switch operation {
        case .detach(let ids, let reason, let immediate):
            await serially { await self.takeDown(ids, reason: reason, endSessions: immediate, searchLater: !reason.isAutomatic) }
        case .attach(let id):
            await serially { await self.bringBack(id) }
        case .promote(let id, let switchover):
            await serially { await self.makePrimary(id, switchover: switchover) }
        }
    }

    /// Applies the fleet leader's view of the backends on this member: no commands run here.
    public func adopt(down: Set<Int>, up: Set<Int>, primary: Int?) async {
        await serially {
            let snapshot = self.cluster.snapshot
            var changes: [Int: NodeStatus] = [:]
            for node in snapshot.nodes {
                if down.contains(node.id), node.status != .down, node.status != .unused {
                    changes[node.id] = .down
                } else if up.contains(node.id), node.status == .down {
                    changes[node.id] = .waiting
                }
            }
            if !changes.isEmpty {
                self.cluster.setStatuses(changes)
                for (id, status) in changes.sorted(by: { $0.key < $1.key }) {
                    self.logger.warning("backend node \(id) is now \(status == .down ? "down" : "attached") (as the fleet's leader decided)", metadata: ["node": "\(id)"])
                }
                let ended = changes.filter { $0.value == .down }.map(\.key).sorted()
                if !ended.isEmpty { self.hooks.endSessions(ended) }
            }
            if self.cluster.snapshot.primaryNodeID != primary { await self.record(primary: primary) }
        }
    }

    /// A quarantined node answers its health check again: it is back in service (locally, as it
    /// was taken out locally).
    public func releaseQuarantine(of id: Int) async {
        await serially {
            guard self.cluster.snapshot.node(id)?.status == .quarantine else { return }
            self.cluster.setStatus(.waiting, of: id)
            self.logger.warning("backend node \(id) answers again and leaves quarantine", metadata: ["node": "\(id)"])
        }
    }

    /// Finds the primary (start-up, or when it is unknown) and records it.
    public func findPrimary() async -> Int? {
        await serially {
            guard case .found(let found) = await self.searchPrimary() else {
                await self.settleLater(oldPrimary: nil, follow: false)
                return nil
            }
            await self.record(primary: found)
            return found
        }
    }

    // MARK: Reports from checks and sessions

    /// A health check, a session or the replication check saw `id` fail. Duplicate reports
    /// while one is handled are dropped; a session's backend error is confirmed by one
    /// connection attempt first.
    public nonisolated func reportFailure(of id: Int, reason: FailoverReason) {
        unhandledReports.add(1, ordering: .relaxed)
        Task {
            await self.handleFailure(of: id, reason: reason)
            self.unhandledReports.subtract(1, ordering: .releasing)
        }
    }

    /// Returns once every failure reported so far has been handled and every operation queued
    /// so far has finished.
    public func settled() async {
        repeat {
            while unhandledReports.load(ordering: .acquiring) > 0 { await Task.yield() }
            await tail?.value
        } while unhandledReports.load(ordering: .acquiring) > 0
    }

    /// A session lost its connection to `id`: with failover_on_backend_shutdown, after the
    /// backend said 57P01/57P02; with failover_on_backend_error, on any other loss.
    public nonisolated func backendLost(_ id: Int, afterShutdownMessage sawShutdown: Bool) {
        if sawShutdown {
            if onShutdown.load(ordering: .relaxed) { reportFailure(of: id, reason: .backendShutdown) }
        } else if onError.load(ordering: .relaxed) {
            reportFailure(of: id, reason: .backendError)
        }
    }

    private func handleFailure(of id: Int, reason: FailoverReason) async {
        guard let status = cluster.snapshot.node(id)?.status, status.isUsable || (status == .quarantine && coordination != nil),
              !reportedFailures.contains(id) else { return }
        reportedFailures.insert(id)
        defer { reportedFailures.remove(id) }
        if reason == .backendError, let node = cluster.snapshot.node(id), await hooks.probe(node) {
            logger.warning("backend node \(id) lost a connection but accepts new ones; no failover")
            return
        }
        if let coordination {
            switch await coordination.route(.detach([id], reason: reason, immediate: true), confirmed: false) {
            case .local:
                break
            case .remote(let result):
                if case .failure(let refusal) = result, refusal != .alreadyDown(id) {
                    logger.warning("backend node \(id) failed; the fleet's leader did not take it out: \(refusal)")
                }
                return
            case .quarantine(let why):
                await serially { await self.quarantine(id, why: why) }
                return
            }
        }
        guard status.isUsable else { return }
        let result = await serially { await self.takeDown([id], reason: reason, endSessions: true) }
        if case .failure(let refusal) = result {
            switch refusal {
            case .alreadyDown: break
            default: logger.warning("backend node \(id) failed but stays attached: \(refusal)")
            }
        }
    }

    // MARK: Steps

    private func quarantine(_ id: Int, why: String) async {
        guard cluster.snapshot.node(id)?.status.isUsable == true else { return }
        cluster.setStatus(.quarantine, of: id)
        statistics.recordQuarantine()
        logger.warning("backend node \(id) failed and is quarantined on this member only: \(why)", metadata: ["node": "\(id)"])
        hooks.endSessions([id])
    }

    /// With `searchLater`, a primary search (and what follows it) runs as the next queued
    /// operation instead of before this one returns.
    private func takeDown(_ ids: [Int], reason: FailoverReason, endSessions: Bool, newMain: Int? = nil, searchLater: Bool = false) async
        -> Result<Void, NodeOperationRefusal>
    {
        let before = cluster.snapshot
        let plan: FailoverPlanner.DownPlan
        switch FailoverPlanner.down(ids, reason: reason, snapshot: before, newMain: newMain) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let made): plan = made
        }
        busy.store(true, ordering: .relaxed)
        defer { busy.store(false, ordering: .relaxed) }
        if plan.searchPrimary { cluster.primaryGate.close() }
        cluster.setStatuses(Dictionary(uniqueKeysWithValues: plan.nodes.map { ($0, NodeStatus.down) }))
        statistics.record(reason, nodes: plan.nodes.count)
        for id in plan.nodes {
            logger.warning("backend node \(id) is now down", metadata: ["node": "\(id)", "reason": "\(reason.rawValue)"])
        }
        if endSessions { hooks.endSessions(plan.nodes) }
        if !settings.failoverCommand.isEmpty {
            for placeholders in plan.commands {
                _ = await runner.run(placeholders.expand(settings.failoverCommand), label: "failover_command",
                                     environment: [Self.reasonVariable: reason.rawValue])
            }
        }
        if plan.searchPrimary {
            if searchLater {
                enqueue { await self.settlePrimary(oldPrimary: before.primary) }
            } else {
                await settlePrimary(oldPrimary: before.primary)
            }
        }
        return .success(())
    }

    private func bringBack(_ id: Int) async -> Result<Void, NodeOperationRefusal> {
        let placeholders: FailoverPlaceholders
        switch FailoverPlanner.attach(id, snapshot: cluster.snapshot) {
        case .failure(let refusal): return .failure(refusal)
        case .success(let made): placeholders = made
        }
        busy.store(true, ordering: .relaxed)
        defer { busy.store(false, ordering: .relaxed) }
        cluster.setStatus(.waiting, of: id)
        logger.warning("backend node \(id) is attached", metadata: ["node": "\(id)"])
        if !settings.failbackCommand.isEmpty {
            _ = await runner.run(placeholders.expand(settings.failbackCommand), label: "failback_command")
        }
        if cluster.snapshot.primaryNodeID == nil {
            enqueue { await self.settlePrimary(oldPrimary: nil, follow: false) }
        }
        return .success(())
    }

    private func makePrimary(_ id: Int, switchover: Bool) async -> Result<Void, NodeOperationRefusal> {
        let before = cluster.snapshot
        if case .failure(let refusal) = FailoverPlanner.promote(id, snapshot: before) { return .failure(refusal) }
        guard switchover, let oldPrimary = before.primaryNodeID else {
            logger.warning("backend node \(id) is now taken as the primary", metadata: ["node": "\(id)"])
            await record(primary: id)
            if let old = before.primaryNodeID { hooks.endSessions([old]) }
            return .success(())
        }
        guard !settings.failoverCommand.isEmpty else { return .failure(.noFailoverCommand) }
        return await takeDown([oldPrimary], reason: .switchover, endSessions: true, newMain: id)
    }

    /// After the primary went down: find the new one, then have every other node follow it.
    private func settlePrimary(oldPrimary: NodeInfo?, follow: Bool = true) async {
        let found: Int?
        switch await searchPrimary() {
        case .found(let id): found = id
        case .interrupted: return settleLater(oldPrimary: oldPrimary, follow: follow)
        }
        await record(primary: found)
        guard follow, !settings.followPrimaryCommand.isEmpty else { return }
        let followers = FailoverPlanner.followers(of: found, oldPrimary: oldPrimary, snapshot: cluster.snapshot)
        guard !followers.isEmpty else { return }
        let leaving = followers.map(\.node).filter(\.status.isUsable).map(\.id)
        cluster.setStatuses(Dictionary(uniqueKeysWithValues: leaving.map { ($0, NodeStatus.down) }))
        statistics.record(.followPrimary, nodes: leaving.count)
        hooks.endSessions(leaving)
        for placeholders in followers {
            _ = await runner.run(placeholders.expand(settings.followPrimaryCommand), label: "follow_primary_command")
        }
    }

    enum SearchOutcome {
        /// The primary, or nil when the search timed out.
        case found(Int?)
        /// Other operations are waiting: the search goes on after them.
        case interrupted
    }

    /// Polls the usable nodes once a second until one is primary or search_primary_node_timeout
    /// passes (counted from the first try). A node flagged ALWAYS_PRIMARY is the primary
    /// without asking. Operations queued meanwhile (an operator's attach, say) go first.
    private func searchPrimary() async -> SearchOutcome {
        let timeout = settings.searchPrimaryTimeout
        let deadline = searchDeadline ?? clock.now.advanced(by: timeout)
        searchDeadline = deadline
        while true {
            let usable = cluster.snapshot.nodes.filter(\.status.isUsable)
            if let always = usable.first(where: \.flags.alwaysPrimary) { return finished(always.id) }
            if let found = await hooks.findPrimary(usable) { return finished(found) }
            if timeout > .zero, clock.now >= deadline { return finished(nil) }
            if waitingOperations > 0 { return .interrupted }
            do { try await clock.sleep(for: .seconds(1)) } catch { return finished(nil) }
            if waitingOperations > 0 { return .interrupted }
        }
    }

    private func finished(_ primary: Int?) -> SearchOutcome {
        searchDeadline = nil
        return .found(primary)
    }

    /// Queues the rest of an interrupted search behind the operations that interrupted it.
    private func settleLater(oldPrimary: NodeInfo?, follow: Bool) {
        enqueue { await self.settlePrimary(oldPrimary: oldPrimary, follow: follow) }
    }

    private func record(primary: Int?) async {
        cluster.setPrimary(primary)
        cluster.primaryGate.open()
        if let primary {
            logger.warning("primary node is \(primary)")
        } else {
            logger.error("no primary node found; writes fail until one is found or attached")
        }
        hooks.primaryChanged(primary.flatMap { cluster.snapshot.node($0) })
    }

    /// failover_command finds why it runs in this environment variable (a FailoverReason).
    public static let reasonVariable = "SWIFTPOOL_FAILOVER_REASON"

    private var runner: CommandRunner { CommandRunner(timeout: settings.commandTimeout, logger: logger) }

    private func started() {
        waitingOperations -= 1
    }

    /// Queues `body` after everything queued so far, without waiting for it.
    private func enqueue(_ body: @escaping @Sendable () async -> Void) {
        let previous = tail
        tail = Task {
            await previous?.value
            await body()
        }
    }

    /// Runs operations one after another, in the order they were asked for.
    private func serially<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        let previous = tail
        waitingOperations += 1
        let task = Task { () async -> T in
            await previous?.value
            await self.started()
            return await body()
        }
        tail = Task { _ = await task.value }
        return await task.value
    }
}
