import Routing
import Testing

@Suite("Statement splitting")
struct StatementSplitterTests {
    func split(_ query: String, standardConformingStrings: Bool = true) -> [SQLStatement] {
        SQLStatementSplitter.split(query, standardConformingStrings: standardConformingStrings)
    }

    @Test func splitsAtTopLevelSemicolons() {
        let statements = split("SELECT 1; SELECT 2 ;SELECT 3")
        #expect(statements.map(\.text) == ["SELECT 1", "SELECT 2", "SELECT 3"])
        #expect(statements.map(\.byteRange) == [0..<8, 10..<18, 20..<28])
    }

    @Test func emptyStatementsAreDropped() {
        #expect(split(";;SELECT 1;;; ;").map(\.text) == ["SELECT 1"])
        #expect(split("").isEmpty)
        #expect(split(" ; ; -- nothing\n /* here */").isEmpty)
    }

    @Test func semicolonsInsideLiteralsCommentsAndIdentifiersDoNotSplit() {
        let query = """
            SELECT ';', $$;$$, $t$ ; $t$, "a;b", E'\\';' -- ;
            /* ; */ FROM t
            """
        #expect(split(query).count == 1)
        #expect(split(#"SELECT 'a\'; SELECT 2'"#, standardConformingStrings: false).count == 1)
        #expect(split(#"SELECT 'a\'; SELECT 2"#).count == 2)
    }

    @Test func semicolonsInsideParenthesesDoNotSplit() {
        let rule = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)); SELECT 1"
        #expect(split(rule).count == 2)
    }

    @Test func beginAtomicBodiesStayWhole() {
        let query = """
            CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC
              SELECT CASE WHEN true THEN 1 ELSE 2 END; SELECT 2;
            END; SELECT 3
            """
        let statements = split(query)
        #expect(statements.count == 2)
        #expect(statements.last?.text == "SELECT 3")
        // A plain BEGIN is a statement of its own, and so are words that only look like a body.
        #expect(split("BEGIN; SELECT 1; END").count == 3)
        #expect(split("CREATE VIEW v AS SELECT begin atomic FROM t; SELECT 2").count == 2)
        #expect(split("CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END; CALL p()").count == 2)
    }

    @Test func keywordsAreLowerCasedUnquotedWords() {
        let statement = split(#"SeLeCt "Quoted", 'lit', x FROM My_Table -- Cmt"#)[0]
        #expect(statement.keywords == ["select", "x", "from", "my_table"])
    }

    @Test func leadingComments() {
        let statements = split("/* hint */ SELECT 1; -- c\nSELECT 2; SELECT /* inner */ 3; /* a */ ; SELECT 4")
        #expect(statements.map(\.hasLeadingComment) == [true, true, false, true])
    }

    @Test func unterminatedInputEndsTheLastStatement() {
        let statements = split("SELECT 1; SELECT 'open; SELECT 3")
        #expect(statements.count == 2)
        #expect(statements.map(\.isUnterminated) == [false, true])
        #expect(split("SELECT 1 /* open").first?.isUnterminated == true)
    }

    @Test func unbalancedClosingParenthesisDoesNotSwallowSemicolons() {
        #expect(split("SELECT 1); SELECT 2").count == 2)
    }
}
