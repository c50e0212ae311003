import Configuration
import Foundation
import Testing

@Suite("pool_hba.conf")
struct PoolHbaTests {
    func parse(_ text: String, files: [String: String] = [:]) throws(ConfigError) -> PoolHba {
        try PoolHba.parse(
            text: text, fileName: "pool_hba.conf", includeDirectory: "/etc/swiftpool",
            readFile: { path throws(ConfigError) in
                guard let text = files[path] else {
                    throw ConfigError(kind: .unreadableFile, file: path, message: "could not read pool_hba.conf include file: no such file")
                }
                return text
            })
    }

    func hbaError(_ text: String) -> ConfigError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    func host(_ address: String, _ database: String = "db", _ user: String = "u", ssl: Bool = false) -> HbaConnection {
        HbaConnection(kind: .host(address: address), isSSL: ssl, database: database, user: user)
    }

    func local(_ database: String = "db", _ user: String = "u") -> HbaConnection {
        HbaConnection(kind: .local, database: database, user: user)
    }

    @Test func connectionTypes() throws {
        let hba = try parse(
            """
            local      all all           trust
            hostssl    all all  all      md5
            hostnossl  all all  all      password
            """)
        #expect(hba.match(connection: local())?.method == .trust)
        #expect(hba.match(connection: host("10.0.0.1", ssl: true))?.method == .md5)
        #expect(hba.match(connection: host("10.0.0.1", ssl: false))?.method == .password)
        let hostOnly = try parse("host all all all reject")
        #expect(hostOnly.match(connection: local()) == nil)
        #expect(hostOnly.match(connection: host("1.2.3.4", ssl: true))?.method == .reject)
        #expect(hostOnly.match(connection: host("1.2.3.4", ssl: false))?.method == .reject)
    }

    @Test func firstMatchWins() throws {
        let hba = try parse(
            """
            host  all  admin  10.0.0.0/8     reject
            host  all  all    10.0.0.0/8     scram-sha-256
            host  all  all    0.0.0.0/0      md5
            """)
        #expect(hba.match(connection: host("10.1.1.1", "db", "admin"))?.line == 1)
        #expect(hba.match(connection: host("10.1.1.1", "db", "bob"))?.line == 2)
        #expect(hba.match(connection: host("192.168.0.1", "db", "admin"))?.line == 3)
        #expect(hba.match(connection: host("::1")) == nil)
    }

    @Test func databaseColumn() throws {
        let hba = try parse(
            """
            local  sameuser         all  trust
            local  sales,"all"      all  md5
            local  "Mixed Case"     all  password
            local  reports, audit   all  scram-sha-256
            """)
        #expect(hba.match(connection: local("alice", "alice"))?.line == 1)
        #expect(hba.match(connection: local("sales", "alice"))?.line == 2)
        #expect(hba.match(connection: local("all", "alice"))?.line == 2)
        #expect(hba.match(connection: local("Mixed Case", "alice"))?.line == 3)
        #expect(hba.match(connection: local("mixed case", "alice")) == nil)
        #expect(hba.match(connection: local("audit", "alice"))?.line == 4)
        #expect(hba.match(connection: local("other", "alice")) == nil)
        #expect(hba.rules[1].databases == [.name("sales"), .name("all")])
    }

