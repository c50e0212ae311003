import Synchronization
import PostgresWire
import Testing
@testable import Routing

/// Catalog answers for pure policy tests: everything known, nothing special unless listed.
struct KnownFacts: CatalogFacts {
    var catalogs: Set<String> = ["pg_class", "pg_stat_activity"]
    var temporary: Set<String> = []
    var unlogged: Set<String> = []
    var volatile: Set<String> = ["nextval", "setval", "random"]
    var unknownFunctions: Set<String> = []

    func isSystemCatalog(_ relation: QualifiedName) -> Bool? { catalogs.contains(relation.name) }
    func isTemporary(_ relation: QualifiedName) -> Bool? { temporary.contains(relation.name) }
    func isUnlogged(_ relation: QualifiedName) -> Bool? { unlogged.contains(relation.name) }
    func isVolatile(_ function: QualifiedName) -> Bool? {
        unknownFunctions.contains(function.name) ? nil : volatile.contains(function.name)
    }
}

@Suite("Routing policy")
struct RoutingSessionTests {
    let nodes = RoutingNodes(primary: 0, readable: [1, 2, 3])

    /// Runs `sql` through routing and a successful completion with the given resulting state.
    @discardableResult
    func run(_ session: inout RoutingSession, _ sql: String, then state: TransactionStatus? = nil,
             facts: KnownFacts = KnownFacts(), pick: Int? = nil) -> RoutedQuery {
        let query = SQLClassifier.classify(query: sql)
        let routed = session.route(query, text: sql, nodes: nodes, facts: facts, pick: { pick })
        session.completed(query, routed: routed, succeeded: true, facts: facts)
        if let state { session.readyForQuery(state) }
        return routed
    }

    func session(_ configure: (inout RoutingSettings) -> Void = { _ in }) -> RoutingSession {
        var settings = RoutingSettings()
        configure(&settings)
        return RoutingSession(settings: settings, loadBalanceNode: 2)
    }

    @Test func readsBalanceWritesGoToPrimary() {
        var s = session()
        #expect(run(&s, "SELECT * FROM accounts WHERE id = 1").decision == .node(2))
        #expect(run(&s, "INSERT INTO accounts VALUES (1)").decision == .primary)
        #expect(run(&s, "SELECT now()").decision == .node(2))
        #expect(run(&s, "SELECT nextval('s')").reason == .writingFunction)
        #expect(run(&s, "SELECT 1; SELECT 2").reason == .multiStatement)
        #expect(run(&s, "SELECT * FROM t FOR UPDATE").decision == .primary)
        #expect(run(&s, "COPY t TO STDOUT").decision == .node(2))
        #expect(run(&s, "COPY t FROM STDIN").decision == .primary)
        #expect(run(&s, "").decision == .node(2))
    }

    @Test func bothStatementsReachPrimaryAndLoadBalanceNode() {
        var s = session()
        #expect(run(&s, "SET search_path = app").decision == .nodes([0, 2]))
        let begin = run(&s, "BEGIN READ WRITE", then: .inTransaction)
        #expect(begin.decision == .nodes([0, 2]))
        #expect(begin.plainBeginForStandbys)
        var level = session { $0.statementLevelLoadBalance = true }
        #expect(run(&level, "SET search_path = app").decision == .nodes([0, 1, 2, 3]))
        var off = session { $0.loadBalanceMode = false }
        #expect(run(&off, "SELECT 1").decision == .primary)
        #expect(run(&off, "BEGIN").decision == .primary)
    }

    @Test func withoutLoadBalancingReadsGoToThePrimaryForTheirReason() {
        var off = session { $0.loadBalanceMode = false }
        #expect(run(&off, "SELECT abalance FROM pgbench_accounts WHERE aid = 1").reason == .loadBalanceOff)
        #expect(run(&off, "SELECT * FROM t FOR UPDATE").reason == .write)
        #expect(run(&off, "SELECT * INTO t2 FROM t").reason == .write)
        #expect(run(&off, "SELECT nextval('s')").decision == .primary)
        // With load balancing on, a read in a transaction marks nothing: later reads stay balanced.
        var on = session()
        _ = run(&on, "BEGIN", then: .inTransaction)
        #expect(run(&on, "SELECT 1", then: .inTransaction).decision == .node(2))
        #expect(run(&on, "SELECT * FROM t", then: .inTransaction).decision == .node(2))
        #expect(!on.writingTransaction)
    }

