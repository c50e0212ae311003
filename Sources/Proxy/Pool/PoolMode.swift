import Foundation

/// How long a client keeps its backend connections.
public enum PoolMode: String, Sendable, CaseIterable {
    /// From login to logout (Pgpool-II's behaviour).
    case session
    /// For one unit of work: a transaction, a statement outside one, an extended-protocol
    /// exchange up to its Sync.
    case transaction
}

/// `pool_mode_list`: pool modes per database or per user and database, first match wins:
/// `reports:transaction, batch@warehouse:session, *@analytics:transaction`. `*` matches any user
/// or database.
public struct PoolModeRules: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        /// nil: any user.
        public var user: String?
        /// nil: any database.
        public var database: String?
        public var mode: PoolMode
    }

    public private(set) var rules: [Rule] = []

    public init() {}

    /// Parses the list; the error names the entry that is wrong.
    public init(_ text: String) throws(PoolModeRulesError) {
        for entry in text.split(separator: ",") {
            let item = entry.trimmingCharacters(in: .whitespaces)
            guard !item.isEmpty else { continue }
            guard let colon = item.lastIndex(of: ":") else {
                throw PoolModeRulesError("\"\(item)\" is not database:mode or user@database:mode")
            }
            let target = item[..<colon].trimmingCharacters(in: .whitespaces)
            let modeName = item[item.index(after: colon)...].trimmingCharacters(in: .whitespaces).lowercased()
            guard let mode = PoolMode(rawValue: modeName) else {
                throw PoolModeRulesError("\"\(item)\": the mode must be session or transaction")
            }
            var user: String?
            var database = target
            if let at = target.firstIndex(of: "@") {
                user = String(target[..<at])
                database = String(target[target.index(after: at)...])
            }
            guard !database.isEmpty, user.map({ !$0.isEmpty }) ?? true else {
                throw PoolModeRulesError("\"\(item)\" names no database or no user")
            }
            rules.append(Rule(user: user == "*" ? nil : user, database: database == "*" ? nil : database, mode: mode))
        }
    }

    /// The mode of `user` connecting to `database`: the first rule that matches, else `fallback`.
    public func mode(user: String, database: String, fallback: PoolMode) -> PoolMode {
        rules.first { ($0.user == nil || $0.user == user) && ($0.database == nil || $0.database == database) }?.mode ?? fallback
    }
}

public struct PoolModeRulesError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