    @Test func userColumn() throws {
        let hba = try parse(
            """
            local all  alice,bob    trust
            local all  +admins      md5
            local all  "+literal"   password
            local all  all          reject
            """)
        #expect(hba.match(connection: local("db", "bob"))?.method == .trust)
        #expect(hba.match(connection: local("db", "carol"))?.method == .reject)
        #expect(hba.match(connection: local("db", "+literal"))?.method == .password)
        #expect(hba.rules[1].users == [.groupMembers("admins")])
        #expect(
            hba.diagnostics.map(\.description) == [
                "pool_hba.conf:2: group membership \"+admins\" cannot be checked; this item never matches"
            ])
    }

    /// Names match byte for byte, as in PostgreSQL's pg_hba.conf: a rule for "jos\u{E9}" does not
    /// apply to the role "jose\u{301}", nor does samerole-style `sameuser` equate the two forms.
    @Test func namesInAnotherNormalizationFormDoNotMatch() throws {
        let hba = try parse(
            """
            local caf\u{E9}     jos\u{E9}  trust
            local sameuser  all    md5
            local all       all    reject
            """)
        #expect(hba.match(connection: local("caf\u{E9}", "jos\u{E9}"))?.method == .trust)
        #expect(hba.match(connection: local("cafe\u{301}", "jos\u{E9}"))?.method == .reject)
        #expect(hba.match(connection: local("caf\u{E9}", "jose\u{301}"))?.method == .reject)
        #expect(hba.match(connection: local("jos\u{E9}", "jos\u{E9}"))?.method == .md5)
        #expect(hba.match(connection: local("jose\u{301}", "jos\u{E9}"))?.method == .reject)
    }

    @Test func includeFiles() throws {
        let hba = try parse(
            """
            host  @dbs  @users  all  md5
            """,
            files: [
                "/etc/swiftpool/dbs": "# databases\nsales, hr\n  finance\n",
                "/etc/swiftpool/users": "alice bob\n@more\n",
                "/etc/swiftpool/more": "carol",
            ])
        #expect(hba.rules[0].databases == [.name("sales"), .name("hr"), .name("finance")])
        #expect(hba.rules[0].users == [.name("alice"), .name("bob"), .name("carol")])
        #expect(hba.match(connection: host("1.1.1.1", "finance", "carol")) != nil)
    }

    @Test func missingIncludeFileIsAnError() {
        #expect(hbaError("local @nothere all trust")?.description == "/etc/swiftpool/nothere: could not read pool_hba.conf include file: no such file")
    }

    @Test func addressForms() throws {
        let hba = try parse(
            """
            host all a  192.168.1.0/24               trust
            host all b  192.168.2.0  255.255.255.0   trust
            host all c  2001:db8::/32                trust
            host all d  fe80::  ffff:ffff::          trust
            host all e  samehost                     trust
            host all f  samenet                      trust
            host all g  db.example.com               trust
            host all h  all                          trust
            """)
        #expect(hba.match(connection: host("192.168.1.77", "x", "a")) != nil)
        #expect(hba.match(connection: host("192.168.3.1", "x", "a")) == nil)
        #expect(hba.match(connection: host("::ffff:192.168.1.5", "x", "a")) != nil)
        #expect(hba.match(connection: host("192.168.2.200", "x", "b")) != nil)
        #expect(hba.match(connection: host("192.168.1.200", "x", "b")) == nil)
        #expect(hba.match(connection: host("2001:db8:1::1", "x", "c")) != nil)
        #expect(hba.match(connection: host("fe80:0::5", "x", "d")) != nil)
        #expect(hba.match(connection: host("127.0.0.1", "x", "e")) != nil)
        #expect(hba.match(connection: host("::1", "x", "e")) != nil)
        #expect(hba.match(connection: host("10.0.0.9", "x", "e")) == nil)
        let sameServer = HbaConnection(kind: .host(address: "10.0.0.9"), database: "x", user: "e", serverAddress: "10.0.0.9")
        #expect(hba.match(connection: sameServer) != nil)
        #expect(hba.match(connection: host("127.0.0.1", "x", "f")) != nil)
        #expect(hba.match(connection: host("203.0.113.5", "x", "g")) == nil)
        #expect(hba.match(connection: host("203.0.113.5", "x", "h")) != nil)
        #expect(hba.rules[6].address == .hostname("db.example.com"))
        #expect(
            hba.diagnostics.map(\.description) == [
                "pool_hba.conf:6: samenet matches loopback clients and the server's own address only (interface netmasks are not looked up)",
                "pool_hba.conf:7: host names in pool_hba.conf are not supported yet; the rule for \"db.example.com\" never matches",
            ])
    }

    @Test func methods() throws {
        let hba = try parse(
            """
            local a all trust
            local b all reject
            local c all md5
            local d all scram-sha-256
            local e all password
            """)
        #expect(hba.rules.map(\.method) == [.trust, .reject, .md5, .scramSHA256, .password])
    }

    @Test func certNeedsAHostsslLine() throws {
        #expect(try parse("hostssl all all 0.0.0.0/0 cert").rules[0].method == .cert)
        let error = hbaError("host all all all cert")
        #expect(error?.description == "pool_hba.conf:1: cert authentication is only supported on hostssl connections")
    }

    @Test(arguments: ["pam", "ldap", "gss", "sspi", "ident", "peer", "radius"])
    func unsupportedMethodsAreErrors(method: String) {
        let error = hbaError("# header\nhost all all all \(method)")
        #expect(error?.kind == .unsupported)
        #expect(error?.description == "pool_hba.conf:2: authentication method \"\(method)\" is not supported")
    }

    @Test func optionsAfterTheMethodAreIgnored() throws {
        let hba = try parse("host all all 0.0.0.0/0 md5 clientcert=verify-full  foo=bar")
        #expect(hba.rules[0].options == ["clientcert=verify-full", "foo=bar"])
        #expect(
            hba.diagnostics.map(\.description) == [
                "pool_hba.conf:1: authentication options are ignored: \"clientcert=verify-full\", \"foo=bar\""
            ])
    }

    @Test func commentsAndBlankLines() throws {
        let hba = try parse("# TYPE DATABASE\n\n   \nlocal all all trust # trailing\n")
        #expect(hba.rules.count == 1)
        #expect(hba.rules[0].line == 4)
        #expect(hba.rules[0].options.isEmpty)
    }

    @Test(arguments: [
        ("hostx all all all trust", "pool_hba.conf:1: invalid connection type \"hostx\""),
        ("hostgssenc all all all trust", "pool_hba.conf:1: connection type \"hostgssenc\" is not supported"),
        ("local all all", "pool_hba.conf:1: incomplete line: the authentication method column is missing"),
        ("host all all", "pool_hba.conf:1: incomplete line: the address column is missing"),
        ("host all all 10.0.0.1 md5", "pool_hba.conf:1: address \"10.0.0.1\" needs a prefix length (10.0.0.1/32) or a netmask column"),
        ("host all all 10.0.0.0/40 md5", "pool_hba.conf:1: invalid CIDR address \"10.0.0.0/40\""),
        ("host all all all md6", "pool_hba.conf:1: invalid authentication method \"md6\""),
        ("local samerole all trust", "pool_hba.conf:1: \"samerole\" is not supported in the database column"),
        ("local samegroup all trust", "pool_hba.conf:1: \"samegroup\" is not supported in the database column"),
        ("local \"unterminated all trust", "pool_hba.conf:1: unterminated quoted string"),
    ])
    func malformedLines(text: String, expected: String) {
        #expect(hbaError(text)?.description == expected)
    }

    @Test func quotedKeywordsAreNames() throws {
        let hba = try parse("local \"sameuser\" \"all\" trust")
        #expect(hba.rules[0].databases == [.name("sameuser")])
        #expect(hba.rules[0].users == [.name("all")])
        #expect(hba.match(connection: local("alice", "alice")) == nil)
    }

    @Test func loadsFromDiskWithIncludesBesideTheFile() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try "alice\n".write(to: directory.appendingPathComponent("admins"), atomically: true, encoding: .utf8)
        let file = directory.appendingPathComponent("pool_hba.conf")
        try "host all @admins 127.0.0.1/32 trust\n".write(to: file, atomically: true, encoding: .utf8)
        let hba = try PoolHba.load(path: file.path)
        #expect(hba.match(connection: host("127.0.0.1", "db", "alice"))?.method == .trust)
        #expect(hba.match(connection: host("127.0.0.1", "db", "bob")) == nil)
    }
}
