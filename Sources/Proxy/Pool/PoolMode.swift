import Configuration
import Foundation

/// How long a client keeps its backend connections.
public enum PoolMode: String, Sendable, CaseIterable {
    /// From login to logout (Pgpool-II's behaviour).
    case session
    /// For one unit of work: a transaction, a statement outside one, an extended-protocol
    /// exchange up to its Sync.
    case transaction
}

/// A list of `[user@]database:value` entries, first match wins, `*` for any user or database:
/// `pool_mode_list` (`reports:transaction, batch@warehouse:session, *@analytics:transaction`) and
/// `transaction_pool_size_list` (`reports:5, batch@*:2`).
public struct UserDatabaseRules<Value: Sendable & Equatable>: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        /// nil: any user.
        public var user: String?
        /// nil: any database.
        public var database: String?
        public var value: Value

        /// Names byte for byte: a reload that only changes a name's Unicode form changes the rule.
        public static func == (lhs: Rule, rhs: Rule) -> Bool {
            Self.same(lhs.user, rhs.user) && Self.same(lhs.database, rhs.database) && lhs.value == rhs.value
        }

        private static func same(_ a: String?, _ b: String?) -> Bool {
            switch (a, b) {
            case (nil, nil): true
            case let (a?, b?): a.hasSameBytes(as: b)
            default: false
            }
        }
    }

    public private(set) var rules: [Rule] = []

    public init() {}

    /// Parses the list; `value` reads one entry's value or returns nil, and the error names the
    /// entry that is wrong. `expected` says what a value looks like, for the error.
    public init(_ text: String, expected: String, value: (String) -> Value?) throws(PoolModeRulesError) {
        // Separators are found by code point: one followed by a combining mark is still one.
        for entry in text.unicodeScalars.split(separator: ",") {
            let written = String(entry).trimmingCharacters(in: .whitespaces)
            let item = written.unicodeScalars
            guard !item.isEmpty else { continue }
            guard let colon = item.lastIndex(of: ":") else {
                throw PoolModeRulesError("\"\(written)\" is not database:value or user@database:value")
            }
            let target = String(item[..<colon]).trimmingCharacters(in: .whitespaces)
            let text = String(item[item.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            guard let parsed = value(text) else {
                throw PoolModeRulesError("\"\(written)\": the value must be \(expected)")
            }
            var user: String?
            var database = target
            if let (before, after) = target.splitOnce(atScalar: "@") {
                (user, database) = (before, after)
            }
            guard !database.isEmpty, user.map({ !$0.isEmpty }) ?? true else {
                throw PoolModeRulesError("\"\(written)\" names no database or no user")
            }
            rules.append(Rule(user: user == "*" ? nil : user, database: database == "*" ? nil : database, value: parsed))
        }
    }

    /// The value for `user` connecting to `database`: the first rule that matches, if any (names
    /// compared byte for byte, as PostgreSQL compares them).
    public func value(user: String, database: String) -> Value? {
        rules.first { rule in
            (rule.user.map { $0.hasSameBytes(as: user) } ?? true) && (rule.database.map { $0.hasSameBytes(as: database) } ?? true)
        }?.value
    }
}

/// `pool_mode_list`: pool modes per database or per user and database.
public typealias PoolModeRules = UserDatabaseRules<PoolMode>

extension UserDatabaseRules where Value == PoolMode {
    public init(_ text: String) throws(PoolModeRulesError) {
        try self.init(text, expected: "session or transaction") { PoolMode(rawValue: $0.lowercased()) }
    }

    /// The mode of `user` connecting to `database`: the first rule that matches, else `fallback`.
    public func mode(user: String, database: String, fallback: PoolMode) -> PoolMode {
        value(user: user, database: database) ?? fallback
    }
}

/// `transaction_pool_size_list`: the most transaction-mode connections per node for some users
/// or databases (each user and database pair that matches has its own such limit).
public typealias PoolSizeRules = UserDatabaseRules<Int>

extension UserDatabaseRules where Value == Int {
    public init(_ text: String) throws(PoolModeRulesError) {
        try self.init(text, expected: "a number of connections of at least 1") { Int($0).flatMap { $0 >= 1 ? $0 : nil } }
    }
}

public struct PoolModeRulesError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
