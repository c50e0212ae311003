/// One statement of a query string, as the splitter found it.
public struct SQLStatement: Sendable, Hashable {
    /// The statement's text, from its first token to its last (no leading comment, no `;`).
    public var text: String
    /// The statement's UTF-8 byte range in the query string.
    public var byteRange: Range<Int>
    /// The statement's tokens; their offsets are relative to the whole query string.
    public var tokens: [SQLToken]
    /// The statement's unquoted words in order, in lower case, as the parser sees keywords and
    /// plain names. Quoted identifiers, literals and comments are not words.
    public var keywords: [String]
    /// Whether a comment came before the statement's first token (after the previous statement).
    /// Pgpool-II's `allow_sql_comments=off` refuses to load-balance such a query.
    public var hasLeadingComment: Bool
    /// Whether a literal, quoted identifier or comment of the statement is not closed.
    public var isUnterminated: Bool
}

/// Splits a query string into statements at top-level semicolons.
///
/// A semicolon inside parentheses (as in `CREATE RULE … DO (…; …)`) or inside the
/// `BEGIN ATOMIC … END` body of `CREATE FUNCTION`/`CREATE PROCEDURE` does not end a statement
/// (`CASE … END` is counted inside such a body).
/// Empty statements (`;;`, or only comments) are dropped.
public enum SQLStatementSplitter {
    /// The statements of `query`.
    public static func split(_ query: String, standardConformingStrings: Bool = true) -> [SQLStatement] {
        var text = query
        return text.withUTF8 { bytes in
            var lexer = ByteLexer(bytes: bytes, standardConformingStrings: standardConformingStrings)
            let tokens = lexer.allTokens()
            let spans = StatementSpans.split(
                tokens: tokens, bytes: bytes, endedInsideComment: lexer.endedInsideComment)
            return spans.map { span in
                let view = TokenView(bytes: bytes, tokens: tokens, range: span.tokens)
                let first = tokens[span.tokens.lowerBound]
                let last = tokens[span.tokens.upperBound - 1]
                let range = first.start..<last.end
                var keywords: [String] = []
                for i in span.tokens where tokens[i].kind == .identifier {
                    keywords.append(view.lowercased(tokens[i].range))
                }
                return SQLStatement(
                    text: String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self),
                    byteRange: range,
                    tokens: Array(tokens[span.tokens]),
                    keywords: keywords,
                    hasLeadingComment: span.hasLeadingComment,
                    isUnterminated: span.isUnterminated)
            }
        }
    }
}

/// Where one statement's tokens are in the query's token array.
struct StatementSpan: Equatable {
    var tokens: Range<Int>
    var hasLeadingComment: Bool
    var isUnterminated: Bool
}

/// The splitting behind ``SQLStatementSplitter``, on an existing token array.
enum StatementSpans {
    static func split(
        tokens: [SQLToken], bytes: UnsafeBufferPointer<UInt8>, endedInsideComment: Bool
    ) -> [StatementSpan] {
        var spans: [StatementSpan] = []
        let view = TokenView(bytes: bytes, tokens: tokens, range: 0..<tokens.count)
        var start = 0
        var parenDepth = 0
        var atomicDepth = 0
        var pendingComment = false
        var unterminated = false
        var routineSeen = false

        func close(at end: Int) {
            if end > start {
                let leading = pendingComment || tokens[start].isPrecededByComment
                spans.append(
                    StatementSpan(tokens: start..<end, hasLeadingComment: leading, isUnterminated: unterminated))
                pendingComment = false
            } else if end < tokens.count {
                // An empty statement: its comments still lead the next one.
                pendingComment = pendingComment || tokens[end].isPrecededByComment
            }
            unterminated = false
            routineSeen = false
            parenDepth = 0
            atomicDepth = 0
        }

        var i = 0
        while i < tokens.count {
            let token = tokens[i]
            if token.isUnterminated { unterminated = true }
            switch token.kind {
            case .semicolon:
                if parenDepth == 0, atomicDepth == 0 {
                    close(at: i)
                    start = i + 1
                }
            case .leftParen:
                parenDepth += 1
            case .rightParen:
                if parenDepth > 0 { parenDepth -= 1 }
            case .identifier:
                if atomicDepth > 0 {
                    if view.isWord(i, "case") || (view.isWord(i, "begin") && view.isWord(i + 1, "atomic")) {
                        atomicDepth += 1
                    } else if view.isWord(i, "end") {
                        atomicDepth -= 1
                    }
                } else if view.isWord(i, "function") || view.isWord(i, "procedure") {
                    routineSeen = view.isWord(start, "create")
                } else if routineSeen, view.isWord(i, "begin"), view.isWord(i + 1, "atomic") {
                    atomicDepth = 1
                }
            default:
                break
            }
            i += 1
        }
        if endedInsideComment { unterminated = true }
        close(at: tokens.count)
        return spans
    }
}
