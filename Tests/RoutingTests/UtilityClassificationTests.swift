import Routing
import Testing

/// §1.3 rows for COPY, LOCK, EXPLAIN and the statements that always go to the primary.
@Suite("COPY, LOCK, EXPLAIN and other commands")
struct UtilityClassificationTests {
    @Test func copyFromGoesToPrimary() {
        for query in ["COPY t FROM STDIN", "COPY t (a, b) FROM STDIN WITH (FORMAT csv)", "COPY s.t FROM '/tmp/x'",
                      "COPY t FROM PROGRAM 'cat x'", "COPY BINARY t FROM STDIN"] {
            let c = classify(query)
            guard case .copy(let copy) = c.kind else {
                Issue.record("\(query) is \(c.kind)")
                continue
            }
            #expect(copy.direction == .from, "\(query)")
            #expect(c.destination == .primary, "\(query)")
            #expect(!c.isSelectQuery, "\(query)")
            #expect(c.writtenRelations.count == 1, "\(query)")
        }
    }

    @Test func copyTableToStdoutIsALoadBalanceableRead() {
        let c = classify("COPY t TO STDOUT")
        #expect(c.kind == .copy(CopyStatement(direction: .to, endpoint: .client)))
        #expect(c.destination == .either)
        #expect(c.isSelectQuery)
        #expect(names(c.relations) == ["t"])
        #expect(c.writtenRelations.isEmpty)
    }

    @Test func copySelectToStdoutIsALoadBalanceableRead() {
        let c = classify("COPY (SELECT a, nextval('s') FROM t WHERE b > 1) TO STDOUT WITH (FORMAT csv)")
        guard case .copy(let copy) = c.kind else {
            Issue.record("not a copy")
            return
        }
        #expect(copy.direction == .to)
        #expect(copy.query?.kind == .select)
        #expect(c.destination == .either)
        #expect(c.isSelectQuery)
        #expect(names(c.functionCalls) == ["nextval"])
        #expect(names(c.relations) == ["t"])
    }

    @Test func copyToAFileOrProgramIsEitherButNotASelectQuery() {
        for query in ["COPY t TO '/tmp/out.csv'", "COPY (SELECT 1) TO '/tmp/x'", "COPY t TO PROGRAM 'gzip > x'"] {
            let c = classify(query)
            #expect(c.destination == .either, "\(query)")
            #expect(!c.isSelectQuery, "\(query)")
        }
    }

    @Test func copyOfAWritingQueryGoesToPrimary() {
        for query in ["COPY (INSERT INTO t VALUES (1) RETURNING *) TO STDOUT",
                      "COPY (DELETE FROM t RETURNING *) TO STDOUT",
                      "COPY (SELECT * FROM t FOR UPDATE) TO STDOUT",
                      "COPY (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) TO STDOUT"] {
            let c = classify(query)
            #expect(c.destination == .primary, "\(query)")
            #expect(!c.isSelectQuery, "\(query)")
        }
    }

    @Test(arguments: [
        ("LOCK t", LockMode.accessExclusive),
        ("LOCK TABLE t IN ACCESS SHARE MODE", .accessShare),
        ("LOCK TABLE t IN ROW SHARE MODE", .rowShare),
        ("LOCK TABLE t IN ROW EXCLUSIVE MODE", .rowExclusive),
        ("LOCK TABLE t IN SHARE UPDATE EXCLUSIVE MODE", .shareUpdateExclusive),
        ("LOCK TABLE t IN SHARE MODE", .share),
        ("LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE", .shareRowExclusive),
        ("LOCK TABLE t IN EXCLUSIVE MODE", .exclusive),
        ("LOCK TABLE ONLY t, s.u * IN ACCESS EXCLUSIVE MODE NOWAIT", .accessExclusive),
        ("lock t in access share mode nowait", .accessShare),
    ])
    func lockModes(query: String, mode: LockMode) {
        let c = classify(query)
        #expect(c.kind == .lock(mode))
        #expect(c.destination == (mode >= .rowExclusive ? .primary : .both))
    }

    @Test func lockNamesItsTables() {
        #expect(names(classify("LOCK TABLE ONLY t, s.u * IN ACCESS SHARE MODE").relations) == ["t", "s.u"])
    }

    @Test func explainOfAReadGoesToPrimaryButIsASelectQuery() {
        // Pgpool-II's send_to_where has no EXPLAIN rule; is_select_query still counts it as a read.
        for query in ["EXPLAIN SELECT * FROM t", "EXPLAIN VERBOSE SELECT 1", "EXPLAIN (COSTS OFF, FORMAT JSON) SELECT 1",
                      "EXPLAIN INSERT INTO t VALUES (1)", "EXPLAIN ANALYZE SELECT * FROM t",
                      "EXPLAIN (ANALYZE, BUFFERS) SELECT 1", "EXPLAIN ANALYSE VERBOSE SELECT 1"] {
            let c = classify(query)
            #expect(c.destination == .primary, "\(query)")
            #expect(c.isSelectQuery, "\(query)")
        }
    }

    @Test func explainAnalyzeOfAWriteIsNotASelectQuery() {
        for query in ["EXPLAIN ANALYZE INSERT INTO t VALUES (1)", "EXPLAIN (ANALYZE) DELETE FROM t",
                      "EXPLAIN (FORMAT TEXT, ANALYZE true) UPDATE t SET a = 1", "explain analyze verbose merge into t using s on true when matched then delete"] {
            let c = classify(query)
            #expect(c.destination == .primary, "\(query)")
            #expect(!c.isSelectQuery, "\(query)")
            guard case .explain(let analyze, let inner) = c.kind else {
                Issue.record("\(query) is \(c.kind)")
                continue
            }
            #expect(analyze, "\(query)")
            #expect(inner.destination == .primary, "\(query)")
        }
    }

