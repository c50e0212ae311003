/// What a statement is, with the details the routing policy needs for it.
public indirect enum StatementKind: Sendable, Hashable {
    /// `SELECT`, `VALUES`, `TABLE t`, or `WITH … SELECT`, parenthesized or not. Whether it writes
    /// (`INTO`, a locking clause, a data-modifying `WITH`) is in the classification's flags.
    case select
    /// `INSERT`, also as the main statement of a `WITH`.
    case insert
    /// `UPDATE`, also as the main statement of a `WITH`.
    case update
    /// `DELETE`, also as the main statement of a `WITH`.
    case delete
    /// `MERGE`, also as the main statement of a `WITH`.
    case merge
    /// `COPY`.
    case copy(CopyStatement)
    /// `EXPLAIN` of `statement`; `analyze` when an `ANALYZE` option is written (whatever its value,
    /// as Pgpool-II reads it).
    case explain(analyze: Bool, statement: StatementClassification)
    /// `SHOW name` (`all`, `time zone`, `pool_nodes` …), the name in lower case.
    case show(parameter: String)
    /// `SET …` in all its forms except `SET CONSTRAINTS`.
    case set(SetStatement)
    /// `RESET name` or `RESET ALL` (`all`).
    case reset(parameter: String)
    /// `SET CONSTRAINTS …` (not a parameter: Pgpool-II sends it to the primary).
    case setConstraints
    /// `DISCARD ALL | PLANS | SEQUENCES | TEMP`.
    case discard
    /// Transaction control: `BEGIN`, `COMMIT`, savepoints, two-phase commit.
    case transaction(TransactionCommand)
    /// `LOCK [TABLE] …` with its mode (`ACCESS EXCLUSIVE` when none is written).
    case lock(LockMode)
    /// `PREPARE name AS statement` (SQL-level prepared statement).
    case prepare(name: String, statement: StatementClassification)
    /// `EXECUTE name`: runs where `name` was prepared.
    case execute(name: String)
    /// `DEALLOCATE [PREPARE] name`, or `DEALLOCATE ALL` (nil).
    case deallocate(name: String?)
    /// `DECLARE name CURSOR … FOR statement`.
    case declareCursor(name: String, statement: StatementClassification)
    /// `FETCH … cursor`: runs where the cursor was declared.
    case fetch(cursor: String)
    /// `MOVE … cursor`: runs where the cursor was declared.
    case move(cursor: String)
    /// `CLOSE cursor`, or `CLOSE ALL` (nil).
    case close(cursor: String?)
    /// `LISTEN channel`.
    case listen(channel: String)
    /// `UNLISTEN channel`, or `UNLISTEN *` (nil).
    case unlisten(channel: String?)
    /// `NOTIFY channel [, payload]`.
    case notify(channel: String)
    /// `VACUUM …`.
    case vacuum
    /// `ANALYZE …` / `ANALYSE …`.
    case analyze
    /// `CHECKPOINT`.
    case checkpoint
    /// `CALL procedure(…)`.
    case call
    /// `DO $$ … $$`.
    case doBlock
    /// `TRUNCATE …`.
    case truncate
    /// Definitions and privileges: `CREATE`, `ALTER`, `DROP`, `COMMENT`, `GRANT`, `REVOKE`,
    /// `SECURITY LABEL`, `IMPORT FOREIGN SCHEMA`, `REASSIGN OWNED`, `REFRESH MATERIALIZED VIEW`,
    /// `REINDEX`, `CLUSTER`.
    case ddl(DDLStatement)
    /// Pgpool-II's own `PGPOOL SHOW | SET | RESET …`, answered by the proxy itself.
    case pgpoolCommand
    /// Another command the classifier knows by its first word only (`LOAD` …).
    case other(command: String)
    /// Not understood; goes to the primary.
    case unknown
}

/// Details of a `COPY`.
public struct CopyStatement: Sendable, Hashable {
    /// `FROM` (into a table) or `TO` (out of a table or query).
    public enum Direction: Sendable, Hashable {
        /// `COPY … FROM`: data into a table.
        case from
        /// `COPY … TO`: data out of a table or query.
        case to
    }
    /// Where the data comes from or goes to.
    public enum Endpoint: Sendable, Hashable {
        /// `STDIN` / `STDOUT`: through the client connection.
        case client
        /// A server-side file name.
        case file
        /// `PROGRAM '…'`.
        case program
    }
    /// The direction.
    public var direction: Direction
    /// The other end.
    public var endpoint: Endpoint
    /// The query of `COPY (query) TO …`, classified; nil for a table.
    public var query: StatementClassification?