    @Test func writeInTransactionPinsLaterReadsUntilCommit() {
        var s = session()
        run(&s, "BEGIN", then: .inTransaction)
        #expect(run(&s, "SELECT 1", then: .inTransaction).decision == .node(2))
        run(&s, "UPDATE t SET x = 1", then: .inTransaction)
        #expect(run(&s, "SELECT * FROM t", then: .inTransaction).reason == .writingTransaction)
        run(&s, "COMMIT", then: .idle)
        #expect(run(&s, "SELECT * FROM t").decision == .node(2))
    }

    @Test func writesOutsideTransactionsDoNotPinUnderTransactionMode() {
        var s = session()
        run(&s, "INSERT INTO t VALUES (1)", then: .idle)
        #expect(run(&s, "SELECT * FROM t").decision == .node(2))
    }

    @Test func alwaysModePinsForTheRestOfTheSession() {
        var s = session { $0.writeStickiness = .always }
        run(&s, "INSERT INTO t VALUES (1)", then: .idle)
        #expect(run(&s, "SELECT * FROM t").reason == .writingTransaction)
    }

    @Test func transTransactionSticksAcrossTransactionsButOnlyInside() {
        var s = session { $0.writeStickiness = .transTransaction }
        run(&s, "BEGIN", then: .inTransaction)
        run(&s, "DELETE FROM t", then: .inTransaction)
        run(&s, "COMMIT", then: .idle)
        #expect(run(&s, "SELECT 1", then: .idle).decision == .node(2))
        run(&s, "BEGIN", then: .inTransaction)
        #expect(run(&s, "SELECT 1", then: .inTransaction).reason == .writingTransaction)
    }

    @Test func offModeNeverPins() {
        var s = session { $0.writeStickiness = .off }
        run(&s, "BEGIN", then: .inTransaction)
        run(&s, "UPDATE t SET x = 1", then: .inTransaction)
        #expect(run(&s, "SELECT * FROM t", then: .inTransaction).decision == .node(2))
    }

    @Test func dmlAdaptivePinsOnlyWrittenTablesAndRelatedObjects() {
        var s = session {
            $0.writeStickiness = .dmlAdaptive
            $0.dmlAdaptiveRelationships = ["orders": ["order_totals"]]
        }
        run(&s, "BEGIN", then: .inTransaction)
        run(&s, "INSERT INTO orders VALUES (1)", then: .inTransaction)
        #expect(run(&s, "SELECT * FROM orders", then: .inTransaction).reason == .dmlAdaptive)
        #expect(run(&s, "SELECT * FROM order_totals", then: .inTransaction).reason == .dmlAdaptive)
        #expect(run(&s, "SELECT * FROM customers", then: .inTransaction).decision == .node(2))
        run(&s, "COMMIT", then: .idle)
        #expect(run(&s, "SELECT * FROM orders").decision == .node(2))
    }

    @Test func serializableTransactionsStayOnPrimary() {
        var s = session()
        run(&s, "BEGIN ISOLATION LEVEL SERIALIZABLE", then: .inTransaction)
        #expect(run(&s, "SELECT 1", then: .inTransaction).reason == .serializable)
        run(&s, "COMMIT", then: .idle)
        #expect(run(&s, "SELECT 1").decision == .node(2))
        run(&s, "SET default_transaction_isolation = 'serializable'")
        run(&s, "BEGIN", then: .inTransaction)
        #expect(run(&s, "SELECT 1", then: .inTransaction).reason == .serializable)
    }

    @Test func catalogTempUnloggedAndUnknownFactsGoToPrimary() {
        var s = session()
        #expect(run(&s, "SELECT * FROM pg_class").reason == .systemCatalog)
        var facts = KnownFacts()
        facts.temporary = ["scratch"]
        facts.unlogged = ["fast"]
        facts.unknownFunctions = ["mystery"]
        #expect(run(&s, "SELECT * FROM scratch", facts: facts).reason == .temporaryTable)
        #expect(run(&s, "SELECT * FROM fast", facts: facts).reason == .unloggedTable)
        #expect(run(&s, "SELECT mystery()", facts: facts).reason == .unknownFacts)
        var noUnlogged = session { $0.checkUnloggedTable = false }
        #expect(run(&noUnlogged, "SELECT * FROM fast", facts: facts).decision == .node(2))
    }

