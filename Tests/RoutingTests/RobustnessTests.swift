import Routing
import Testing

@Suite("Comments, literals, multi-statement and garbage")
struct RobustnessTests {
    @Test func keywordsInLiteralsCommentsAndQuotedIdentifiersDoNotConfuse() {
        #expect(destination("SELECT 'FOR UPDATE', \"for\", $$ INSERT INTO x $$ FROM t -- FOR UPDATE") == .either)
        #expect(destination("SELECT 1 /* FOR UPDATE */") == .either)
        #expect(destination("SELECT \"into\" FROM t") == .either)
        #expect(destination("SELECT E'\\' FOR UPDATE' FROM t") == .either)
        #expect(destination("SELECT * FROM t WHERE a = 'x'' FOR UPDATE'") == .either)
        #expect(destination("/* SELECT */ INSERT INTO t VALUES (1)") == .primary)
        #expect(destination("-- DELETE\nSELECT 1") == .either)
        #expect(destination("WITH x AS (SELECT 'DELETE FROM t') SELECT * FROM x") == .either)
    }

    /// Found by the sql fuzz target: an unclosed EXPLAIN option list made an invalid range and
    /// stopped the process.
    @Test func unclosedParenthesesAfterAKeywordAreStatementsLikeAnyOther() {
        for query in ["EXPLAIN ANALYZE(DELETE FROM t", "EXPLAIN (", "EXPLAIN (ANALYZE", "EXPLAIN (a, (b", "PREPARE p (",
                      "DECLARE c CURSOR FOR (", "COPY (SELECT 1", "COPY t (", "WITH x (a AS (SELECT", "WITH x AS ("] {
            let result = SQLClassifier.classify(query: query)
            #expect(result.statements.count == 1, "\(query)")
        }
        #expect(destination("EXPLAIN ANALYZE(DELETE FROM t") == .primary)
    }

