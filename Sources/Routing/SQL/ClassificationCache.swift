/// Classifications of queries classified recently, per event loop, in two stores:
///
/// - Parse texts, matched whole: an unnamed statement is parsed anew for every execution
///   (psycopg, node-postgres, pgjdbc below its `prepareThreshold`, Npgsql without automatic
///   preparation), and classifying it is about a tenth of the work of such a query.
/// - Simple queries, matched by ``QueryTemplate``: applications that write their values into
///   the text send the same few templates with other literals each time. The text is lexed
///   (its tokens give the template and the byte ranges), and not classified again when its
///   template is known. Only templates whose statements read no literal are kept.
///
/// Each store keeps ``RecentlyUsed`` entries, at most `capacity` each. Texts longer than
/// ``maxTextLength`` bytes are not kept. Texts match byte for byte: Swift's `==` also equates
/// canonically equivalent texts ("é" and "e\u{301}"), whose classifications differ (byte ranges,
/// names). Both stores classify with `standard_conforming_strings` on, as the session's routing
/// reads queries. Used from one event loop only.
public final class ClassificationCache {
    /// Entries kept at most in each store.
    public var capacity: Int { 2 * parsed.generationSize }
    /// The longest text kept, in bytes (longer ones are classified every time).
    public static let maxTextLength = 4096
    private var parsed: RecentlyUsed<String, ParsedEntry>
    private var templates: RecentlyUsed<QueryTemplate, TemplateEntry>
    /// Parse texts answered from the cache.
    public private(set) var hits = 0
    /// Parse texts classified.
    public private(set) var misses = 0
    /// Simple queries whose template was known.
    public private(set) var templateHits = 0
    /// Simple queries classified.
    public private(set) var templateMisses = 0
    /// The token array and template of the last simple query, whose buffers the next one reuses
    /// (the cache keeps compacted copies of templates).
    private var tokenStorage: [SQLToken] = []
    private var templateStorage: [UInt8] = []

    /// The text as classified (the dictionary's key may be another, equivalent form).
    private struct ParsedEntry {
        var text: String
        var classification: QueryClassification
    }

    /// A template's classification and the token range of each of its statements.
    private struct TemplateEntry {
        var classification: QueryClassification
        var statementTokens: [Range<Int>]
    }

    /// Creates empty stores for about `capacity` entries each (at least 2).
    public init(capacity: Int = 512) {
        parsed = RecentlyUsed(generationSize: capacity / 2)
        templates = RecentlyUsed(generationSize: capacity / 2)
    }

    /// Parse texts kept now.
    public var count: Int { parsed.count }
    /// Templates kept now.
    public var templateCount: Int { templates.count }

    /// The classification of the Parse text `text`, from the cache when it was classified recently.
    public func classify(_ text: String) -> QueryClassification {
        guard text.utf8.count <= Self.maxTextLength else {
            misses += 1
            return SQLClassifier.classify(query: text)
        }
        if let found = parsed.value(for: text), Self.sameBytes(found.text, text) {
            hits += 1
            return found.classification
        }
        misses += 1
        let classified = SQLClassifier.classify(query: text)
        parsed.keep(ParsedEntry(text: text, classification: classified), for: text)
        return classified
    }

    /// The classification of the simple query `text`: from the cache when a text of its template
    /// was classified recently, with the byte ranges and leading bytes of `text`.
    public func classify(query text: String) -> QueryClassification {
        guard text.utf8.count <= Self.maxTextLength else {
            templateMisses += 1
            return SQLClassifier.classify(query: text)
        }
        var text = text
        return text.withUTF8 { bytes in
            let lexed = LexedQuery(bytes: bytes, standardConformingStrings: true, reusing: Self.take(&tokenStorage))
            let template = QueryTemplate(lexed, reusing: Self.take(&templateStorage))
            defer {
                tokenStorage = lexed.tokens
                templateStorage = template.encoded
            }
            if let found = templates.value(for: template) {
                templateHits += 1
                return Self.classification(found, of: lexed)
            }
            templateMisses += 1
            let (classified, spans) = SQLClassifier.classify(lexed, standardConformingStrings: true)
            if classified.statements.allSatisfy(\.readsNoLiteral) {
                templates.keep(TemplateEntry(classification: classified, statementTokens: spans.map(\.tokens)),
                               for: template.compacted())
            }
            return classified
        }
    }

    /// Takes a scratch array out of the cache, leaving an empty one: the array stays uniquely
    /// referenced, so its buffer is written in place.
    private static func take<Element>(_ scratch: inout [Element]) -> [Element] {
        var taken: [Element] = []
        swap(&taken, &scratch)
        return taken
    }

    /// A template's classification with the byte ranges of `lexed`'s statements and its
    /// leading bytes.
    private static func classification(_ entry: TemplateEntry, of lexed: LexedQuery) -> QueryClassification {
        var result = entry.classification
        for (index, tokens) in entry.statementTokens.enumerated() {
            let range = lexed.tokens[tokens.lowerBound].start..<lexed.tokens[tokens.upperBound - 1].end
            // Assigned only when it differs: the array is shared with the cache until then.
            if result.statements[index].byteRange != range { result.statements[index].byteRange = range }
        }
        result.firstByte = lexed.bytes.first
        result.firstNonSpaceByte = lexed.bytes.first { !ASCII.isSpace($0) }
        return result
    }

    /// Whether both texts hold the same UTF-8 bytes, compared in place (walking the UTF-8
    /// views costs about thirty instructions a byte).
    private static func sameBytes(_ one: String, _ other: String) -> Bool {
        guard one.utf8.count == other.utf8.count else { return false }
        let compared = one.utf8.withContiguousStorageIfAvailable { first in
            other.utf8.withContiguousStorageIfAvailable { second in
                RawBytes.same(UnsafeRawBufferPointer(first), UnsafeRawBufferPointer(second))
            }
        }
        return (compared ?? nil) ?? one.utf8.elementsEqual(other.utf8)
    }
}