    /// Creates a description of a COPY.
    public init(direction: Direction, endpoint: Endpoint, query: StatementClassification? = nil) {
        self.direction = direction
        self.endpoint = endpoint
        self.query = query
    }
}

/// A `SET` statement.
public struct SetStatement: Sendable, Hashable {
    /// The parameter in lower case, as the parser names it: `transaction_read_only`,
    /// `timezone` (`SET TIME ZONE`), `search_path` (`SET SCHEMA`), `client_encoding`
    /// (`SET NAMES`), `role`, `session_authorization`, `xmloption`; or for the multi-value forms
    /// `transaction` (`SET TRANSACTION`), `session characteristics`
    /// (`SET SESSION CHARACTERISTICS AS TRANSACTION`) and `transaction snapshot`.
    public var parameter: String
    /// The values as the parser sees them: literals unquoted, words in lower case, numbers as
    /// written. Empty for `DEFAULT`, `FROM CURRENT` and the transaction forms (their modes are in
    /// ``StatementClassification/transactionModes``).
    public var values: [String]
    /// `SET LOCAL`.
    public var isLocal: Bool
    /// `TO DEFAULT` or `FROM CURRENT`.
    public var isDefault: Bool

    /// Creates a description of a SET.
    public init(parameter: String, values: [String] = [], isLocal: Bool = false, isDefault: Bool = false) {
        self.parameter = parameter
        self.values = values
        self.isLocal = isLocal
        self.isDefault = isDefault
    }
}

/// Transaction control statements.
public enum TransactionCommand: Sendable, Hashable {
    /// `BEGIN [WORK | TRANSACTION] [modes]` or `START TRANSACTION [modes]`.
    case begin(TransactionModes)
    /// `COMMIT` or `END`; `chain` for `AND CHAIN`.
    case commit(chain: Bool)
    /// `ROLLBACK` or `ABORT`; `chain` for `AND CHAIN`.
    case rollback(chain: Bool)
    /// `SAVEPOINT name`.
    case savepoint(String)
    /// `RELEASE [SAVEPOINT] name`.
    case releaseSavepoint(String)
    /// `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name`.
    case rollbackToSavepoint(String)
    /// `PREPARE TRANSACTION 'gid'`.
    case prepareTransaction(String)
    /// `COMMIT PREPARED 'gid'`.
    case commitPrepared(String)
    /// `ROLLBACK PREPARED 'gid'`.
    case rollbackPrepared(String)
}

/// Table lock modes of `LOCK`, weakest first, numbered as PostgreSQL numbers them.
public enum LockMode: Int, Sendable, Hashable, Comparable {
    /// `ACCESS SHARE` (what `SELECT` takes).
    case accessShare = 1
    /// `ROW SHARE` (what `SELECT … FOR UPDATE` takes).
    case rowShare = 2
    /// `ROW EXCLUSIVE` (what `INSERT`, `UPDATE`, `DELETE` take).
    case rowExclusive = 3
    /// `SHARE UPDATE EXCLUSIVE`.
    case shareUpdateExclusive = 4
    /// `SHARE`.
    case share = 5
    /// `SHARE ROW EXCLUSIVE`.
    case shareRowExclusive = 6
    /// `EXCLUSIVE`.
    case exclusive = 7
    /// `ACCESS EXCLUSIVE` (the default of `LOCK`).
    case accessExclusive = 8

    /// Orders modes by strength.
    public static func < (lhs: LockMode, rhs: LockMode) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A definition or privilege statement.
public struct DDLStatement: Sendable, Hashable {
    /// The command word(s) in lower case: `create`, `alter`, `drop`, `comment`, `grant`, `revoke`,
    /// `security label`, `import foreign schema`, `reassign owned`, `refresh`, `reindex`,
    /// `cluster`.
    public var command: String
    /// For `CREATE`, `ALTER` and `DROP`: the object type in lower case (`table`, `index`,
    /// `materialized view`, `foreign table`, `function` …), when recognised.
    public var objectType: String?
    /// `CREATE TEMP | TEMPORARY | LOCAL TEMP | GLOBAL TEMP …`.
    public var isTemporary: Bool
    /// `CREATE UNLOGGED TABLE` (or `ALTER TABLE … SET UNLOGGED`).
    public var isUnlogged: Bool

    /// Creates a description of a DDL statement.
    public init(command: String, objectType: String? = nil, isTemporary: Bool = false, isUnlogged: Bool = false) {
        self.command = command
        self.objectType = objectType
        self.isTemporary = isTemporary
        self.isUnlogged = isUnlogged
    }
}
