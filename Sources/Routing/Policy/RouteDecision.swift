/// Where one query goes.
public enum RouteDecision: Sendable, Equatable {
    /// The primary only.
    case primary
    /// One node (the session's or the statement's load-balance node).
    case node(Int)
    /// The primary and the load-balance node (BOTH statements), the client seeing the primary's
    /// result; `nodes` lists each node once, the primary first.
    case nodes([Int])

    /// Why, for logs and tests.
    public enum Reason: String, Sendable, Equatable {
        case write, multiStatement, both, loadBalanced, loadBalanceOff, notASelect, leadingComment
        case transactionNotReadOnly, writingTransaction, serializable, systemCatalog, temporaryTable
        case unloggedTable, primaryRoutingPattern, writingFunction, dmlAdaptive, preparedStatement
        /// The session's load-balance node is down or over the replication delay threshold.
        case loadBalanceNodeUnavailable
        case cursor, unknownFacts, noStandby
        /// read_your_writes: no standby the read could go to has replayed the session's last write.
        case standbyBehindSession
    }
}
