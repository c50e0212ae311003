/// Splits a query string into tokens the way PostgreSQL's scanner does, closely enough to
/// route queries.
///
/// - `--` comments run to the end of the line; `/* */` comments nest.
/// - `'…'` strings double a quote to escape it (`''`). With `standard_conforming_strings` off a
///   backslash also escapes the next byte in them. `E'…'` strings always take backslash escapes;
///   `U&'…'`, `B'…'` and `X'…'` never do; `N'…'` behaves like a plain string.
/// - `$$…$$` and `$tag$…$tag$` are dollar-quoted strings; `$1` is a parameter. A `$` inside an
///   identifier (`a$b`) belongs to the identifier.
/// - `"…"` and `U&"…"` are quoted identifiers with `""` for a quote.
/// - The lexer never fails: an unterminated literal or comment runs to the end of the input and
///   is flagged.
///
/// It works on the UTF-8 bytes of the query and does not allocate per token.
public enum SQLLexer {
    /// The tokens of `query`, without comments and white space.
    public static func tokenize(_ query: String, standardConformingStrings: Bool = true) -> [SQLToken] {
        var text = query
        return text.withUTF8 { bytes in
            var lexer = ByteLexer(bytes: bytes, standardConformingStrings: standardConformingStrings)
            return lexer.allTokens()
        }
    }
}

/// The scanner behind ``SQLLexer``, over a buffer the caller keeps alive.
struct ByteLexer {
    let bytes: UnsafeBufferPointer<UInt8>
    let standardConformingStrings: Bool
    private(set) var position = 0
    /// Set when the input ended inside a `/* */` comment.
    private(set) var endedInsideComment = false

    init(bytes: UnsafeBufferPointer<UInt8>, standardConformingStrings: Bool) {
        self.bytes = bytes
        self.standardConformingStrings = standardConformingStrings
    }

    /// Every remaining token.
    mutating func allTokens() -> [SQLToken] {
        var tokens: [SQLToken] = []
        appendTokens(to: &tokens)
        return tokens
    }

    /// Appends every remaining token to `tokens`.
    mutating func appendTokens(to tokens: inout [SQLToken]) {
        tokens.reserveCapacity(tokens.count + bytes.count / 5 + 4)
        while let token = next() { tokens.append(token) }
    }

    @inline(__always) private func byte(at index: Int) -> UInt8 {
        index < bytes.count ? bytes[index] : 0
    }

    /// The next token, or nil at the end of the input.
    mutating func next() -> SQLToken? {
        var flags = skipSpaceAndComments()
        guard position < bytes.count else { return nil }
        let start = position
        let b = bytes[position]
        let kind: SQLTokenKind
        switch b {
        case ASCII.singleQuote:
            kind = .string
            if !scanQuoted(from: position, quote: ASCII.singleQuote, backslashEscapes: !standardConformingStrings) {
                flags.insert(.unterminated)
            }
        case ASCII.doubleQuote:
            kind = .quotedIdentifier
            if !scanQuoted(from: position, quote: ASCII.doubleQuote, backslashEscapes: false) {
                flags.insert(.unterminated)
            }
        case ASCII.dollar:
            kind = scanDollar(flags: &flags)
        case ASCII.leftParen: kind = advance(1, .leftParen)
        case ASCII.rightParen: kind = advance(1, .rightParen)
        case ASCII.leftBracket: kind = advance(1, .leftBracket)
        case ASCII.rightBracket: kind = advance(1, .rightBracket)
        case ASCII.comma: kind = advance(1, .comma)
        case ASCII.semicolon: kind = advance(1, .semicolon)
        case ASCII.colon:
            let following = byte(at: position + 1)
            if following == ASCII.colon {
                kind = advance(2, .typeCast)
            } else if following == ASCII.equals {
                kind = advance(2, .operator)
            } else {
                kind = advance(1, .colon)
            }
        case ASCII.dot:
            if ASCII.isDigit(byte(at: position + 1)) {
                kind = .number
                scanNumber()
            } else if byte(at: position + 1) == ASCII.dot {
                kind = advance(2, .operator)  // `..` (PL/pgSQL ranges)
            } else {
                kind = advance(1, .dot)
            }
        default:
            if ASCII.isDigit(b) {
                kind = .number
                scanNumber()
            } else if ASCII.isIdentifierStart(b) {
                kind = scanWordOrPrefixedLiteral(flags: &flags)
            } else if ASCII.isOperatorChar(b) {
                kind = .operator
                scanOperator()
            } else {
                kind = .other
                position += 1
            }
        }
        return SQLToken(kind: kind, start: start, end: position, flags: flags)
    }

