import Routing
import Testing

@Suite("Function and relation names")
struct NameCollectionTests {
    @Test func functionCalls() {
        let c = classify("SELECT nextval('s'), public.f2(x), \"MixedCase\"(1), NextVal('t'), lower(name) FROM t")
        #expect(names(c.functionCalls) == ["nextval", "public.f2", "MixedCase", "lower"])
        #expect(c.functionCalls[1].schema == "public")
        #expect(c.functionCalls[1].name == "f2")
    }

    @Test func callsInsideExpressionsAndClauses() {
        let c = classify("""
            SELECT DISTINCT ON (a) f1(a), CASE WHEN f2(b) THEN f3() ELSE -f4() END
            FROM t WHERE x = ANY (f5()) AND NOT f6() OR y IN (SELECT f7())
            GROUP BY f8(c) HAVING count(*) > 1 ORDER BY f9(d) LIMIT f10()
            """)
        #expect(names(c.functionCalls) == ["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "count", "f9", "f10"])
    }

    @Test func syntaxThatLooksLikeACallIsNot() {
        let c = classify("""
            SELECT CAST(a AS numeric(10, 2)), b::varchar(20), COALESCE(c, 0), NULLIF(d, 0), GREATEST(1, 2),
                   ROW(1, 2), ARRAY(SELECT 1), EXISTS (SELECT 1), e IN (1, 2), sum(x) FILTER (WHERE x > 0),
                   rank() OVER (PARTITION BY y ORDER BY z), percentile_cont(0.5) WITHIN GROUP (ORDER BY w)
            FROM t
            """)
        #expect(names(c.functionCalls) == ["sum", "rank", "percentile_cont"])
    }

    @Test func aliasesWithColumnListsAreNotCalls() {
        let c = classify("SELECT * FROM generate_series(1, 3) g(i), t AS x(a, b), u y(c) JOIN unnest(arr) WITH ORDINALITY AS z(e, n) ON true")
        #expect(names(c.functionCalls) == ["generate_series", "unnest"])
        #expect(names(c.relations) == ["t", "u"])
    }

    @Test func cteColumnListsAreNotCalls() {
        let c = classify("WITH a(x) AS (SELECT 1), b(y) AS (SELECT f(2)) SELECT * FROM a, b")
        #expect(names(c.functionCalls) == ["f"])
    }

    @Test func insertColumnListIsNotACall() {
        let c = classify("INSERT INTO s.t (a, b) VALUES (nextval('q'), now())")
        #expect(names(c.functionCalls) == ["nextval", "now"])
        #expect(names(c.relations) == ["s.t"])
    }

    @Test func relationsInFromAndJoins() {
        let c = classify("""
            SELECT * FROM a, ONLY s.b AS bb, "Quoted Table" q
            LEFT JOIN c ON c.id = a.id
            CROSS JOIN LATERAL (SELECT * FROM d WHERE d.x = a.x) sub
            JOIN (e JOIN f USING (id)) ON true, g
            WHERE EXISTS (SELECT 1 FROM h) AND a.v IS DISTINCT FROM b.v
            """)
        #expect(names(c.relations) == ["a", "s.b", "Quoted Table", "c", "d", "e", "f", "g", "h"])
    }

    @Test func valuesListsInFromAreNotRelations() {
        let c = classify("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(n, s), t")
        #expect(names(c.relations) == ["t"])
        #expect(c.functionCalls.isEmpty)
    }

    @Test func fromInsideFunctionSyntaxIsNotARelation() {
        let c = classify("SELECT EXTRACT(year FROM ts), substring(s FROM 2 FOR 3), trim(both 'x' FROM y) FROM t")
        #expect(names(c.relations) == ["t"])
        #expect(names(c.functionCalls) == ["extract", "substring", "trim"])
    }

    @Test func catalogAndTableShorthand() {
        #expect(names(classify("SELECT * FROM pg_catalog.pg_class").relations) == ["pg_catalog.pg_class"])
        #expect(names(classify("TABLE pg_stat_activity").relations) == ["pg_stat_activity"])
        #expect(names(classify("SELECT relname FROM pg_class WHERE relname = 'pg_namespace'").relations) == ["pg_class"])
    }

    @Test func namesInsideLiteralsAndCommentsAreIgnored() {
        let c = classify("SELECT 'nextval(1)', $$ FROM x $$ /* FROM y f() */ FROM t -- JOIN z g()")
        #expect(c.functionCalls.isEmpty)
        #expect(names(c.relations) == ["t"])
    }

    @Test func repeatsAreListedOnce() {
        let c = classify("SELECT f(1), f(2), F(3) FROM t JOIN t ON true")
        #expect(names(c.functionCalls) == ["f"])
        #expect(names(c.relations) == ["t"])
    }

    @Test func quotedNames() {
        let name = classify(#"SELECT * FROM "My ""S"""."T""#).relations[0]
        #expect(name.parts == [#"My "S""#, "T"])
        #expect(name.quotedSQL == #""My ""S"""."T""#)
        #expect(QualifiedName(dotted: "public.t").parts == ["public", "t"])
    }

    @Test func namesKeepTheirQualifiersApart() {
        let three = QualifiedName(["db", "s", "f"])
        #expect(three.name == "f" && three.qualifiers == ["db", "s"] && three.schema == "s")
        #expect(three.parts == ["db", "s", "f"] && three.description == "db.s.f")
        let plain = QualifiedName(name: "t")
        #expect(plain.parts == ["t"] && plain.schema == nil && plain.description == "t")
        #expect(QualifiedName(dotted: "s.t") == QualifiedName(name: "t", qualifiers: ["s"]))
        #expect(QualifiedName(dotted: "s.t") != QualifiedName(dotted: "t"))
        #expect(Set([QualifiedName(dotted: "s.t"), QualifiedName(["s", "t"])]).count == 1)
        let call = classify("SELECT s.f(1), pg_catalog.now() FROM a.b.c")
        #expect(call.functionCalls == [QualifiedName(dotted: "s.f"), QualifiedName(dotted: "pg_catalog.now")])
        #expect(call.relations == [QualifiedName(["a", "b", "c"])])
    }
}
