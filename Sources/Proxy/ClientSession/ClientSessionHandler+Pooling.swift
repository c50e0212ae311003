import Logging
import NIOCore
import PostgresWire

/// Transaction mode's I/O: connections leased from the loop's transaction pool for each unit of
/// work (settings replayed first), statement names rewritten as messages go out, connections
/// given back between units and at the end.
extension ClientSessionHandler: TransactionLeaseTaker {
    /// Decides the session's pool mode once the startup packet named user and database.
    func choosePoolMode(_ parameters: StartupParameters) {
        let user = parameters.user ?? ""
        transactionMode = settings.poolMode(user: user, database: parameters.database ?? user) == .transaction
        if transactionMode { logger.debug("transaction pooling") }
    }

    /// Leases a connection to `node` from the transaction pool (waiting for one up to
    /// transaction_pool_timeout) for `purpose`; ``take(_:of:for:)`` gets it.
    func leaseFromTransactionPool(_ node: BackendNode, for purpose: TransactionLeasePurpose) {
        guard let startupKey else { return }
        let runtime = runtime
        let current = pool.transactionSettings(generation: runtime.settingsGeneration) { runtime.settings }
        if pool.transactions.onWait == nil {
            let statistics = runtime.transactionPool
            pool.transactions.onWait = { waited, _ in statistics.wait.record(.nanoseconds(waited.nanoseconds)) }
        }
        let id = pool.transactions.lease(node, key: startupKey.onNode(node.id), clientPassword: clientPassword,
                                         timeout: current.timeout, for: self, purpose: purpose)
        if let id { leaseWaits.append((node.id, id)) }
    }

    /// A lease came through, or failed: the connection's settings are brought to the client's
    /// first, then it serves `purpose`.
    func take(_ lease: TransactionLease, of node: BackendNode, for purpose: TransactionLeasePurpose) {
        if let index = leaseWaits.firstIndex(where: { $0.node == node.id }) { leaseWaits.remove(at: index) }
        let statistics = runtime.transactionPool
        switch lease {
        case .success(let (connection, reused)):
            statistics.leased()
            let capacity = pool.transactionSettings(generation: runtime.settingsGeneration) { [runtime] in runtime.settings }
                .preparedStatements
            connection.joinTransactionPool(statementCapacity: capacity)
            connection.pooled!.statements.capacity = capacity
            let wanted = machine.dispatch?.pooled?.settings ?? SessionSettings()
            guard let replay = wanted.replay(from: connection.pooled!.settings) else {
                return attach(connection, reused: reused, node: node, for: purpose)
            }
            statistics.replayed()
            SessionReplay.run(replay, on: connection, timeout: settings.resetTimeout) { [self] succeeded in
                if succeeded {
                    connection.pooled!.settings = wanted
                    attach(connection, reused: reused, node: node, for: purpose)
                } else {
                    let reason = connection.lastError?.message
                        ?? (connection.isClosed ? "the connection closed" : "no answer within \(settings.resetTimeout)")
                    logger.warning("could not bring a pooled connection to the session's settings; closing it",
                                   metadata: ["node": "\(node.id)", "error": "\(reason)"])
                    connection.owner = nil
                    connection.close()
                    leaseFailed(.settingsNotRestored(reason), node: node, for: purpose)
                }
            }
        case .failure(let error):
            if case .timedOut = error { statistics.timedOut() }
            leaseFailed(error, node: node, for: purpose)
        }
    }

    private func attach(_ connection: BackendConnection, reused: Bool, node: BackendNode, for purpose: TransactionLeasePurpose) {
        switch purpose {
        case .login: attachLoginConnection(connection, reused: reused)
        case .unit: attachForUnit(connection, reused: reused, node: node.id)
        }
    }

    private func leaseFailed(_ error: TransactionLeaseError, node: BackendNode, for purpose: TransactionLeasePurpose) {
        switch purpose {
        case .login: loginLeaseFailed(error)
        case .unit: unitLeaseFailed(error, node: node.id)
        }
    }

    /// Transaction mode: a connection to `id` for the unit of work routing started.
    func leaseForUnit(_ id: Int) {
        guard let node = pool.backendNode(id, in: runtime.cluster) else {
            return id == primaryNodeID ? primaryUnavailable(nil) : standbyUnavailable(id)
        }
        cancelRoute.unitAwaitsBackend()
        leaseFromTransactionPool(node, for: .unit)
    }

    private func attachForUnit(_ connection: BackendConnection, reused: Bool, node id: Int) {
        guard machine.isForwarding, machine.dispatch != nil else { return giveBackToTransactionPool(connection) }
        if !reused { runtime.cluster.markUsed(id) }
        connection.owner = self
        // A node's counters are one object for the life of the process.
        if connection.counters == nil { connection.counters = runtime.statistics.counters(for: id) }
        if id == primaryNodeID {
            primaryConnection = connection
        } else {
            standbyConnections[id] = connection
        }
        if settingsAtUnitStart == nil { settingsAtUnitStart = machine.dispatch?.pooled?.settings }
        var cancelWanted = false
        if let route = machine.dispatch?.currentRoute, DispatchMachine.outputNode(of: route, primary: primaryNodeID ?? id) == id {
            cancelWanted = cancelRoute.backendRuns(node: id)
        }
        run { machine, env, actions in machine.leased(id, &env, into: &actions) }
        if cancelWanted, !connection.isClosed {
            // The client cancelled while the unit waited: now that its messages are on their
            // way, the cancel reaches the query they start.
            connection.flush()
            connection.sendCancel()
        }
    }

