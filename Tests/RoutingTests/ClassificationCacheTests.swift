import Routing
import Testing

/// Parse texts classified once and answered from the cache, within bounds.
@Suite("Classification cache")
struct ClassificationCacheTests {
    @Test func aTextSeenAgainIsAnsweredFromTheCacheAsClassified() {
        let cache = ClassificationCache(capacity: 8)
        let text = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
        let first = cache.classify(text)
        #expect(first == SQLClassifier.classify(query: text))
        #expect(cache.classify(text) == first)
        #expect(cache.hits == 1 && cache.misses == 1)
        // Another text is classified on its own, not confused with the first.
        let write = cache.classify("UPDATE t SET a = $1")
        #expect(write.statements.first?.destination == .primary)
        #expect(first.statements.first?.destination == .either)
        #expect(cache.misses == 2)
    }

    @Test func itKeepsAtMostItsCapacityAndTheRecentlyUsedTexts() {
        let cache = ClassificationCache(capacity: 4)
        for n in 0..<10 { _ = cache.classify("SELECT \(n)") }
        #expect(cache.count <= 4)
        #expect(cache.misses == 10)
        // The newest two are kept; the oldest went.
        _ = cache.classify("SELECT 9")
        _ = cache.classify("SELECT 8")
        #expect(cache.hits == 2)
        _ = cache.classify("SELECT 0")
        #expect(cache.misses == 11)
        // A text used again moves up and outlives texts that were not.
        let kept = ClassificationCache(capacity: 4)
        _ = kept.classify("SELECT 'a'")
        _ = kept.classify("SELECT 'b'")
        _ = kept.classify("SELECT 'c'")  // a and b become the previous generation
        _ = kept.classify("SELECT 'a'")  // a moves up
        _ = kept.classify("SELECT 'd'")  // c and a become the previous generation, b goes
        _ = kept.classify("SELECT 'a'")
        #expect(kept.hits == 2)
        _ = kept.classify("SELECT 'b'")
        #expect(kept.misses == 5)
    }

    /// "é" precomposed and as "e" with a combining accent are equal to Swift but not to
    /// PostgreSQL: each text gets its own classification (its byte ranges differ).
    @Test func canonicallyEquivalentTextsAreNotConfused() {
        let cache = ClassificationCache(capacity: 8)
        let composed = "SET search_path = sch\u{E9}ma, public"
        let decomposed = "SET search_path = sche\u{301}ma, public"
        #expect(composed == decomposed && composed.utf8.count != decomposed.utf8.count)
        _ = cache.classify(composed)
        #expect(cache.classify(decomposed) == SQLClassifier.classify(query: decomposed))
        #expect(cache.classify(decomposed).statements.first?.byteRange == 0..<decomposed.utf8.count)
        #expect(cache.classify(composed).statements.first?.byteRange == 0..<composed.utf8.count)
        // Equivalent and as long, but other bytes (combining marks in the other order): a miss.
        let ordered = ClassificationCache(capacity: 8)
        let one = "SET application_name = 'a\u{323}\u{301} and more text'"
        let other = "SET application_name = 'a\u{301}\u{323} and more text'"
        #expect(one == other && one.utf8.count == other.utf8.count)
        _ = ordered.classify(one)
        _ = ordered.classify(other)
        #expect(ordered.hits == 0 && ordered.misses == 2)
        _ = ordered.classify(other)
        #expect(ordered.hits == 1)
    }

    @Test func longTextsAreClassifiedEveryTimeAndNotKept() {
        let cache = ClassificationCache(capacity: 8)
        let long = "SELECT '" + String(repeating: "x", count: ClassificationCache.maxTextLength) + "'"
        #expect(cache.classify(long) == SQLClassifier.classify(query: long))
        _ = cache.classify(long)
        #expect(cache.hits == 0 && cache.misses == 2 && cache.count == 0)
    }
}

