/// Read access to a run of tokens and the bytes they point into, for the splitter and the
/// classifier. Keyword tests compare bytes in place; nothing is allocated unless a name is
/// asked for.
struct TokenView {
    let bytes: UnsafeBufferPointer<UInt8>
    let tokens: [SQLToken]
    /// First token of the view.
    let lowerBound: Int
    /// One past the last token of the view.
    let upperBound: Int

    init(bytes: UnsafeBufferPointer<UInt8>, tokens: [SQLToken], range: Range<Int>) {
        self.bytes = bytes
        self.tokens = tokens
        self.lowerBound = range.lowerBound
        self.upperBound = range.upperBound
    }

    /// The same tokens and bytes, limited to `range`.
    func restricted(to range: Range<Int>) -> TokenView {
        TokenView(bytes: bytes, tokens: tokens, range: range)
    }

    var range: Range<Int> { lowerBound..<upperBound }
    var isEmpty: Bool { lowerBound >= upperBound }

    @inline(__always) func contains(_ index: Int) -> Bool { index >= lowerBound && index < upperBound }

    @inline(__always) func isKind(_ index: Int, _ kind: SQLTokenKind) -> Bool {
        contains(index) && tokens[index].kind == kind
    }

    /// Whether the token at `index` is the unquoted word `word` (given in lower case).
    @inline(__always) func isWord(_ index: Int, _ word: StaticString) -> Bool {
        guard contains(index) else { return false }
        let token = tokens[index]
        let count = word.utf8CodeUnitCount
        guard token.kind == .identifier, token.length == count else { return false }
        let w = word.utf8Start
        let start = token.start
        for k in 0..<count where ASCII.lower(bytes[start + k]) != w[k] { return false }
        return true
    }

    /// Whether the token is an unquoted or quoted identifier.
    @inline(__always) func isName(_ index: Int) -> Bool {
        guard contains(index) else { return false }
        let kind = tokens[index].kind
        return kind == .identifier || kind == .quotedIdentifier
    }

    /// Whether the token is a single-byte operator `op`.
    @inline(__always) func isOperator(_ index: Int, _ op: UInt8) -> Bool {
        guard contains(index) else { return false }
        let token = tokens[index]
        return token.kind == .operator && token.length == 1 && bytes[token.start] == op
    }

    /// Index of the `)` that closes the `(` at `index`, or `upperBound` when it is not closed.
    func matchingParen(_ index: Int) -> Int {
        var depth = 0
        var i = index
        while i < upperBound {
            switch tokens[i].kind {
            case .leftParen: depth += 1
            case .rightParen:
                depth -= 1
                if depth == 0 { return i }
            default: break
            }
            i += 1
        }
        return upperBound
    }

    /// The identifier as PostgreSQL's parser names it: unquoted words in ASCII lower case,
    /// quoted identifiers without their quotes and with `""` undoubled.
    func name(at index: Int) -> String {
        let token = tokens[index]
        switch token.kind {
        case .quotedIdentifier:
            var start = token.start
            if bytes[start] != ASCII.doubleQuote { start += 2 }  // U&"…"
            start += 1
            var end = token.end
            if !token.isUnterminated, end > start { end -= 1 }
            return unquoted(start..<end, quote: ASCII.doubleQuote)
        default:
            return lowercased(token.range)
        }
    }

    /// The possibly qualified name (`a`, `s.a`, `"S"."A"`) starting at `index`, and the index
    /// after it.
    func qualifiedName(at index: Int) -> (name: QualifiedName, next: Int)? {
        guard isName(index) else { return nil }
        var last = name(at: index)
        var qualifiers: [String] = []
        var next = index + 1
        while isKind(next, .dot), isName(next + 1) {
            qualifiers.append(last)
            last = name(at: next + 1)
            next += 2
        }
        return (QualifiedName(name: last, qualifiers: qualifiers), next)
    }

    /// The bytes in `range` in ASCII lower case.
    func lowercased(_ range: Range<Int>) -> String {
        String(unsafeUninitializedCapacity: range.count) { buffer in
            var n = 0
            for i in range {
                buffer[n] = ASCII.lower(bytes[i])
                n += 1
            }
            return n
        }
    }

    /// The bytes in `range` with doubled `quote`s made single.
    func unquoted(_ range: Range<Int>, quote: UInt8) -> String {
        String(unsafeUninitializedCapacity: range.count) { buffer in
            var n = 0
            var i = range.lowerBound
            while i < range.upperBound {
                let b = bytes[i]
                buffer[n] = b
                n += 1
                i += (b == quote && i + 1 < range.upperBound && bytes[i + 1] == quote) ? 2 : 1
            }
            return n
        }
    }

    /// The value of a string literal token: `''` undoubled; for escape strings (`E'…'`, or any
    /// plain string when backslashes escape) a backslash keeps only the byte after it.
    func stringValue(at index: Int, backslashEscapes: Bool) -> String {
        let token = tokens[index]
        var start = token.start
        var escapes = backslashEscapes
        switch bytes[start] | 0x20 {
        case 0x65:  // E'…'
            start += 1
            escapes = true
        case 0x75:  // U&'…'
            start += 2
            escapes = false
        case 0x6E:  // N'…' is a plain string
            start += 1
        case 0x62, 0x78:  // B'…', X'…'
            start += 1
            escapes = false
        default:
            break
        }
        start += 1
        var end = token.end
        if !token.isUnterminated, end > start { end -= 1 }
        return String(unsafeUninitializedCapacity: max(0, end - start)) { buffer in
            var n = 0
            var i = start
            while i < end {
                let b = bytes[i]
                if escapes, b == ASCII.backslash, i + 1 < end {
                    buffer[n] = bytes[i + 1]
                    n += 1
                    i += 2
                    continue
                }
                buffer[n] = b
                n += 1
                i += (b == ASCII.singleQuote && i + 1 < end && bytes[i + 1] == ASCII.singleQuote) ? 2 : 1
            }
            return n
        }
    }

    /// The raw text of a token.
    func text(at index: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[tokens[index].range]), as: UTF8.self)
    }
}