    private func unitLeaseFailed(_ error: TransactionLeaseError, node id: Int) {
        guard machine.isForwarding else { return }
        if id == primaryNodeID {
            switch error {
            case .connect(.unreachable), .connect(.timedOut):
                if awaitFailover(of: id, after: error) { return }
            default:
                break
            }
            return primaryUnavailable(error)
        }
        logger.warning("no connection to a load-balance node; reads go to the primary", metadata: ["node": "\(id)", "error": "\(error)"])
        if case .connect(.unreachable(_, _)) = error { runtime.backendLost(id, false) }
        standbyUnavailable(id)
    }

    /// The FATAL a client gets when no connection became free within transaction_pool_timeout.
    static func poolTimeout(_ wait: TimeAmount) -> ErrorFields {
        ErrorFields(severity: .fatal, sqlState: "53300",
                    message: "no backend connection became free within \(wait.nanoseconds / 1_000_000_000) s (transaction_pool_timeout)",
                    hint: "Raise transaction_pool_size, or shorten the transactions that hold connections.")
    }

    func primaryUnavailable(_ error: TransactionLeaseError?) {
        let fields: ErrorFields
        switch error {
        case .timedOut(let wait)?:
            fields = Self.poolTimeout(wait)
        case .connect(let failure)?:
            fields = ErrorFields(severity: .fatal, sqlState: "08006", message: "could not connect to the primary: \(failure)")
        case .settingsNotRestored(let reason)?:
            fields = ErrorFields(severity: .fatal, sqlState: "08006", message: "could not restore the session's settings on a pooled connection: \(reason)")
        case nil:
            fields = ErrorFields(severity: .fatal, sqlState: "57P03", message: "the primary is not available")
        }
        run { machine, _, actions in machine.unitLeaseFailed(fields, into: &actions) }
    }

    /// Gives every connection back to the transaction pool: a unit of work is over.
    func releaseForTransactionPool() {
        let settingsNow = machine.dispatch?.pooled?.settings ?? SessionSettings()
        let changed = settingsAtUnitStart.map { $0 != settingsNow } ?? false
        settingsAtUnitStart = nil
        cancelRoute.unitEnded()
        if let primaryConnection {
            primaryConnection.pooled?.settings = settingsNow
            giveBackToTransactionPool(primaryConnection)
        }
        for connection in standbyConnections.values {
            // A SET of this unit may or may not have reached a standby: its settings are not known.
            connection.pooled?.settings = changed ? nil : settingsNow
            giveBackToTransactionPool(connection)
        }
        primaryConnection = nil
        standbyConnections.removeAll(keepingCapacity: true)
        touched.removeAllKeepingCapacity()
        // The connections' end-of-read no longer reaches this session: flush what they sent.
        flushClientIfWritten()
    }

    func giveBackToTransactionPool(_ connection: BackendConnection) {
        connection.owner = nil
        setReading(connection, true)
        pool.transactions.giveBack(connection, clientPassword: connection.clientPassword)
    }

    /// Writes a client message to a transaction-mode connection, with SwiftPool's statement names.
    func writeMapped(_ bytes: ByteBuffer, type: UInt8, to connection: BackendConnection) {
        var out = mappedScratch
        mappedScratch = []
        let (before, largeBefore) = (statementMapper.preparedAgain, statementMapper.largeStatements)
        statementMapper.map(bytes, type: type, cache: &connection.pooled!.statements, registry: &pool.statementNames, into: &out)
        if statementMapper.preparedAgain != before { runtime.transactionPool.preparedAgain(statementMapper.preparedAgain - before) }
        // Known only as it goes out, so not refused ahead even when pinning is off.
        if statementMapper.largeStatements != largeBefore, machine.dispatch?.pooled?.pin(.largeStatement) == true {
            runtime.transactionPool.pinned(.largeStatement)
        }
        for message in out {
            connection.noteSent(message.type, message.disposition, name: message.name)
            sessions.traffic.toBackends &+= message.bytes.readableBytes
            connection.write(message.bytes)
        }
        out.removeAllKeepingCapacity()
        mappedScratch = out
    }

    /// Session end in transaction mode: connections go back to the pool, reset first when the
    /// client left something behind (`ABORT`, and `DISCARD ALL` for a pinned client).
    func releaseAllToTransactionPool(_ connections: [BackendConnection], closing: [Int], releaseSlot: @escaping () -> Void) {
        for wait in leaseWaits { pool.transactions.cancel(wait.id, node: wait.node) }
        leaseWaits.removeAll()
        let state = machine.dispatch?.pooled ?? machine.pooledAtEnd
        let pinned = state?.isPinned ?? false
        // A library LOAD brought in cannot be unloaded: such a connection is not shared again.
        let loaded = state?.pins.contains(.load) ?? false
        let settingsNow = state?.settings ?? SessionSettings()
        for connection in connections {
            connection.owner = nil
            if closing.contains(connection.node.id) || loaded {
                connection.close()
                releaseSlot()
                continue
            }
            setReading(connection, true)
            let isPrimary = connection.node.id == primaryNodeID
            // The client left with answers outstanding: what those statements did to the session
            // is not known, so everything is reset.
            let unknown = pinned || !connection.tracker.isQuiescent
            let queries = unknown ? ["ABORT", "DISCARD ALL"] : ["ABORT"]
            BackendResetter(connection: connection, queries: queries, giveBack: { [pool] connection in
                if unknown {
                    connection.pooled?.statements.removeAll()
                    connection.pooled?.settings = SessionSettings()
                } else {
                    connection.pooled?.settings = isPrimary ? settingsNow : nil
                }
                pool.transactions.giveBack(connection, clientPassword: connection.clientPassword)
            }, onFinish: releaseSlot).start(timeout: settings.resetTimeout)
        }
    }
}
