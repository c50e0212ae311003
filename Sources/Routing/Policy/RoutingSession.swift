import PostgresWire

/// The nodes a routing decision may use, as the cluster state sees them right now.
public struct RoutingNodes: Sendable {
    /// The primary's id.
    public var primary: Int
    /// Nodes that are up and may take balanced reads (weight > 0), for statement-level picks
    /// and for BOTH statements under statement-level load balancing.
    public var readable: [Int]
    /// read_your_writes: the standbys that have replayed the session's last committed write
    /// (nil when the session need not wait for any). Reads go only there, or to the primary;
    /// BOTH statements still reach every readable node.
    public var caughtUp: Set<Int>?

    public init(primary: Int, readable: [Int], caughtUp: Set<Int>? = nil) {
        self.caughtUp = caughtUp
        self.primary = primary
        self.readable = readable
    }
}

/// A routing decision with what the proxy must do besides sending.
public struct RoutedQuery: Sendable, Equatable {
    public var decision: RouteDecision
    public var reason: RouteDecision.Reason
    /// `BEGIN READ WRITE` / `BEGIN … SERIALIZABLE`: standbys get a plain `BEGIN` instead.
    public var plainBeginForStandbys: Bool
}

/// One client session's routing state and Pgpool-II 4.3's decision rules (streaming-replication
/// mode). Pure: the proxy feeds it classified queries and outcomes, and performs the decisions.
public struct RoutingSession: Sendable {
    /// The policy's parameters; `PGPOOL SET` may change a session's own copy.
    public var settings: RoutingSettings
    /// The node chosen for the session's reads (at session start).
    public private(set) var loadBalanceNode: Int
    public private(set) var transactionStatus = TransactionStatus.idle
    /// A write succeeded, so reads stay on the primary (see ``WriteStickiness``).
    public private(set) var writingTransaction = false
    private var transactionSerializable = false
    private var sessionSerializable = false
    /// The transaction began where only the primary saw it (in a multi-statement query, in an
    /// extended batch that went to the primary, or while no other node could take it): its reads
    /// stay on the primary until it ends, as no standby is in it.
    private var transactionOnPrimaryOnly = false
    /// dml_adaptive: relations written in the current explicit transaction.
    private var writtenInTransaction: Set<String> = []
    /// check_temp_table = trace: temporary tables this session created.
    private var temporaryTables: Set<String> = []
    /// SQL PREPARE statements and where they were prepared.
    private var sqlPreparedStatements: [String: RouteDecision] = [:]
    /// SQL PREPARE of a read, by name: the statement it prepares, so that EXECUTE is routed as
    /// that read among the nodes the name was prepared on.
    private var sqlPreparedReads: [String: StatementClassification] = [:]
    /// Names a PREPARE is creating: forgotten again if it fails.
    private var sqlPreparing: Set<String> = []
    private var cursors: [String: RouteDecision] = [:]
    /// Session state (SET, PREPARE of a BOTH statement, LISTEN, …) went to nodes besides the
    /// primary: a new load-balance node would lack it.
    public private(set) var standbysHoldSessionState = false
    /// A SET, RESET or DISCARD reached the primary only (in a multi-statement query or an
    /// extended batch that went there): the standbys lack it, so every read of the session stays
    /// on the primary from now on.
    public private(set) var sessionStateOnPrimaryOnly = false

    public init(settings: RoutingSettings, loadBalanceNode: Int) {
        self.settings = settings
        self.loadBalanceNode = loadBalanceNode
    }

    // MARK: Deciding

    /// Where `query` goes. `pick` draws a node for statement-level load balancing;
    /// `leastDelayed` names the readable standby with the least replication delay (for
    /// prefer_lower_delay_standby), asked only when the load-balance node cannot take a read.
    public mutating func route(
        _ query: QueryClassification, text: String, nodes: RoutingNodes, facts: some CatalogFacts,
        pick: () -> Int?, leastDelayed: () -> Int? = { nil }
    ) -> RoutedQuery {
        guard query.statements.count == 1 else {
            if query.isEmpty {
                // An empty query is a harmless read (JDBC pings with them).
                let (node, reason) = loadBalanceTarget(nodes, leastDelayed: leastDelayed)
                return Self.decided(node == nodes.primary ? .primary : .node(node), reason)
            }
            if query.statements.contains(where: \.isTransactionStart) { transactionOnPrimaryOnly = true }
            return Self.decided(.primary, .multiStatement)
        }
        if !settings.loadBalanceMode, case .select = query.statements[0].kind {
            // Without load balancing a read goes to the primary and leaves nothing to record:
            // decided from two fields, without passing the statement on (which copies it).
            return Self.decided(.primary, query.statements[0].destination == .primary ? .write : .loadBalanceOff)
        }
        return route(query.statements[0], of: query, text: text, nodes: nodes, facts: facts, pick: pick, leastDelayed: leastDelayed)
    }

