import Foundation
import NIOSSL

/// Checks TLS files as PostgreSQL does before it uses them: readable, not expired, the key
/// matching the certificate, and the key not readable by group or others (group-readable is
/// allowed when root owns the file, for keys managed by the system).
enum TLSFileCheck {
    struct Loaded {
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
        var leafDER: [UInt8]
    }

    static func load(_ files: TLSFiles, now: Date = Date()) throws(TLSFileError) -> Loaded {
        guard !files.certificate.isEmpty else { throw TLSFileError(file: "ssl_cert", problem: "no server certificate file is set") }
        guard !files.key.isEmpty else { throw TLSFileError(file: "ssl_key", problem: "no private key file is set") }
        let chain = try certificates(files.certificate)
        try keyPermissions(files.key)
        let key = try privateKey(files.key, passphraseCommand: files.passphraseCommand)
        let leaf = chain[0]
        let expiry = Date(timeIntervalSince1970: TimeInterval(leaf.notValidAfter))
        guard expiry > now else {
            throw TLSFileError(file: files.certificate, problem: "certificate expired on \(expiry)")
        }
        guard keyMatches(key, leaf) else {
            throw TLSFileError(file: files.key, problem: "private key does not match the certificate in \(files.certificate)")
        }
        let der: [UInt8]
        do { der = try leaf.toDERBytes() } catch {
            throw TLSFileError(file: files.certificate, problem: "cannot encode the certificate (\(error))")
        }
        return Loaded(chain: chain, key: key, leafDER: der)
    }

    /// Every certificate of a PEM file (at least one).
    static func certificates(_ path: String) throws(TLSFileError) -> [NIOSSLCertificate] {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw TLSFileError(file: path, problem: "cannot read the file (missing or no permission)")
        }
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(path) } catch {
            throw TLSFileError(file: path, problem: "cannot read PEM certificates (\(error))")
        }
        guard !chain.isEmpty else { throw TLSFileError(file: path, problem: "contains no certificate") }
        return chain
    }

    /// The PEM private key at `path`; an encrypted key is opened with the passphrase that
    /// `passphraseCommand` prints (empty: an encrypted key cannot be used).
    static func privateKey(_ path: String, passphraseCommand: String) throws(TLSFileError) -> NIOSSLPrivateKey {
        let failure = PassphraseFailure()
        do {
            if passphraseCommand.isEmpty { return try NIOSSLPrivateKey(file: path, format: .pem) }
            return try NIOSSLPrivateKey(file: path, format: .pem) { (setter: NIOSSLPassphraseSetter<[UInt8]>) in
                do throws(TLSFileError) {
                    setter(try PassphraseCommand.run(passphraseCommand, keyFile: path))
                } catch {
                    failure.error = error
                }
            }
        } catch {
            if let commandError = failure.error { throw commandError }
            let hint = passphraseCommand.isEmpty ? " (an encrypted key needs ssl_passphrase_command)" : " (is the passphrase right?)"
            throw TLSFileError(file: path, problem: "cannot read a PEM private key (\(error))\(hint)")
        }
    }

    /// The trust roots for certificates signed by the CAs of `file` (PEM) and/or `directory`
    /// (c_rehash layout, as OpenSSL's CApath); nil when both are empty.
    static func trustRoots(file: String, directory: String) throws(TLSFileError)
        -> (roots: NIOSSLTrustRoots, additional: [NIOSSLAdditionalTrustRoots])? {
        var isDirectory: ObjCBool = false
        if !directory.isEmpty {
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue,
                  FileManager.default.isReadableFile(atPath: directory) else {
                throw TLSFileError(file: directory, problem: "is not a readable directory of CA certificates")
            }
        }
        switch (file.isEmpty, directory.isEmpty) {
        case (true, true): return nil
        case (true, false): return (.file(directory), [])
        case (false, true): return (.certificates(try certificates(file)), [])
        case (false, false): return (.certificates(try certificates(file)), [.file(directory)])
        }
    }

    /// PostgreSQL's rule: a key file owned by the server's user must be mode 0600 or less; owned
    /// by root, 0640 or less.
    static func keyPermissions(_ path: String) throws(TLSFileError) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw TLSFileError(file: path, problem: "cannot read the file (missing or no permission)")
        }
        let mode = (attributes[.posixPermissions] as? Int) ?? 0
        let owner = (attributes[.ownerAccountID] as? Int) ?? -1
        let forbidden = owner == 0 && Int(getuid()) != 0 ? 0o037 : 0o077
        guard mode & forbidden == 0 else {
            let allowed = forbidden == 0o037 ? "u=rw,g=r (0640)" : "u=rw (0600)"
            throw TLSFileError(file: path, problem: "private key file has group or world access; permissions should be \(allowed) or less")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw TLSFileError(file: path, problem: "cannot read the file (no permission)")
        }
    }

    /// Whether `key` is the private half of `certificate`'s public key: a context holding both
    /// only builds when they match.
    static func keyMatches(_ key: NIOSSLPrivateKey, _ certificate: NIOSSLCertificate) -> Bool {
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: [.certificate(certificate)],
                                                                    privateKey: .privateKey(key))
        return (try? NIOSSLContext(configuration: configuration)) != nil
    }
}