    @Test func explainKeepsTheInnerStatement() {
        let c = classify("EXPLAIN (ANALYZE false) SELECT f(x) FROM t")
        guard case .explain(let analyze, let inner) = c.kind else {
            Issue.record("not an explain")
            return
        }
        #expect(analyze)  // Pgpool-II only looks at the option's name.
        #expect(inner.kind == .select)
        #expect(names(c.functionCalls) == ["f"])
        #expect(names(c.relations) == ["t"])
        let plain = classify("EXPLAIN SELECT 1")
        #expect(plain.kind == .explain(analyze: false, statement: StatementClassification(
            kind: .select, destination: .either, isSelectQuery: true, byteRange: 8..<16)))
    }

    @Test(arguments: [
        ("LISTEN chan", StatementKind.listen(channel: "chan")),
        ("UNLISTEN chan", .unlisten(channel: "chan")),
        ("UNLISTEN *", .unlisten(channel: nil)),
        ("NOTIFY chan, 'payload'", .notify(channel: "chan")),
        ("VACUUM", .vacuum),
        ("VACUUM (VERBOSE, ANALYZE) t", .vacuum),
        ("ANALYZE t", .analyze),
        ("ANALYSE", .analyze),
        ("CHECKPOINT", .checkpoint),
        ("CALL my_proc(1, 2)", .call),
        ("DO $$BEGIN PERFORM 1; END$$", .doBlock),
        ("DO LANGUAGE plpgsql 'BEGIN NULL; END'", .doBlock),
        ("TRUNCATE t", .truncate),
        ("LOAD 'auto_explain'", .other(command: "load")),
        ("PGPOOL SHOW ALL", .pgpoolCommand),
        ("GRANT SELECT ON t TO bob", .ddl(DDLStatement(command: "grant"))),
        ("REVOKE ALL ON t FROM bob", .ddl(DDLStatement(command: "revoke"))),
        ("COMMENT ON TABLE t IS 'x'", .ddl(DDLStatement(command: "comment"))),
        ("REINDEX TABLE t", .ddl(DDLStatement(command: "reindex"))),
        ("CLUSTER t USING t_pkey", .ddl(DDLStatement(command: "cluster"))),
        ("REFRESH MATERIALIZED VIEW mv", .ddl(DDLStatement(command: "refresh"))),
        ("SECURITY LABEL ON TABLE t IS 'x'", .ddl(DDLStatement(command: "security label"))),
        ("IMPORT FOREIGN SCHEMA s FROM SERVER srv INTO public", .ddl(DDLStatement(command: "import foreign schema"))),
        ("REASSIGN OWNED BY a TO b", .ddl(DDLStatement(command: "reassign owned"))),
    ])
    func everythingElseGoesToPrimary(query: String, kind: StatementKind) {
        let c = classify(query)
        #expect(c.kind == kind)
        #expect(c.destination == .primary)
        #expect(!c.isSelectQuery)
    }

    @Test func callNamesTheProcedure() {
        #expect(names(classify("CALL s.my_proc(nextval('q'))").functionCalls) == ["s.my_proc", "nextval"])
    }

    @Test func truncateNamesWrittenTables() {
        let c = classify("TRUNCATE TABLE ONLY a, s.b * RESTART IDENTITY CASCADE")
        #expect(names(c.writtenRelations) == ["a", "s.b"])
    }

    @Test(arguments: [
        ("CREATE TABLE t (a int)", DDLStatement(command: "create", objectType: "table"), ["t"]),
        ("CREATE TEMP TABLE tmp1 (a int)", DDLStatement(command: "create", objectType: "table", isTemporary: true), ["tmp1"]),
        ("CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS tmp2 AS SELECT 1",
         DDLStatement(command: "create", objectType: "table", isTemporary: true), ["tmp2"]),
        ("CREATE GLOBAL TEMP TABLE g (a int)", DDLStatement(command: "create", objectType: "table", isTemporary: true), ["g"]),
        ("CREATE UNLOGGED TABLE u (a int)", DDLStatement(command: "create", objectType: "table", isUnlogged: true), ["u"]),
        ("CREATE OR REPLACE TEMP VIEW v AS SELECT 1", DDLStatement(command: "create", objectType: "view", isTemporary: true), ["v"]),
        ("CREATE MATERIALIZED VIEW s.mv AS SELECT 1", DDLStatement(command: "create", objectType: "materialized view"), ["s.mv"]),
        ("CREATE FOREIGN TABLE ft (a int) SERVER s", DDLStatement(command: "create", objectType: "foreign table"), ["ft"]),
        ("CREATE UNIQUE INDEX i ON t (a)", DDLStatement(command: "create", objectType: "index"), []),
        ("CREATE OR REPLACE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
         DDLStatement(command: "create", objectType: "function"), []),
        ("DROP TABLE IF EXISTS a, s.b CASCADE", DDLStatement(command: "drop", objectType: "table"), ["a", "s.b"]),
        ("DROP INDEX i", DDLStatement(command: "drop", objectType: "index"), []),
        ("ALTER TABLE IF EXISTS ONLY t ADD COLUMN b int", DDLStatement(command: "alter", objectType: "table"), ["t"]),
        ("ALTER SYSTEM SET work_mem = '1GB'", DDLStatement(command: "alter", objectType: "system"), []),
        ("ALTER SEQUENCE s RESTART", DDLStatement(command: "alter", objectType: "sequence"), ["s"]),
    ])
    func ddlGoesToPrimary(query: String, ddl: DDLStatement, tables: [String]) {
        let c = classify(query)
        #expect(c.kind == .ddl(ddl))
        #expect(c.destination == .primary)
        #expect(names(c.writtenRelations) == tables)
    }
}
