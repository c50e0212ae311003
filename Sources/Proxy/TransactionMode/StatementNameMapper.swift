import NIOCore
import PostgresWire

/// A transaction-mode client's protocol-level prepared statements and the names SwiftPool gives
/// them on backend connections. The client's Parse, Bind, Describe and Close messages are
/// rewritten to those names as they go to whichever connection the client holds: a statement
/// the connection lacks is parsed there first (its reply hidden), a Parse of a statement the
/// connection already has becomes a Close of nothing whose reply the client sees as
/// ParseComplete, and a client's Close only forgets the name (other clients may share the
/// statement). Pure: the connection's cache and the loop's registry are passed in.
struct StatementNameMapper {
    struct Statement {
        var serverName: String
        /// The Parse message under ``serverName``, to prepare the statement on another connection.
        var parse: ByteBuffer?
    }

    /// One message for the backend and what becomes of its reply.
    struct Outgoing {
        var bytes: ByteBuffer
        var type: UInt8
        var disposition: ReplyFilter.Disposition
        /// The statement a Parse prepares (for the cache when the backend skips it).
        var name: String
    }

    /// The client's statements by the client's names.
    private(set) var statements: [String: Statement] = [:]
    /// What a DEALLOCATE ALL or DISCARD ALL on its way forgot, until it is answered.
    private var forgottenUntilAnswered: [String: Statement] = [:]
    /// Statements SwiftPool had to prepare again on a connection that lacked them.
    private(set) var preparedAgain = 0
    /// Named statements whose Parse was too large to hold: each lives only on the connection it
    /// went to, so the client must stay there.
    private(set) var largeStatements = 0

    /// A statement name that is never prepared: closing it is a no-op with a CloseComplete.
    static let absentName = "swiftpool_absent"

    /// Rewrites one client message for the connection whose statements `cache` holds.
    /// `bytes` may be only the head of a message too large to hold, whose rest follows
    /// unchanged: its header keeps the whole message's length, adjusted for the new name.
    mutating func map(_ bytes: ByteBuffer, type: UInt8, cache: inout PreparedStatementCache,
                      registry: inout StatementRegistry, into out: inout [Outgoing]) {
        var body = bytes
        body.moveReaderIndex(forwardBy: 5)
        let declaredLength = Int(bytes.getInteger(at: bytes.readerIndex + 1, as: Int32.self) ?? 4)
        let isHead = declaredLength + 1 > bytes.readableBytes
        switch type {
        case FrontendMessageType.parse where isHead:
            guard let name = body.readNullTerminatedString(), !name.isEmpty else { break }
            let serverName = registry.uniqueName()
            statements[name] = Statement(serverName: serverName, parse: nil)
            largeStatements += 1
            out.append(Outgoing(bytes: Self.renamed(type, declaredLength: declaredLength, names: [(name, serverName)], rest: body),
                                type: type, disposition: .pass, name: ""))
            return
        case FrontendMessageType.parse:
            guard let name = body.readNullTerminatedString(), !name.isEmpty else { break }
            let serverName = registry.name(for: body)
            let parse = Self.parse(serverName, definition: body)
            statements[name] = Statement(serverName: serverName, parse: parse)
            if cache.contains(serverName) {
                _ = cache.use(serverName)
                out.append(Outgoing(bytes: Self.close(Self.absentName), type: FrontendMessageType.close,
                                    disposition: .asParseComplete, name: ""))
            } else {
                prepare(serverName, parse, disposition: .pass, cache: &cache, into: &out)
            }
            return
        case FrontendMessageType.bind:
            guard let portal = body.readNullTerminatedString(), let name = body.readNullTerminatedString(),
                  !name.isEmpty, let statement = statements[name] else { break }
            ensure(statement, cache: &cache, into: &out)
            let message = Self.renamed(type, declaredLength: declaredLength, names: [(portal, portal), (name, statement.serverName)],
                                       rest: body)
            out.append(Outgoing(bytes: message, type: type, disposition: .pass, name: ""))
            return
        case FrontendMessageType.describe, FrontendMessageType.close:
            guard body.readInteger(as: UInt8.self) == UInt8(ascii: "S"), let name = body.readNullTerminatedString(),
                  !name.isEmpty, let statement = statements[name] else { break }
            if type == FrontendMessageType.close {
                statements[name] = nil
                out.append(Outgoing(bytes: Self.close(Self.absentName), type: type, disposition: .pass, name: ""))
                return
            }
            ensure(statement, cache: &cache, into: &out)
            var message = ByteBuffer()
            message.writeMessage(type: type) {
                $0.writeInteger(UInt8(ascii: "S"))
                $0.writeNullTerminatedString(statement.serverName)
            }
            out.append(Outgoing(bytes: message, type: type, disposition: .pass, name: ""))
            return
        case FrontendMessageType.query:
            if let rewritten = deallocation(body, cache: &cache, into: &out) {
                out.append(Outgoing(bytes: rewritten, type: type, disposition: .pass, name: ""))
                return
            }
        default:
            break
        }
        out.append(Outgoing(bytes: bytes, type: type, disposition: .pass, name: ""))
    }

    /// A DEALLOCATE ALL or DISCARD ALL the client sent was answered: `held`, its statements
    /// stay forgotten; otherwise (it failed, maybe without running) the names it forgot on its
    /// way come back, unless the client prepared them anew since.
    mutating func deallocationAnswered(held: Bool) {
        if !held {
            for (name, statement) in forgottenUntilAnswered where statements[name] == nil { statements[name] = statement }
        }
        forgottenUntilAnswered.removeAll()
    }

