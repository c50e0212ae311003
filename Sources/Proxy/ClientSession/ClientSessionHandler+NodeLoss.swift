import NIOCore
import PostgresWire

/// Nodes going down (failover) and SwiftPool's shutdown, as the session registry reports them.
extension ClientSessionHandler {
    /// Shuts the session down for SwiftPool's own shutdown.
    func terminateForShutdown() {
        let atBoundary = allConnections.allSatisfy(\.isAtMessageBoundary)
        let copying = copyingIn
        run { machine, _, actions in
            machine.terminateForShutdown(atMessageBoundary: atBoundary, copyingIn: copying, into: &actions)
        }
    }

    /// The transaction status of a connection that waits for the client's COPY data.
    var copyingIn: TransactionStatus? { firstConnection(where: \.tracker.copyInProgress)?.tracker.transactionStatus }

    /// Whether the session holds a connection to one of `nodes`, or its primary is among them.
    func usesAnyNode(of nodes: Set<Int>) -> Bool {
        if let primaryNodeID, nodes.contains(primaryNodeID) { return true }
        return allConnections.contains { nodes.contains($0.node.id) }
    }

    /// `nodes` went down: a session whose primary is among them ends, unless it is a
    /// transaction-mode session between units of work (it follows the failover); one that only
    /// had an idle connection to a standby among them goes on without it.
    func nodesWentDown(_ nodes: Set<Int>) {
        // In transaction mode the session holds its primary's connection only during a unit of
        // work, but its routing was set up for that primary.
        if let primary = primaryNodeID ?? primaryConnection?.node.id, nodes.contains(primary) {
            return followFailover(from: primary) ? () : terminateForFailover()
        }
        for (id, connection) in standbyConnections where nodes.contains(id) {
            standbyConnections[id] = nil
            connection.owner = nil
            connection.close()
            markUnusable(id)
            let wasIdle = connection.tracker.isQuiescent && connection.isAtMessageBoundary
                && connection.tracker.transactionStatus == .idle
            var goesOn = false
            run { machine, env, actions in goesOn = machine.continueWithout(id, wasIdle: wasIdle, &env, into: &actions) }
            guard goesOn else { return terminateForFailover() }
        }
    }

    /// Transaction mode: a client between units of work holds no server session, so losing its
    /// primary need not end it. It reads nothing more from the client until the failover has
    /// settled the new primary (at most ``primaryGateWait``), then goes on there: its settings
    /// are replayed and its statements prepared on the new primary's connections, as on any
    /// other. A unit still waiting for a connection to the lost primary (nothing of it was
    /// sent) stops waiting and runs on the new one. False when it cannot: inside a unit of work,
    /// pinned, or no other primary.
    private func followFailover(from old: Int) -> Bool {
        // A unit whose lease of the primary failed waits for this failover (``awaitFailover(of:after:)``).
        let leaseFailed = unitAwaitingFailover?.node == old
        unitAwaitingFailover?.timeout.cancel()
        unitAwaitingFailover = nil
        let waitsForOld = !leaseWaits.isEmpty && leaseWaits.allSatisfy { $0.node == old }
        let unitWaiting = leaseFailed || waitsForOld
        guard transactionMode, primaryConnection == nil, standbyConnections.isEmpty, leaseWaits.isEmpty || waitsForOld,
              endingAfterMessage == nil, machine.canFollowFailover(unitWaiting: unitWaiting), let context else { return false }
        for wait in leaseWaits { pool.transactions.cancel(wait.id, node: wait.node) }
        leaseWaits.removeAll()
        let gate = runtime.cluster.primaryGate
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        // An open gate: the new primary is known already (a promotion without a switchover).
        guard let ticket = gate.whenOpen({ loopBound.eventLoop.execute { loopBound.value.primaryGateOpened() } }) else {
            return moveToNewPrimary(after: old, unitWaiting: unitWaiting)
        }
        let timeout = context.eventLoop.assumeIsolated().scheduleTask(in: Self.primaryGateWait) { [self] in
            gate.cancel(ticket)
            primaryGateOpened()
        }
        primaryGateWait = PrimaryGateWait(ticket: ticket, timeout: timeout, clientPassword: clientPassword, done: false,
                                          failoverFrom: old, unitWaiting: unitWaiting)
        primaryNodeID = nil
        stopReadingClient()
        logger.info("session waits for the failover to settle the new primary", metadata: ["node": "\(old)"])
        return true
    }