    private static func decided(_ decision: RouteDecision, _ reason: RouteDecision.Reason, plainBegin: Bool = false) -> RoutedQuery {
        RoutedQuery(decision: decision, reason: reason, plainBeginForStandbys: plainBegin)
    }

    /// Where the single statement of `query` goes.
    private mutating func route(
        _ statement: StatementClassification, of query: QueryClassification, text: String, nodes: RoutingNodes,
        facts: some CatalogFacts, pick: () -> Int?, leastDelayed: () -> Int?
    ) -> RoutedQuery {
        if let name = statement.preparedStatementName {
            let placed = sqlPreparedStatements[name] ?? .primary
            if case .execute = statement.kind, let read = sqlPreparedReads[name], case .nodes(let holders) = placed {
                // A read prepared on several nodes runs on one of them, chosen as the read would be.
                let (node, reason) = readTarget(read, query: query, text: text, nodes: nodes, facts: facts, pick: pick,
                                                leastDelayed: leastDelayed)
                return holders.contains(node) ? Self.decided(node == nodes.primary ? .primary : .node(node), reason)
                    : Self.decided(.primary, .preparedStatement)
            }
            if case .deallocate = statement.kind {
                sqlPreparedStatements[name] = nil
                sqlPreparedReads[name] = nil
            }
            return Self.decided(placed, .preparedStatement)
        }
        if case .deallocate(nil) = statement.kind {
            sqlPreparedStatements.removeAll()
            sqlPreparedReads.removeAll()
            return Self.decided(bothTargets(nodes), .preparedStatement)
        }
        if case .prepare(let name, let inner) = statement.kind, settings.loadBalanceMode {
            // As on one server: preparing a name that exists fails where it exists; a read is
            // prepared on every node a later EXECUTE may read from, a write on the primary.
            if let placed = sqlPreparedStatements[name] { return Self.decided(placed, .preparedStatement) }
            guard inner.destination == .either, !transactionOnPrimaryOnly else {
                sqlPreparedStatements[name] = .primary
                sqlPreparing.insert(name)
                return Self.decided(.primary, .write)
            }
            let targets = bothTargets(nodes)
            sqlPreparedStatements[name] = targets
            sqlPreparing.insert(name)
            if case .nodes = targets { sqlPreparedReads[name] = inner }
            return Self.decided(targets, .preparedStatement)
        }
        if let cursor = statement.cursorName {
            return Self.decided(cursors[cursor] ?? .primary, .cursor)
        }
        // PREPARE is routed as the statement it prepares.
        let routed: RoutedQuery
        if case .prepare(_, let inner) = statement.kind {
            routed = routeEffective(inner, of: statement, query: query, text: text, nodes: nodes, facts: facts, pick: pick,
                                    leastDelayed: leastDelayed)
        } else {
            routed = routeEffective(statement, of: statement, query: query, text: text, nodes: nodes, facts: facts, pick: pick,
                                    leastDelayed: leastDelayed)
        }
        switch statement.kind {
        case .prepare(let name, _): sqlPreparedStatements[name] = routed.decision
        case .declareCursor(let name, _): cursors[name] = routed.decision
        default: break
        }
        return routed
    }

