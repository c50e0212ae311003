/// Asks the primary's catalog what routing needs to know about relations and functions.
/// Blocking (libpq): call it on a thread pool.
public struct CatalogLookup: Sendable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var connectTimeoutSeconds: Int

    public init(host: String, port: Int, user: String, password: String?, connectTimeoutSeconds: Int) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    /// What the catalog says about one relation.
    public struct RelationFacts: Sendable, Equatable {
        public var isSystemCatalog: Bool
        public var isTemporary: Bool
        public var isUnlogged: Bool

        public init(isSystemCatalog: Bool, isTemporary: Bool, isUnlogged: Bool) {
            self.isSystemCatalog = isSystemCatalog
            self.isTemporary = isTemporary
            self.isUnlogged = isUnlogged
        }
    }

    private func connect(database: String) throws(LibPQError) -> LibPQConnection {
        try LibPQConnection(host: host, port: port, user: user, password: password, database: database,
                            connectTimeoutSeconds: connectTimeoutSeconds)
    }

    /// Facts about `quotedName` (a double-quoted, possibly schema-qualified name). A name the
    /// catalog does not know (a CTE, a typo) is an ordinary relation.
    public func relation(database: String, quotedName: String, schema: String?) throws(LibPQError) -> RelationFacts {
        let connection = try connect(database: database)
        let row = try connection.queryRow(
            """
            SELECT n.nspname, c.relpersistence FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = pg_catalog.to_regclass($1)
            """, parameters: [quotedName])
        guard let row else {
            // Unknown here; a system catalog is still one by its schema.
            return RelationFacts(isSystemCatalog: schema == "pg_catalog" || schema == "information_schema",
                                 isTemporary: false, isUnlogged: false)
        }
        let namespace = row[0] ?? ""
        return RelationFacts(isSystemCatalog: namespace == "pg_catalog" || namespace == "information_schema",
                             isTemporary: row[1] == "t", isUnlogged: row[1] == "u")
    }

    /// Whether calling `name` may write: any function of that name is volatile, or none exists.
    public func isVolatile(database: String, name: String, schema: String?) throws(LibPQError) -> Bool {
        let connection = try connect(database: database)
        let row = try connection.queryRow(
            """
            SELECT pg_catalog.bool_or(p.provolatile = 'v') FROM pg_catalog.pg_proc p
            JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
            WHERE p.proname = $1 AND ($2 = '' OR n.nspname = $2)
            """, parameters: [name, schema ?? ""])
        return row?.first.flatMap { $0 }.map { $0 == "t" } ?? true
    }
}
