import Configuration
import Testing

@Suite("pool_passwd")
struct PoolPasswdTests {
    @Test func everyPasswordKind() throws {
        let passwd = try PoolPasswd.parse(
            text: """
                # comment
                alice:md5e5a7a4c6f3d0b1c2a9e8f7d6c5b4a392

                bob:TEXTs3cret:with:colons
                carol:plainpass
                dave:SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy
                erin:AESq8Zk1x0w3dGVzdA==
                frank:md5short
                gina:
                """, fileName: "pool_passwd")
        #expect(passwd.password(for: "alice") == .md5("md5e5a7a4c6f3d0b1c2a9e8f7d6c5b4a392"))
        #expect(passwd.password(for: "bob") == .plain("s3cret:with:colons"))
        #expect(passwd.password(for: "carol") == .plain("plainpass"))
        #expect(passwd.password(for: "dave") == .scramSHA256("SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy"))
        #expect(passwd.password(for: "erin") == .aesEncrypted("q8Zk1x0w3dGVzdA=="))
        #expect(passwd.password(for: "frank") == .plain("md5short"))
        #expect(passwd.password(for: "gina") == .plain(""))
        #expect(passwd.password(for: "nobody") == nil)
        #expect(passwd.password(for: "bob")?.plainText == "s3cret:with:colons")
        #expect(passwd.password(for: "alice")?.plainText == nil)
        #expect(passwd.entries.map(\.line) == [2, 4, 5, 6, 7, 8, 9])
        #expect(passwd.diagnostics.isEmpty)
    }

    /// A password that begins with a combining mark makes one `Character` of it and the colon
    /// before it; the entry must still split at that colon (found by the pool-passwd fuzzer).
    @Test func aColonFollowedByACombiningMarkStillSeparatesUserAndPassword() throws {
        let passwd = try PoolPasswd.parse(text: "f:\u{D4C}:\nalice:\u{301}secret\nbob:TEXT\u{301}x", fileName: "pool_passwd")
        #expect(passwd.entries.map(\.user) == ["f", "alice", "bob"])
        #expect(passwd.password(for: "f") == .plain("\u{D4C}:"))
        #expect(passwd.password(for: "alice") == .plain("\u{301}secret"))
        #expect(passwd.password(for: "bob") == .plain("\u{301}x"))
    }

    @Test func storedPasswordPrefixes() {
        #expect(StoredPassword(stored: "md5" + String(repeating: "a", count: 32)) == .md5("md5" + String(repeating: "a", count: 32)))
        #expect(StoredPassword(stored: "md5" + String(repeating: "g", count: 32)) == .plain("md5" + String(repeating: "g", count: 32)))
        #expect(StoredPassword(stored: "TEXT") == .plain(""))
        #expect(StoredPassword(stored: "text") == .plain("text"))
        #expect(StoredPassword(stored: "AES\u{301}x") == .aesEncrypted("\u{301}x"))
    }

    @Test func firstEntryOfADuplicateUserWins() throws {
        let passwd = try PoolPasswd.parse(text: "u:TEXTone\nu:TEXTtwo\n", fileName: "pool_passwd")
        #expect(passwd.password(for: "u") == .plain("one"))
        #expect(passwd.entries.count == 1)
        #expect(passwd.diagnostics.map(\.description) == ["pool_passwd:2: user \"u\" already has an entry on line 1; this one is ignored"])
    }

    @Test func crlfIsStripped() throws {
        let passwd = try PoolPasswd.parse(text: "u:TEXTpw\r\n", fileName: "pool_passwd")
        #expect(passwd.password(for: "u") == .plain("pw"))
    }

    @Test(arguments: ["just-a-name", ":nouser"])
    func malformedLineIsAnError(line: String) {
        do {
            _ = try PoolPasswd.parse(text: "ok:TEXTfine\n\(line)\n", fileName: "/etc/swiftpool/pool_passwd")
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .malformedEntry)
            #expect(error.description == "/etc/swiftpool/pool_passwd:2: malformed pool_passwd entry: expected \"user:password\"")
        }
    }

    @Test func missingFileIsAnError() {
        do {
            _ = try PoolPasswd.load(path: "/nonexistent/pool_passwd")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "/nonexistent/pool_passwd: could not read pool_passwd file: no such file")
        }
    }

    /// PostgreSQL compares role names byte for byte: "jos\u{E9}" (NFC) and "jose\u{301}" (NFD)
    /// are two roles, and one must not log in with the other's entry.
    @Test func aNameInAnotherNormalizationFormIsAnotherUser() throws {
        let passwd = try PoolPasswd.parse(text: "jos\u{E9}:TEXTsecret\njose\u{301}:TEXTother\n", fileName: "pool_passwd")
        #expect(passwd.password(for: "jos\u{E9}") == .plain("secret"))
        #expect(passwd.password(for: "jose\u{301}") == nil)
        #expect(passwd.diagnostics.map(\.description) == [
            "pool_passwd:2: user \"jose\u{301}\" already has an entry on line 1 (the same name in another Unicode normalization form); this one is ignored"
        ])
    }
}
