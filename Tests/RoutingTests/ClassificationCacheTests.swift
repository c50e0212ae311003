import Routing
import Testing

/// Parse texts classified once and answered from the cache, within bounds.
@Suite("Classification cache")
struct ClassificationCacheTests {
    @Test func aTextSeenAgainIsAnsweredFromTheCacheAsClassified() {
        let cache = ClassificationCache(capacity: 8)
        let text = "SELECT abalance FROM pgbench_accounts WHERE aid = $1"
        let first = cache.classify(text)
        #expect(first == SQLClassifier.classify(query: text))
        #expect(cache.classify(text) == first)
        #expect(cache.hits == 1 && cache.misses == 1)
        // Another text is classified on its own, not confused with the first.
        let write = cache.classify("UPDATE t SET a = $1")
        #expect(write.statements.first?.destination == .primary)
        #expect(first.statements.first?.destination == .either)
        #expect(cache.misses == 2)
    }

    @Test func itKeepsAtMostItsCapacityAndTheRecentlyUsedTexts() {
        let cache = ClassificationCache(capacity: 4)
        for n in 0..<10 { _ = cache.classify("SELECT \(n)") }
        #expect(cache.count <= 4)
        #expect(cache.misses == 10)
        // The newest two are kept; the oldest went.
        _ = cache.classify("SELECT 9")
        _ = cache.classify("SELECT 8")
        #expect(cache.hits == 2)
        _ = cache.classify("SELECT 0")
        #expect(cache.misses == 11)
        // A text used again moves up and outlives texts that were not.
        let kept = ClassificationCache(capacity: 4)
        _ = kept.classify("SELECT 'a'")
        _ = kept.classify("SELECT 'b'")
        _ = kept.classify("SELECT 'c'")  // a and b become the previous generation
        _ = kept.classify("SELECT 'a'")  // a moves up
        _ = kept.classify("SELECT 'd'")  // c and a become the previous generation, b goes
        _ = kept.classify("SELECT 'a'")
        #expect(kept.hits == 2)
        _ = kept.classify("SELECT 'b'")
        #expect(kept.misses == 5)
    }

    /// "é" precomposed and as "e" with a combining accent are equal to Swift but not to
    /// PostgreSQL: each text gets its own classification (its byte ranges differ).
    @Test func canonicallyEquivalentTextsAreNotConfused() {
        let cache = ClassificationCache(capacity: 8)
        let composed = "SET search_path = sch\u{E9}ma, public"
        let decomposed = "SET search_path = sche\u{301}ma, public"
        #expect(composed == decomposed && composed.utf8.count != decomposed.utf8.count)
        _ = cache.classify(composed)
        #expect(cache.classify(decomposed) == SQLClassifier.classify(query: decomposed))
        #expect(cache.classify(decomposed).statements.first?.byteRange == 0..<decomposed.utf8.count)
        #expect(cache.classify(composed).statements.first?.byteRange == 0..<composed.utf8.count)
        // Equivalent and as long, but other bytes (combining marks in the other order): a miss.
        let ordered = ClassificationCache(capacity: 8)
        let one = "SET application_name = 'a\u{323}\u{301} and more text'"
        let other = "SET application_name = 'a\u{301}\u{323} and more text'"
        #expect(one == other && one.utf8.count == other.utf8.count)
        _ = ordered.classify(one)
        _ = ordered.classify(other)
        #expect(ordered.hits == 0 && ordered.misses == 2)
        _ = ordered.classify(other)
        #expect(ordered.hits == 1)
    }

    @Test func longTextsAreClassifiedEveryTimeAndNotKept() {
        let cache = ClassificationCache(capacity: 8)
        let long = "SELECT '" + String(repeating: "x", count: ClassificationCache.maxTextLength) + "'"
        #expect(cache.classify(long) == SQLClassifier.classify(query: long))
        _ = cache.classify(long)
        #expect(cache.hits == 0 && cache.misses == 2 && cache.count == 0)
    }
}
