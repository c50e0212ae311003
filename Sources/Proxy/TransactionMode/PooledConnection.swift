/// What a transaction-mode backend connection carries from one client to the next: the
/// statements SwiftPool prepared on it, the replies it still owes for Parse and Close messages,
/// and the `SET` values in effect on it.
struct PooledConnection {
    var statements: PreparedStatementCache
    var replies = ReplyFilter()
    /// The session settings in effect; nil when not known (a `SET` went there in a unit whose
    /// outcome SwiftPool did not follow): the next client gets `RESET ALL` first.
    var settings: SessionSettings? = SessionSettings()

    init(statementCapacity: Int) {
        statements = PreparedStatementCache(capacity: statementCapacity)
    }

    /// The reply filter saw these messages skipped by the backend after an error: the statements
    /// they would have prepared are not there.
    mutating func skipped(_ entries: [ReplyFilter.Entry]) {
        for case .parse(_, let name) in entries where !name.isEmpty { statements.remove(name) }
    }
}