    /// Prepares `statement` on the connection first when it lacks it.
    private mutating func ensure(_ statement: Statement, cache: inout PreparedStatementCache, into out: inout [Outgoing]) {
        if cache.contains(statement.serverName) {
            _ = cache.use(statement.serverName)
        } else if let parse = statement.parse {
            preparedAgain += 1
            prepare(statement.serverName, parse, disposition: .drop, cache: &cache, into: &out)
        }
    }

    /// A Parse of `name`, after a hidden Close of the same name (a statement the cache forgot,
    /// after an error or a DEALLOCATE that failed, may still be there), and the Close of the
    /// least recently used statement when the cache is full.
    private func prepare(_ name: String, _ parse: ByteBuffer, disposition: ReplyFilter.Disposition,
                         cache: inout PreparedStatementCache, into out: inout [Outgoing]) {
        out.append(Outgoing(bytes: Self.close(name), type: FrontendMessageType.close, disposition: .drop, name: ""))
        out.append(Outgoing(bytes: parse, type: FrontendMessageType.parse, disposition: disposition, name: name))
        if let victim = cache.use(name) {
            out.append(Outgoing(bytes: Self.close(victim), type: FrontendMessageType.close, disposition: .drop, name: ""))
        }
    }

    /// `DEALLOCATE [PREPARE] name` of one of the client's statements, for its server name;
    /// `DEALLOCATE ALL` and `DISCARD ALL` empty the cache and the client's statements.
    /// A stand-in is prepared under that name on a connection that lacks the statement, so that
    /// the DEALLOCATE finds it there.
    private mutating func deallocation(_ body: ByteBuffer, cache: inout PreparedStatementCache,
                                       into out: inout [Outgoing]) -> ByteBuffer? {
        // The first word, looked at in place: nearly every query is something else.
        let first = body.withUnsafeReadableBytes { bytes in bytes.prefix(200).first { !Self.isSpace($0) } }
        guard let first, first | 0x20 == UInt8(ascii: "d") else { return nil }
        let view = body.readableBytesView.prefix(200)
        let text = String(decoding: view.prefix { $0 != 0 }, as: UTF8.self)
        var words = text.split(whereSeparator: { $0.isWhitespace || $0 == ";" }).map(String.init)
        guard let command = words.first?.lowercased(), command == "deallocate" || command == "discard" else { return nil }
        if words.count > 1, words[1].lowercased() == "all" {
            // Forgotten at once, for the statements the client sends before the answer.
            cache.removeAll()
            forgottenUntilAnswered.merge(statements) { kept, _ in kept }
            statements.removeAll()
            return nil
        }
        guard command == "deallocate", words.count >= 2 else { return nil }
        if words[1].lowercased() == "prepare" { words.removeFirst() }
        guard words.count == 2 else { return nil }
        var name = words[1]
        if name.hasPrefix("\""), name.hasSuffix("\""), name.count >= 2 {
            name = String(name.dropFirst().dropLast())
        } else {
            name = name.lowercased()
        }
        guard let statement = statements.removeValue(forKey: name) else { return nil }
        if !cache.contains(statement.serverName) {
            // The connection lacks it: a stand-in under the same name that parses whatever DDL
            // happened since, for the DEALLOCATE to find. A Sync of SwiftPool's own ends that
            // exchange, so that should even the stand-in fail (an aborted transaction) the
            // backend does not skip the DEALLOCATE, which then fails as it would directly; the
            // stand-in's error and ReadyForQuery stay hidden.
            var standIn = ByteBuffer()
            standIn.writeNullTerminatedString("SELECT NULL")
            standIn.writeInteger(Int16(0))
            out.append(Outgoing(bytes: Self.close(statement.serverName), type: FrontendMessageType.close, disposition: .drop, name: ""))
            out.append(Outgoing(bytes: Self.parse(statement.serverName, definition: standIn), type: FrontendMessageType.parse,
                                disposition: .drop, name: statement.serverName))
            var sync = ByteBuffer()
            FrontendMessageEncoder.sync(into: &sync)
            out.append(Outgoing(bytes: sync, type: FrontendMessageType.sync, disposition: .drop, name: ""))
        }
        cache.remove(statement.serverName)
        var message = ByteBuffer()
        FrontendMessageEncoder.query("DEALLOCATE PREPARE \"\(statement.serverName)\"", into: &message)
        return message
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }

    /// A message whose leading names are replaced, the rest of its bytes (`rest`, possibly only
    /// the start of them) unchanged; its length is the declared one adjusted for the names.
    static func renamed(_ type: UInt8, declaredLength: Int, names: [(old: String, new: String)], rest: ByteBuffer) -> ByteBuffer {
        let delta = names.reduce(0) { $0 + $1.new.utf8.count - $1.old.utf8.count }
        var message = ByteBuffer()
        message.reserveCapacity(5 + rest.readableBytes + names.reduce(0) { $0 + $1.new.utf8.count + 1 })
        message.writeInteger(type)
        message.writeInteger(Int32(declaredLength + delta))
        for (_, new) in names { message.writeNullTerminatedString(new) }
        message.writeImmutableBuffer(rest)
        return message
    }

    static func parse(_ name: String, definition: ByteBuffer) -> ByteBuffer {
        var message = ByteBuffer()
        message.writeMessage(type: FrontendMessageType.parse) {
            $0.writeNullTerminatedString(name)
            $0.writeImmutableBuffer(definition)
        }
        return message
    }

    static func close(_ name: String) -> ByteBuffer {
        var message = ByteBuffer()
        message.writeMessage(type: FrontendMessageType.close) {
            $0.writeInteger(UInt8(ascii: "S"))
            $0.writeNullTerminatedString(name)
        }
        return message
    }
}
