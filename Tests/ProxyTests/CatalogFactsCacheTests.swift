import Cluster
import Logging
import NIOConcurrencyHelpers
import Routing
import Testing
@testable import Proxy

@Suite("Catalog facts cache")
struct CatalogFactsCacheTests {
    let table = QualifiedName(["brand_new"])

    /// Waits (at most `seconds`) for `whenSettled` to call back.
    func settled(_ facts: SessionCatalogFacts, _ keys: [CatalogFactsCache.Key], seconds: Double = 15) async -> Bool {
        let called = NIOLockedValueBox(false)
        facts.whenSettled(keys) { called.withLockedValue { $0 = true } }
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if called.withLockedValue({ $0 }) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func withoutALookupNothingIsAwaited() async {
        let cache = CatalogFactsCache(lookup: nil, logger: Logger(label: "test"))
        let facts = SessionCatalogFacts(cache.facts(for: "app"))
        #expect(facts.isSystemCatalog(table) == nil)
        let misses = facts.takeMisses()
        #expect(misses.count == 1)
        #expect(facts.takeMisses().isEmpty)
        #expect(await settled(facts, misses, seconds: 0.5), "no look-up runs, so nothing is awaited")
    }

    @Test func aFailedLookupSettlesEveryWaiterOnceAndIsNotRepeated() async {
        // Nothing listens on port 1: the look-up fails fast.
        let lookup = CatalogLookup(host: "127.0.0.1", port: 1, user: "nobody", password: nil, connectTimeoutSeconds: 2)
        let cache = CatalogFactsCache(lookup: lookup, logger: Logger(label: "test"))
        let first = SessionCatalogFacts(cache.facts(for: "app"))
        let second = SessionCatalogFacts(cache.facts(for: "app"))
        #expect(first.isUnlogged(table) == nil)
        #expect(second.isVolatile(QualifiedName(["f"])) == nil)
        #expect(second.isTemporary(table) == nil)
        let firstMisses = first.takeMisses()
        let secondMisses = second.takeMisses()
        #expect(firstMisses == [CatalogFactsCache.relationKey("app", table)])
        #expect(secondMisses.count == 2)
        // Both sessions wait for the one shared look-up of the table.
        async let a = settled(first, firstMisses)
        async let b = settled(second, secondMisses)
        #expect(await a)
        #expect(await b)
        // Failed: still unknown (the primary then gets the statement), and not looked up again
        // at once, so a later wait ends immediately.
        #expect(first.isUnlogged(table) == nil)
        #expect(await settled(first, first.takeMisses(), seconds: 0.5))
    }
}
