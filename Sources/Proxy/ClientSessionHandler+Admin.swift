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
    /// Admin statements and portals the client prepared (they exist only in SwiftPool).
    struct AdminPrepared {
        var statements: [String: AdminCommand] = [:]
        var portals: [String: AdminCommand] = [:]
    }

    /// Whether `message` belongs to an admin command. Also forgets unnamed admin statements and
    /// portals that an ordinary Parse or Bind replaces.
    func isAdminMessage(_ type: UInt8, _ message: () -> RawMessage) -> Bool {
        guard runtime.adminCommands != nil else { return false }
        switch type {
        case FrontendMessageType.query:
            let body = message().body
            return AdminCommand.mightBe(body) && AdminCommand.parse(queryText(body)) != nil
        case FrontendMessageType.parse:
            var body = message().body
            // Skip the statement name without making a string of it.
            guard let nameEnd = body.readableBytesView.firstIndex(of: 0) else { return false }
            var text = body.getSlice(at: nameEnd + 1, length: body.writerIndex - nameEnd - 1) ?? ByteBuffer()
            if AdminCommand.mightBe(text), AdminCommand.parse(text.readNullTerminatedString() ?? "") != nil { return true }
            if !adminPrepared.statements.isEmpty { adminPrepared.statements[body.readNullTerminatedString() ?? ""] = nil }
            return false
        case FrontendMessageType.bind:
            guard !adminPrepared.statements.isEmpty || !adminPrepared.portals.isEmpty else { return false }
            var body = message().body
            let portal = body.readNullTerminatedString() ?? ""
            let statement = body.readNullTerminatedString() ?? ""
            if adminPrepared.statements[statement] != nil { return true }
            adminPrepared.portals[portal] = nil
            return false
        case FrontendMessageType.describe, FrontendMessageType.close, FrontendMessageType.execute:
            guard !adminPrepared.statements.isEmpty || !adminPrepared.portals.isEmpty else { return false }
            var body = message().body
            if type == FrontendMessageType.execute {
                return adminPrepared.portals[body.readNullTerminatedString() ?? ""] != nil
            }
            let kind = body.readInteger(as: UInt8.self)
            let name = body.readNullTerminatedString() ?? ""
            return kind == UInt8(ascii: "S") ? adminPrepared.statements[name] != nil : adminPrepared.portals[name] != nil
        default:
            return false
        }
    }

    /// Stops reading and answers the admin command at the head of the buffered messages once
    /// the backends are idle.
    func beginAdminAnswer() {
        answeringLocally = true
        context.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        continueAdminAnswer()
    }

    /// Called again whenever a backend becomes ready while an admin answer waits.
    func continueAdminAnswer() {
        guard answeringLocally, !adminAnswerRunning, case .forwarding = phase else { return }
        let idle = waiting.isEmpty && extendedBatch.isEmpty && heldForFacts == nil
            && allConnections.allSatisfy(\.tracker.isQuiescent)
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
                        context.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
                        return
                    }
                    batch.append(next)
                }
            }
        } catch {
            return protocolViolation("\(error)")
        }
        answerAdminBatch(batch)
    }

    private func answerAdminBatch(_ batch: [RawMessage]) {
        guard let service = runtime.adminCommands else { return }
        // The commands the batch needs, in order.
        var commands: [AdminCommand] = []
        var statements = adminPrepared.statements
        var portals = adminPrepared.portals
        for message in batch {
            var body = message.body
            switch message.type {
            case FrontendMessageType.query:
                if let command = AdminCommand.parse(queryText(message.body)) { commands.append(command) }
            case FrontendMessageType.parse:
                let name = body.readNullTerminatedString() ?? ""
                if let command = AdminCommand.parse(body.readNullTerminatedString() ?? "") {
                    statements[name] = command
                    commands.append(command)
                }
            case FrontendMessageType.bind:
                let portal = body.readNullTerminatedString() ?? ""
                if let command = statements[body.readNullTerminatedString() ?? ""] {
                    portals[portal] = command
                    commands.append(command)
                }
            case FrontendMessageType.describe:
                let kind = body.readInteger(as: UInt8.self)
                let name = body.readNullTerminatedString() ?? ""
                if let command = kind == UInt8(ascii: "S") ? statements[name] : portals[name] { commands.append(command) }
            case FrontendMessageType.execute:
                if let command = portals[body.readNullTerminatedString() ?? ""] { commands.append(command) }
            default:
                break
            }
        }
        let loadBalanceNode = routing?.loadBalanceNode
        let overrides = pgpoolOverrides
        let unique = commands.reduce(into: [AdminCommand]()) { list, command in if !list.contains(command) { list.append(command) } }
        adminAnswerRunning = true
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        Task {
            var answers: [(AdminCommand, AdminCommandAnswer)] = []
            for command in unique {
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
        func answer(_ command: AdminCommand) -> AdminCommandAnswer {
            answers.first { $0.0 == command }?.1 ?? .error(sqlState: "XX000", message: "no answer")
        }
        let status = backend?.tracker.transactionStatus ?? .idle
        var out = context.channel.allocator.buffer(capacity: 1024)
        var failed = false
        for message in batch {
            var body = message.body
            if failed, message.type != FrontendMessageType.sync { continue }
            switch message.type {
            case FrontendMessageType.query:
                if let command = AdminCommand.parse(queryText(message.body)) {
                    let result = answer(command)
                    result.write(into: &out)
                    apply(command, result)
                }
                BackendMessageEncoder.readyForQuery(status, into: &out)
            case FrontendMessageType.parse:
                let name = body.readNullTerminatedString() ?? ""
                guard let command = AdminCommand.parse(body.readNullTerminatedString() ?? "") else {
                    failed = true
                    BackendMessageEncoder.errorResponse(ErrorFields(
                        severity: .error, sqlState: "0A000",
                        message: "SwiftPool's own commands cannot share an extended-protocol batch with other statements"), into: &out)
                    continue
                }
                adminPrepared.statements[name] = command
                BackendMessageEncoder.empty("1", into: &out)
            case FrontendMessageType.bind:
                let portal = body.readNullTerminatedString() ?? ""
                let statement = body.readNullTerminatedString() ?? ""
                guard let command = adminPrepared.statements[statement] else {
                    failed = true
                    BackendMessageEncoder.errorResponse(ErrorFields(severity: .error, sqlState: "26000",
                                                                    message: "prepared statement \"\(statement)\" does not exist"), into: &out)
                    continue
                }
                adminPrepared.portals[portal] = command
                BackendMessageEncoder.empty("2", into: &out)
            case FrontendMessageType.describe:
                let kind = body.readInteger(as: UInt8.self)
                let name = body.readNullTerminatedString() ?? ""
                let command = kind == UInt8(ascii: "S") ? adminPrepared.statements[name] : adminPrepared.portals[name]
                if kind == UInt8(ascii: "S") { BackendMessageEncoder.parameterDescription([], into: &out) }
                if let command, case .table(let columns, _) = answer(command) {
                    BackendMessageEncoder.textRowDescription(columns, into: &out)
                } else {
                    BackendMessageEncoder.empty("n", into: &out)
                }
            case FrontendMessageType.execute:
                let portal = body.readNullTerminatedString() ?? ""
                guard let command = adminPrepared.portals[portal] else { continue }
                let result = answer(command)
                result.write(into: &out, describe: false)
                apply(command, result)
                if case .error = result { failed = true }
            case FrontendMessageType.close:
                let kind = body.readInteger(as: UInt8.self)
                let name = body.readNullTerminatedString() ?? ""
                if kind == UInt8(ascii: "S") { adminPrepared.statements[name] = nil } else { adminPrepared.portals[name] = nil }
                BackendMessageEncoder.empty("3", into: &out)
            case FrontendMessageType.sync:
                failed = false
                adminPrepared.portals[""] = nil
                BackendMessageEncoder.readyForQuery(status, into: &out)
            default:
                break
            }
        }
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
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenFailure { _ in }
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
        if var policy = routing, let configured = routingConfiguration?.settings {
            policy.settings.allowSQLComments = pgpoolOverrides["allow_sql_comments"].flatMap(ValueParser.parseBool)
                ?? configured.allowSQLComments
            policy.settings.checkUnloggedTable = pgpoolOverrides["check_unlogged_table"].flatMap(ValueParser.parseBool)
                ?? configured.checkUnloggedTable
            routing = policy
        }
        // log_min_messages: this session's own log level.
        if let level = pgpoolOverrides["log_min_messages"].flatMap({ ServerMessageLevel(configValue: $0) }) {
            logger.logLevel = Logger.Level(rawValue: level.logLevelName) ?? runtime.logger.logLevel
        } else {
            logger.logLevel = runtime.logger.logLevel
        }
    }

    private func queryText(_ body: ByteBuffer) -> String {
        var body = body
        return body.readNullTerminatedString() ?? ""
    }
}
