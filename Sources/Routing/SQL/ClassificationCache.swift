/// Classifications of query texts classified recently, for the texts clients send again and
/// again in Parse messages: an unnamed statement is parsed anew for every execution (psycopg,
/// node-postgres, pgjdbc below its `prepareThreshold`, Npgsql without automatic preparation), and
/// classifying it is about a tenth of the work of such a query.
///
/// Two generations of at most `capacity / 2` texts each: a text is looked up in the current one,
/// then in the previous one (and moved up); when the current one is full it becomes the previous
/// one and the oldest generation is dropped. Texts longer than ``maxTextLength`` bytes are not
/// kept. Texts match byte for byte: Swift's `==` also equates canonically equivalent texts ("é"
/// and "e\u{301}"), whose classifications differ (byte ranges, names). Used from one event loop
/// only.
public final class ClassificationCache {
    /// Texts kept at most, over both generations.
    public var capacity: Int { 2 * generationSize }
    /// The longest text kept, in bytes (longer ones are classified every time).
    public static let maxTextLength = 4096
    private let generationSize: Int
    private var current: [String: Entry] = [:]
    private var previous: [String: Entry] = [:]
    /// Look-ups answered from the cache.
    public private(set) var hits = 0
    /// Look-ups that classified their text.
    public private(set) var misses = 0

    /// The text as classified (the dictionary's key may be another, equivalent form).
    private struct Entry {
        var text: String
        var classification: QueryClassification
    }

    /// Creates an empty cache for about `capacity` texts (at least 2).
    public init(capacity: Int = 512) {
        generationSize = max(1, capacity / 2)
    }

    /// Texts kept now.
    public var count: Int { current.count + previous.count }

    /// The classification of `text` (with `standard_conforming_strings` on, as the session's
    /// routing reads it), from the cache when it was classified recently.
    public func classify(_ text: String) -> QueryClassification {
        guard text.utf8.count <= Self.maxTextLength else {
            misses += 1
            return SQLClassifier.classify(query: text)
        }
        if let found = current[text], Self.sameBytes(found.text, text) {
            hits += 1
            return found.classification
        }
        if let found = previous[text], Self.sameBytes(found.text, text) {
            hits += 1
            previous[text] = nil
            keep(found)
            return found.classification
        }
        misses += 1
        let classified = SQLClassifier.classify(query: text)
        keep(Entry(text: text, classification: classified))
        return classified
    }

    /// Whether both texts hold the same UTF-8 bytes, compared eight at a time in place (walking
    /// the UTF-8 views costs about thirty instructions a byte).
    private static func sameBytes(_ one: String, _ other: String) -> Bool {
        guard one.utf8.count == other.utf8.count else { return false }
        let compared = one.utf8.withContiguousStorageIfAvailable { first in
            other.utf8.withContiguousStorageIfAvailable { second in
                sameBytes(UnsafeRawBufferPointer(first), UnsafeRawBufferPointer(second))
            }
        }
        return (compared ?? nil) ?? one.utf8.elementsEqual(other.utf8)
    }

    /// Whether two buffers of the same length hold the same bytes.
    private static func sameBytes(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset + 8 <= first.count {
            if first.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                != second.loadUnaligned(fromByteOffset: offset, as: UInt64.self) { return false }
            offset += 8
        }
        while offset < first.count {
            if first[offset] != second[offset] { return false }
            offset += 1
        }
        return true
    }

    private func keep(_ entry: Entry) {
        if current.count >= generationSize {
            // The previous generation goes; its storage is reused for the next one.
            swap(&previous, &current)
            current.removeAll(keepingCapacity: true)
        }
        current[entry.text] = entry
    }
}