    /// Moves past `count` bytes and returns `kind`.
    private mutating func advance(_ count: Int, _ kind: SQLTokenKind) -> SQLTokenKind {
        position += count
        return kind
    }

    /// Skips white space and comments and says which of them it saw.
    private mutating func skipSpaceAndComments() -> SQLToken.Flags {
        var flags: SQLToken.Flags = []
        while position < bytes.count {
            let b = bytes[position]
            if ASCII.isSpace(b) {
                flags.insert(.precededByWhitespace)
                // A run of white space in a local index (the stored position is written once).
                var i = position + 1
                while i < bytes.count, ASCII.isSpace(bytes[i]) { i += 1 }
                position = i
            } else if b == ASCII.minus, byte(at: position + 1) == ASCII.minus {
                flags.insert(.precededByComment)
                position += 2
                while position < bytes.count, bytes[position] != ASCII.newline,
                    bytes[position] != ASCII.carriageReturn
                {
                    position += 1
                }
            } else if b == ASCII.slash, byte(at: position + 1) == ASCII.star {
                flags.insert(.precededByComment)
                skipBlockComment()
            } else {
                break
            }
        }
        return flags
    }

    /// Skips a `/* */` comment with nesting, starting at its `/*`.
    private mutating func skipBlockComment() {
        var depth = 0
        while position < bytes.count {
            let b = bytes[position]
            if b == ASCII.slash, byte(at: position + 1) == ASCII.star {
                depth += 1
                position += 2
            } else if b == ASCII.star, byte(at: position + 1) == ASCII.slash {
                depth -= 1
                position += 2
                if depth == 0 { return }
            } else {
                position += 1
            }
        }
        endedInsideComment = true
    }

    /// Scans a quoted literal or identifier whose opening quote is at `openIndex`; returns
    /// whether the closing quote was found.
    private mutating func scanQuoted(from openIndex: Int, quote: UInt8, backslashEscapes: Bool) -> Bool {
        var i = openIndex + 1
        let count = bytes.count
        while i < count {
            let b = bytes[i]
            if b == quote {
                if i + 1 < count, bytes[i + 1] == quote {
                    i += 2
                    continue
                }
                position = i + 1
                return true
            }
            if backslashEscapes, b == ASCII.backslash {
                i += 2
                continue
            }
            i += 1
        }
        position = count
        return false
    }

    /// A word, or a literal with a prefix: `E'…'`, `B'…'`, `X'…'`, `N'…'`, `U&'…'`, `U&"…"`.
    private mutating func scanWordOrPrefixedLiteral(flags: inout SQLToken.Flags) -> SQLTokenKind {
        let lowered = bytes[position] | 0x20
        let following = byte(at: position + 1)
        if following == ASCII.singleQuote {
            switch lowered {
            case 0x65:  // e
                if !scanQuoted(from: position + 1, quote: ASCII.singleQuote, backslashEscapes: true) {
                    flags.insert(.unterminated)
                }
                return .string
            case 0x62, 0x78:  // b, x
                if !scanQuoted(from: position + 1, quote: ASCII.singleQuote, backslashEscapes: false) {
                    flags.insert(.unterminated)
                }
                return .string
            case 0x6E:  // n
                if !scanQuoted(
                    from: position + 1, quote: ASCII.singleQuote, backslashEscapes: !standardConformingStrings)
                {
                    flags.insert(.unterminated)
                }
                return .string
            default:
                break
            }
        } else if lowered == 0x75, following == ASCII.ampersand {  // u&
            let quote = byte(at: position + 2)
            if quote == ASCII.singleQuote || quote == ASCII.doubleQuote {
                if !scanQuoted(from: position + 2, quote: quote, backslashEscapes: false) {
                    flags.insert(.unterminated)
                }
                return quote == ASCII.singleQuote ? .string : .quotedIdentifier
            }
        }
        var i = position + 1
        while i < bytes.count, ASCII.isIdentifierPart(bytes[i]) { i += 1 }
        position = i
        return .identifier
    }

