/// What a lexical token of a query string is.
public enum SQLTokenKind: UInt8, Sendable, Hashable {
    /// An unquoted word: a keyword or a name (`SELECT`, `my_table`, `a$b`).
    case identifier
    /// A double-quoted identifier, `"Name"` or `U&"Name"`.
    case quotedIdentifier
    /// A single-quoted literal: `'…'`, `E'…'`, `U&'…'`, `B'…'`, `X'…'`, `N'…'`.
    case string
    /// A dollar-quoted literal, `$$…$$` or `$tag$…$tag$`.
    case dollarString
    /// A numeric literal (`42`, `1.5e3`, `.5`, `0x1F`, `1_000`).
    case number
    /// A positional parameter, `$1`.
    case parameter
    /// An operator made of `+ - * / < > = ~ ! @ # % ^ & | \` ?`, or `:=`.
    case `operator`
    /// The type cast `::`.
    case typeCast
    /// `(`
    case leftParen
    /// `)`
    case rightParen
    /// `[`
    case leftBracket
    /// `]`
    case rightBracket
    /// `,`
    case comma
    /// `;`
    case semicolon
    /// `.`
    case dot
    /// `:` on its own (array slices).
    case colon
    /// Any other byte (a stray `\`, `{`, a control character …).
    case other
}

/// One token of a query string: its kind and where it is, as UTF-8 byte offsets.
///
/// Comments and white space are not tokens; a token only records whether any came right
/// before it. Offsets are 32-bit, which covers PostgreSQL's 1 GB message limit.
public struct SQLToken: Sendable, Hashable {
    /// The kind of token.
    public var kind: SQLTokenKind
    /// Facts about the token and what came right before it.
    public var flags: Flags
    /// Offset of the first byte.
    public var startOffset: UInt32
    /// Offset one past the last byte.
    public var endOffset: UInt32

    /// Facts about a token.
    public struct Flags: OptionSet, Sendable, Hashable {
        /// The flag bits.
        public var rawValue: UInt8
        /// Creates a set of flags.
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// A `--` or `/* */` comment came between the previous token (or the start) and this one.
        public static let precededByComment = Flags(rawValue: 1)
        /// White space came between the previous token (or the start) and this one.
        public static let precededByWhitespace = Flags(rawValue: 2)
        /// A literal, quoted identifier (or the comment before it) ran to the end of the input
        /// without its closing delimiter.
        public static let unterminated = Flags(rawValue: 4)
    }

    /// Creates a token.
    public init(kind: SQLTokenKind, start: Int, end: Int, flags: Flags = []) {
        self.kind = kind
        self.flags = flags
        self.startOffset = UInt32(truncatingIfNeeded: start)
        self.endOffset = UInt32(truncatingIfNeeded: end)
    }

    /// Offset of the first byte.
    @inlinable public var start: Int { Int(startOffset) }
    /// Offset one past the last byte.
    @inlinable public var end: Int { Int(endOffset) }
    /// The byte range of the token in the query's UTF-8 bytes.
    @inlinable public var range: Range<Int> { start..<end }
    /// The length in bytes.
    @inlinable public var length: Int { Int(endOffset &- startOffset) }
    /// Whether a comment came right before this token.
    @inlinable public var isPrecededByComment: Bool { flags.contains(.precededByComment) }
    /// Whether the token ran to the end of the input without its closing delimiter.
    @inlinable public var isUnterminated: Bool { flags.contains(.unterminated) }
}
