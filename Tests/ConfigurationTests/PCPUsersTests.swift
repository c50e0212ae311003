import Configuration
import Testing

@Suite("pcp.conf")
struct PCPUsersTests {
    @Test func parsesUsers() throws {
        let users = try PCPUsers.parse(
            text: """
                # USERID:MD5PASSWD
                admin:E10ADC3949BA59ABBE56E057F20F883E

                  operator:5f4dcc3b5aa765d61d8327deb882cf99  
                """, fileName: "pcp.conf")
        #expect(users.users.map(\.user) == ["admin", "operator"])
        #expect(users.passwordMD5(for: "admin") == "e10adc3949ba59abbe56e057f20f883e")
        #expect(users.passwordMD5(for: "operator") == "5f4dcc3b5aa765d61d8327deb882cf99")
        #expect(users.users.map(\.line) == [2, 4])
        #expect(users.passwordMD5(for: "nobody") == nil)
    }

    /// A colon followed by a combining mark is one `Character` with it; the line still splits there.
    @Test func aColonFollowedByACombiningMarkSeparatesTheUser() {
        #expect {
            try PCPUsers.parse(text: "admin:\u{301}e10adc3949ba59abbe56e057f20f883e", fileName: "pcp.conf")
        } throws: { error in
            "\(error)".contains("malformed pcp.conf entry for user \"admin\"")
        }
    }

    @Test(arguments: [
        ("admin", "pcp.conf:1: malformed pcp.conf entry: expected \"username:md5hex\""),
        (":e10adc3949ba59abbe56e057f20f883e", "pcp.conf:1: malformed pcp.conf entry: expected \"username:md5hex\""),
        (
            "admin:secret",
            "pcp.conf:1: malformed pcp.conf entry for user \"admin\": the password must be 32 hex digits of md5 (pg_md5 prints them)"
        ),
        (
            "admin:md5e10adc3949ba59abbe56e057f20f883e",
            "pcp.conf:1: malformed pcp.conf entry for user \"admin\": the password must be 32 hex digits of md5 (pg_md5 prints them)"
        ),
    ])
    func malformedLines(line: String, expected: String) {
        do {
            _ = try PCPUsers.parse(text: line, fileName: "pcp.conf")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == expected)
            #expect(error.kind == .malformedEntry)
        }
    }

    @Test func aNameInAnotherNormalizationFormIsAnotherUser() throws {
        let users = try PCPUsers.parse(text: "jos\u{E9}:e10adc3949ba59abbe56e057f20f883e\n", fileName: "pcp.conf")
        #expect(users.passwordMD5(for: "jos\u{E9}") == "e10adc3949ba59abbe56e057f20f883e")
        #expect(users.passwordMD5(for: "jose\u{301}") == nil)
    }
}
