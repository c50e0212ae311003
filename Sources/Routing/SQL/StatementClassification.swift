/// Everything the routing policy needs to know about one statement, as Pgpool-II 4.3 would
/// classify it (see ``StatementDestination``).
public struct StatementClassification: Sendable, Hashable {
    /// What the statement is.
    public var kind: StatementKind
    /// Pgpool-II's `send_to_where` result. For `EXECUTE`, `DEALLOCATE`, `FETCH`, `MOVE` and
    /// `CLOSE` it is the destination used when the prepared statement or cursor is unknown
    /// (see ``preparedStatementName`` and ``cursorName``).
    public var destination: StatementDestination
    /// Pgpool-II's `is_select_query`, without its two session-dependent parts: the
    /// leading-character test of `allow_sql_comments=off`, which Pgpool-II applies to
    /// ``StatementKind/select`` statements only (see
    /// ``QueryClassification/startsLikeSelect(ignoringLeadingWhiteSpace:)``), and, for
    /// `EXPLAIN ANALYZE` of a `SELECT`, the writing-function test. True for a `SELECT` without
    /// `INTO`, locking clause or data-modifying `WITH`; `COPY … TO STDOUT` of a table or a
    /// `SELECT`; `EXPLAIN` without `ANALYZE` (of anything) or `EXPLAIN ANALYZE` of a `SELECT`;
    /// `SHOW`.
    public var isSelectQuery: Bool
    /// A `SELECT … INTO` is somewhere in the statement.
    public var hasSelectInto: Bool
    /// `FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE` or `FOR KEY SHARE` is somewhere in the
    /// statement (subqueries included).
    public var hasLockingClause: Bool
    /// A `WITH` query of the statement is an `INSERT`, `UPDATE`, `DELETE` or `MERGE`.
    public var hasDataModifyingCTE: Bool
    /// The modes of `BEGIN` / `START TRANSACTION` / `SET TRANSACTION` /
    /// `SET SESSION CHARACTERISTICS AS TRANSACTION`; nil for other statements.
    public var transactionModes: TransactionModes?
    /// Pgpool-II's `pool_is_transaction_read_only`: `SET transaction_read_only = on | t | true |
    /// non-zero`, `SET TRANSACTION READ ONLY` or `SET SESSION CHARACTERISTICS AS TRANSACTION
    /// READ ONLY`. Such a statement never marks the transaction as writing.
    public var setsTransactionReadOnly: Bool
    /// Pgpool-II's `is_set_transaction_serializable`: `SET TRANSACTION ISOLATION LEVEL
    /// SERIALIZABLE`, the same with `SET SESSION CHARACTERISTICS AS TRANSACTION`, or
    /// `SET [default_]transaction_isolation = 'serializable'`. The session is then SERIALIZABLE.
    public var setsSerializable: Bool
    /// Pgpool-II's `pool_need_to_treat_as_if_default_transaction`: a `BEGIN` / `START
    /// TRANSACTION` with `READ WRITE` or `ISOLATION LEVEL SERIALIZABLE`. The primary gets the
    /// statement as written and the standby a plain `BEGIN`.
    public var sendsPlainBeginToStandby: Bool
    /// Functions called in the statement (a name followed by `(`), in order, without repeats.
    /// Best effort, for the writing-function checks.
    public var functionCalls: [QualifiedName]
    /// Relations the statement names after `FROM`, `JOIN`, `INTO`, `UPDATE`, `TABLE`, `USING`,
    /// `COPY`, `LOCK`, `TRUNCATE` and in `CREATE`/`ALTER`/`DROP TABLE` (also views and
    /// sequences), in order, without repeats. `WITH` query names used in `FROM` are listed too,
    /// as Pgpool-II's parse tree has them. Best effort, for the catalog, temporary-table and
    /// unlogged-table checks.
    public var relations: [QualifiedName]
    /// The subset of ``relations`` the statement writes or defines: targets of `INSERT`,
    /// `UPDATE`, `DELETE`, `MERGE`, `COPY FROM`, `SELECT INTO`, `TRUNCATE`, and the tables of
    /// `CREATE`/`ALTER`/`DROP TABLE` (for `dml_adaptive` and temporary-table tracing).
    public var writtenRelations: [QualifiedName]
    /// Whether a comment came before the statement's first token.
    public var hasLeadingComment: Bool
    /// The statement's UTF-8 byte range in the query string (first to last token).
    public var byteRange: Range<Int>
    /// A literal, quoted identifier or comment is not closed: PostgreSQL rejects the
    /// statement, so it is classified for the primary.
    public var isMalformed: Bool

    /// Creates a classification.
    public init(
        kind: StatementKind,
        destination: StatementDestination,
        isSelectQuery: Bool = false,
        hasSelectInto: Bool = false,
        hasLockingClause: Bool = false,
        hasDataModifyingCTE: Bool = false,
        transactionModes: TransactionModes? = nil,
        setsTransactionReadOnly: Bool = false,
        setsSerializable: Bool = false,
        sendsPlainBeginToStandby: Bool = false,
        functionCalls: [QualifiedName] = [],
        relations: [QualifiedName] = [],
        writtenRelations: [QualifiedName] = [],
        hasLeadingComment: Bool = false,
        byteRange: Range<Int> = 0..<0,
        isMalformed: Bool = false
    ) {
        self.kind = kind
        self.destination = destination
        self.isSelectQuery = isSelectQuery
        self.hasSelectInto = hasSelectInto
        self.hasLockingClause = hasLockingClause
        self.hasDataModifyingCTE = hasDataModifyingCTE
        self.transactionModes = transactionModes
        self.setsTransactionReadOnly = setsTransactionReadOnly
        self.setsSerializable = setsSerializable
        self.sendsPlainBeginToStandby = sendsPlainBeginToStandby
        self.functionCalls = functionCalls
        self.relations = relations
        self.writtenRelations = writtenRelations
        self.hasLeadingComment = hasLeadingComment
        self.byteRange = byteRange
        self.isMalformed = isMalformed
    }

    /// The prepared statement `EXECUTE name` and `DEALLOCATE name` refer to: they go where it
    /// was prepared (by SQL `PREPARE` or a Parse message).
    public var preparedStatementName: String? {
        switch kind {
        case .execute(let name): return name
        case .deallocate(let name): return name
        default: return nil
        }
    }

    /// The cursor `FETCH`, `MOVE` and `CLOSE` refer to: they go where it was declared.
    public var cursorName: String? {
        switch kind {
        case .fetch(let cursor), .move(let cursor): return cursor
        case .close(let cursor): return cursor
        default: return nil
        }
    }

    /// `BEGIN` or `START TRANSACTION`.
    public var isTransactionStart: Bool {
        if case .transaction(.begin) = kind { return true }
        return false
    }

    /// SET, RESET or DISCARD: session state every node reading for the session must share.
    public var changesSessionState: Bool {
        switch kind {
        case .set, .reset, .discard: return true
        default: return false
        }
    }

    /// Any transaction-control statement (BEGIN, COMMIT, SAVEPOINT, …): it changes no session state.
    public var isTransactionControl: Bool {
        if case .transaction = kind { return true }
        return false
    }

    /// `COMMIT`/`END` or `ROLLBACK`/`ABORT` (not `ROLLBACK TO SAVEPOINT`, not two-phase).
    public var isTransactionEnd: Bool {
        switch kind {
        case .transaction(.commit), .transaction(.rollback): return true
        default: return false
        }
    }
}
