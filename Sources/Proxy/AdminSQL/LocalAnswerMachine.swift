import NIOCore
import PostgresWire

/// SwiftPool's own SQL commands (SHOW POOL_*, PGPOOL SHOW/SET/RESET) as a session answers
/// them, through the simple and the extended protocol. Pure: it recognizes the client messages
/// that belong to an admin command (in front of dispatch, so they never reach a node), names
/// the commands a batch needs, and writes the answer PostgreSQL would send once the handler
/// has computed the commands' results. The statements and portals a client prepared for admin
/// commands exist only here.
struct LocalAnswerMachine {
    /// Admin statements and portals the client prepared.
    private(set) var statements: [String: AdminCommand] = [:]
    private(set) var portals: [String: AdminCommand] = [:]

    /// Whether `message` (of type `type`) belongs to an admin command. Also forgets unnamed
    /// admin statements and portals that an ordinary Parse or Bind replaces.
    mutating func intercepts(_ type: UInt8, _ message: () -> RawMessage) -> Bool {
        switch type {
        case FrontendMessageType.query:
            let body = message().body
            return AdminCommand.mightBe(body) && AdminCommand.parse(Self.text(body)) != nil
        case FrontendMessageType.parse:
            var body = message().body
            // Skip the statement name without making a string of it.
            guard let nameEnd = body.readableBytesView.firstIndex(of: 0) else { return false }
            var text = body.getSlice(at: nameEnd + 1, length: body.writerIndex - nameEnd - 1) ?? ByteBuffer()
            if AdminCommand.mightBe(text), AdminCommand.parse(text.readNullTerminatedString() ?? "") != nil { return true }
            if !statements.isEmpty { statements[body.readNullTerminatedString() ?? ""] = nil }
            return false
        case FrontendMessageType.bind:
            guard !statements.isEmpty || !portals.isEmpty else { return false }
            var body = message().body
            let portal = body.readNullTerminatedString() ?? ""
            let statement = body.readNullTerminatedString() ?? ""
            if statements[statement] != nil { return true }
            portals[portal] = nil
            return false
        case FrontendMessageType.describe, FrontendMessageType.close, FrontendMessageType.execute:
            guard !statements.isEmpty || !portals.isEmpty else { return false }
            var body = message().body
            if type == FrontendMessageType.execute {
                return portals[body.readNullTerminatedString() ?? ""] != nil
            }
            let kind = body.readInteger(as: UInt8.self)
            let name = body.readNullTerminatedString() ?? ""
            return kind == UInt8(ascii: "S") ? statements[name] != nil : portals[name] != nil
        default:
            return false
        }
    }

    /// The commands `batch` (a Query, or extended messages up to a Sync or Flush) needs answers
    /// for, each once, in order.
    func commands(in batch: [RawMessage]) -> [AdminCommand] {
        var commands: [AdminCommand] = []
        var statements = self.statements
        var portals = self.portals
        func add(_ command: AdminCommand) { if !commands.contains(command) { commands.append(command) } }
        for message in batch {
            var body = message.body
            switch message.type {
            case FrontendMessageType.query:
                if let command = AdminCommand.parse(Self.text(message.body)) { add(command) }
            case FrontendMessageType.parse:
                let name = body.readNullTerminatedString() ?? ""
                if let command = AdminCommand.parse(body.readNullTerminatedString() ?? "") {
                    statements[name] = command
                    add(command)
                }
            case FrontendMessageType.bind:
                let portal = body.readNullTerminatedString() ?? ""
                if let command = statements[body.readNullTerminatedString() ?? ""] {
                    portals[portal] = command
                    add(command)
                }
            case FrontendMessageType.describe:
                let kind = body.readInteger(as: UInt8.self)
                let name = body.readNullTerminatedString() ?? ""
                if let command = kind == UInt8(ascii: "S") ? statements[name] : portals[name] { add(command) }
            case FrontendMessageType.execute:
                if let command = portals[body.readNullTerminatedString() ?? ""] { add(command) }
            default:
                break
            }
        }
        return commands
    }

    /// The answer to `batch`, given the commands' results, as the client's next bytes; `applied`
    /// gets every command that was executed with its result (for PGPOOL SET/RESET).
    mutating func answer(
        _ batch: [RawMessage], results: [(AdminCommand, AdminCommandAnswer)], status: TransactionStatus,
        applied: inout [(AdminCommand, AdminCommandAnswer)]
    ) -> ByteBuffer {
        func result(_ command: AdminCommand) -> AdminCommandAnswer {
            results.first { $0.0 == command }?.1 ?? .error(sqlState: "XX000", message: "no answer")
        }
        var out = ByteBuffer()
        var failed = false
        for message in batch {
            var body = message.body
            if failed, message.type != FrontendMessageType.sync { continue }
            switch message.type {
            case FrontendMessageType.query:
                if let command = AdminCommand.parse(Self.text(message.body)) {
                    let answer = result(command)
                    answer.write(into: &out)
                    applied.append((command, answer))
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
                statements[name] = command
                BackendMessageEncoder.empty("1", into: &out)
            case FrontendMessageType.bind:
                let portal = body.readNullTerminatedString() ?? ""
                let statement = body.readNullTerminatedString() ?? ""
                guard let command = statements[statement] else {
                    failed = true
                    BackendMessageEncoder.errorResponse(ErrorFields(severity: .error, sqlState: "26000",
                                                                    message: "prepared statement \"\(statement)\" does not exist"), into: &out)
                    continue
                }
                portals[portal] = command
                BackendMessageEncoder.empty("2", into: &out)
            case FrontendMessageType.describe:
                let kind = body.readInteger(as: UInt8.self)
                let name = body.readNullTerminatedString() ?? ""
                let command = kind == UInt8(ascii: "S") ? statements[name] : portals[name]
                if kind == UInt8(ascii: "S") { BackendMessageEncoder.parameterDescription([], into: &out) }
                if let command, case .table(let columns, _) = result(command) {
                    BackendMessageEncoder.textRowDescription(columns, into: &out)
                } else {
                    BackendMessageEncoder.empty("n", into: &out)
                }
            case FrontendMessageType.execute:
                let portal = body.readNullTerminatedString() ?? ""
                guard let command = portals[portal] else { continue }
                let answer = result(command)
                answer.write(into: &out, describe: false)
                applied.append((command, answer))
                if case .error = answer { failed = true }
            case FrontendMessageType.close:
                let kind = body.readInteger(as: UInt8.self)
                let name = body.readNullTerminatedString() ?? ""
                if kind == UInt8(ascii: "S") { statements[name] = nil } else { portals[name] = nil }
                BackendMessageEncoder.empty("3", into: &out)
            case FrontendMessageType.sync:
                failed = false
                portals[""] = nil
                BackendMessageEncoder.readyForQuery(status, into: &out)
            default:
                break
            }
        }
        return out
    }

    static func text(_ body: ByteBuffer) -> String {
        var body = body
        return body.readNullTerminatedString() ?? ""
    }
}