    @Test func traceModeFollowsTheSessionsTemporaryTables() {
        var s = session { $0.checkTempTable = .trace }
        run(&s, "CREATE TEMP TABLE scratch (x int)")
        #expect(run(&s, "SELECT * FROM scratch").reason == .temporaryTable)
        run(&s, "DROP TABLE scratch")
        #expect(run(&s, "SELECT * FROM scratch").decision == .node(2))
    }

    @Test func functionListsOverrideVolatility() {
        var readOnly = session { $0.readOnlyFunctionPatterns = ["now", "lower"] }
        #expect(run(&readOnly, "SELECT lower('A'), now()").decision == .node(2))
        #expect(run(&readOnly, "SELECT upper('a')").reason == .writingFunction)
        var write = session { $0.writeFunctionPatterns = ["my_.*"] }
        #expect(run(&write, "SELECT my_counter()").reason == .writingFunction)
        #expect(run(&write, "SELECT random()").decision == .node(2))
    }

    @Test func leadingCommentsAndPatterns() {
        var s = session()
        #expect(run(&s, "/* hint */ SELECT 1").reason == .leadingComment)
        var allowed = session { $0.allowSQLComments = true }
        #expect(run(&allowed, "/* hint */ SELECT 1").decision == .node(2))
        var patterns = session { $0.primaryRoutingQueryPatterns = ["SELECT .* FROM critical.*"] }
        #expect(run(&patterns, "SELECT x FROM critical_data").reason == .primaryRoutingPattern)
        #expect(run(&patterns, "SELECT x FROM other").decision == .node(2))
    }

    @Test func preparedStatementsAndCursorsFollowWhereTheyWereMade() {
        var s = session()
        run(&s, "PREPARE q AS SELECT * FROM t")
        #expect(run(&s, "EXECUTE q").decision == .node(2))
        run(&s, "PREPARE w AS UPDATE t SET x = 1")
        #expect(run(&s, "EXECUTE w").decision == .primary)
        #expect(run(&s, "EXECUTE unknown_name").decision == .primary)
        #expect(run(&s, "DEALLOCATE ALL").decision == .nodes([0, 2]))
        run(&s, "BEGIN", then: .inTransaction)
        let declared = run(&s, "DECLARE c CURSOR FOR SELECT * FROM t", then: .inTransaction)
        #expect(run(&s, "FETCH 10 FROM c", then: .inTransaction).decision == declared.decision)
        #expect(run(&s, "MOVE 5 IN c", then: .inTransaction).decision == declared.decision)
        #expect(run(&s, "CLOSE c", then: .inTransaction).decision == declared.decision)
    }

    @Test func multiStatementTransactionKeepsSavepointsOnPrimary() {
        var s = session()
        #expect(run(&s, "BEGIN; DELETE FROM t", then: .inTransaction).reason == .multiStatement)
        #expect(run(&s, "SAVEPOINT a", then: .inTransaction).decision == .primary)
        run(&s, "COMMIT", then: .idle)
        #expect(run(&s, "SAVEPOINT b").decision == .nodes([0, 2]))
    }

    @Test func statementLevelPicksPerStatement() {
        var s = session { $0.statementLevelLoadBalance = true }
        #expect(run(&s, "SELECT 1", pick: 3).decision == .node(3))
        #expect(run(&s, "SELECT 1", pick: 1).decision == .node(1))
        #expect(run(&s, "SELECT 1", pick: 0).decision == .primary)
    }

    @Test func failedTransactionStaysOnPrimary() {
        var s = session()
        run(&s, "BEGIN", then: .failed)
        #expect(run(&s, "SELECT 1", then: .failed).decision == .primary)
    }

