// pcp.conf: PCPUsers.parse, then AdminAuthenticator (HTTP Basic against those users) for each
// user with the file's own hash as the password's stand-in. Checks that users written back parse
// to the same users.
//
// Input: the file's text.
import AdminHTTP
import Configuration
import Foundation
import FuzzSupport
import PostgresWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(fuzz: bytes(start, count))
    let users: PCPUsers
    do {
        users = try PCPUsers.parse(text: text, fileName: "pcp.conf")
    } catch {
        _ = "\(error)"
        return 0
    }
    for user in users.users {
        check(!user.user.isEmpty && !user.user.contains(":"), "bad user name \(user.user)")
        check(user.passwordMD5.utf8.count == 32 && user.passwordMD5.allSatisfy { $0.isHexDigit && !$0.isUppercase },
              "bad hash \(user.passwordMD5)")
    }
    let written = users.users.map { "\($0.user):\($0.passwordMD5)" }.joined(separator: "\n")
    do {
        let again = try PCPUsers.parse(text: written, fileName: "written")
        check(again.users.map(\.user) == users.users.map(\.user), "users changed when written back")
        check(again.users.map(\.passwordMD5) == users.users.map(\.passwordMD5), "hashes changed when written back")
    } catch {
        check(false, "written-back users do not parse: \(error)")
    }
    // HTTP Basic with a password whose md5 the file does not hold is denied, and allowed when it does.
    let authenticator = AdminAuthenticator(users: users, bearerToken: nil)
    let password = "fuzz-password"
    for user in users.users.prefix(4) {
        let credentials = Data("\(user.user):\(password)".utf8).base64EncodedString()
        let allowed = authenticator.check("Basic \(credentials)") == .allowed(user.user)
        check(allowed == (users.passwordMD5(for: user.user) == MD5Password.plainHash(password)),
              "Basic authentication of \(user.user) decided wrongly")
    }
    return 0
}