    /// Where a statement goes by its destination: `effective` is the statement itself, or the
    /// one a PREPARE prepares.
    private mutating func routeEffective(
        _ effective: StatementClassification, of statement: StatementClassification, query: QueryClassification,
        text: String, nodes: RoutingNodes, facts: some CatalogFacts, pick: () -> Int?, leastDelayed: () -> Int?
    ) -> RoutedQuery {
        let routed: RoutedQuery
        switch effective.destination {
        case .primary:
            routed = Self.decided(.primary, .write)
        case .both:
            if !settings.loadBalanceMode {
                routed = Self.decided(.primary, .loadBalanceOff)
            } else if transactionOnPrimaryOnly, case .transaction = effective.kind {
                routed = Self.decided(.primary, .multiStatement)
            } else {
                routed = Self.decided(bothTargets(nodes), .both, plainBegin: effective.sendsPlainBeginToStandby)
                if case .nodes = routed.decision, !statement.isTransactionControl { standbysHoldSessionState = true }
            }
        case .either:
            let (node, reason) = readTarget(
                effective, query: query, text: text, nodes: nodes, facts: facts, pick: pick, leastDelayed: leastDelayed)
            routed = Self.decided(node == nodes.primary ? .primary : .node(node), reason)
        }
        return routed
    }

    /// Where a statement for every reading node that was prepared earlier (a protocol-level
    /// BEGIN, COMMIT or SET, routed `.both`) goes now: the reading nodes change as nodes leave and
    /// join, and a read of the transaction must never reach a node the BEGIN did not.
    public func targetsNow(forEveryNodeStatement statement: StatementClassification?, nodes: RoutingNodes) -> RouteDecision {
        guard settings.loadBalanceMode else { return .primary }
        if transactionOnPrimaryOnly, statement?.isTransactionControl == true { return .primary }
        return bothTargets(nodes)
    }

    private func bothTargets(_ nodes: RoutingNodes) -> RouteDecision {
        var targets = [nodes.primary]
        // A load-balance node that went down or lags gets no new transaction, but one it is in
        // still ends there.
        let lbUsable = nodes.readable.contains(loadBalanceNode) || transactionStatus != .idle
        let others = settings.statementLevelLoadBalance ? nodes.readable : lbUsable ? [loadBalanceNode] : []
        for node in others where !targets.contains(node) { targets.append(node) }
        return targets.count == 1 ? .primary : .nodes(targets)
    }

    /// An EITHER statement: the checks of `pool_where_to_send` in order; the first failing one
    /// sends it to the primary.
    private mutating func readTarget(
        _ statement: StatementClassification, query: QueryClassification, text: String, nodes: RoutingNodes,
        facts: some CatalogFacts, pick: () -> Int?, leastDelayed: () -> Int?
    ) -> (Int, RouteDecision.Reason) {
        let primary = nodes.primary
        guard settings.loadBalanceMode else { return (primary, .loadBalanceOff) }
        if sessionStateOnPrimaryOnly { return (primary, .sessionStateOnPrimary) }
        if transactionOnPrimaryOnly, transactionStatus != .idle { return (primary, .transactionOnPrimary) }
        if writingTransaction, settings.writeStickiness == .always { return (primary, .writingTransaction) }
        guard statement.isSelectQuery else { return (primary, .notASelect) }
        // allow_sql_comments = off: a SELECT must start like one (any leading comment fails);
        // Pgpool-II applies the test to SELECT statements only.
        if !settings.allowSQLComments, case .select = statement.kind {
            let startsLikeSelect = query.isSingleStatement(of: .select)
                ? query.startsLikeSelect(ignoringLeadingWhiteSpace: settings.ignoreLeadingWhiteSpace)
                : !(query.statements.count == 1 && query.statements[0].hasLeadingComment)
            if !startsLikeSelect { return (primary, .leadingComment) }
        }
        if transactionStatus != .idle {
            if transactionStatus == .failed { return (primary, .transactionNotReadOnly) }
            if writingTransaction, settings.writeStickiness != .off { return (primary, .writingTransaction) }
            if transactionSerializable || sessionSerializable { return (primary, .serializable) }
        }
        for relation in statement.relations {
            switch facts.isSystemCatalog(relation) {
            case true?: return (primary, .systemCatalog)
            case nil: return (primary, .unknownFacts)
            case false?: break
            }
            switch settings.checkTempTable {
            case .catalog:
                // The session's own temporary tables are invisible to any other connection.
                if temporaryTables.contains(relation.name) { return (primary, .temporaryTable) }
                switch facts.isTemporary(relation) {
                case true?: return (primary, .temporaryTable)
                case nil: return (primary, .unknownFacts)
                case false?: break
                }
            case .trace:
                if temporaryTables.contains(relation.name) { return (primary, .temporaryTable) }
            case .none:
                break
            }
            if settings.checkUnloggedTable {
                switch facts.isUnlogged(relation) {
                case true?: return (primary, .unloggedTable)
                case nil: return (primary, .unknownFacts)
                case false?: break
                }
            }
        }
        if settings.primaryRoutingQueryPatternList.matchesWhole(text) {
            return (primary, .primaryRoutingPattern)
        }
        switch hasWritingFunction(statement, facts: facts) {
        case true?: return (primary, .writingFunction)
        case nil: return (primary, .unknownFacts)
        case false?: break
        }
        if settings.writeStickiness == .dmlAdaptive, transactionStatus == .inTransaction,
           statement.relations.contains(where: { writtenInTransaction.contains($0.name) }) {
            return (primary, .dmlAdaptive)
        }
        if settings.statementLevelLoadBalance, let node = pick() {
            return Self.hasSessionWrites(node, nodes) ? (node, .loadBalanced) : (primary, .standbyBehindSession)
        }
        let (node, reason) = loadBalanceTarget(nodes, leastDelayed: leastDelayed)
        return Self.hasSessionWrites(node, nodes) ? (node, reason) : (primary, .standbyBehindSession)
    }

