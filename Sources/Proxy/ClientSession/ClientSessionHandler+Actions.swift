import Logging
import NIOCore
import PostgresWire

/// Performs what the session machine asks for.
extension ClientSessionHandler {
    func perform(_ actions: [ClientSessionMachine.Action]) {
        for action in actions {
            switch action {
            case .writeClient(let bytes):
                sessions.traffic.toClients &+= bytes.readableBytes
                context?.write(wrapOutboundOut(bytes), promise: nil)
                wroteClient = true
            case .flushClient:
                wroteClient = false
                context?.flush()
            case .closeClient:
                context?.close(promise: nil)
            case .sayLastWords(let words):
                sayLastWords(words)
            case .readClient:
                readingClient = true
                context?.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            case .updateReading:
                updateReading()
            case .startTimer(let timer, let delay):
                startTimer(timer, after: delay)
            case .cancelTimer(let timer):
                timers.removeValue(forKey: timer)?.cancel()
            case .log(let level, let message, let metadata):
                logger.log(level: level, message, metadata: metadata)
            case .identified(let parameters):
                startup = parameters
                choosePoolMode(parameters)
                logger[metadataKey: "user"] = "\(parameters.user ?? "")"
                logger[metadataKey: "database"] = "\(parameters.database ?? parameters.user ?? "")"
            case .forwardCancel(let key):
                runtime.cancelRegistry.cancel(key)
            case .requestSlot:
                requestSlot()
            case .leftWithoutSlot:
                runtime.connections.leftWithoutSlot()
            case .prepareClientAuthentication(let method):
                prepareClientAuthentication(method)
            case .logAuthenticationFailure(let sqlState, let method):
                logAuthenticationFailure(sqlState: sqlState, method: method)
            case .leasePrimary(let password):
                leasePrimary(clientPassword: password)
            case .completeLogin:
                completeLogin()
            case .backendLost(let node, let shutdown):
                runtime.backendLost(node, shutdown)
            case .connectionAccepted:
                runtime.connections.accepted()
            case .connectionRejected(let sqlState):
                runtime.connections.rejected(ConnectionStatistics.reason(forSQLState: sqlState))
            case .dispatch(let step):
                perform(step)
            case .flushWritten:
                for connection in touched { connection.flush() }
                touched.removeAllKeepingCapacity()
                if wroteClient {
                    wroteClient = false
                    context?.flush()
                }
            case .streamPiece(let piece, let nodes):
                for node in nodes {
                    guard let connection = connection(for: node) else { continue }
                    sessions.traffic.toBackends &+= piece.readableBytes
                    connection.write(piece)
                    connection.flush()
                }
            case .awaitFacts(let keys, let id):
                awaitFacts(keys, id: id)
            case .answerAdmin(let batch, let commands, let loadBalanceNode, let overrides):
                answerAdmin(batch, commands: commands, loadBalanceNode: loadBalanceNode, overrides: overrides)
            case .setLogLevel(let level):
                logger.logLevel = level.flatMap { Logger.Level(rawValue: $0.logLevelName) } ?? runtime.logger.logLevel
            case .dropConnections(let terminate):
                dropConnections(terminate: terminate)
            case .releaseConnections:
                releaseForTransactionPool()
            case .releaseAll(let closing, let holdsSlot, let cancelSlotRequest):
                releaseAll(closing: closing, holdsSlot: holdsSlot, cancelSlotRequest: cancelSlotRequest)
            }
        }
    }