    /// Transaction mode: a unit of work that has not begun anywhere could not reach its primary
    /// (refused, timed out). The node is reported, so a failover starts once a check confirms
    /// it, and the unit waits for it, reading nothing more from the client: once the node is
    /// taken down the session follows the failover (``followFailover(from:)``) and the unit runs
    /// on the new primary. Without a failover within ``primaryGateWait`` the session ends with
    /// `error`, as it would have at once. False when the unit cannot wait.
    func awaitFailover(of old: Int, after error: TransactionLeaseError) -> Bool {
        guard transactionMode, unitAwaitingFailover == nil, primaryGateWait.map({ $0.done }) ?? true,
              primaryConnection == nil, standbyConnections.isEmpty, leaseWaits.isEmpty,
              machine.canFollowFailover(unitWaiting: true), let context else { return false }
        let timeout = context.eventLoop.assumeIsolated().scheduleTask(in: Self.primaryGateWait) { [self] in
            guard let waiting = unitAwaitingFailover else { return }
            unitAwaitingFailover = nil
            primaryUnavailable(waiting.error)
        }
        unitAwaitingFailover = UnitAwaitingFailover(node: old, error: error, timeout: timeout)
        stopReadingClient()
        logger.info("a unit of work waits for the failover of its unreachable primary", metadata: ["node": "\(old)"])
        runtime.backendLost(old, false)
        return true
    }

    /// Whether the session waits for a failover to settle its new primary (nothing is read from
    /// the client meanwhile).
    var followsFailover: Bool {
        unitAwaitingFailover != nil || (primaryGateWait.map { !$0.done && $0.failoverFrom != nil } ?? false)
    }

    /// Moves a session that followed a failover to the primary now in place; false when there
    /// is none other than `old`, or the session can no longer move.
    func moveToNewPrimary(after old: Int, unitWaiting: Bool) -> Bool {
        guard machine.canFollowFailover(unitWaiting: unitWaiting), let node = runtime.primaryNode(), node.id != old else {
            return false
        }
        primaryNodeID = node.id
        unusableNodes.remove(node.id)
        candidatesGeneration = -1
        runtime.transactionPool.followedFailover()
        run { machine, env, actions in machine.primaryMoved(to: node.id, &env, into: &actions) }
        return true
    }

    func terminateForFailover() {
        let unfinished = allConnections.filter { !$0.isAtMessageBoundary }
        if endingAfterMessage == nil, unfinished.count == 1, let connection = unfinished.first, waitForTheRestOf(connection) {
            return
        }
        logger.info("ending session: a backend node it uses went down", metadata: ["nodes": "\(allConnections.map(\.node.id))"])
        let atBoundary = unfinished.isEmpty
        run { machine, env, actions in machine.terminateForFailover(atMessageBoundary: atBoundary, &env, into: &actions) }
    }

    /// How long a session that must end waits for the rest of a message it has begun to forward.
    static let restOfMessageWait: TimeAmount = .seconds(2)

    /// The session must end while `connection`'s message is half forwarded to the client (a
    /// large result, a COPY TO). A FATAL there would be read as part of that message, so the
    /// client would only see the connection close: the rest of the message is forwarded first,
    /// when the backend still sends it (a switchover, a detach), at most ``restOfMessageWait``.
    /// False when that cannot be (a pooled connection, whose replies are filtered).
    private func waitForTheRestOf(_ connection: BackendConnection) -> Bool {
        guard !connection.isClosed, !connection.isPooled, let context else { return false }
        let timer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.restOfMessageWait) { [self] in
            endAfterMessage(complete: false)
        }
        endingAfterMessage = EndingAfterMessage(connection: connection, rest: connection.unfinishedMessage, timer: timer)
        // Nothing more from the client until the end; the backend is read as the client takes data.
        stopReadingClient()
        return true
    }

    /// A read while the session waits for the rest of a message: only that message's bytes go
    /// on; true when the read was taken here.
    func takeWhileEnding(_ connection: BackendConnection, _ bytes: ByteBuffer) -> Bool {
        guard var ending = endingAfterMessage else { return false }
        guard ending.connection === connection else { return true }
        let count = ending.rest.take(from: bytes)
        if count > 0 {
            sessions.traffic.toClients &+= count
            context.write(wrapOutboundOut(bytes.getSlice(at: bytes.readerIndex, length: count)!), promise: nil)
            wroteClient = true
        }
        endingAfterMessage = ending
        if ending.rest.isComplete { endAfterMessage(complete: true) }
        return true
    }

    /// Ends the session that waited for the rest of a message: with the FATAL when the message
    /// is whole, otherwise (the backend closed, or the wait ran out) by closing the connection.
    func endAfterMessage(complete: Bool) {
        guard let ending = endingAfterMessage else { return }
        endingAfterMessage = nil
        ending.timer.cancel()
        logger.info("ending session: a backend node it uses went down", metadata: ["nodes": "\(allConnections.map(\.node.id))"])
        run { machine, env, actions in machine.terminateForFailover(atMessageBoundary: complete, &env, into: &actions) }
    }
}

/// A unit of work that waits for the failover of its unreachable primary.
struct UnitAwaitingFailover {
    let node: Int
    /// What the client is told when no failover comes.
    let error: TransactionLeaseError
    let timeout: Scheduled<Void>
}

/// A session that must end, waiting for the rest of the message it has begun to forward.
struct EndingAfterMessage {
    let connection: BackendConnection
    var rest: MessageRemainder
    let timer: Scheduled<Void>
}
