/// Classifications of query texts classified recently, for the texts clients send again and
/// again in Parse messages: an unnamed statement is parsed anew for every execution (psycopg,
/// node-postgres, pgjdbc below its `prepareThreshold`, Npgsql without automatic preparation), and
/// classifying it is about a tenth of the work of such a query.
///
/// Two generations of at most `capacity / 2` texts each: a text is looked up in the current one,
/// then in the previous one (and moved up); when the current one is full it becomes the previous
/// one and the oldest generation is dropped. Texts longer than ``maxTextLength`` bytes are not
/// kept. Used from one event loop only.
public final class ClassificationCache {
    /// Texts kept at most, over both generations.
    public let capacity: Int
    /// The longest text kept, in bytes (longer ones are classified every time).
    public static let maxTextLength = 4096
    private var current: [String: QueryClassification] = [:]
    private var previous: [String: QueryClassification] = [:]
    /// Look-ups answered from the cache.
    public private(set) var hits = 0
    /// Look-ups that classified their text.
    public private(set) var misses = 0

    /// Creates an empty cache for `capacity` texts (at least 2).
    public init(capacity: Int = 512) {
        self.capacity = max(2, capacity)
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
        if let found = current[text] {
            hits += 1
            return found
        }
        if let found = previous.removeValue(forKey: text) {
            hits += 1
            keep(found, for: text)
            return found
        }
        misses += 1
        let classified = SQLClassifier.classify(query: text)
        keep(classified, for: text)
        return classified
    }

    private func keep(_ classification: QueryClassification, for text: String) {
        if current.count >= capacity / 2 {
            previous = current
            current = [:]
        }
        current[text] = classification
    }
}
