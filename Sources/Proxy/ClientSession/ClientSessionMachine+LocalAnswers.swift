import Cluster
import Configuration
import NIOCore
import PostgresWire

/// SwiftPool's own SQL commands (SHOW POOL_*, PGPOOL SHOW/SET/RESET), taken out in front of
/// routing and answered here through the simple and the extended protocol. When one arrives,
/// the messages before it go on to the backends; the client is not read until every backend has
/// answered them; then the command's messages (a Query, or an extended batch up to its Sync) are
/// answered, and the messages after it are handled as usual.
extension ClientSessionMachine {
    /// Where the session is in answering an admin command.
    enum AdminAnswerState: Equatable {
        case none
        /// Waiting for the backends to be idle or for the rest of the command's batch;
        /// `paused`: the client is not read meanwhile.
        case waiting(paused: Bool)
        /// The answers are being computed.
        case running

        var pausesClient: Bool { self == .running || self == .waiting(paused: true) }
    }

    mutating func beginAdminAnswer<E: SessionEnvironment>(_ env: inout E, into actions: inout [Action]) {
        adminAnswer = .waiting(paused: true)
        actions.append(.updateReading)
        continueAdminAnswer(&env, into: &actions)
    }

    /// Answers the admin command at the head of the buffered messages once the backends are
    /// idle (called again whenever a backend becomes ready while it waits).
    mutating func continueAdminAnswer<E: SessionEnvironment>(_ env: inout E, into actions: inout [Action]) {
        guard case .waiting = adminAnswer, case .forwarding = phase else { return }
        guard (dispatch?.isIdle ?? true) && env.allQuiescent else { return }
        var batch: [RawMessage] = []
        do {
            guard let first = try splitter.nextMessage() else { return finishAdminAnswer(&env, into: &actions) }
            batch.append(first)
            if first.type != FrontendMessageType.query {
                // An extended batch: everything up to its Sync (or a Flush: the client waits for
                // the answers so far).
                while batch.last?.type != FrontendMessageType.sync, batch.last?.type != FrontendMessageType.flush {
                    guard let next = try splitter.nextMessage() else {
                        // The rest of the batch has not arrived yet: read on, keep it buffered.
                        for message in batch.reversed() { splitter.putBack(message) }
                        if try splitter.largeMessageAhead() != nil {
                            return protocolViolation("message too large in an admin command", into: &actions)
                        }
                        adminAnswer = .waiting(paused: false)
                        actions.append(.updateReading)
                        return
                    }
                    batch.append(next)
                }
            }
        } catch {
            return protocolViolation("\(error)", into: &actions)
        }
        adminAnswer = .running
        actions.append(.updateReading)
        actions.append(.answerAdmin(
            batch: batch, commands: localAnswers.commands(in: batch),
            loadBalanceNode: configuredRouting == nil ? nil : dispatch?.routing.loadBalanceNode, overrides: pgpoolOverrides))
    }

    /// The answers to an admin batch are ready; `status` is the primary's transaction status.
    mutating func adminAnswered<E: SessionEnvironment>(
        _ batch: [RawMessage], answers: [(AdminCommand, AdminCommandAnswer)], status: TransactionStatus,
        _ env: inout E, into actions: inout [Action]
    ) {
        guard case .forwarding = phase, adminAnswer == .running else { return }
        adminAnswer = .waiting(paused: true)
        var applied: [(AdminCommand, AdminCommandAnswer)] = []
        let out = localAnswers.answer(batch, results: answers, status: status, applied: &applied)
        for (command, result) in applied { apply(command, result, into: &actions) }
        actions.append(.writeClient(out))
        actions.append(.flushClient)
        // More admin commands may follow; otherwise the ordinary path takes over again.
        let next: RawMessage?
        do { next = try splitter.nextMessage() } catch { return protocolViolation("\(error)", into: &actions) }
        guard let next else { return finishAdminAnswer(&env, into: &actions) }
        splitter.putBack(next)
        if answersAdminCommands, localAnswers.intercepts(next.type, { next }) {
            continueAdminAnswer(&env, into: &actions)
        } else {
            finishAdminAnswer(&env, into: &actions)
        }
    }

    private mutating func finishAdminAnswer<E: SessionEnvironment>(_ env: inout E, into actions: inout [Action]) {
        adminAnswer = .none
        // What the client sent after the command.
        let lastActivity = lastClientActivity
        forward(ByteBuffer(), &env, now: { lastActivity }, into: &actions)
        if dispatch?.isPooled == true { releaseIfBetweenUnits(&env, into: &actions) }
    }

    /// PGPOOL SET and RESET change the session's own values.
    private mutating func apply(_ command: AdminCommand, _ result: AdminCommandAnswer, into actions: inout [Action]) {
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
        settings.clientIdleLimit = idleLimit.map { .seconds($0) } ?? configuredIdleLimit
        actions.append(.cancelTimer(.idle))
        startIdleTimer(after: settings.clientIdleLimit, into: &actions)
        // The routing parameters a session may change.
        if let configured = configuredRouting {
            let overrides = pgpoolOverrides
            dispatch?.updateRoutingSettings { settings in
                settings.allowSQLComments = overrides["allow_sql_comments"].flatMap(ValueParser.parseBool)
                    ?? configured.allowSQLComments
                settings.checkUnloggedTable = overrides["check_unlogged_table"].flatMap(ValueParser.parseBool)
                    ?? configured.checkUnloggedTable
            }
        }
        // read_your_writes_position: reads wait for standbys to replay it.
        dispatch?.minimumPosition = pgpoolOverrides["read_your_writes_position"].flatMap(ReplicationAnalysis.walPosition)
        // log_min_messages: this session's own log level.
        actions.append(.setLogLevel(pgpoolOverrides["log_min_messages"].flatMap { ServerMessageLevel(configValue: $0) }))
    }
}
