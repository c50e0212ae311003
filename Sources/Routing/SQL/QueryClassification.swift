/// The classification of a whole query string (one simple Query or one Parse message).
public struct QueryClassification: Sendable, Hashable {
    /// The non-empty statements, in order.
    public var statements: [StatementClassification]
    /// A literal, quoted identifier or comment is not closed somewhere in the query: PostgreSQL
    /// rejects it (Pgpool-II's parser fails and sends it to the primary).
    public var isMalformed: Bool
    /// The first byte of the query, or nil when it is empty.
    public var firstByte: UInt8?
    /// The first byte after leading white space, or nil when there is none.
    public var firstNonSpaceByte: UInt8?

    /// Creates a classification.
    public init(
        statements: [StatementClassification], isMalformed: Bool, firstByte: UInt8?, firstNonSpaceByte: UInt8?
    ) {
        self.statements = statements
        self.isMalformed = isMalformed
        self.firstByte = firstByte
        self.firstNonSpaceByte = firstNonSpaceByte
    }

    /// More than one statement: Pgpool-II sends the whole query to the primary.
    public var isMultiStatement: Bool { statements.count > 1 }

    /// No statement at all (empty, only `;` or comments). Pgpool-II treats such a query as a
    /// read `SELECT` unless it is malformed.
    public var isEmpty: Bool { statements.isEmpty }

    /// Whether the query is one statement of kind `kind`. Reads the one field: `singleStatement`
    /// hands out a copy of the statement, which retains every name list it holds.
    public func isSingleStatement(of kind: StatementKind) -> Bool {
        statements.count == 1 && statements[0].kind == kind
    }

    /// The statement of a single-statement query.
    public var singleStatement: StatementClassification? {
        statements.count == 1 ? statements[0] : nil
    }

    /// Whether a comment comes before the first statement.
    public var hasLeadingComment: Bool {
        if let first = statements.first { return first.hasLeadingComment }
        return firstNonSpaceByte == ASCII.slash || firstNonSpaceByte == ASCII.minus
    }

    /// Pgpool-II's leading-character test for a `SELECT` when `allow_sql_comments` is off: the
    /// query must start with `s S ( w W t T ;` or be empty. Leading white space is skipped when
    /// `ignore_leading_white_space` is on. Any leading comment fails the test.
    public func startsLikeSelect(ignoringLeadingWhiteSpace: Bool) -> Bool {
        guard let byte = ignoringLeadingWhiteSpace ? firstNonSpaceByte : firstByte else { return true }
        switch byte {
        case 0x73, 0x53, 0x28, 0x77, 0x57, 0x74, 0x54, 0x3B:  // s S ( w W t T ;
            return true
        default:
            return false
        }
    }
}
