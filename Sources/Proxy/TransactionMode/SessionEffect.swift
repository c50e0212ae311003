import Foundation
import Routing

/// Why a transaction-mode client keeps its backend connection between transactions: what it did
/// lives in one server session and a replay elsewhere would not bring it along.
public enum PinReason: String, CaseIterable, Sendable {
    case listen
    case advisoryLock = "advisory_lock"
    case holdCursor = "hold_cursor"
    case temporaryTable = "temporary_table"
    case load
    case sqlPrepare = "sql_prepare"
    /// `SET ROLE`, `SET SESSION AUTHORIZATION`: not reset by `RESET ALL`.
    case role
    /// `set_config()`: a change SwiftPool cannot see the value of.
    case setConfig = "set_config"
    /// `ROLLBACK TO SAVEPOINT` after a `SET` in the transaction: which values survived is not known.
    case savepointRollback = "savepoint_rollback"
    /// A named statement too large to hold (it streamed through): prepared on this connection only.
    case largeStatement = "large_statement"
}

/// What one statement does to the server session beyond its transaction, as far as a
/// transaction-mode session must follow it.
enum SessionEffect: Equatable, Sendable {
    /// `SET name …` (not `LOCAL`): `text` replays it.
    case set(parameter: String, text: String)
    /// `RESET name`.
    case reset(parameter: String)
    case resetAll
    /// `DISCARD ALL`: settings, prepared statements, pins.
    case discardAll
    /// `DEALLOCATE ALL`.
    case deallocateAll
    case pin(PinReason)
    case begin
    case commit
    case rollback
    case rollbackToSavepoint

    /// The effects of a query string (a simple Query, or the text of a Parse), in order.
    static func of(_ query: QueryClassification, text: String) -> [SessionEffect] {
        if query.statements.count == 1 {
            // The usual query, a read that calls no function, does nothing to the session:
            // answered from two fields, without passing the statement on (which copies it).
            if case .select = query.statements[0].kind, query.statements[0].functionCalls.isEmpty { return [] }
            return of(query.statements[0], text: text.utf8)
        }
        var effects: [SessionEffect] = []
        for index in query.statements.indices {
            effects.append(contentsOf: of(query.statements[index], text: text.utf8))
        }
        return effects
    }

    /// A statement's own text: its byte range of the query (read only for the few statements
    /// whose effect depends on more than their classification).
    private static func statementText(_ statement: StatementClassification, in text: String.UTF8View) -> String {
        let range = statement.byteRange.clamped(to: 0..<text.count)
        let start = text.index(text.startIndex, offsetBy: range.lowerBound)
        return String(decoding: text[start..<text.index(start, offsetBy: range.count)], as: UTF8.self)
    }

    /// `RESET` spellings of parameters `SET` names otherwise.
    private static let resetAliases = ["time zone": "timezone", "xml option": "xmloption",
                                       "session authorization": "session_authorization"]

    /// Whether a statement's `set_config(…, …, true)` calls are transaction-scoped (the third
    /// argument the literal `true`): those need no pin. Looks at the text only.
    private static func setsTransactionScope(_ statement: StatementClassification, text: String.UTF8View) -> Bool {
        let lowered = statementText(statement, in: text).lowercased()
        let calls = lowered.components(separatedBy: "set_config(").dropFirst()
        guard !calls.isEmpty else { return false }
        return calls.allSatisfy { call in
            // The arguments up to the closing parenthesis; literals holding commas or
            // parentheses make this answer false, which only pins.
            guard let end = call.firstIndex(of: ")") else { return false }
            let arguments = call[..<end].split(separator: ",", omittingEmptySubsequences: false)
            return arguments.count == 3 && arguments[2].trimmingCharacters(in: .whitespaces) == "true"
        }
    }

    private static let advisoryLocks: Set<String> = [
        "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared",
    ]

    private static func of(_ statement: StatementClassification, text: String.UTF8View) -> [SessionEffect] {
        var effects: [SessionEffect] = []
        for call in statement.functionCalls {
            let name = call.name.lowercased()
            if advisoryLocks.contains(name) { effects.append(.pin(.advisoryLock)) }
            if name == "set_config", !setsTransactionScope(statement, text: text) { effects.append(.pin(.setConfig)) }
        }
        switch statement.kind {
        case .set(let set):
            switch set.parameter {
            case _ where set.isLocal, "transaction", "transaction snapshot":
                break
            case "role", "session_authorization", "session authorization":
                effects.append(.pin(.role))
            case "session characteristics":
                // The defaults of later transactions: one SET per mode written, so that a RESET
                // of one of them matches.
                let modes = statement.transactionModes ?? TransactionModes()
                if let level = modes.isolationLevel {
                    effects.append(.set(parameter: "default_transaction_isolation",
                                        text: "SET default_transaction_isolation = '\(level.rawValue)'"))
                }
                if let readOnly = modes.readOnly {
                    effects.append(.set(parameter: "default_transaction_read_only",
                                        text: "SET default_transaction_read_only = \(readOnly ? "on" : "off")"))
                }
                if let deferrable = modes.deferrable {
                    effects.append(.set(parameter: "default_transaction_deferrable",
                                        text: "SET default_transaction_deferrable = \(deferrable ? "on" : "off")"))
                }
            default:
                effects.append(.set(parameter: set.parameter, text: statementText(statement, in: text)))
            }
        case .reset(let parameter):
            let name = resetAliases[parameter] ?? parameter
            if name == "all" {
                effects.append(.resetAll)
            } else if name != "role", name != "session_authorization" {
                effects.append(.reset(parameter: name))
            }
        case .discard:
            let words = statementText(statement, in: text).lowercased().split(whereSeparator: \.isWhitespace)
            if words.count >= 2, words[1] == "all" { effects.append(.discardAll) }
        case .deallocate(nil):
            effects.append(.deallocateAll)
        case .listen:
            effects.append(.pin(.listen))
        case .declareCursor:
            let words = statementText(statement, in: text).lowercased().split(whereSeparator: \.isWhitespace)
            if zip(words, words.dropFirst()).contains(where: { $0 == "with" && $1 == "hold" }) {
                effects.append(.pin(.holdCursor))
            }
        case .ddl(let ddl) where ddl.isTemporary && ddl.command == "create":
            effects.append(.pin(.temporaryTable))
        case .other(command: "load"):
            effects.append(.pin(.load))
        case .prepare:
            effects.append(.pin(.sqlPrepare))
        case .transaction(let command):
            switch command {
            case .begin: effects.append(.begin)
            case .commit: effects.append(.commit)
            case .rollback: effects.append(.rollback)
            case .rollbackToSavepoint: effects.append(.rollbackToSavepoint)
            default: break
            }
        default:
            break
        }
        return effects
    }
}
