/// A transaction isolation level.
public enum IsolationLevel: String, Sendable, Hashable {
    /// `READ UNCOMMITTED`.
    case readUncommitted = "read uncommitted"
    /// `READ COMMITTED`.
    case readCommitted = "read committed"
    /// `REPEATABLE READ`.
    case repeatableRead = "repeatable read"
    /// `SERIALIZABLE`.
    case serializable
}

/// The modes written in `BEGIN`, `START TRANSACTION`, `SET TRANSACTION` or
/// `SET SESSION CHARACTERISTICS AS TRANSACTION`. A mode that was not written is nil.
public struct TransactionModes: Sendable, Hashable {
    /// `ISOLATION LEVEL …`.
    public var isolationLevel: IsolationLevel?
    /// `READ ONLY` (true) or `READ WRITE` (false).
    public var readOnly: Bool?
    /// `DEFERRABLE` (true) or `NOT DEFERRABLE` (false).
    public var deferrable: Bool?

    /// Creates a set of modes.
    public init(isolationLevel: IsolationLevel? = nil, readOnly: Bool? = nil, deferrable: Bool? = nil) {
        self.isolationLevel = isolationLevel
        self.readOnly = readOnly
        self.deferrable = deferrable
    }

    /// Whether no mode was written.
    public var isEmpty: Bool { isolationLevel == nil && readOnly == nil && deferrable == nil }
}