    /// One of the dispatch machine's actions.
    private func perform(_ step: DispatchMachine.Action) {
        switch step {
        case .write(let node, let bytes, let type):
            guard let connection = connection(for: node) else { return }
            if connection.isPooled, Self.carriesStatementName(type) {
                writeMapped(bytes, type: type, to: connection)
            } else {
                connection.noteSent(type)
                sessions.traffic.toBackends &+= bytes.readableBytes
                connection.write(bytes)
            }
            if !touched.contains(where: { $0 === connection }) { touched.append(connection) }
        case .writeQuietSync(let node):
            guard let connection = connection(for: node) else { return }
            connection.noteSent(FrontendMessageType.sync, .drop)
            connection.write(DispatchMachine.syncMessage)
            if !touched.contains(where: { $0 === connection }) { touched.append(connection) }
        case .track(let node, let type):
            connection(for: node)?.noteSent(type)
        case .writeRun(let node, let bytes):
            guard let connection = connection(for: node) else { return }
            sessions.traffic.toBackends &+= bytes.readableBytes
            connection.write(bytes)
            if !touched.contains(where: { $0 === connection }) { touched.append(connection) }
        case .writeClient(let bytes):
            sessions.traffic.toClients &+= bytes.readableBytes
            context?.write(wrapOutboundOut(bytes), promise: nil)
            wroteClient = true
        case .lease(let node):
            if transactionMode { leaseForUnit(node) } else { leaseStandby(node) }
        case .setCancelTarget(let node):
            if let output = connection(for: node), cancelRoute.backendRuns(node: node) { output.sendCancel() }
        case .count(let node, let category):
            connection(for: node)?.counters?.count(category)
        case .readOnPrimaryForSessionWrites:
            runtime.walPositions.countPrimaryRead()
        case .pinned(let reason):
            runtime.transactionPool.pinned(reason)
            logger.debug("client pinned to its backend connections", metadata: ["reason": "\(reason.rawValue)"])
        case .refusedPinning(let reason):
            runtime.transactionPool.refused(reason)
        case .statementsDeallocated(let held):
            statementMapper.deallocationAnswered(held: held)
            for connection in allConnections { connection.pooled?.statements.removeAll() }
        case .standbyWaitEnded(let milliseconds, let onStandby):
            runtime.walPositions.countWait(milliseconds: milliseconds, onStandby: onStandby)
        case .waitForFacts, .terminate, .streamTo, .waitForStandbys:
            // The session machine takes these itself.
            break
        }
    }

    /// Messages whose statement names transaction mode rewrites (and DEALLOCATE in a Query).
    static func carriesStatementName(_ type: UInt8) -> Bool {
        switch type {
        case FrontendMessageType.parse, FrontendMessageType.bind, FrontendMessageType.describe,
             FrontendMessageType.close, FrontendMessageType.query:
            return true
        default:
            return false
        }
    }

    func startTimer(_ timer: ClientSessionMachine.Timer, after delay: TimeAmount) {
        timers[timer]?.cancel()
        guard let context else { return }
        timers[timer] = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            timers[timer] = nil
            run { machine, env, actions in machine.timerFired(timer, &env, now: .now(), into: &actions) }
        }
    }

    /// Releases everything the session holds. The slot stays taken until the backend
    /// connections are reset, so that num_init_children also bounds the connections being
    /// cleaned up.
    private func releaseAll(closing: [Int], holdsSlot: Bool, cancelSlotRequest: Bool) {
        sessions.remove(self)
        if cancelSlotRequest, let id = slotRequestID { _ = runtime.admission.cancel(id) }
        slotRequestID = nil
        cancelPrimaryGateWait()
        if let ending = endingAfterMessage {
            ending.timer.cancel()
            endingAfterMessage = nil
        }
        if let cancelRegistration {
            runtime.cancelRegistry.unregister(cancelRegistration)
            self.cancelRegistration = nil
        }
        let connections = allConnections
        primaryConnection = nil
        standbyConnections.removeAll()
        touched.removeAll()
        var outstanding = max(connections.count, 1)
        let admission = runtime.admission
        let releaseSlot: () -> Void = holdsSlot ? {
            outstanding -= 1
            if outstanding <= 0 { admission.release() }
        } : {}
        if connections.isEmpty { releaseSlot() }
        if transactionMode { return releaseAllToTransactionPool(connections, closing: closing, releaseSlot: releaseSlot) }
        for connection in connections {
            connection.owner = nil
            if closing.contains(connection.node.id) {
                // It got part of a streamed message: it cannot be reset.
                connection.close()
                releaseSlot()
            } else {
                setReading(connection, true)
                BackendResetter(connection: connection, queries: settings.resetQueries, giveBack: { [pool] in pool.giveBack($0) },
                                onFinish: releaseSlot).start(timeout: settings.resetTimeout)
            }
        }
    }

    /// Lets go of every backend connection without resetting it.
    private func dropConnections(terminate: Bool) {
        for connection in allConnections {
            connection.owner = nil
            if terminate { connection.terminate() } else { connection.close() }
        }
        primaryConnection = nil
        standbyConnections.removeAll()
        touched.removeAll()
    }
}
