// pool_passwd: PoolPasswd.parse and the stored-password kinds (TEXT/plain, md5, AES, SCRAM), with
// what the executable does with them: AES entries decrypted with a pool key (AESPassword, as for
// $PGPOOLKEYFILE), SCRAM verifiers read (SCRAMKeys). Checks that entries written back parse to the
// same entries and that AES encryption of a clear-text password decrypts to it.
//
// Input: the file's text.
import Configuration
import FuzzSupport
import PostgresWire

let poolKey = "fuzz-pool-key"

/// An entry as a line that reads back as the same entry.
func line(_ entry: PoolPasswdEntry) -> String {
    switch entry.password {
    case .plain(let password): "\(entry.user):TEXT\(password)"
    case .md5(let text), .scramSHA256(let text): "\(entry.user):\(text)"
    case .aesEncrypted(let base64): "\(entry.user):AES\(base64)"
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(fuzz: bytes(start, count))
    let file: PoolPasswd
    do {
        file = try PoolPasswd.parse(text: text, fileName: "pool_passwd")
    } catch {
        _ = "\(error)"
        return 0
    }
    var users = Set<String>()
    for entry in file.entries {
        check(!entry.user.isEmpty && !entry.user.contains(":"), "bad user name \(entry.user)")
        check(users.insert(entry.user).inserted, "user \(entry.user) twice")
        check(file.password(for: entry.user) == entry.password, "password(for:) is not the entry's")
        switch entry.password {
        case .plain(let password):
            if password.utf8.count <= 256, let sealed = try? AESPassword.encrypt(password, key: poolKey) {
                check((try? AESPassword.decrypt(base64: sealed, key: poolKey)) == password, "AES round trip")
            }
        case .md5(let hash):
            check(hash.utf8.count == 35 && hash.hasPrefix("md5"), "md5 entry \(hash)")
        case .aesEncrypted(let base64):
            _ = try? AESPassword.decrypt(base64: base64, key: poolKey)
        case .scramSHA256(let verifier):
            _ = SCRAMKeys(verifier: verifier)
        }
    }
    // A line ending in CR loses it (the file may use CR LF), so such passwords cannot be written back.
    let writable = file.entries.filter { !line($0).hasSuffix("\r") && !line($0).contains("\n") }
    let written = writable.map(line).joined(separator: "\n")
    do {
        let again = try PoolPasswd.parse(text: written, fileName: "written")
        check(again.entries.map(\.user) == writable.map(\.user), "users changed when written back")
        check(again.entries.map(\.password) == writable.map(\.password), "passwords changed when written back")
    } catch {
        check(false, "written-back entries do not parse: \(error)")
    }
    return 0
}
