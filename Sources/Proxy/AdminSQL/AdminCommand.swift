import NIOCore
import PostgresWire

/// A command SwiftPool answers itself on the SQL port, as Pgpool-II does: `SHOW POOL_*`,
/// `PGPOOL SHOW`, `PGPOOL SET` and `PGPOOL RESET`. Names are case-insensitive.
public enum AdminCommand: Sendable, Equatable {
    public enum Report: String, Sendable, CaseIterable {
        case nodes = "pool_nodes", processes = "pool_processes", pools = "pool_pools", status = "pool_status"
        case version = "pool_version", healthCheckStats = "pool_health_check_stats", backendStats = "pool_backend_stats"
    }

    case show(Report)
    /// A parameter, a group (`backend`, `health_check`, …) or `all`.
    case pgpoolShow(String)
    /// nil value: `DEFAULT`.
    case pgpoolSet(String, String?)
    /// A parameter or `all`.
    case pgpoolReset(String)

    /// Quick test on the first bytes of a query (no allocation): could it be an admin command?
    /// True for `SHOW POOL_…` and `PGPOOL …`, whatever the case and spacing.
    public static func mightBe(_ text: ByteBuffer) -> Bool {
        var index = text.readerIndex
        func skipSpace() {
            while let byte = text.getInteger(at: index, as: UInt8.self), byte == 0x20 || (0x09...0x0D).contains(byte) { index += 1 }
        }
        func word(_ expected: StaticString) -> Bool {
            let bytes = UnsafeBufferPointer(start: expected.utf8Start, count: expected.utf8CodeUnitCount)
            for (offset, letter) in bytes.enumerated() {
                guard let byte = text.getInteger(at: index + offset, as: UInt8.self), byte | 0x20 == letter | 0x20 else { return false }
            }
            index += bytes.count
            return true
        }
        skipSpace()
        if word("pgpool") { return true }
        guard word("show") else { return false }
        skipSpace()
        return word("pool_")
    }

    /// The command `sql` is, or nil when it is anything else.
    public static func parse(_ sql: String) -> AdminCommand? {
        var text = Substring(sql).trimmingWhitespace()
        while text.hasSuffix(";") { text = text.dropLast().trimmingWhitespace() }
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init)
        guard let first = words.first?.lowercased() else { return nil }
        if first == "show", words.count == 2, let report = Report(rawValue: words[1].lowercased()) { return .show(report) }
        guard first == "pgpool", words.count >= 3 else { return nil }
        let verb = words[1].lowercased()
        let name = identifier(words[2])
        switch verb {
        case "show" where words.count == 3:
            return .pgpoolShow(name)
        case "reset" where words.count == 3:
            return .pgpoolReset(name)
        case "set":
            // PGPOOL SET name {TO | =} value, also written name=value.
            var rest = Array(words.dropFirst(2))
            if rest.count == 1, let equals = rest[0].firstIndex(of: "=") {
                rest = [String(rest[0][..<equals]), "=", String(rest[0][rest[0].index(after: equals)...])]
            } else if rest.count == 2, rest[1].hasPrefix("=") {
                rest = [rest[0], "=", String(rest[1].dropFirst())]
            } else if rest.count == 2, rest[0].hasSuffix("=") {
                rest = [String(rest[0].dropLast()), "=", rest[1]]
            }
            guard rest.count >= 3, rest[1].lowercased() == "to" || rest[1] == "=" else { return nil }
            let value = rest.dropFirst(2).joined(separator: " ")
            if value.lowercased() == "default" { return .pgpoolSet(identifier(rest[0]), nil) }
            return .pgpoolSet(identifier(rest[0]), unquoted(value))
        default:
            return nil
        }
    }

    /// Identifiers fold to lower case unless double-quoted.
    static func identifier(_ word: String) -> String {
        if word.count >= 2, word.hasPrefix("\""), word.hasSuffix("\"") { return String(word.dropFirst().dropLast()) }
        return word.lowercased()
    }

    static func unquoted(_ value: String) -> String {
        if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") {
            return String(value.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")
        }
        return value
    }
}

/// What an admin command answers.
public enum AdminCommandAnswer: Sendable, Equatable {
    /// Rows of text columns, then `CommandComplete tag`.
    case table(columns: [String], rows: [[String]])
    /// Only `CommandComplete tag` (PGPOOL SET / RESET).
    case done(tag: String)
    case error(sqlState: String, message: String)

    /// The messages of the answer, without the ReadyForQuery. With `describe`, a table starts
    /// with its RowDescription (columns of unknown type, text format, as Pgpool-II sends them).
    public func write(into buffer: inout ByteBuffer, describe: Bool = true) {
        switch self {
        case .table(let columns, let rows):
            if describe { BackendMessageEncoder.textRowDescription(columns, into: &buffer) }
            for row in rows { BackendMessageEncoder.dataRow(row, into: &buffer) }
            BackendMessageEncoder.commandComplete("SELECT \(rows.count)", into: &buffer)
        case .done(let tag):
            BackendMessageEncoder.commandComplete(tag, into: &buffer)
        case .error(let sqlState, let message):
            BackendMessageEncoder.errorResponse(ErrorFields(severity: .error, sqlState: sqlState, message: message), into: &buffer)
        }
    }
}

/// Answers admin commands; provided by the executable (it sees every component).
public protocol AdminCommandService: Sendable {
    /// The answer to `command` for a session whose load-balance node is `loadBalanceNode`
    /// and whose `PGPOOL SET` values are `overrides`.
    func answer(_ command: AdminCommand, loadBalanceNode: Int?, overrides: [String: String]) async -> AdminCommandAnswer
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var text = self
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return text
    }
}
