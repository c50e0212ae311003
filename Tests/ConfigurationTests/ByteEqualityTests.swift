import Configuration
import Testing

@Suite("Byte-for-byte names")
struct ByteEqualityTests {
    /// Swift's `==` equates canonically equivalent strings, even pure-looking ASCII ones: the
    /// Kelvin sign (U+212A) is a K. PostgreSQL compares role names (and certificate common names
    /// against them) with strcmp.
    @Test func canonicallyEquivalentNamesAreDifferentBytes() {
        #expect("\u{212A}im" == "Kim")
        #expect(!"\u{212A}im".hasSameBytes(as: "Kim"))
        #expect(!"jos\u{E9}".hasSameBytes(as: "jose\u{301}"))
        #expect("alice".hasSameBytes(as: "alice"[...]))
    }

    @Test func exactLookupNeedsTheStoredBytes() {
        let passwords = ["jos\u{E9}": 1]
        #expect(passwords[exactly: "jos\u{E9}"] == 1)
        #expect(passwords["jose\u{301}"] == 1)
        #expect(passwords[exactly: "jose\u{301}"] == nil)
        #expect(passwords[exactly: "nobody"] == nil)
    }

    @Test func hashingFollowsTheBytes() {
        func hash(_ text: String) -> Int {
            var hasher = Hasher()
            hasher.combineBytes(of: text)
            return hasher.finalize()
        }
        #expect(hash("jos\u{E9}") == hash("jos\u{E9}"))
        #expect(hash("jos\u{E9}") != hash("jose\u{301}"))
    }
}