    /// Whether `node` has replayed the session's last committed write (the primary always has).
    static func hasSessionWrites(_ node: Int, _ nodes: RoutingNodes) -> Bool {
        node == nodes.primary || nodes.caughtUp?.contains(node) ?? true
    }

    /// The session's load-balance node, unless it went down or lags behind the primary: then the
    /// primary, or with prefer_lower_delay_standby the standby with the least delay, which becomes
    /// the session's load-balance node (Pgpool-II 4.3 does the same; with no standby within the
    /// delay threshold the read goes to the primary).
    private mutating func loadBalanceTarget(_ nodes: RoutingNodes, leastDelayed: () -> Int?) -> (Int, RouteDecision.Reason) {
        if loadBalanceNode == nodes.primary || nodes.readable.contains(loadBalanceNode) { return (loadBalanceNode, .loadBalanced) }
        if settings.preferLowerDelayStandby, let node = leastDelayed(), node != nodes.primary, nodes.readable.contains(node) {
            loadBalanceNode = node
            return (node, .loadBalanced)
        }
        return (nodes.primary, .loadBalanceNodeUnavailable)
    }

    /// Pgpool-II's writing-function rule: the read-only list, else the write list, else the
    /// function's volatility from the catalog. Nil when a volatility is not known yet.
    func hasWritingFunction(_ statement: StatementClassification, facts: some CatalogFacts) -> Bool? {
        let names = statement.functionCalls
        if !settings.readOnlyFunctionPatternList.isEmpty {
            return names.contains { !settings.readOnlyFunctionPatternList.matchesWhole($0.description) }
        }
        if !settings.writeFunctionPatternList.isEmpty {
            return names.contains { settings.writeFunctionPatternList.matchesWhole($0.description) }
        }
        var unknown = false
        for name in names {
            switch facts.isVolatile(name) {
            case true?: return true
            case nil: unknown = true
            case false?: break
            }
        }
        return unknown ? nil : false
    }

    // MARK: Learning from outcomes

    /// A statement of `query` completed (CommandComplete) or failed (ErrorResponse).
    public mutating func completed(_ query: QueryClassification, routed: RoutedQuery, succeeded: Bool, facts: some CatalogFacts) {
        if query.statements.count == 1, case .select = query.statements[0].kind, query.statements[0].destination == .either,
           query.statements[0].isSelectQuery, !query.statements[0].setsSerializable, query.statements[0].functionCalls.isEmpty {
            // A plain read that calls no function teaches the policy nothing (the usual query):
            // decided from its fields, without passing the statement on (which copies it).
            return
        }
        for index in query.statements.indices {
            completed(query.statements[index], routed: routed, succeeded: succeeded, facts: facts)
        }
    }

