/// Message levels of `log_min_messages` and `client_min_messages`, least to most severe in the
/// order PostgreSQL uses for the server log.
public enum ServerMessageLevel: String, Sendable, Equatable, CaseIterable {
    /// The levels, least severe first; the raw value is the configuration word.
    case debug5, debug4, debug3, debug2, debug1, info, notice, warning, error, log, fatal, panic

    /// Reads a configuration word; `debug` is PostgreSQL's alias of `debug2`.
    public init?(configValue: String) {
        let word = configValue.lowercased()
        if word == "debug" {
            self = .debug2
        } else {
            self.init(rawValue: word)
        }
    }

    /// The closest swift-log level name (`Logger.Level(rawValue:)` accepts it): debug5–debug3 →
    /// trace, debug2–debug1 → debug, info and log → info, notice, warning, error, fatal and panic →
    /// critical.
    public var logLevelName: String {
        switch self {
        case .debug5, .debug4, .debug3: "trace"
        case .debug2, .debug1: "debug"
        case .info, .log: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .fatal, .panic: "critical"
        }
    }
}

/// `disable_load_balance_on_write`: where reads go after a write in the same session.
public enum DisableLoadBalanceOnWrite: String, Sendable, Equatable, CaseIterable {
    /// Reads are always load-balanced.
    case off
    /// After a write inside an explicit transaction, the rest of that transaction reads from the primary.
    case transaction
    /// Like `transaction`, and later transactions of the session also read from the primary.
    case transTransaction = "trans_transaction"
    /// After any write, every later read of the session goes to the primary.
    case always
    /// Reads of tables written in the current transaction go to the primary.
    case dmlAdaptive = "dml_adaptive"
}
