/// A query string with its constants left out: its tokens in order, each with what came before
/// it (white space, a comment), string, numeric and dollar-quoted literals reduced to their kind.
/// Applications that put their values into the query text (simple-protocol drivers, ORMs with
/// client-side binding, `pgbench -S`) send few templates and many texts.
///
/// Two texts with one template classify alike when every statement is one whose classification
/// reads no literal (``StatementClassification/readsNoLiteral``): the same kinds, destinations,
/// names and flags; only the statements' byte ranges and the query's leading bytes differ, and
/// ``ClassificationCache`` takes those from the text at hand.
struct QueryTemplate: Hashable {
    /// The encoding in its first ``length`` bytes (the rest is scratch space), unambiguous
    /// because UTF-8 never holds the bytes 0xF5–0xFF: per token, a byte `0xF8 | flags` and then
    /// either the token's bytes or `0xF5` and the literal's kind; a final `0xF7` when the text
    /// ended inside a comment.
    private(set) var encoded: [UInt8]
    private(set) var length: Int
    /// A digest of ``encoded``, taken once: the dictionary hashes it instead of every byte.
    private(set) var digest: UInt64

    private static let literalMark: UInt8 = 0xF5
    private static let openCommentMark: UInt8 = 0xF7
    private static let tokenMark: UInt8 = 0xF8
    /// Varies the digests per process, so that texts with colliding digests cannot be prepared
    /// in advance (a collision costs only a comparison anyway: the map holds at most a few
    /// hundred templates).
    private static let seed = UInt64.random(in: .min ... .max)

    /// The template of `lexed`, written into `storage` (a caller encoding many queries passes
    /// the previous template's array back, so that looking one up allocates nothing).
    init(_ lexed: LexedQuery, reusing storage: consuming [UInt8] = []) {
        let bytes = lexed.bytes
        let tokens = lexed.tokens
        // At most every byte, two more per token and the comment mark.
        let capacity = bytes.count + 2 * tokens.count + 1
        var encoded = storage
        if encoded.count < capacity {
            encoded.append(contentsOf: repeatElement(0, count: capacity - encoded.count))
        }
        var digest = Self.seed
        length = encoded.withUnsafeMutableBufferPointer { buffer in
            var n = 0
            for token in tokens {
                buffer[n] = Self.tokenMark | token.flags.rawValue
                n += 1
                switch token.kind {
                case .string, .number, .dollarString:
                    buffer[n] = Self.literalMark
                    buffer[n + 1] = token.kind.rawValue
                    n += 2
                default:
                    for offset in token.range {
                        buffer[n] = bytes[offset]
                        n += 1
                    }
                }
            }
            if lexed.endedInsideComment {
                buffer[n] = Self.openCommentMark
                n += 1
            }
            digest = Self.digest(UnsafeRawBufferPointer(start: buffer.baseAddress, count: n), seed: digest)
            return n
        }
        self.encoded = encoded
        self.digest = digest
    }

    /// The template without scratch space, to be kept.
    func compacted() -> QueryTemplate {
        var copy = self
        copy.encoded = Array(encoded[..<length])
        return copy
    }

    /// A multiply-and-shift digest of `bytes`, eight at a time.
    private static func digest(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        var h = seed ^ UInt64(truncatingIfNeeded: bytes.count)
        var offset = 0
        func mix(_ word: UInt64) {
            h = (h ^ word) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
        }
        while offset + 8 <= bytes.count {
            mix(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count {
            tail |= UInt64(bytes[offset]) << shift
            shift += 8
            offset += 1
        }
        mix(tail)
        return h
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(digest)
    }

    static func == (lhs: QueryTemplate, rhs: QueryTemplate) -> Bool {
        lhs.digest == rhs.digest && lhs.length == rhs.length
            && lhs.encoded.withUnsafeBytes { one in
                rhs.encoded.withUnsafeBytes { other in
                    RawBytes.same(UnsafeRawBufferPointer(rebasing: one[..<lhs.length]),
                                  UnsafeRawBufferPointer(rebasing: other[..<rhs.length]))
                }
            }
    }
}

extension StatementClassification {
    /// Whether the classifier read no literal to classify the statement, so that every text of
    /// its template classifies alike: queries and DML (whose literals are values) and
    /// transaction commands other than the two-phase ones (which name a transaction with a
    /// literal). `SET` (its value), `COPY`, `EXPLAIN`, `PREPARE`, `DECLARE` and the rest are
    /// classified from each text. A malformed statement is classified from each text too.
    var readsNoLiteral: Bool {
        guard !isMalformed else { return false }
        switch kind {
        case .select, .insert, .update, .delete, .merge:
            return true
        case .transaction(let command):
            switch command {
            case .prepareTransaction, .commitPrepared, .rollbackPrepared: return false
            default: return true
            }
        default:
            return false
        }
    }
}
