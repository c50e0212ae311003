import Routing
import Testing

/// §1.3 rows for PREPARE, EXECUTE, DEALLOCATE, and the cursor statements.
@Suite("Prepared statements and cursors")
struct PreparedAndCursorTests {
    @Test func prepareIsClassifiedByItsInnerStatement() {
        let read = classify("PREPARE q(int) AS SELECT * FROM t WHERE a = $1")
        guard case .prepare(let name, let inner) = read.kind else {
            Issue.record("not a prepare")
            return
        }
        #expect(name == "q")
        #expect(inner.kind == .select)
        #expect(read.destination == .either)
        #expect(!read.isSelectQuery)  // Pgpool-II's is_select_query is false for PREPARE.
        #expect(names(read.relations) == ["t"])

        #expect(classify("PREPARE w AS INSERT INTO t VALUES ($1)").destination == .primary)
        #expect(classify("PREPARE l AS SELECT * FROM t FOR UPDATE").destination == .primary)
        #expect(classify("PREPARE l AS SELECT * FROM t FOR UPDATE").hasLockingClause)
        #expect(classify("PREPARE \"Q\" AS VALUES (1)").kind == .prepare(
            name: "Q", statement: StatementClassification(kind: .select, destination: .either, isSelectQuery: true, byteRange: 15..<25)))
    }

    @Test func prepareWithoutAsIsNotUnderstood() {
        #expect(classify("PREPARE q SELECT 1").kind == .unknown)
        #expect(classify("PREPARE q SELECT 1").destination == .primary)
    }

    @Test func executeFollowsThePreparedStatement() {
        let c = classify("EXECUTE q(1, 'x')")
        #expect(c.kind == .execute(name: "q"))
        #expect(c.destination == .primary)
        #expect(c.preparedStatementName == "q")
        #expect(c.functionCalls.isEmpty)
        #expect(names(classify("EXECUTE q(nextval('s'))").functionCalls) == ["nextval"])
    }

    @Test func deallocate() {
        #expect(classify("DEALLOCATE q").kind == .deallocate(name: "q"))
        #expect(classify("DEALLOCATE PREPARE q").kind == .deallocate(name: "q"))
        #expect(classify("DEALLOCATE PREPARE q").preparedStatementName == "q")
        #expect(classify("DEALLOCATE ALL").kind == .deallocate(name: nil))
        #expect(classify("DEALLOCATE PREPARE ALL").kind == .deallocate(name: nil))
        #expect(classify("DEALLOCATE prepare").kind == .deallocate(name: "prepare"))
        #expect(classify("DEALLOCATE q").destination == .both)
        #expect(classify("DEALLOCATE ALL").destination == .both)
    }

    @Test func declareKeepsItsQuery() {
        let c = classify("DECLARE c1 BINARY INSENSITIVE NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM t")
        guard case .declareCursor(let name, let inner) = c.kind else {
            Issue.record("not a declare")
            return
        }
        #expect(name == "c1")
        #expect(inner.kind == .select && inner.destination == .either)
        #expect(c.destination == .primary)
        #expect(!c.isSelectQuery)
        #expect(names(c.relations) == ["t"])

        let locking = classify("DECLARE c2 CURSOR FOR SELECT * FROM t FOR UPDATE")
        #expect(locking.hasLockingClause)
        guard case .declareCursor(_, let lockingInner) = locking.kind else { return }
        #expect(lockingInner.destination == .primary)
    }

    @Test(arguments: [
        ("FETCH c", StatementKind.fetch(cursor: "c")),
        ("FETCH NEXT FROM c", .fetch(cursor: "c")),
        ("FETCH FORWARD 10 IN c", .fetch(cursor: "c")),
        ("FETCH ABSOLUTE -1 FROM \"My Cursor\"", .fetch(cursor: "My Cursor")),
        ("fetch all from C", .fetch(cursor: "c")),
        ("FETCH BACKWARD ALL c", .fetch(cursor: "c")),
        ("MOVE c", .move(cursor: "c")),
        ("MOVE FORWARD 5 IN c", .move(cursor: "c")),
        ("MOVE LAST FROM c", .move(cursor: "c")),
        ("CLOSE c", .close(cursor: "c")),
        ("CLOSE ALL", .close(cursor: nil)),
        ("CLOSE \"all\"", .close(cursor: "all")),
    ])
    func cursorCommandsNameTheirCursor(query: String, kind: StatementKind) {
        let c = classify(query)
        #expect(c.kind == kind)
        #expect(c.destination == .primary)
        if case .close(nil) = kind {
            #expect(c.cursorName == nil)
        } else {
            #expect(c.cursorName != nil)
        }
    }

    @Test func fetchWithoutCursorIsNotUnderstood() {
        #expect(classify("FETCH").kind == .unknown)
        #expect(classify("FETCH 5").kind == .unknown)
    }
}