    private mutating func completed(_ statement: StatementClassification, routed: RoutedQuery, succeeded: Bool, facts: some CatalogFacts) {
        if case .prepare(let name, _) = statement.kind, sqlPreparing.remove(name) != nil, !succeeded {
            sqlPreparedStatements[name] = nil
            sqlPreparedReads[name] = nil
        }
        if case .transaction(let command) = statement.kind {
            switch command {
            case .begin(let modes):
                beginTransaction()
                if modes.isolationLevel == .serializable { transactionSerializable = true }
                if settings.loadBalanceMode, routed.decision == .primary { transactionOnPrimaryOnly = true }
            case .commit, .rollback, .commitPrepared, .rollbackPrepared, .prepareTransaction:
                endTransaction()
            default:
                break
            }
            return
        }
        guard succeeded else { return }
        if settings.loadBalanceMode, routed.decision == .primary, statement.destination == .both,
           statement.changesSessionState {
            sessionStateOnPrimaryOnly = true
        }
        if statement.setsSerializable {
            if case .set(let set) = statement.kind, set.parameter == "transaction" {
                transactionSerializable = true
            } else {
                sessionSerializable = true
            }
        }
        if settings.checkTempTable != .none { traceTemporaryTables(statement) }
        let isRead = statement.destination == .either && statement.isSelectQuery
            && hasWritingFunction(statement, facts: facts) != true
        guard !isRead, !statement.setsTransactionReadOnly, statement.destination != .both else { return }
        switch settings.writeStickiness {
        case .off:
            break
        case .transaction, .transTransaction:
            if transactionStatus == .inTransaction { writingTransaction = true }
        case .always:
            writingTransaction = true
        case .dmlAdaptive:
            if transactionStatus == .inTransaction { markWritten(statement) }
        }
    }

    /// The backend reported its transaction state (ReadyForQuery).
    public mutating func readyForQuery(_ state: TransactionStatus) {
        let wasInTransaction = transactionStatus != .idle
        transactionStatus = state
        // Also when the transaction began and ended within one message (BEGIN; …; COMMIT).
        if state == .idle { transactionOnPrimaryOnly = false }
        if wasInTransaction, state == .idle {
            // The transaction ended (COMMIT, ROLLBACK, or an implicit one).
            transactionSerializable = false
            transactionOnPrimaryOnly = false
            writtenInTransaction.removeAll()
            if settings.writeStickiness == .transaction { writingTransaction = false }
        }
    }

    /// The session's load-balance node could not be reached: use `node` (usually the primary).
    public mutating func replaceLoadBalanceNode(with node: Int) {
        loadBalanceNode = node
    }

    /// Whether something the session still uses lives on `node` only: an SQL prepared
    /// statement or a cursor placed there.
    public func dependsOn(_ node: Int) -> Bool {
        func uses(_ decision: RouteDecision) -> Bool {
            switch decision {
            case .primary: return false
            case .node(let id): return id == node
            case .nodes: return false
            }
        }
        return sqlPreparedStatements.values.contains(where: uses) || cursors.values.contains(where: uses)
    }

    private mutating func beginTransaction() {
        transactionSerializable = sessionSerializable
        writtenInTransaction.removeAll()
        if settings.writeStickiness == .transaction { writingTransaction = false }
    }

    private mutating func endTransaction() {
        transactionSerializable = false
        transactionOnPrimaryOnly = false
        writtenInTransaction.removeAll()
        if settings.writeStickiness == .transaction { writingTransaction = false }
    }

    private mutating func markWritten(_ statement: StatementClassification) {
        var queue = statement.writtenRelations.map(\.name) + statement.functionCalls.map { $0.name + "()" }
        while let object = queue.popLast() {
            guard writtenInTransaction.insert(object).inserted else { continue }
            queue += settings.dmlAdaptiveRelationships[object] ?? []
        }
    }

    private mutating func traceTemporaryTables(_ statement: StatementClassification) {
        guard case .ddl(let ddl) = statement.kind else { return }
        let names = statement.writtenRelations.map(\.name)
        if ddl.command == "create", ddl.isTemporary {
            temporaryTables.formUnion(names)
        } else if ddl.command == "drop", ddl.objectType == "table" {
            temporaryTables.subtract(names)
        }
    }
}