    /// `$1` (parameter), `$tag$…$tag$` (dollar-quoted string) or a lone `$`.
    private mutating func scanDollar(flags: inout SQLToken.Flags) -> SQLTokenKind {
        let start = position
        if ASCII.isDigit(byte(at: start + 1)) {
            position = start + 1
            while position < bytes.count, ASCII.isDigit(bytes[position]) { position += 1 }
            return .parameter
        }
        var tagEnd = start + 1
        if tagEnd < bytes.count, ASCII.isIdentifierStart(bytes[tagEnd]) {
            while tagEnd < bytes.count, ASCII.isDollarTagPart(bytes[tagEnd]) { tagEnd += 1 }
        }
        guard tagEnd < bytes.count, bytes[tagEnd] == ASCII.dollar else {
            position = start + 1
            return .other
        }
        let delimiterLength = tagEnd - start + 1
        var i = tagEnd + 1
        while i < bytes.count {
            if bytes[i] == ASCII.dollar, i + delimiterLength <= bytes.count,
                matches(at: i, delimiterAt: start, length: delimiterLength)
            {
                position = i + delimiterLength
                return .dollarString
            }
            i += 1
        }
        position = bytes.count
        flags.insert(.unterminated)
        return .dollarString
    }

    private func matches(at index: Int, delimiterAt delimiter: Int, length: Int) -> Bool {
        for k in 0..<length where bytes[index + k] != bytes[delimiter + k] { return false }
        return true
    }

    /// Integers, decimals, exponents, `0x`/`0o`/`0b` prefixes and `_` separators.
    private mutating func scanNumber() {
        let b = bytes[position]
        if b == 0x30 {
            let radix = byte(at: position + 1) | 0x20
            if radix == 0x78 || radix == 0x6F || radix == 0x62, ASCII.isHexDigit(byte(at: position + 2)) {
                position += 2
                while position < bytes.count,
                    ASCII.isHexDigit(bytes[position]) || bytes[position] == ASCII.underscore
                {
                    position += 1
                }
                return
            }
        }
        skipDigits()
        if byte(at: position) == ASCII.dot, byte(at: position + 1) != ASCII.dot {
            position += 1
            skipDigits()
        }
        if byte(at: position) | 0x20 == 0x65 {  // e
            var next = position + 1
            let sign = byte(at: next)
            if sign == ASCII.plus || sign == ASCII.minus { next += 1 }
            if ASCII.isDigit(byte(at: next)) {
                position = next
                skipDigits()
            }
        }
    }

    private mutating func skipDigits() {
        var i = position
        while i < bytes.count, ASCII.isDigit(bytes[i]) || bytes[i] == ASCII.underscore { i += 1 }
        position = i
    }

    /// A run of operator characters, cut before a `--` or `/*` that starts a comment.
    private mutating func scanOperator() {
        position += 1
        while position < bytes.count, ASCII.isOperatorChar(bytes[position]) {
            let b = bytes[position]
            let following = byte(at: position + 1)
            if (b == ASCII.minus && following == ASCII.minus) || (b == ASCII.slash && following == ASCII.star) {
                break
            }
            position += 1
        }
    }
}
