/// Where Pgpool-II 4.3's `send_to_where` sends a statement in streaming-replication mode.
///
/// This is the classification only: the routing policy then applies the session's state
/// (transaction, writes so far, load balancing settings, catalog and function checks).
public enum StatementDestination: Sendable, Hashable {
    /// To the primary only (`POOL_PRIMARY`): writes, DDL and anything not understood.
    case primary
    /// To the primary and the session's load-balance node (`POOL_BOTH`), so that session
    /// state stays the same on both: transaction control, most `SET`, `DISCARD`, weak `LOCK`s.
    case both
    /// To either node (`POOL_EITHER`): a read that may be load-balanced when the statement is
    /// also a select query (``StatementClassification/isSelectQuery``) and the policy's
    /// checks pass.
    case either
}