/// Simple queries answered by template: the same classification as classifying each text.
@Suite("Classification cache: query templates")
struct QueryTemplateCacheTests {
    /// Queries and, for each, texts of the same template with other literals (of other lengths).
    static let families: [[String]] = [
        ["SELECT abalance FROM pgbench_accounts WHERE aid = 5;",
         "SELECT abalance FROM pgbench_accounts WHERE aid = 123456;"],
        ["select * from t where name = 'bob' and n > 1.5e3", "select * from t where name = 'alexandra' and n > 7",
         "select * from t where name = E'x\\'y' and n > 0x1F"],
        ["UPDATE pgbench_accounts SET abalance = abalance + 4 WHERE aid = 77",
         "UPDATE pgbench_accounts SET abalance = abalance + 4000 WHERE aid = 7"],
        ["INSERT INTO h (a, b) VALUES (1, 'x'), (2, $$y$$) RETURNING id",
         "INSERT INTO h (a, b) VALUES (10, 'longer value'), (20, $$dollar quoted$$) RETURNING id"],
        ["BEGIN; SELECT * FROM s.t WHERE a = 1 FOR UPDATE; UPDATE s.t SET b = 'q' WHERE a = 1; COMMIT",
         "BEGIN; SELECT * FROM s.t WHERE a = 22222 FOR UPDATE; UPDATE s.t SET b = 'qqqqq' WHERE a = 3; COMMIT"],
        ["/* app */ SELECT pg_advisory_lock(42)", "-- x\nSELECT pg_advisory_lock(4200000)"],
        ["SELECT set_config('search_path', 'a', false)", "SELECT set_config('search_path', 'schema_b', false)"],
        ["WITH d AS (DELETE FROM q WHERE id < 10 RETURNING *) SELECT count(*) FROM d",
         "WITH d AS (DELETE FROM q WHERE id < 1000000 RETURNING *) SELECT count(*) FROM d"],
        ["SELECT 1 INTO TEMP x FROM t WHERE v = 'a'", "SELECT 2 INTO TEMP x FROM t WHERE v = 'bb'"],
        ["  SELECT 'é' FROM \"Tab\" WHERE \"Col\" = 3", "  SELECT 'ünïcödé' FROM \"Tab\" WHERE \"Col\" = 33"],
    ]

    @Test func textsOfOneTemplateClassifyAsOnTheirOwn() {
        let cache = ClassificationCache(capacity: 64)
        for family in Self.families {
            for text in family {
                #expect(cache.classify(query: text) == SQLClassifier.classify(query: text), "\(text)")
            }
        }
        // Every text after the first of its family was answered from its template.
        #expect(cache.templateMisses == Self.families.count)
        #expect(cache.templateHits == Self.families.reduce(0) { $0 + $1.count - 1 })
        // Kept templates are intact after the look-ups of others (which reuse one buffer).
        for family in Self.families.reversed() {
            for text in family { #expect(cache.classify(query: text) == SQLClassifier.classify(query: text)) }
        }
        #expect(cache.templateMisses == Self.families.count)
        // A second statement's byte range is the text's own.
        let long = cache.classify(query: "SELECT 1; SELECT 'a much longer literal'")
        let short = cache.classify(query: "SELECT 100; SELECT ''")
        #expect(long.statements.map(\.byteRange) == [0..<8, 10..<40])
        #expect(short.statements.map(\.byteRange) == [0..<10, 12..<21])
    }

    /// SET reads its value, two-phase commands their transaction's name: each text is classified.
    @Test func statementsThatReadALiteralAreClassifiedEachTime() {
        let cache = ClassificationCache(capacity: 64)
        for (first, second) in [("SET application_name = 'a'", "SET application_name = 'b'"),
                                ("COMMIT PREPARED 'one'", "COMMIT PREPARED 'two'"),
                                ("SELECT 1; SET TIME ZONE 'UTC'", "SELECT 1; SET TIME ZONE 'Europe/Paris'")] {
            _ = cache.classify(query: first)
            #expect(cache.classify(query: second) == SQLClassifier.classify(query: second))
        }
        #expect(cache.templateHits == 0 && cache.templateCount == 0)
        if case .set(let set) = cache.classify(query: "SET application_name = 'b'").statements.first?.kind {
            #expect(set.values == ["b"])
        } else {
            Issue.record("not a SET")
        }
    }

    /// Unterminated literals and comments are malformed (for the primary): never kept, and not
    /// taken for a well-formed text of the same tokens.
    @Test func malformedTextsAreNotConfusedWithWellFormedOnes() {
        let cache = ClassificationCache(capacity: 64)
        _ = cache.classify(query: "SELECT 1")
        let open = cache.classify(query: "SELECT 1 /* not closed")
        #expect(open.isMalformed && open == SQLClassifier.classify(query: "SELECT 1 /* not closed"))
        _ = cache.classify(query: "SELECT 'abc")
        #expect(cache.classify(query: "SELECT 'abcdef").isMalformed)
        #expect(cache.templateHits == 0)
        // Leading white space and comments are part of the template; the leading bytes are the text's.
        _ = cache.classify(query: "/* a */ SELECT 1")
        let dashed = cache.classify(query: "-- a\n SELECT 2")
        #expect(dashed == SQLClassifier.classify(query: "-- a\n SELECT 2"))
        #expect(dashed.firstByte == UInt8(ascii: "-") && cache.templateHits == 1)
    }

    @Test func templatesAreBoundedLikeTexts() {
        let cache = ClassificationCache(capacity: 4)
        for n in 0..<10 { _ = cache.classify(query: "SELECT c\(n) FROM t WHERE a = \(n)") }
        #expect(cache.templateCount <= 4 && cache.templateMisses == 10)
        _ = cache.classify(query: "SELECT c9 FROM t WHERE a = 12345")
        #expect(cache.templateHits == 1)
        let long = "SELECT '" + String(repeating: "x", count: ClassificationCache.maxTextLength) + "'"
        _ = cache.classify(query: long)
        _ = cache.classify(query: long)
        #expect(cache.templateMisses == 12 && cache.templateHits == 1)
    }
}