    @Test func backslashQuoteDependsOnStandardConformingStrings() {
        // On: 'a\' ends at the second quote, so FOR UPDATE is real.
        let on = SQLClassifier.classify(query: #"SELECT 'a\' FROM t FOR UPDATE --'"#, standardConformingStrings: true)
        #expect(on.statements.first?.destination == .primary)
        // Off: the backslash escapes the quote and FOR UPDATE is inside the literal.
        let off = SQLClassifier.classify(query: #"SELECT 'a\' FOR UPDATE' FROM t"#, standardConformingStrings: false)
        #expect(off.statements.first?.destination == .either)
    }

    @Test func commentsBeforeAndInsideStatements() {
        let leading = SQLClassifier.classify(query: "/* app=1 */ SELECT 1")
        #expect(leading.hasLeadingComment)
        #expect(leading.statements[0].hasLeadingComment)
        #expect(leading.statements[0].destination == .either)
        #expect(!leading.startsLikeSelect(ignoringLeadingWhiteSpace: true))

        let inside = SQLClassifier.classify(query: "SELECT /* c */ 1 -- c")
        #expect(!inside.hasLeadingComment)
        #expect(inside.startsLikeSelect(ignoringLeadingWhiteSpace: true))

        let dashes = SQLClassifier.classify(query: "-- c\nSELECT 1")
        #expect(dashes.hasLeadingComment)
        #expect(!dashes.startsLikeSelect(ignoringLeadingWhiteSpace: true))
        #expect(SQLClassifier.classify(query: "/*NO LOAD BALANCE*/ SELECT 1").hasLeadingComment)
    }

    @Test func leadingCharacterTest() {
        let cases: [(String, Bool, Bool)] = [
            // query, with white space skipped, without
            ("SELECT 1", true, true),
            ("  select 1", true, false),
            ("(SELECT 1)", true, true),
            ("WITH x AS (SELECT 1) SELECT 1", true, true),
            ("TABLE t", true, true),
            ("VALUES (1)", false, false),
            ("", true, true),
            ("   ", true, false),
            (";", true, true),
            ("/* c */ SELECT 1", false, false),
            ("\n-- c\nSELECT 1", false, false),
        ]
        for (query, skipping, notSkipping) in cases {
            let result = SQLClassifier.classify(query: query)
            #expect(result.startsLikeSelect(ignoringLeadingWhiteSpace: true) == skipping, "\(query)")
            #expect(result.startsLikeSelect(ignoringLeadingWhiteSpace: false) == notSkipping, "\(query)")
        }
    }

    @Test func multiStatementQueries() {
        let result = SQLClassifier.classify(query: "BEGIN; DELETE FROM t; END")
        #expect(result.isMultiStatement)
        #expect(result.statements.map(\.destination) == [.both, .primary, .both])
        #expect(result.singleStatement == nil)
        let reads = SQLClassifier.classify(query: "SELECT 1; SELECT 2;")
        #expect(reads.isMultiStatement)
        #expect(reads.statements.map(\.byteRange) == [0..<8, 10..<18])
        #expect(!SQLClassifier.classify(query: "SELECT 1;;").isMultiStatement)
        #expect(!reads.isSingleStatement(of: .select))
        #expect(SQLClassifier.classify(query: "SELECT 1;;").isSingleStatement(of: .select))
        #expect(!SQLClassifier.classify(query: "DELETE FROM t").isSingleStatement(of: .select))
        #expect(!SQLClassifier.classify(query: "").isSingleStatement(of: .select))
    }

    @Test func emptyQueries() {
        for query in ["", " ", ";", " ; ;", "-- nothing", "/* nothing */ ;"] {
            let result = SQLClassifier.classify(query: query)
            #expect(result.isEmpty, "\(query)")
            #expect(!result.isMalformed, "\(query)")
            #expect(!result.isMultiStatement, "\(query)")
        }
    }

    @Test func unterminatedInputGoesToPrimary() {
        for query in ["SELECT 'abc", "SELECT \"abc", "SELECT $$abc", "SELECT 1 /* open", "SELECT E'\\'"] {
            let result = SQLClassifier.classify(query: query)
            #expect(result.isMalformed, "\(query)")
            #expect(result.statements.count == 1, "\(query)")
            #expect(result.statements.first?.destination == .primary, "\(query)")
            #expect(result.statements.first?.isSelectQuery == false, "\(query)")
        }
        let onlyComment = SQLClassifier.classify(query: "/* never closed")
        #expect(onlyComment.isEmpty && onlyComment.isMalformed)
    }

    @Test(arguments: [
        "FOO BAR", "42", "'just a string'", "(", ")", "((((", "$$", "SELEC 1", "* FROM t", "\"select\" 1",
        "@@@", "WITH", "WITH x", "WITH x AS", "WITH x AS (", "INSERT", "COPY", "COPY t", "COPY (SELECT 1)",
        "LOCK", "SET", "SET =", "SHOW", "EXPLAIN", "PREPARE", "DECLARE", "DECLARE c CURSOR", "CLOSE", "SAVEPOINT",
        "ROLLBACK TO", "RELEASE", "DEALLOCATE", "EXECUTE", "LISTEN", "NOTIFY", "UNLISTEN", "\u{0}", "ü", "{}",
    ])
    func garbageIsClassifiedForThePrimaryWithoutFailing(query: String) {
        let result = SQLClassifier.classify(query: query)
        for statement in result.statements where statement.kind != .select && statement.kind != .show(parameter: "") {
            #expect(statement.destination != .either, "\(query) → \(statement.kind)")
        }
    }

    @Test func queryEndsAtNulByte() {
        let bytes: [UInt8] = Array("SELECT 1\u{0}; DELETE FROM t".utf8)
        let result = bytes.withUnsafeBytes { SQLClassifier.classify(utf8: $0) }
        #expect(result.statements.count == 1)
        #expect(result.statements[0].destination == .either)
    }

    @Test func randomInputNeverCrashes() {
        var generator = SplitMix(seed: 0x5157_4F4F_4C)
        let alphabet = Array("selectfromwhere insertupdate'\"$;()-/*\\Ee&Uu01.:,\n é".utf8)
        for _ in 0..<2000 {
            let length = Int(generator.next() % 64)
            var bytes: [UInt8] = []
            for _ in 0..<length { bytes.append(alphabet[Int(generator.next() % UInt64(alphabet.count))]) }
            let query = String(decoding: bytes, as: UTF8.self)
            for scs in [true, false] {
                let result = SQLClassifier.classify(query: query, standardConformingStrings: scs)
                let tokens = SQLLexer.tokenize(query, standardConformingStrings: scs)
                var previousEnd = 0
                for token in tokens {
                    #expect(token.start >= previousEnd && token.end > token.start && token.end <= query.utf8.count)
                    previousEnd = token.end
                }
                for statement in result.statements {
                    #expect(statement.byteRange.upperBound <= query.utf8.count)
                }
            }
        }
    }
}

/// A small deterministic generator for the fuzz test.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
