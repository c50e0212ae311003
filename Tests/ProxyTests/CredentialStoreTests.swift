import Testing
@testable import Proxy

@Suite("Credential store")
struct CredentialStoreTests {
    /// pool_passwd's users are looked up byte for byte, as PostgreSQL compares role names: the
    /// same name in another Unicode normalization form has no password and no SCRAM keys.
    @Test func aNameInAnotherNormalizationFormHasNoCredentials() {
        let store = CredentialStore(passwords: ["jos\u{E9}": .plain("secret")], iterations: 16)
        #expect(store.password(for: "jos\u{E9}") == .plain("secret"))
        #expect(store.password(for: "jose\u{301}") == nil)
        #expect(store.clientSideKeys(for: "jose\u{301}") == nil)
        #expect(store.clientSideKeys(for: "jos\u{E9}") != nil)
        #expect(store.hasClientSideKeys(for: "jos\u{E9}"))
        #expect(!store.hasClientSideKeys(for: "jose\u{301}"))
        #expect(store.problem(verifying: "jose\u{301}", with: .scramSHA256) == "the user has no entry in pool_passwd")
    }
}
