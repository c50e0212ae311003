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
    /// The encoding, unambiguous because UTF-8 never holds the bytes 0xF5–0xFF: per token, a byte
    /// `0xF8 | flags` and then either the token's bytes or `0xF5` and the literal's kind; a final
    /// `0xF7` when the text ended inside a comment.
    let encoded: [UInt8]

    private static let literalMark: UInt8 = 0xF5
    private static let openCommentMark: UInt8 = 0xF7
    private static let tokenMark: UInt8 = 0xF8

    init(_ lexed: LexedQuery) {
        let bytes = lexed.bytes
        let tokens = lexed.tokens
        // At most every byte, two more per token and the comment mark.
        encoded = [UInt8](unsafeUninitializedCapacity: bytes.count + 2 * tokens.count + 1) { buffer, count in
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
            count = n
        }
    }

    func hash(into hasher: inout Hasher) {
        encoded.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (lhs: QueryTemplate, rhs: QueryTemplate) -> Bool {
        lhs.encoded.count == rhs.encoded.count
            && lhs.encoded.withUnsafeBytes { one in
                rhs.encoded.withUnsafeBytes { other in RawBytes.same(one, other) }
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
