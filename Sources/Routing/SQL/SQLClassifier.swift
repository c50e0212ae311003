/// Classifies query strings the way Pgpool-II 4.3 does in streaming-replication mode.
///
/// ```swift
/// let result = SQLClassifier.classify(query: "SELECT * FROM t FOR UPDATE")
/// result.singleStatement?.destination  // .primary
/// ```
///
/// Classification never fails: what it cannot make sense of is classified for the primary.
/// It lexes the query once, on its UTF-8 bytes, and allocates little beyond the result.
public enum SQLClassifier {
    /// Classifies `query`. `standardConformingStrings` is the session's setting of that
    /// parameter (with it off, a backslash escapes the next byte in plain `'…'` strings).
    public static func classify(query: String, standardConformingStrings: Bool = true) -> QueryClassification {
        var text = query
        return text.withUTF8 { bytes in
            classify(bytes: bytes, standardConformingStrings: standardConformingStrings)
        }
    }

    /// Classifies a query given as UTF-8 bytes (for example the text of a Query or Parse
    /// message). The query ends at the first NUL byte, if any.
    public static func classify(utf8: UnsafeRawBufferPointer, standardConformingStrings: Bool = true)
        -> QueryClassification
    {
        classify(bytes: utf8.assumingMemoryBound(to: UInt8.self), standardConformingStrings: standardConformingStrings)
    }

    static func classify(bytes input: UnsafeBufferPointer<UInt8>, standardConformingStrings: Bool)
        -> QueryClassification
    {
        let lexed = LexedQuery(bytes: input, standardConformingStrings: standardConformingStrings)
        return classify(lexed, standardConformingStrings: standardConformingStrings).classification
    }

    /// Classifies a lexed query; also returns where each statement's tokens are.
    static func classify(_ lexed: LexedQuery, standardConformingStrings: Bool)
        -> (classification: QueryClassification, spans: [StatementSpan])
    {
        let bytes = lexed.bytes
        let tokens = lexed.tokens
        let spans = StatementSpans.split(tokens: tokens, bytes: bytes, endedInsideComment: lexed.endedInsideComment)
        var statements: [StatementClassification] = []
        statements.reserveCapacity(spans.count)
        var malformed = lexed.endedInsideComment
        for span in spans {
            let classifier = StatementClassifier(
                view: TokenView(bytes: bytes, tokens: tokens, range: span.tokens),
                backslashEscapes: !standardConformingStrings)
            var statement = classifier.classify()
            statement.hasLeadingComment = span.hasLeadingComment
            if span.isUnterminated { statement.markMalformed() }
            malformed = malformed || statement.isMalformed
            statements.append(consume statement)
        }
        let classification = QueryClassification(
            statements: statements,
            isMalformed: malformed,
            firstByte: bytes.first,
            firstNonSpaceByte: bytes.first { !ASCII.isSpace($0) })
        return (classification, spans)
    }
}

/// A query's bytes (up to its first NUL, where PostgreSQL ends it) and their tokens.
struct LexedQuery {
    let bytes: UnsafeBufferPointer<UInt8>
    let tokens: [SQLToken]
    /// The input ended inside a `/* */` comment.
    let endedInsideComment: Bool

    /// Lexes `input` into `storage`, emptied first (a caller lexing many queries passes the
    /// array of the previous one back, so that its buffer is reused).
    init(bytes input: UnsafeBufferPointer<UInt8>, standardConformingStrings: Bool, reusing storage: consuming [SQLToken] = []) {
        bytes = RawBytes.firstNUL(in: input).map { UnsafeBufferPointer(rebasing: input[..<$0]) } ?? input
        var lexer = ByteLexer(bytes: bytes, standardConformingStrings: standardConformingStrings)
        var tokens = storage
        tokens.removeAll(keepingCapacity: true)
        lexer.appendTokens(to: &tokens)
        self.tokens = tokens
        endedInsideComment = lexer.endedInsideComment
    }
}

extension StatementClassification {
    /// Sends a statement PostgreSQL will reject to the primary, as Pgpool-II does with
    /// queries its parser cannot read.
    mutating func markMalformed() {
        isMalformed = true
        destination = .primary
        isSelectQuery = false
    }
}