    @Test func preferLowerDelayStandbyTakesTheLeastLaggingStandbyAndKeepsIt() {
        // The load-balance node (2) lags: it is not readable.
        let lagging = RoutingNodes(primary: 0, readable: [1, 3])
        let query = SQLClassifier.classify(query: "SELECT * FROM t")
        var preferring = session { $0.preferLowerDelayStandby = true }
        // The random pick would say 1; the least delayed standby is 3.
        var routed = preferring.route(query, text: "SELECT * FROM t", nodes: lagging, facts: KnownFacts(),
                                      pick: { 1 }, leastDelayed: { 3 })
        #expect(routed.decision == .node(3))
        #expect(preferring.loadBalanceNode == 3)
        routed = preferring.route(query, text: "SELECT * FROM t", nodes: lagging, facts: KnownFacts(),
                                  pick: { 1 }, leastDelayed: { 1 })
        #expect(routed.decision == .node(3), "the session stays on its new load-balance node while it is readable")
        // No standby within the threshold: the primary.
        var none = session { $0.preferLowerDelayStandby = true }
        routed = none.route(query, text: "SELECT * FROM t", nodes: RoutingNodes(primary: 0, readable: []), facts: KnownFacts(),
                            pick: { nil }, leastDelayed: { nil })
        #expect(routed.decision == .primary)
        #expect(routed.reason == .loadBalanceNodeUnavailable)
        // Without the parameter a lagging load-balance node sends reads to the primary.
        var plain = session()
        routed = plain.route(query, text: "SELECT * FROM t", nodes: lagging, facts: KnownFacts(), pick: { 1 }, leastDelayed: { 3 })
        #expect(routed.decision == .primary)
    }

    @Test func patternListsAreCompiledOncePerSettings() {
        var s = session {
            $0.primaryRoutingQueryPatterns = ["SELECT .* FROM critical.*", "SELECT .* FOR SHARE"]
            $0.readOnlyFunctionPatterns = ["pure_.*"]
        }
        let before = PatternList.compilations.load(ordering: .relaxed)
        for _ in 0..<200 {
            #expect(run(&s, "SELECT x FROM critical_data").reason == .primaryRoutingPattern)
            #expect(run(&s, "SELECT pure_f(x) FROM other").decision == .node(2))
            #expect(run(&s, "SELECT impure(x) FROM other").reason == .writingFunction)
        }
        // Other suites may compile lists meanwhile, but not 600 routings' worth.
        #expect(PatternList.compilations.load(ordering: .relaxed) - before < 50)
        #expect(s.settings.primaryRoutingQueryPatterns == ["SELECT .* FROM critical.*", "SELECT .* FOR SHARE"])
    }
}

@Suite("dml_adaptive relationship list")
struct RelationshipListTests {
    @Test func parsesTablesAndFunctions() {
        let parsed = RoutingSettings.relationships(from: " Orders:order_totals, f1():audit ,broken")
        #expect(parsed == ["orders": ["order_totals"], "f1()": ["audit"]])
    }
}

@Suite("Routing with read_your_writes")
struct ReadYourWritesRoutingTests {
    @Test func readsGoOnlyToStandbysThatCaughtUpAndBothStatementsStillReachEveryone() {
        var settings = RoutingSettings()
        settings.statementLevelLoadBalance = true
        var session = RoutingSession(settings: settings, loadBalanceNode: 1)
        let nodes = RoutingNodes(primary: 0, readable: [1, 2], caughtUp: [2])
        let read = SQLClassifier.classify(query: "SELECT * FROM t")
        #expect(session.route(read, text: "SELECT * FROM t", nodes: nodes, facts: KnownFacts(), pick: { 1 }).decision == .primary)
        #expect(session.route(read, text: "SELECT * FROM t", nodes: nodes, facts: KnownFacts(), pick: { 1 }).reason == .standbyBehindSession)
        #expect(session.route(read, text: "SELECT * FROM t", nodes: nodes, facts: KnownFacts(), pick: { 2 }).decision == .node(2))
        let set = SQLClassifier.classify(query: "SET x = 1")
        #expect(session.route(set, text: "SET x = 1", nodes: nodes, facts: KnownFacts(), pick: { 1 }).decision == .nodes([0, 1, 2]))
    }
}

@Suite("SQL PREPARE under load balancing")
struct SQLPrepareRoutingTests {
    let nodes = RoutingNodes(primary: 0, readable: [1, 2, 3])

    func session() -> RoutingSession {
        var settings = RoutingSettings()
        settings.statementLevelLoadBalance = true
        return RoutingSession(settings: settings, loadBalanceNode: 2)
    }

    @discardableResult
    func run(_ session: inout RoutingSession, _ sql: String, pick: Int = 2, succeeded: Bool = true) -> RoutedQuery {
        let query = SQLClassifier.classify(query: sql)
        let routed = session.route(query, text: sql, nodes: nodes, facts: KnownFacts(), pick: { pick })
        session.completed(query, routed: routed, succeeded: succeeded, facts: KnownFacts())
        session.readyForQuery(.idle)
        return routed
    }

