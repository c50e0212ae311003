import Routing
import Testing

/// §1.3 rows for SELECT, WITH and DML.
@Suite("SELECT, WITH and DML")
struct QueryClassificationTests {
    @Test(arguments: [
        "SELECT 1",
        "select * from t where a = 1",
        "(SELECT 1) UNION (SELECT 2)",
        "((select 1))",
        "VALUES (1), (2)",
        "TABLE t",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r",
        "WITH x AS MATERIALIZED (SELECT 1), y AS NOT MATERIALIZED (VALUES (2)) SELECT * FROM x, y",
        "SELECT now(), random()",
        "SELECT a FROM t ORDER BY a FOR READ ONLY",
        "SELECT substring(s FROM 1 FOR 2) FROM t",
    ])
    func plainReadsGoToEither(query: String) {
        let c = classify(query)
        #expect(c.kind == .select)
        #expect(c.destination == .either)
        #expect(c.isSelectQuery)
        #expect(!c.hasLockingClause && !c.hasSelectInto && !c.hasDataModifyingCTE)
    }

    @Test(arguments: [
        "SELECT * FROM t FOR UPDATE",
        "SELECT * FROM t FOR NO KEY UPDATE NOWAIT",
        "SELECT * FROM t FOR SHARE SKIP LOCKED",
        "SELECT * FROM t FOR KEY SHARE OF t",
        "select * from t for update of t",
        "SELECT * FROM (SELECT * FROM t FOR UPDATE) s",
        "SELECT * FROM a WHERE id IN (SELECT id FROM b FOR SHARE)",
        "WITH l AS (SELECT * FROM t FOR UPDATE) SELECT * FROM l",
        "VALUES (1) FOR UPDATE",
    ])
    func lockingClausesAnywhereGoToPrimary(query: String) {
        let c = classify(query)
        #expect(c.kind == .select)
        #expect(c.destination == .primary)
        #expect(c.hasLockingClause)
        #expect(!c.isSelectQuery)
    }

    @Test(arguments: [
        "SELECT * INTO new_t FROM t",
        "SELECT a INTO TEMP x FROM t",
        "SELECT a INTO UNLOGGED TABLE x FROM t",
        "select 1 into t2",
    ])
    func selectIntoGoesToPrimary(query: String) {
        let c = classify(query)
        #expect(c.kind == .select)
        #expect(c.destination == .primary)
        #expect(c.hasSelectInto)
        #expect(!c.isSelectQuery)
    }

    @Test func selectIntoTargetIsAWrittenRelation() {
        let c = classify("SELECT a INTO TEMPORARY TABLE s.x FROM t")
        #expect(names(c.writtenRelations) == ["s.x"])
        #expect(names(c.relations) == ["s.x", "t"])
    }

    @Test(arguments: [
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "WITH i AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM i",
        "WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM u",
        "WITH a AS (SELECT 1), m AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE) SELECT 1",
        "WITH x(a) AS ((DELETE FROM t RETURNING a)) SELECT * FROM x",
        "WITH outer_q AS (WITH inner_q AS (SELECT 1) INSERT INTO t SELECT * FROM inner_q RETURNING *) SELECT * FROM outer_q",
        "WITH RECURSIVE x AS (SELECT 1) SEARCH DEPTH FIRST BY a SET o, d AS (DELETE FROM t) SELECT 1",
    ])
    func dataModifyingCTEGoesToPrimary(query: String) {
        let c = classify(query)
        #expect(c.kind == .select)
        #expect(c.hasDataModifyingCTE)
        #expect(c.destination == .primary)
        #expect(!c.isSelectQuery)
    }

    @Test func readOnlyCTEIsNotDataModifying() {
        let c = classify("WITH x AS (SELECT update, delete FROM t) SELECT * FROM x")
        #expect(!c.hasDataModifyingCTE)
        #expect(c.destination == .either)
    }

    @Test(arguments: [
        ("INSERT INTO t VALUES (1)", StatementKind.insert),
        ("INSERT INTO t (a, b) SELECT a, b FROM s ON CONFLICT (a) DO UPDATE SET b = excluded.b RETURNING *", .insert),
        ("UPDATE t SET a = 1 WHERE b = 2", .update),
        ("UPDATE ONLY t SET a = s.a FROM s WHERE t.id = s.id", .update),
        ("DELETE FROM t WHERE a = 1", .delete),
        ("DELETE FROM ONLY t USING s WHERE t.id = s.id", .delete),
        ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = s.a WHEN NOT MATCHED THEN INSERT VALUES (s.id)", .merge),
        ("WITH s AS (SELECT 1 AS id) INSERT INTO t SELECT * FROM s", .insert),
        ("WITH s AS (SELECT 1) UPDATE t SET a = 2", .update),
        ("WITH s AS (SELECT 1) DELETE FROM t", .delete),
        ("(INSERT INTO t VALUES (1))", .insert),
    ])
    func dmlGoesToPrimary(query: String, kind: StatementKind) {
        let c = classify(query)
        #expect(c.kind == kind)
        #expect(c.destination == .primary)
        #expect(!c.isSelectQuery)
    }

    @Test func dmlTargetsAreWrittenRelations() {
        #expect(names(classify("INSERT INTO public.t (a) VALUES (1)").writtenRelations) == ["public.t"])
        #expect(names(classify("UPDATE ONLY t SET a = 1 FROM s").writtenRelations) == ["t"])
        #expect(names(classify("UPDATE ONLY t SET a = 1 FROM s").relations) == ["t", "s"])
        #expect(names(classify("DELETE FROM t USING s, u WHERE true").writtenRelations) == ["t"])
        #expect(names(classify("DELETE FROM t USING s, u WHERE true").relations) == ["t", "s", "u"])
        #expect(names(classify("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE").writtenRelations) == ["t"])
        #expect(names(classify("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE").relations) == ["t", "s"])
        #expect(names(classify("WITH d AS (DELETE FROM a) SELECT 1").writtenRelations) == ["a"])
        #expect(names(classify("WITH u AS (UPDATE a SET x = 1) SELECT 1").writtenRelations) == ["a"])
    }

    @Test func updateAsLockingClauseOrConflictActionIsNotATarget() {
        #expect(classify("SELECT * FROM t FOR UPDATE").writtenRelations.isEmpty)
        #expect(names(classify("INSERT INTO t VALUES (1) ON CONFLICT DO UPDATE SET a = 1").writtenRelations) == ["t"])
    }
}
