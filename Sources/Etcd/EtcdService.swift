import Cluster
import Configuration
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Watchdog

/// The etcd back end at work: owns the `EtcdMachine`, sends the requests it asks for through
/// `EtcdClient`, watches the fleet's keys and feeds what it sees back, and carries out its
/// actions (escalation commands, the leader's backend view). As the failover coordinator's
/// `ClusterCoordination`, it has backend changes decided by the leader: on the leader they run
/// here; elsewhere they are written under `requests/` for the leader to decide and answer.
public actor EtcdService: CoordinationMember {
    private let config: EtcdConfig
    private let keys: EtcdKeys
    private let cluster: ClusterState
    private let coordinator: FailoverCoordinator
    private let group: any EventLoopGroup
    private let logger: Logger
    private let reloadHook: @Sendable () -> Void
    private let commandTimeout: Duration
    private let origin = ContinuousClock.now
    private let startTime = Date().timeIntervalSince1970
    private let machineName = ProcessInfo.processInfo.hostName
    private var machine: EtcdMachine
    private var client: EtcdClient?
    private var loops: [Task<Void, Never>] = []
    private var commands: Task<Void, Never>?
    private var pending: [String: CheckedContinuation<BackendChangeOutcome?, Never>] = [:]
    private var handledRequests: Set<String> = []
    private var nextRequest = 0
    private var failoverRequests: [String: Int] = [:]
    private var lastReload: String?
    private var publishing = false
    private let published = NIOLockedValueBox(WatchdogReport.disabled)

    public init(config: EtcdConfig, cluster: ClusterState, coordinator: FailoverCoordinator, group: any EventLoopGroup,
                commandTimeout: Duration, logger: Logger, reload: @escaping @Sendable () -> Void) {
        self.config = config
        self.keys = EtcdKeys(prefix: config.prefix)
        self.cluster = cluster
        self.coordinator = coordinator
        self.group = group
        self.logger = logger
        self.reloadHook = reload
        self.commandTimeout = commandTimeout
        machine = EtcdMachine(settings: .init(
            localName: config.memberName, ttl: config.ttl.seconds, failoverWhenQuorumExists: config.failoverWhenQuorumExists,
            failoverRequireConsensus: config.failoverRequireConsensus,
            allowMultipleFailoverRequestsFromNode: config.allowMultipleFailoverRequestsFromNode))
    }

    public nonisolated var report: WatchdogReport { published.withLockedValue { $0 } }

    // MARK: Life cycle

    /// Connects to etcd and joins the fleet. A refused login or request fails the start-up; an
    /// etcd that does not answer yet does not (the member serves and keeps trying).
    public func start() async throws {
        let client = try EtcdClient(config: config, requestTimeout: .milliseconds(Int64(machine.settings.requestTimeout * 1000)),
                                    group: group, logger: logger)
        self.client = client
        do {
            try await client.authenticate()
            _ = try await client.range(keys.leader, rangeEnd: EtcdKeys.rangeEnd(of: keys.leader))
        } catch {
            if error.isUnreachable {
                logger.warning("etcd: no endpoint answers yet (\(error)); serving with the local view until one does")
            } else {
                await client.shutdown()
                self.client = nil
                throw error
            }
        }
        logger.info("etcd: member \(config.memberName) joins the fleet under \(config.prefix)", metadata: [
            "endpoints": "\(config.endpoints.joined(separator: ","))", "ttl": "\(machine.settings.ttl)",
        ])
        cluster.observeStatus { [weak self] _ in
            guard let self else { return }
            Task { await self.publishBackends() }
        }
        feed(.start)
        loops.append(Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                await self?.feed(.tick)
            }
        })
        loops.append(Task { [weak self] in await self?.watchLoop(client) })
    }

    /// Leaves the fleet: de-escalates when escalated, gives up the leader key and the lease (so
    /// another member takes over at once rather than after the TTL).
    public func stop() async {
        feed(.shutdown)
        await commands?.value
        for loop in loops { loop.cancel() }
        loops.removeAll()
        for continuation in pending.values { continuation.resume(returning: nil) }
        pending.removeAll()
        await client?.shutdown()
        logger.info("etcd: left the fleet")
    }

    /// Asks every member to reload its configuration: a new value of `<prefix>/reload`.
    public func reloadCluster() async {
        guard let client else { return }
        let value = "\(config.memberName) \(Date().timeIntervalSince1970)"
        lastReload = value
        _ = try? await client.transaction(.init(compare: [], success: [.put(keys.reload, value)]), kind: .txn)
    }

    public func reportLifecheck(memberID: Int, alive: Bool) -> Bool { false }

    // MARK: Events

    private func now() -> Double { (ContinuousClock.now - origin).seconds }

    private func feed(_ event: EtcdMachine.Event) {
        perform(machine.handle(event, now: now()))
        publish()
    }

    private func perform(_ actions: [EtcdMachine.Action]) {
        for action in actions {
            switch action {
            case .grantLease(let ttl):
                send(.grant) { client, sentAt in
                    let granted = try await client.grant(ttl: ttl)
                    return .leaseGranted(id: granted.id, ttl: Double(granted.ttl), sentAt: sentAt)
                }
            case .renew(let lease):
                send(.renew) { client, sentAt in
                    .renewed(ttl: try await client.renew(lease: lease).map(Double.init), sentAt: sentAt)
                }
            case .register(let lease, let escalated):
                let record = localRecord(escalated: escalated)
                let key = keys.member(config.memberName)
                send(.register) { client, _ in
                    _ = try await client.transaction(.init(compare: [], success: [.put(key, Self.json(record), lease: lease)]), kind: .register)
                    return .registered
                }
            case .campaign(let lease):
                let key = keys.leader, name = config.memberName
                send(.campaign) { client, _ in
                    let answer = try await client.transaction(
                        .init(compare: [.absent(key)], success: [.put(key, name, lease: lease)], failure: [.get(key)]), kind: .campaign)
                    return .campaigned(won: answer.succeeded == true, holder: answer.ranged.first?.value)
                }
            case .escalate:
                commands = runner.run(escalation: true, after: commands)
            case .deEscalate:
                commands = runner.run(escalation: false, after: commands)
            case .adopt(let view):
                adopt(view)
            case .tookOver:
                let stored = machine.backends?.view
                let coordinator = self.coordinator
                Task {
                    if let stored { await coordinator.adopt(down: Set(stored.down), up: Set(stored.up), primary: stored.primary) }
                    await self.publishBackends()
                }
            case .release(let lease, let resign):
                release(lease: lease, resign: resign)
            case .log(let level, let text):
                switch level {
                case .info: logger.info("\(text)")
                case .warning: logger.warning("\(text)")
                }
            }
        }
    }

    /// Sends one request in the background and feeds its answer (or its failure) back.
    private func send(_ kind: EtcdRequestKind,
                      _ body: @escaping @Sendable (EtcdClient, Double) async throws -> EtcdMachine.Event) {
        guard let client else { return }
        let sentAt = now()
        // The task runs on this actor: its answer is fed back in order with everything else.
        Task {
            do {
                let event = try await body(client, sentAt)
                self.feed(event)
            } catch {
                self.failed(kind, (error as? EtcdError) ?? .malformed("\(error)"))
            }
        }
    }

    private func failed(_ kind: EtcdRequestKind, _ error: EtcdError) {
        if case .rejected = error { logger.warning("etcd: \(kind.rawValue): \(error)") }
        feed(.requestFailed(kind))
    }

    private func release(lease: String, resign: Bool) {
        guard let client else { return }
        let key = keys.leader, name = config.memberName
        let task = Task {
            if resign {
                _ = try? await client.transaction(.init(compare: [.value(key, is: name)], success: [.delete(key)]), kind: .release)
            }
            try? await client.revoke(lease: lease)
        }
        let previous = commands
        commands = Task {
            await previous?.value
            await task.value
        }
    }

    private var runner: EscalationRunner {
        EscalationRunner(settings: config.escalation, commandTimeout: commandTimeout, logger: logger, label: "etcd")
    }

    private func localRecord(escalated: Bool) -> MemberRecord {
        MemberRecord(name: config.memberName, host: config.host, pgpoolPort: config.pgpoolPort, machine: machineName,
                     started: startTime, escalated: escalated)
    }

    // MARK: Watching

    /// Reads every key of the fleet, then watches them from there; starts over when the watch
    /// ends (an etcd member went away, the history was compacted).
    private func watchLoop(_ client: EtcdClient) async {
        let all = keys.all
        while !Task.isCancelled {
            do throws(EtcdError) {
                let (kvs, revision) = try await client.range(all.key, rangeEnd: all.rangeEnd)
                sync(kvs)
                try await client.watch(all.key, rangeEnd: all.rangeEnd, from: revision + 1) { changes in
                    await self.apply(changes)
                }
            } catch {
                if !error.isUnreachable { logger.warning("etcd: watch: \(error)") }
                feed(.watchLost)
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    private func sync(_ kvs: [EtcdGateway.KeyValue]) {
        var leader: String?
        var members: [String: MemberRecord] = [:]
        var backends: BackendsRecord?
        for kv in kvs {
            switch keys.kind(of: kv.key) {
            case .leader?: leader = kv.value
            case .member(let name)?: members[name] = Self.decode(kv.value)
            case .backends?: backends = Self.decode(kv.value)
            case .reload?: if lastReload == nil { lastReload = kv.value }
            case .request?, nil: break
            }
        }
        feed(.synced(leader: leader, members: members, backends: backends))
        for kv in kvs { if case .request(let id)? = keys.kind(of: kv.key) { request(id: id, value: kv.value) } }
    }

    private func apply(_ changes: [EtcdChange]) {
        for change in changes {
            switch change {
            case .put(let kv):
                switch keys.kind(of: kv.key) {
                case .leader?: feed(.leaderChanged(kv.value))
                case .member(let name)?: feed(.memberChanged(name: name, record: Self.decode(kv.value)))
                case .backends?: if let record: BackendsRecord = Self.decode(kv.value) { feed(.backendsChanged(record)) }
                case .reload?:
                    if kv.value != lastReload, !kv.value.hasPrefix(config.memberName + " ") {
                        logger.warning("etcd: a member asked every member to reload the configuration")
                        reloadHook()
                    }
                    lastReload = kv.value
                case .request(let id)?: request(id: id, value: kv.value)
                case nil: break
                }
            case .delete(let key):
                switch keys.kind(of: key) {
                case .leader?: feed(.leaderChanged(nil))
                case .member(let name)?: feed(.memberChanged(name: name, record: nil))
                case .request(let id)?: handledRequests.remove(id)
                default: break
                }
            }
        }
    }

    // MARK: Backend changes

    public func route(_ operation: BackendOperation, confirmed: Bool) async -> CoordinationVerdict {
        let request = BackendChangeRequest(operation, confirmed: confirmed)
        switch machine.decide(request, from: config.memberName, now: now()) {
        case .perform:
            count("applied")
            return .local
        case .quarantine(let why):
            count("quarantined")
            return .quarantine(why)
        case .notLeader:
            break
        }
        guard let client, machine.reachable, let leader = machine.leader, leader != config.memberName, let lease = machine.lease else {
            let why = machine.reachable ? "no member leads the fleet in etcd yet" : "etcd does not answer; no failover without it"
            return .noLeader(why, confirmed: confirmed)
        }
        nextRequest += 1
        let id = "\(config.memberName)-\(Int(startTime))-\(nextRequest)"
        let record = RequestRecord(from: config.memberName, request: request, lease: lease)
        do {
            _ = try await client.transaction(.init(compare: [], success: [.put(keys.request(id), Self.json(record), lease: lease)]), kind: .txn)
        } catch {
            return .noLeader("cannot ask the leader through etcd: \(error)", confirmed: confirmed)
        }
        let wait = confirmed ? commandTimeout + .seconds(15) : .seconds(15)
        Task { [weak self] in
            try? await Task.sleep(for: wait)
            await self?.expire(id)
        }
        let outcome = await withCheckedContinuation { pending[id] = $0 }
        let key = keys.request(id)
        Task { _ = try? await client.transaction(.init(compare: [], success: [.delete(key)]), kind: .txn) }
        // The leader wrote its new view before the answer: apply it before reporting success.
        if outcome == .applied, let view = machine.backends?.view {
            await coordinator.adopt(down: Set(view.down), up: Set(view.up), primary: view.primary)
        }
        return BackendChangeOutcome.verdict(outcome, from: "the leader \(leader)", confirmed: confirmed)
    }

    private func expire(_ id: String) {
        pending.removeValue(forKey: id)?.resume(returning: nil)
    }

    private func count(_ result: String) {
        failoverRequests[result, default: 0] += 1
        publish()
    }

    /// A request key appeared or changed: the leader decides a new one; the asking member
    /// takes its answer.
    private func request(id: String, value: String) {
        guard let record: RequestRecord = Self.decode(value) else { return }
        if let outcome = record.outcome {
            if record.from == config.memberName { pending.removeValue(forKey: id)?.resume(returning: outcome) }
            return
        }
        guard record.from != config.memberName, handledRequests.insert(id).inserted else { return }
        switch machine.decide(record.request, from: record.from, now: now()) {
        case .notLeader:
            handledRequests.remove(id)
        case .quarantine(let why):
            count("quarantined")
            logger.warning("etcd: \(record.from) asks to take backend nodes \(record.request.nodes) \(record.request.kind.rawValue); not yet: \(why)")
            answer(id: id, record: record, outcome: .quarantine(why))
        case .perform:
            logger.warning("etcd: carrying out \(record.request.kind.rawValue) of backend nodes \(record.request.nodes) asked by \(record.from)")
            let coordinator = self.coordinator
            Task {
                let result = await coordinator.perform(record.request.operation)
                await self.finish(result, id: id, record: record)
            }
        }
    }

    private func finish(_ result: Result<Void, NodeOperationRefusal>, id: String, record: RequestRecord) async {
        await publishBackends()
        switch result {
        case .success:
            count("applied")
            answer(id: id, record: record, outcome: .applied)
        case .failure(let refusal):
            count("refused")
            answer(id: id, record: record, outcome: .refused(refusal.description))
        }
    }

    private func answer(id: String, record: RequestRecord, outcome: BackendChangeOutcome) {
        guard let client else { return }
        var answered = record
        answered.outcome = outcome
        let key = keys.request(id), value = Self.json(answered)
        Task { _ = try? await client.transaction(.init(compare: [], success: [.put(key, value, lease: record.lease)]), kind: .txn) }
    }

    /// On the leader: writes the backend view to etcd when it differs from the stored one, only
    /// while the leader key is still this member's.
    private func publishBackends() async {
        guard let client, machine.isLeader(now: now()), !publishing else { return }
        let record = BackendsRecord(view: BackendView(cluster.snapshot), leader: config.memberName)
        guard machine.backends != record else { return }
        publishing = true
        defer { publishing = false }
        do {
            let answer = try await client.transaction(
                .init(compare: [.value(keys.leader, is: config.memberName)], success: [.put(keys.backends, Self.json(record))]), kind: .txn)
            if answer.succeeded == true { feed(.backendsChanged(record)) }
        } catch {
            logger.warning("etcd: cannot store the backend view: \(error)")
        }
        // A change that arrived while writing is written now.
        if machine.backends != BackendsRecord(view: BackendView(cluster.snapshot), leader: config.memberName) {
            Task { await self.publishBackends() }
        }
    }

    private func adopt(_ view: BackendView) {
        let snapshot = cluster.snapshot
        let needsDown = snapshot.nodes.contains { view.down.contains($0.id) && $0.status != .down && $0.status != .unused }
        let needsUp = snapshot.nodes.contains { view.up.contains($0.id) && $0.status == .down }
        guard needsDown || needsUp || snapshot.primaryNodeID != view.primary else { return }
        let coordinator = self.coordinator
        Task { await coordinator.adopt(down: Set(view.down), up: Set(view.up), primary: view.primary) }
    }

    // MARK: Report

    private func publish() {
        let report = machine.report(
            now: now(), local: localRecord(escalated: machine.escalated), delegateIP: config.escalation.delegateIP,
            requests: client?.requestCounts ?? [:], failoverRequests: failoverRequests)
        published.withLockedValue { $0 = report }
    }

    // MARK: JSON

    static func json<Value: Encodable>(_ value: Value) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func decode<Value: Decodable>(_ text: String) -> Value? {
        try? JSONDecoder().decode(Value.self, from: Data(text.utf8))
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