    @Test func aPreparedReadExistsWhereverItsExecuteMayRun() {
        var session = session()
        #expect(run(&session, "PREPARE q AS SELECT * FROM t").decision == .nodes([0, 1, 2, 3]))
        #expect(run(&session, "EXECUTE q", pick: 3).decision == .node(3))
        #expect(run(&session, "EXECUTE q", pick: 1).decision == .node(1))
        // Preparing the name again goes where it exists, so that it fails as on one server.
        #expect(run(&session, "PREPARE q AS SELECT 1", succeeded: false).decision == .nodes([0, 1, 2, 3]))
        #expect(run(&session, "EXECUTE q", pick: 2).decision == .node(2))
        #expect(run(&session, "DEALLOCATE q").decision == .nodes([0, 1, 2, 3]))
        #expect(run(&session, "EXECUTE q").decision == .primary, "gone: the primary says so")
    }

    @Test func aPreparedWriteLivesOnThePrimary() {
        var session = session()
        #expect(run(&session, "PREPARE w AS INSERT INTO t VALUES (1)").decision == .primary)
        #expect(run(&session, "EXECUTE w").decision == .primary)
        #expect(run(&session, "PREPARE w AS SELECT 1", succeeded: false).decision == .primary)
    }

    @Test func aFailedPrepareLeavesNoName() {
        var session = session()
        run(&session, "PREPARE q AS SELECT * FROM missing", succeeded: false)
        #expect(run(&session, "PREPARE q AS INSERT INTO t VALUES (1)").decision == .primary)
        #expect(run(&session, "EXECUTE q").decision == .primary)
    }
}

/// BEGIN and SET that reached the primary alone (a multi-statement query, an extended batch
/// sent there): no standby has them, so reads follow them to the primary.
@Suite("Routing after statements only the primary saw")
struct PrimaryOnlyStateTests {
    let nodes = RoutingNodes(primary: 0, readable: [1, 2])

    func session() -> RoutingSession { RoutingSession(settings: RoutingSettings(), loadBalanceNode: 2) }

    /// Routes `sql`, then reports it done where `ranOn` says (the batch's node), then the state.
    @discardableResult
    func run(_ session: inout RoutingSession, _ sql: String, ranOn: RouteDecision? = nil,
             then state: TransactionStatus = .idle) -> RoutedQuery {
        let query = SQLClassifier.classify(query: sql)
        var routed = session.route(query, text: sql, nodes: nodes, facts: KnownFacts(), pick: { 2 })
        if let ranOn { routed.decision = ranOn }
        session.completed(query, routed: routed, succeeded: true, facts: KnownFacts())
        session.readyForQuery(state)
        return routed
    }

    @Test func aTransactionBegunOnThePrimaryAloneKeepsItsReadsThere() {
        var s = session()
        // BEGIN in one batch with a read: the batch went to the primary.
        run(&s, "BEGIN", ranOn: .primary, then: .inTransaction)
        #expect(run(&s, "SELECT * FROM t", then: .inTransaction).reason == .transactionOnPrimary)
        run(&s, "COMMIT", then: .idle)
        #expect(run(&s, "SELECT * FROM t").decision == .node(2))
        // A BEGIN that reached both nodes leaves reads balanced.
        run(&s, "BEGIN", then: .inTransaction)
        #expect(run(&s, "SELECT * FROM t", then: .inTransaction).decision == .node(2))
        run(&s, "COMMIT")
    }

    @Test func aMultiStatementBeginKeepsTheTransactionOnThePrimaryEvenIfItEndsAtOnce() {
        var s = session()
        #expect(run(&s, "BEGIN; SELECT 1", then: .inTransaction).reason == .multiStatement)
        #expect(run(&s, "SELECT * FROM t", then: .inTransaction).decision == .primary)
        run(&s, "COMMIT")
        // Begun and ended within one query: nothing is left behind.
        run(&s, "BEGIN; SELECT 1; COMMIT")
        #expect(run(&s, "SELECT * FROM t").decision == .node(2))
    }

    @Test func aSetTheStandbysMissedKeepsTheSessionsReadsOnThePrimary() {
        var s = session()
        run(&s, "SET search_path TO app", ranOn: .primary)
        #expect(run(&s, "SELECT * FROM t").reason == .sessionStateOnPrimary)
        var other = session()
        run(&other, "SET search_path TO app")
        #expect(run(&other, "SELECT * FROM t").decision == .node(2))
    }
}
