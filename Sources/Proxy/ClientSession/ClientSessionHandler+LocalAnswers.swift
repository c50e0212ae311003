import Configuration
import Logging
import NIOCore
import PostgresWire

/// SwiftPool's own SQL commands (SHOW POOL_*, PGPOOL SHOW/SET/RESET), answered on the
/// session's connection through the simple and the extended protocol. When one arrives, the
/// messages before it go on to the backends; reading stops until every backend has answered
/// them; then the command's messages (a Query, or an extended batch up to its Sync) are
/// answered here, and the messages after it are handled as usual.
extension ClientSessionHandler {
    /// Whether `message` belongs to an admin command (answered here, never sent to a node).
    func isAdminMessage(_ type: UInt8, _ message: () -> RawMessage) -> Bool {
        guard runtime.adminCommands != nil else { return false }
        return localAnswers.intercepts(type, message)
    }

    /// Stops reading and answers the admin command at the head of the buffered messages once
    /// the backends are idle.
    func beginAdminAnswer() {
        answeringLocally = true
        adminPaused = true
        updateReading()
        continueAdminAnswer()
    }

    /// Called again whenever a backend becomes ready while an admin answer waits.
    func continueAdminAnswer() {
        guard answeringLocally, !adminAnswerRunning, case .forwarding = phase else { return }
        let idle = (dispatch?.isIdle ?? true) && allConnections.allSatisfy(\.tracker.isQuiescent)
        guard idle else { return }
        var batch: [RawMessage] = []
        do {
            guard let first = try splitter.nextMessage() else { return finishAdminAnswer() }
            batch.append(first)
            if first.type != FrontendMessageType.query {
                // An extended batch: everything up to its Sync (or a Flush: the client waits for
                // the answers so far).
                while batch.last?.type != FrontendMessageType.sync, batch.last?.type != FrontendMessageType.flush {
                    guard let next = try splitter.nextMessage() else {
                        // The rest of the batch has not arrived yet: read on, keep it buffered.
                        for message in batch.reversed() { splitter.putBack(message) }
                        if try splitter.largeMessageAhead() != nil {
                            return protocolViolation("message too large in an admin command")
                        }
                        adminPaused = false
                        updateReading()
                        return
                    }
                    batch.append(next)
                }
            }
        } catch {
            return protocolViolation("\(error)")
        }
        adminPaused = true
        updateReading()
        answerAdminBatch(batch)
    }

    private func answerAdminBatch(_ batch: [RawMessage]) {
        guard let service = runtime.adminCommands else { return }
        let commands = localAnswers.commands(in: batch)
        let loadBalanceNode = routingConfiguration == nil ? nil : dispatch?.routing.loadBalanceNode
        let overrides = pgpoolOverrides
        adminAnswerRunning = true
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        Task {
            var answers: [(AdminCommand, AdminCommandAnswer)] = []
            for command in commands {
                answers.append((command, await service.answer(command, loadBalanceNode: loadBalanceNode, overrides: overrides)))
            }
            let computed = answers
            loop.eventLoop.execute {
                loop.value.writeAdminAnswers(batch, answers: computed)
            }
        }
    }

    private func writeAdminAnswers(_ batch: [RawMessage], answers: [(AdminCommand, AdminCommandAnswer)]) {
        adminAnswerRunning = false
        guard case .forwarding = phase else { return }
        var applied: [(AdminCommand, AdminCommandAnswer)] = []
        let out = localAnswers.answer(batch, results: answers, status: primaryConnection?.tracker.transactionStatus ?? .idle,
                                      applied: &applied)
        for (command, result) in applied { apply(command, result) }
        sessions.traffic.toClients &+= out.readableBytes
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        // More admin commands may follow; otherwise the ordinary path takes over again.
        continueAdminAnswerOrResume()
    }

    private func continueAdminAnswerOrResume() {
        let next: RawMessage?
        do { next = try splitter.nextMessage() } catch { return protocolViolation("\(error)") }
        guard let next else { return finishAdminAnswer() }
        splitter.putBack(next)
        if isAdminMessage(next.type, { next }) {
            continueAdminAnswer()
        } else {
            finishAdminAnswer()
        }
    }

    private func finishAdminAnswer() {
        answeringLocally = false
        adminPaused = false
        // What the client sent after the command.
        forwardFromClient(context.channel.allocator.buffer(capacity: 0))
    }

    /// PGPOOL SET and RESET change the session's own values.
    private func apply(_ command: AdminCommand, _ result: AdminCommandAnswer) {
        guard case .done = result else { return }
        switch command {
        case .pgpoolSet(let name, let value):
            pgpoolOverrides[name] = value
        case .pgpoolReset(let name):
            if name == "all" { pgpoolOverrides.removeAll() } else { pgpoolOverrides[name] = nil }
        default:
            return
        }
        let idleLimit = pgpoolOverrides["client_idle_limit"].flatMap { ValueParser.parseInteger($0, unit: .seconds) }
        settings.clientIdleLimit = idleLimit.map { .seconds($0) } ?? runtime.settings.clientIdleLimit
        idleTimer?.cancel()
        startIdleTimer(after: settings.clientIdleLimit)
        // The routing parameters a session may change.
        if let configured = routingConfiguration?.settings {
            let overrides = pgpoolOverrides
            dispatch?.updateRoutingSettings { settings in
                settings.allowSQLComments = overrides["allow_sql_comments"].flatMap(ValueParser.parseBool)
                    ?? configured.allowSQLComments
                settings.checkUnloggedTable = overrides["check_unlogged_table"].flatMap(ValueParser.parseBool)
                    ?? configured.checkUnloggedTable
            }
        }
        // log_min_messages: this session's own log level.
        if let level = pgpoolOverrides["log_min_messages"].flatMap({ ServerMessageLevel(configValue: $0) }) {
            logger.logLevel = Logger.Level(rawValue: level.logLevelName) ?? runtime.logger.logLevel
        } else {
            logger.logLevel = runtime.logger.logLevel
        }
    }
}
