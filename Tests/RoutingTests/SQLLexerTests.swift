import Routing
import Testing

@Suite("SQL lexer")
struct SQLLexerTests {
    @Test func wordsNumbersAndPunctuation() {
        #expect(
            kinds("SELECT a.b, 42, 1.5e3, .5 FROM t[1:2];") == [
                .identifier, .identifier, .dot, .identifier, .comma, .number, .comma, .number, .comma, .number,
                .identifier, .identifier, .leftBracket, .number, .colon, .number, .rightBracket, .semicolon,
            ])
        #expect(texts("x::int4 := y") == ["x", "::", "int4", ":=", "y"])
        #expect(kinds("x::int4") == [.identifier, .typeCast, .identifier])
    }

    @Test func numberForms() {
        #expect(texts("0x1F 0o17 0b101 1_000_000 1.5 1e-3 2E+4 .25 1..2") == [
            "0x1F", "0o17", "0b101", "1_000_000", "1.5", "1e-3", "2E+4", ".25", "1", "..", "2",
        ])
        #expect(kinds("1e") == [.number, .identifier])
    }

    @Test func operators() {
        #expect(texts("a<>b >= c != d || e @> f") == ["a", "<>", "b", ">=", "c", "!=", "d", "||", "e", "@>", "f"])
        #expect(kinds("a + -1") == [.identifier, .operator, .operator, .number])
    }

    @Test func operatorStopsBeforeComment() {
        #expect(texts("a +-- comment\n b") == ["a", "+", "b"])
        #expect(texts("a */* c */ b") == ["a", "*", "b"])
    }

    @Test func identifiersMayContainDollarsAndNonASCII() {
        #expect(lexed("a$b $1 café ÿx _x1").map(\.0) == [.identifier, .parameter, .identifier, .identifier, .identifier])
        #expect(texts("a$b café") == ["a$b", "café"])
        #expect(texts("foo$$bar$$") == ["foo$$bar$$"])
    }

    @Test func lineComments() {
        let tokens = SQLLexer.tokenize("SELECT -- one\n1 --two\r2 -- at end")
        #expect(tokens.map(\.kind) == [.identifier, .number, .number])
        #expect(tokens[1].isPrecededByComment)
        #expect(tokens[2].isPrecededByComment)
        #expect(!tokens[0].isPrecededByComment)
    }

    @Test func nestedBlockComments() {
        #expect(texts("SELECT /* a /* b */ still comment */ 1") == ["SELECT", "1"])
        #expect(texts("/**/1/***/2") == ["1", "2"])
        #expect(texts("/* -- not a line comment */ x") == ["x"])
    }

    @Test func unterminatedBlockCommentEndsInput() {
        #expect(texts("SELECT 1 /* open /* nested */ never closed") == ["SELECT", "1"])
        #expect(texts("/* only").isEmpty)
    }

    @Test func commentAndWhitespaceFlags() {
        let tokens = SQLLexer.tokenize("/*c*/SELECT  1,2")
        #expect(tokens[0].flags == [.precededByComment])
        #expect(tokens[1].flags == [.precededByWhitespace])
        #expect(tokens[2].flags == [])
    }

    @Test func singleQuotedStrings() {
        #expect(lexed("'it''s' 'a' 'b'") .map(\.1) == ["'it''s'", "'a'", "'b'"])
        #expect(kinds("'select'") == [.string])
        #expect(texts("'a -- b' c") == ["'a -- b'", "c"])
        #expect(texts("'/* x' y") == ["'/* x'", "y"])
        #expect(texts("';' z") == ["';'", "z"])
    }

    @Test func backslashInPlainStringsFollowsStandardConformingStrings() {
        // With standard_conforming_strings on, the backslash is literal and the quote ends the string.
        #expect(texts(#"'a\' OR x"#) == [#"'a\'"#, "OR", "x"])
        // Off: the backslash escapes the quote, so the string goes on.
        let off = SQLLexer.tokenize(#"'a\' OR x'"#, standardConformingStrings: false)
        #expect(off.count == 1)
        #expect(off[0].kind == .string)
        #expect(!off[0].isUnterminated)
        #expect(texts(#"'a\\' b"#, standardConformingStrings: false) == [#"'a\\'"#, "b"])
    }

    @Test func escapeStrings() {
        #expect(texts(#"E'it\'s' x"#) == [#"E'it\'s'"#, "x"])
        #expect(texts(#"e'a\\' b"#) == [#"e'a\\'"#, "b"])
        #expect(texts(#"E'a''b' c"#) == [#"E'a''b'"#, "c"])
        #expect(kinds(#"E'\''"#) == [.string])
    }

    @Test func prefixedStrings() {
        #expect(lexed("B'101' X'1F' N'abc' U&'d\\0061t' u&'x'").map(\.0) == [.string, .string, .string, .string, .string])
        #expect(texts(#"U&'a\' b"#) == [#"U&'a\'"#, "b"])
        #expect(texts(#"N'a\' b'"#, standardConformingStrings: false) == [#"N'a\' b'"#])
        // A prefix letter that is part of a longer word is not a prefix.
        #expect(texts("be'x'") == ["be", "'x'"])
    }

    @Test func quotedIdentifiers() {
        #expect(lexed(#""My ""Table"" ; -- x" y"#).map(\.0) == [.quotedIdentifier, .identifier])
        #expect(texts(#"U&"d\0061t" u&"x""#) == [#"U&"d\0061t""#, #"u&"x""#])
        #expect(kinds(#"U&"x""#) == [.quotedIdentifier])
        #expect(kinds("U & 1") == [.identifier, .operator, .number])
    }

    @Test func dollarQuoting() {
        #expect(texts("$$it's; -- $$ x") == ["$$it's; -- $$", "x"])
        #expect(texts("$fn$ a $$ b $fn$ y") == ["$fn$ a $$ b $fn$", "y"])
        #expect(texts("$a$ $b$ $a$") == ["$a$ $b$ $a$"])
        #expect(kinds("$1 $23") == [.parameter, .parameter])
        #expect(texts("$1$2") == ["$1", "$2"])
        #expect(kinds("$_x9$ body $_x9$") == [.dollarString])
    }

    @Test func dollarTagMustNotStartWithDigitAndLoneDollarIsOther() {
        #expect(kinds("$ x") == [.other, .identifier])
        #expect(kinds("$abc x") == [.other, .identifier, .identifier])
    }

    @Test func unterminatedLiteralsRunToTheEnd() {
        for query in ["'abc", "E'abc\\'", "\"abc", "$$abc", "$q$abc$q", "U&'x", "B'10"] {
            let tokens = SQLLexer.tokenize(query)
            #expect(tokens.count == 1, "\(query)")
            #expect(tokens.first?.isUnterminated == true, "\(query)")
            #expect(tokens.first?.end == query.utf8.count, "\(query)")
        }
    }

    @Test func offsetsAreUTF8Bytes() {
        let query = "SELECT 'é', x"
        let tokens = SQLLexer.tokenize(query)
        #expect(tokens.map(\.range) == [0..<6, 7..<11, 11..<12, 13..<14])
    }

    @Test func emptyAndWhitespaceOnly() {
        #expect(SQLLexer.tokenize("").isEmpty)
        #expect(SQLLexer.tokenize(" \t\r\n\u{0B}\u{0C}").isEmpty)
        #expect(SQLLexer.tokenize("-- only a comment").isEmpty)
    }

    @Test func strayBytesAreOtherTokens() {
        #expect(kinds("{ } \\") == [.other, .other, .other])
    }
}
