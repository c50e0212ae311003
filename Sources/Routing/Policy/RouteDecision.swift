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
        /// The transaction began on the primary alone (a multi-statement query or an extended
        /// batch sent there): no standby is in it.
        case transactionOnPrimary
        /// A SET, RESET or DISCARD reached the primary alone: the standbys lack it.
        case sessionStateOnPrimary
    }
}
