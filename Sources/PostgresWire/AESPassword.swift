import Crypto
import Foundation
import _CryptoExtras

/// Pgpool-II's AES-encrypted passwords (`AES` + base64 in pool_passwd, written by `pg_enc`):
/// AES-256-CBC with PKCS#7 padding, key and IV from OpenSSL's `EVP_BytesToKey` with SHA-1, no
/// salt and one round — what `openssl enc -aes-256-cbc -md sha1 -nosalt` does.
public enum AESPassword {
    public enum Failure: Error, Equatable, Sendable {
        case notBase64
        case wrongKeyOrCorrupt
    }

    /// Decrypts the base64 text after the `AES` prefix with the pool key.
    public static func decrypt(base64 text: String, key: String) throws(Failure) -> String {
        guard let ciphertext = Data(base64Encoded: text), !ciphertext.isEmpty, ciphertext.count % 16 == 0 else {
            throw .notBase64
        }
        let (keyBytes, ivBytes) = deriveKeyAndIV(from: Array(key.utf8))
        guard let iv = try? AES._CBC.IV(ivBytes: ivBytes),
              let plain = try? AES._CBC.decrypt(ciphertext, using: SymmetricKey(data: keyBytes), iv: iv),
              let password = String(data: plain, encoding: .utf8) else {
            throw .wrongKeyOrCorrupt
        }
        return password
    }

    /// Encrypts a password the way `pg_enc` does (for tests and tools).
    public static func encrypt(_ password: String, key: String) throws -> String {
        let (keyBytes, ivBytes) = deriveKeyAndIV(from: Array(key.utf8))
        let sealed = try AES._CBC.encrypt(Array(password.utf8), using: SymmetricKey(data: keyBytes), iv: AES._CBC.IV(ivBytes: ivBytes))
        return sealed.base64EncodedString()
    }

    /// EVP_BytesToKey(SHA-1, no salt, 1 round): D1 = H(pass), Dn = H(Dn-1 ‖ pass); 32 bytes of
    /// key, then 16 of IV.
    static func deriveKeyAndIV(from pass: [UInt8]) -> ([UInt8], [UInt8]) {
        var material: [UInt8] = []
        var previous: [UInt8] = []
        while material.count < 48 {
            previous = Array(Insecure.SHA1.hash(data: previous + pass))
            material += previous
        }
        return (Array(material[0..<32]), Array(material[32..<48]))
    }
}
