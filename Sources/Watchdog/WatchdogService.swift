import Cluster
import Configuration
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The watchdog at work: owns the `WatchdogMachine`, feeds it messages, heartbeats, life checks
/// and time, and carries out its actions (messages, escalation commands, the leader's backend
/// view). It is also the `ClusterCoordination` of the failover coordinator: backend changes asked
/// on any member are decided by the leader and applied everywhere.
public actor WatchdogService: CoordinationMember {
    private let config: WatchdogConfig
    private let cluster: ClusterState
    private let coordinator: FailoverCoordinator
    private let logger: Logger
    private let reloadHook: @Sendable () -> Void
    private let transport: WatchdogTransport
    private let peersByName: [String: WatchdogMemberConfig]
    private let origin = ContinuousClock.now
    private let bootTime: Double
    private let commandTimeout: Duration
    private var machine: WatchdogMachine
    private var tcpSequence: UInt64 = 0
    private var udpSequence: UInt64 = 0
    private var replay: [WatchdogPort: ReplayGuard] = [.watchdog: ReplayGuard(), .heartbeat: ReplayGuard()]
    private var loggedRejections: Set<String> = []
    private var rejected: [String: Int] = [:]
    private var failoverRequests: [String: Int] = [:]
    private var pending: [UInt64: CheckedContinuation<BackendChangeOutcome?, Never>] = [:]
    private var nextRequestID: UInt64 = 0
    private var commands: Task<Void, Never>?
    private var loops: [Task<Void, Never>] = []
    private var lifecheckFailures: [String: Int] = [:]
    /// The backend view in the leader's latest status.
    private var leaderView: BackendView?
    /// Machine names the other members reported.
    private var machines: [String: String] = [:]
    private let machineName = ProcessInfo.processInfo.hostName
    private let published = NIOLockedValueBox(WatchdogReport.disabled)

    /// - Parameters:
    ///   - startTime: wall-clock start of this SwiftPool (the earlier start wins a priority tie).
    ///   - reload: re-reads the configuration files (a cluster-wide `pcp_reload_config -s c`).
    public init(config: WatchdogConfig, cluster: ClusterState, coordinator: FailoverCoordinator, group: any EventLoopGroup,
                startTime: Double, commandTimeout: Duration, logger: Logger, reload: @escaping @Sendable () -> Void) {
        self.config = config
        self.cluster = cluster
        self.coordinator = coordinator
        self.logger = logger
        self.reloadHook = reload
        self.bootTime = startTime
        self.commandTimeout = commandTimeout
        transport = WatchdogTransport(group: group, sealer: WatchdogSealer(authKey: config.authKey), logger: logger)
        peersByName = Dictionary(config.peers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        machine = WatchdogMachine(settings: .init(
            localName: config.local.name, peerNames: config.peers.map(\.name), priority: config.priority, startTime: startTime,
            keepalive: config.heartbeatKeepalive.seconds, deadtime: config.heartbeatDeadtime.seconds,
            livenessFromTraffic: config.lifecheckMethod == .heartbeat,
            quorum: QuorumRule(enableConsensusWithHalfVotes: config.enableConsensusWithHalfVotes),
            failoverWhenQuorumExists: config.failoverWhenQuorumExists, failoverRequireConsensus: config.failoverRequireConsensus,
            allowMultipleFailoverRequestsFromNode: config.allowMultipleFailoverRequestsFromNode,
            removeShutdownNodes: config.removeShutdownNodes, lostNodeRemovalTimeout: config.lostNodeRemovalTimeout.seconds,
            noShowNodeRemovalTimeout: config.noShowNodeRemovalTimeout.seconds))
    }

    /// The latest picture of the cluster, for PCP, HTTP, metrics and SQL (any thread).
    public nonisolated var report: WatchdogReport { published.withLockedValue { $0 } }

    // MARK: Life cycle

    /// Binds the ports and joins the cluster.
    public func start() async throws {
        try await transport.start(
            host: config.local.host, wdPort: config.local.wdPort,
            heartbeatPort: config.lifecheckMethod == .heartbeat ? config.heartbeatListenPort : nil)
        logger.info("watchdog: member \(config.local.name) started", metadata: [
            "members": "\(config.members.map(\.name))", "priority": "\(config.priority)", "lifecheck": "\(config.lifecheckMethod.rawValue)",
        ])
        cluster.observeStatus { [weak self] _ in
            guard let self else { return }
            Task { await self.clusterChanged() }
        }
        feed(.start)
        let incoming = transport.incoming
        loops.append(Task { [weak self] in
            for await inbound in incoming {
                guard let self else { return }
                await self.receive(inbound)
            }
        })
        loops.append(Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                await self?.feed(.tick)
            }
        })
        if config.lifecheckMethod == .heartbeat {
            let every = config.heartbeatKeepalive
            loops.append(Task { [weak self] in
                while !Task.isCancelled {
                    await self?.sendHeartbeat()
                    try? await Task.sleep(for: every)
                }
            })
        }
        if config.lifecheckMethod == .query {
            let every = max(config.lifecheckInterval, .seconds(1))
            loops.append(Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: every)
                    await self?.queryLifecheck()
                }
            })
        }
        if !config.trustedServers.isEmpty {
            let every = max(min(config.lifecheckInterval, config.heartbeatDeadtime / 2), .seconds(1))
            loops.append(Task { [weak self] in
                while !Task.isCancelled {
                    await self?.checkTrustedServers()
                    try? await Task.sleep(for: every)
                }
            })
        }
    }

    /// Leaves the cluster cleanly: releases the virtual IP (when held) and tells the others.
    public func stop() async {
        feed(.shutdown)
        await commands?.value
        try? await Task.sleep(for: .milliseconds(100))
        for loop in loops { loop.cancel() }
        loops.removeAll()
        for continuation in pending.values { continuation.resume(returning: nil) }
        pending.removeAll()
        await transport.stop()
        logger.info("watchdog: stopped")
    }

    /// Asks every other member to reload its configuration (`pcp_reload_config -s c`).
    public func reloadCluster() {
        for member in config.peers { send(.reload, to: member) }
    }

    /// `wd_lifecheck_method = external`: something outside says whether a member is alive.
    /// Returns false for an unknown member.
    public func reportLifecheck(memberID: Int, alive: Bool) -> Bool {
        guard let member = config.peers.first(where: { $0.id == memberID }) else { return false }
        feed(.lifecheck(member: member.name, alive: alive))
        return true
    }

    // MARK: Events

    private func now() -> Double { (ContinuousClock.now - origin).seconds }

    private func feed(_ event: WatchdogMachine.Event) {
        perform(machine.handle(event, now: now()))
        publish()
    }

    private func receive(_ inbound: WatchdogInbound) {
        switch inbound {
        case .rejected(let reason, let port, let source):
            reject(reason, port: port, source: source)
        case .message(let envelope, let port, let source):
            guard peersByName[envelope.from] != nil else { return reject(.unknownMember, port: port, source: source) }
            guard replay[port, default: ReplayGuard()].admit(envelope, wallClock: Date().timeIntervalSince1970) else {
                return reject(.replay, port: port, source: source)
            }
            let from = envelope.from
            switch envelope.payload {
            case .heartbeat: feed(.heartbeat(from: from))
            case .status(let status):
                if let machine = status.machine { machines[from] = machine }
                if status.state == .leader, let view = status.backends { leaderView = view }
                feed(.status(from: from, status))
            case .standForLeader(let priority, let startTime): feed(.standForLeader(from: from, priority: priority, startTime: startTime))
            case .electionReply(let accept): feed(.electionReply(from: from, accept: accept))
            case .shutdown: feed(.peerShutdown(from: from))
            case .backendRequest(let id, let request): decideRemote(request, id: id, from: from)
            case .backendResult(let id, let outcome): pending.removeValue(forKey: id)?.resume(returning: outcome)
            case .reload:
                logger.warning("watchdog: member \(from) asked every member to reload the configuration")
                reloadHook()
            }
        }
    }

    private func reject(_ reason: WatchdogRejection, port: WatchdogPort, source: String) {
        rejected["\(port.rawValue)|\(reason.rawValue)", default: 0] += 1
        publish()
        guard loggedRejections.insert("\(source)|\(port.rawValue)|\(reason.rawValue)").inserted else { return }
        let detail = switch reason {
        case .authentication: "authentication failed (is wd_authkey the same on every member?)"
        case .malformed: "not a SwiftPool watchdog message"
        case .oversized: "message too large"
        case .replay: "message replayed or out of order"
        case .unknownMember: "sender is not a configured watchdog member"
        }
        logger.warning("watchdog: rejected a message from \(source) on the \(port.rawValue) port: \(detail); further ones from it are only counted")
    }

    // MARK: Actions

    private func perform(_ actions: [WatchdogMachine.Action]) {
        for action in actions {
            switch action {
            case .sendStatus(let to, let wantsReply):
                let status = currentStatus(wantsReply: wantsReply)
                for member in recipients(to) { send(.status(status), to: member) }
            case .sendStandForLeader:
                for member in config.peers { send(.standForLeader(priority: config.priority, startTime: bootTime), to: member) }
            case .sendElectionReply(let to, let accept):
                if let member = peersByName[to] { send(.electionReply(accept: accept), to: member) }
            case .sendShutdown:
                for member in config.peers { send(.shutdown, to: member) }
            case .escalate:
                runCommands(escalation: true)
            case .deEscalate:
                runCommands(escalation: false)
            case .adoptBackends(let view):
                adopt(view)
            case .log(let level, let text):
                switch level {
                case .info: logger.info("\(text)")
                case .warning: logger.warning("\(text)")
                }
            }
        }
    }

    private func recipients(_ name: String?) -> [WatchdogMemberConfig] {
        guard let name else { return config.peers }
        return peersByName[name].map { [$0] } ?? []
    }

    private func send(_ payload: WatchdogPayload, to member: WatchdogMemberConfig) {
        tcpSequence += 1
        let envelope = WatchdogEnvelope(from: config.local.name, boot: bootTime, seq: tcpSequence, time: Date().timeIntervalSince1970, payload: payload)
        transport.send(envelope, to: member.name, host: member.host, port: member.wdPort)
    }

    private func sendHeartbeat() {
        udpSequence += 1
        let envelope = WatchdogEnvelope(from: config.local.name, boot: bootTime, seq: udpSequence, time: Date().timeIntervalSince1970, payload: .heartbeat)
        transport.sendHeartbeat(envelope, to: config.heartbeatTargets.map { .init(host: $0.host, port: $0.port) })
    }

    private func currentStatus(wantsReply: Bool) -> MemberStatus {
        var status = machine.status(wantsReply: wantsReply)
        status.machine = machineName
        if machine.state == .leader { status.backends = Self.view(of: cluster.snapshot) }
        return status
    }

    /// What the leader tells the others: quarantine is local and counts as in service.
    static func view(of snapshot: ClusterState.Snapshot) -> BackendView { BackendView(snapshot) }

    private func adopt(_ view: BackendView) {
        let snapshot = cluster.snapshot
        let needsDown = snapshot.nodes.contains { view.down.contains($0.id) && $0.status != .down && $0.status != .unused }
        let needsUp = snapshot.nodes.contains { view.up.contains($0.id) && $0.status == .down }
        guard needsDown || needsUp || snapshot.primaryNodeID != view.primary else { return }
        let coordinator = self.coordinator
        Task { await coordinator.adopt(down: Set(view.down), up: Set(view.up), primary: view.primary) }
    }

    private func clusterChanged() {
        guard machine.state == .leader else { return }
        let status = currentStatus(wantsReply: false)
        for member in config.peers { send(.status(status), to: member) }
    }

    /// Escalation: wd_escalation_command, if_up_cmd, arping_cmd; de-escalation:
    /// wd_de_escalation_command, if_down_cmd. One at a time, in the order asked.
    private func runCommands(escalation: Bool) {
        commands = EscalationRunner(settings: config.escalation, commandTimeout: commandTimeout, logger: logger, label: "watchdog")
            .run(escalation: escalation, after: commands)
    }

    // MARK: Backend changes

    public func route(_ operation: BackendOperation, confirmed: Bool) async -> CoordinationVerdict {
        let request = Self.request(for: operation, confirmed: confirmed)
        if machine.state == .leader {
            switch machine.decide(request, from: config.local.name, now: now()) {
            case .perform:
                count("applied")
                return .local
            case .quarantine(let why):
                count("quarantined")
                return .quarantine(why)
            case .notLeader:
                break
            }
        }
        guard machine.state == .standby, let leaderName = machine.leader, let leader = peersByName[leaderName] else {
            return .noLeader("the watchdog has no leader yet (this member is \(machine.state.name))", confirmed: confirmed)
        }
        nextRequestID += 1
        let id = nextRequestID
        send(.backendRequest(id: id, request), to: leader)
        let wait = confirmed ? commandTimeout + .seconds(15) : .seconds(15)
        Task { [weak self] in
            try? await Task.sleep(for: wait)
            await self?.expire(id)
        }
        let outcome = await withCheckedContinuation { pending[id] = $0 }
        // The leader sent its new view just before the answer: apply it before reporting success.
        if outcome == .applied, let view = leaderView {
            await coordinator.adopt(down: Set(view.down), up: Set(view.up), primary: view.primary)
        }
        return BackendChangeOutcome.verdict(outcome, from: "the watchdog leader \(leaderName)", confirmed: confirmed)
    }

    private func expire(_ id: UInt64) {
        pending.removeValue(forKey: id)?.resume(returning: nil)
    }

    private func count(_ result: String) {
        failoverRequests[result, default: 0] += 1
        publish()
    }

    private func decideRemote(_ request: BackendChangeRequest, id: UInt64, from name: String) {
        guard let member = peersByName[name] else { return }
        switch machine.decide(request, from: name, now: now()) {
        case .notLeader:
            send(.backendResult(id: id, .notLeader), to: member)
        case .quarantine(let why):
            count("quarantined")
            logger.warning("watchdog: \(name) asks to take backend nodes \(request.nodes) \(request.kind.rawValue); not yet: \(why)")
            send(.backendResult(id: id, .quarantine(why)), to: member)
        case .perform:
            logger.warning("watchdog: carrying out \(request.kind.rawValue) of backend nodes \(request.nodes) asked by \(name)")
            let coordinator = self.coordinator
            Task {
                let result = await coordinator.perform(Self.operation(for: request))
                await self.finishRemote(result, id: id, member: member)
            }
        }
    }

    private func finishRemote(_ result: Result<Void, NodeOperationRefusal>, id: UInt64, member: WatchdogMemberConfig) {
        clusterChanged()
        switch result {
        case .success:
            count("applied")
            send(.backendResult(id: id, .applied), to: member)
        case .failure(let refusal):
            count("refused")
            send(.backendResult(id: id, .refused(refusal.description)), to: member)
        }
    }

    static func request(for operation: BackendOperation, confirmed: Bool) -> BackendChangeRequest {
        BackendChangeRequest(operation, confirmed: confirmed)
    }

    static func operation(for request: BackendChangeRequest) -> BackendOperation { request.operation }

    // MARK: Life checks

    private func queryLifecheck() async {
        let config = self.config
        for member in config.peers {
            let alive: Bool = (try? await NIOThreadPool.singleton.runIfActive { () -> Bool in
                var parameters = ["host": member.host, "port": "\(member.pgpoolPort)", "user": config.lifecheckUser,
                                  "dbname": config.lifecheckDatabase, "connect_timeout": "5",
                                  // A peer SwiftPool, not a node: the nodes' TLS policy does not apply.
                                  "sslmode": "prefer"]
                if !config.lifecheckPassword.isEmpty { parameters["password"] = config.lifecheckPassword }
                guard let connection = try? LibPQConnection(parameters: parameters) else { return false }
                return (try? connection.queryScalar(config.lifecheckQuery)) != nil
            }) ?? false
            if alive {
                lifecheckFailures[member.name] = 0
                feed(.lifecheck(member: member.name, alive: true))
            } else {
                let failures = lifecheckFailures[member.name, default: 0] + 1
                lifecheckFailures[member.name] = failures
                if failures >= max(1, config.lifePoint) { feed(.lifecheck(member: member.name, alive: false)) }
            }
        }
    }

    private func checkTrustedServers() async {
        let ping = PoolConfigPaths.join(config.pingPath, "ping")
        let servers = config.trustedServers
        let reachable: Bool = (try? await NIOThreadPool.singleton.runIfActive { () -> Bool in
            servers.contains { host in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: ping)
                process.arguments = ["-q", "-c", "1", "-W", "1", host]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                guard (try? process.run()) != nil else { return false }
                process.waitUntilExit()
                return process.terminationStatus == 0
            }
        }) ?? false
        feed(.trustedServers(reachable: reachable))
    }

    // MARK: Report

    private func publish() {
        let now = now()
        var members: [WatchdogReport.Member] = [
            WatchdogReport.Member(
                id: config.local.id, name: config.local.name, nodeName: Self.nodeName(config.local, machine: machineName),
                host: config.local.host, wdPort: config.local.wdPort, pgpoolPort: config.local.pgpoolPort, priority: config.priority,
                state: machine.state, membership: .member, alive: true, isLocal: true, escalated: machine.escalated, heartbeatAge: nil)
        ]
        for member in config.peers {
            let peer = machine.peers[member.name]
            members.append(WatchdogReport.Member(
                id: member.id, name: member.name, nodeName: Self.nodeName(member, machine: machines[member.name] ?? member.host), host: member.host,
                wdPort: member.wdPort, pgpoolPort: member.pgpoolPort, priority: peer?.status?.priority ?? 0,
                state: peer?.state ?? .dead, membership: peer?.membership ?? .member, alive: peer?.alive ?? false, isLocal: false,
                escalated: peer?.alive == true && peer?.status?.escalated == true,
                heartbeatAge: peer?.lastHeard.map { max(0, now - $0) }))
        }
        let report = WatchdogReport(
            enabled: true, members: members, state: machine.state, leaderName: machine.leader, quorum: machine.quorum,
            votingMembers: machine.votingMembers, aliveMembers: machine.aliveVotingMembers, requiredMembers: machine.requiredMembers,
            escalated: machine.escalated, delegateIP: config.delegateIP, elections: machine.elections,
            vipUp: machine.vipChanges.up, vipDown: machine.vipChanges.down, rejected: rejected, failoverRequests: failoverRequests)
        published.withLockedValue { $0 = report }
    }

    static func nodeName(_ member: WatchdogMemberConfig, machine: String) -> String {
        "\(member.host):\(member.pgpoolPort) Linux \(machine)"
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

enum PoolConfigPaths {
    static func join(_ directory: String, _ name: String) -> String {
        directory.isEmpty ? name : (directory.hasSuffix("/") ? directory + name : directory + "/" + name)
    }
}
