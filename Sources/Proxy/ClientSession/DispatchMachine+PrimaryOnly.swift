import Cluster
import NIOCore
import PostgresWire
import Routing

/// Sessions whose every decision is the primary: messages go straight through, counted.
extension DispatchMachine {
    // MARK: Primary only

    /// When every decision is the primary, nothing waits: no other node's answers to wait for,
    /// no statement to place, no catalog fact to learn. Messages go to the primary as they come
    /// (a read's messages in one write) and statements are only counted — a Query when it is
    /// sent, a protocol-level statement at each Bind — by their first keyword, the full
    /// classification being needed only for a multi-statement query or a WITH.
    mutating func forwardToPrimary(_ messages: some Sequence<RawMessage>, run: ByteBuffer?,
                                           into actions: inout [Action]) {
        let messages = Array(messages)
        // The Terminate must not reach the pooled connection: then the messages go one by one.
        let wholeRun = run != nil && !messages.contains { $0.type == FrontendMessageType.terminate }
        let first = actions.count
        for message in messages {
            var body = message.body
            switch message.type {
            case FrontendMessageType.terminate:
                actions.append(.terminate)
                return
            case FrontendMessageType.query:
                let categories = Self.categories(ofQueryText: body)
                for category in categories { actions.append(.count(node: primary, category)) }
                if categories.count != 1 || categories[0] == .other {
                    // DEALLOCATE and DISCARD remove protocol-level statements too.
                    let text = body.readNullTerminatedString() ?? ""
                    for statement in SQLClassifier.classify(query: text).statements {
                        switch statement.kind {
                        case .deallocate(let name?): statementCategories[name] = nil
                        case .deallocate(nil), .discard: statementCategories.removeAll()
                        default: break
                        }
                    }
                }
            case FrontendMessageType.parse:
                let name = body.readNullTerminatedString() ?? ""
                statementCategories[name] = Self.categories(ofQueryText: body)
            case FrontendMessageType.bind:
                _ = body.readNullTerminatedString()
                for category in statementCategories[body.readNullTerminatedString() ?? ""] ?? [] {
                    actions.append(.count(node: primary, category))
                }
            case FrontendMessageType.close:
                if body.readInteger(as: UInt8.self) == UInt8(ascii: "S") {
                    statementCategories[body.readNullTerminatedString() ?? ""] = nil
                }
            default:
                break
            }
            if wholeRun {
                actions.append(.track(node: primary, type: message.type))
            } else {
                actions.append(.write(node: primary, bytes: message.bytes, type: message.type))
            }
        }
        if wholeRun, let run, actions.count > first { actions.append(.writeRun(node: primary, bytes: run)) }
    }

    /// The counters a query text (a Query body, or the rest of a Parse body: text up to its
    /// NUL) counts in: its first keyword says it; a WITH, a leading block comment or several
    /// statements are classified.
    static func categories(ofQueryText body: ByteBuffer) -> [StatementCategory] {
        let all = body.readableBytesView
        let view = all[..<(all.firstIndex(of: 0) ?? all.endIndex)]
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        var index = view.startIndex
        while index < view.endIndex {
            let byte = view[index]
            if isSpace(byte) {
                index += 1
            } else if byte == UInt8(ascii: "-"), index + 1 < view.endIndex, view[index + 1] == UInt8(ascii: "-") {
                while index < view.endIndex, view[index] != 0x0A { index += 1 }
            } else if byte == UInt8(ascii: "/") {
                return classified(body)
            } else {
                break
            }
        }
        if index == view.endIndex { return [] }
        var word: UInt64 = 0
        var length = 0
        while index < view.endIndex {
            let byte = view[index] | 0x20
            guard byte >= UInt8(ascii: "a"), byte <= UInt8(ascii: "z") else { break }
            length += 1
            if length <= 8 { word = word << 8 | UInt64(byte) }
            index += 1
        }
        if let semicolon = view[index...].firstIndex(of: UInt8(ascii: ";")),
           view[(semicolon + 1)...].contains(where: { !isSpace($0) && $0 != UInt8(ascii: ";") }) {
            return classified(body)
        }
        guard length <= 8 else { return [.other] }
        switch word {
        case Self.keyword("select"), Self.keyword("values"), Self.keyword("table"): return [.select]
        case Self.keyword("insert"): return [.insert]
        case Self.keyword("update"): return [.update]
        case Self.keyword("delete"): return [.delete]
        case Self.keyword("create"), Self.keyword("alter"), Self.keyword("drop"), Self.keyword("truncate"): return [.ddl]
        case Self.keyword("with"): return classified(body)
        default: return [.other]
        }
    }

    static func keyword(_ text: StaticString) -> UInt64 {
        var word: UInt64 = 0
        let bytes = UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)
        for byte in bytes { word = word << 8 | UInt64(byte) }
        return word
    }

    static func classified(_ body: ByteBuffer) -> [StatementCategory] {
        var body = body
        let text = body.readNullTerminatedString() ?? ""
        return SQLClassifier.classify(query: text).statements.map { category(of: $0.kind) }
    }
}
