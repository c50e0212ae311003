import Foundation
import Testing
@testable import PostgresWire

@Suite("SCRAM-SHA-256")
struct SCRAMTests {
    // RFC 7677 §3: user "user", password "pencil".
    let clientNonce = "rOprNGfwEbeRWgbNEkqO"
    let serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"

    @Test func clientProofMatchesRFC7677() throws {
        var client = SCRAMClient(nonce: clientNonce)
        // The RFC's client-first-bare names the user; PostgreSQL's leaves it empty, so rebuild the
        // RFC exchange through the primitives with the RFC's exact auth message.
        let keys = try SCRAMKeys.derive(password: "pencil", salt: Array(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!), iterations: 4096)
        let authMessage = "n=user,r=\(clientNonce),\(serverFirst),c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        let proof = SCRAM.xor(keys.clientKey!, SCRAM.hmac(key: keys.storedKey, authMessage))
        #expect(Data(proof).base64EncodedString() == "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        let serverSignature = SCRAM.hmac(key: keys.serverKey, authMessage)
        #expect(Data(serverSignature).base64EncodedString() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        // And the client answers a server-first with a well-formed client-final.
        let final = try client.respond(toServerFirst: serverFirst) { _, _ in keys }
        #expect(final.hasPrefix("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p="))
    }

    @Test func clientAndServerAgree() throws {
        let keys = try SCRAMKeys.derive(password: "s3cret", salt: Array("0123456789abcdef".utf8), iterations: 4096)
        var server = SCRAMServer(keys: keys)
        var client = SCRAMClient()
        let serverFirst = try server.receiveClientFirst(mechanism: "SCRAM-SHA-256", message: client.clientFirstMessage)
        let clientFinal = try client.respond(toServerFirst: serverFirst) { salt, iterations in
            try SCRAMKeys.derive(password: "s3cret", salt: salt, iterations: iterations)
        }
        guard case .success(let serverFinal) = try server.receiveClientFinal(clientFinal) else {
            Issue.record("server rejected a correct proof")
            return
        }
        try client.verify(serverFinal: serverFinal)
    }

    @Test func serverRejectsWrongPassword() throws {
        let keys = try SCRAMKeys.derive(password: "right", salt: Array("salt-salt-salt!!".utf8), iterations: 4096)
        var server = SCRAMServer(keys: keys)
        var client = SCRAMClient()
        let serverFirst = try server.receiveClientFirst(mechanism: "SCRAM-SHA-256", message: client.clientFirstMessage)
        let clientFinal = try client.respond(toServerFirst: serverFirst) { salt, iterations in
            try SCRAMKeys.derive(password: "wrong", salt: salt, iterations: iterations)
        }
        #expect(try server.receiveClientFinal(clientFinal) == .failure)
    }

    @Test func unknownUserFailsEvenWithMatchingProof() throws {
        let keys = try SCRAMKeys.derive(password: "x", salt: Array("salt-salt-salt!!".utf8), iterations: 4096)
        var server = SCRAMServer(keys: keys, credentialIsValid: false)
        var client = SCRAMClient()
        let serverFirst = try server.receiveClientFirst(mechanism: "SCRAM-SHA-256", message: client.clientFirstMessage)
        let clientFinal = try client.respond(toServerFirst: serverFirst) { salt, iterations in
            try SCRAMKeys.derive(password: "x", salt: salt, iterations: iterations)
        }
        #expect(try server.receiveClientFinal(clientFinal) == .failure)
    }

    @Test func serverRefusesChannelBindingAndOtherMechanisms() {
        let keys = SCRAMKeys(salt: [1], iterations: 4096, storedKey: [], serverKey: [])
        var server = SCRAMServer(keys: keys)
        #expect(throws: SCRAMServer.Failure.channelBindingNegotiation("client requires channel binding with SCRAM-SHA-256")) {
            try server.receiveClientFirst(mechanism: "SCRAM-SHA-256", message: "p=tls-server-end-point,,n=,r=abc")
        }
        #expect(throws: SCRAMServer.Failure.unsupportedMechanism("SCRAM-SHA-256-PLUS"), "not offered without TLS") {
            try server.receiveClientFirst(mechanism: "SCRAM-SHA-256-PLUS", message: "p=tls-server-end-point,,n=,r=abc")
        }
        #expect(throws: SCRAMServer.Failure.unsupportedMechanism("SCRAM-SHA-1")) {
            try server.receiveClientFirst(mechanism: "SCRAM-SHA-1", message: "n,,n=,r=abc")
        }
        #expect(throws: SCRAMServer.Failure.malformedClientMessage("n,,n=")) {
            try server.receiveClientFirst(mechanism: "SCRAM-SHA-256", message: "n,,n=")
        }
    }

    @Test func clientRejectsForeignNonceAndBadSignature() throws {
        var client = SCRAMClient(nonce: "abc")
        #expect(throws: SCRAMClient.Failure.nonceMismatch) {
            try client.respond(toServerFirst: "r=xyz123,s=QUJD,i=4096") { _, _ in SCRAMKeys(salt: [], iterations: 1, storedKey: [], serverKey: []) }
        }
        let keys = try SCRAMKeys.derive(password: "p", salt: Array("ABC".utf8), iterations: 4096)
        _ = try client.respond(toServerFirst: "r=abcdef,s=QUJD,i=4096") { _, _ in keys }
        #expect(throws: SCRAMClient.Failure.serverSignatureMismatch) {
            try client.verify(serverFinal: "v=AAAA")
        }
        #expect(throws: SCRAMClient.Failure.serverError("invalid-proof")) {
            try client.verify(serverFinal: "e=invalid-proof")
        }
    }

    @Test func parsesPostgresVerifier() throws {
        let keys = try SCRAMKeys.derive(password: "pw", salt: Array("0123456789abcdef".utf8), iterations: 4096)
        let verifier = "SCRAM-SHA-256$4096:\(Data(keys.salt).base64EncodedString())$\(Data(keys.storedKey).base64EncodedString()):\(Data(keys.serverKey).base64EncodedString())"
        let parsed = try #require(SCRAMKeys(verifier: verifier))
        #expect(parsed.storedKey == keys.storedKey)
        #expect(parsed.serverKey == keys.serverKey)
        #expect(parsed.iterations == 4096)
        #expect(SCRAMKeys(verifier: "md5abc") == nil)
        #expect(SCRAMKeys(verifier: "SCRAM-SHA-256$x:y$z") == nil)
    }

    @Test func md5MatchesPostgres() {
        // md5 of "postgrespass" + "postgres", as PostgreSQL stores it.
        #expect(MD5Password.storedHash(password: "secret", user: "alice") == "md5" + MD5Password.hex(Insecure_md5("secretalice")))
        let response = MD5Password.response(password: "secret", user: "alice", salt: [1, 2, 3, 4])
        #expect(response == MD5Password.response(storedHash: MD5Password.storedHash(password: "secret", user: "alice"), salt: [1, 2, 3, 4]))
        #expect(response.count == 35 && response.hasPrefix("md5"))
    }
}

import Crypto
private func Insecure_md5(_ text: String) -> [UInt8] { Array(Insecure.MD5.hash(data: Array(text.utf8))) }

@Suite("AES pool_passwd entries")
struct AESPasswordTests {
    // Written by Pgpool-II 4.3.5's `pg_enc -m -k keyfile -u app_readonly readonly123` with the key
    // "mysecretkey" (and equal to `openssl enc -aes-256-cbc -md sha1 -nosalt -a`).
    @Test func decryptsWhatPgEncWrote() throws {
        #expect(try AESPassword.decrypt(base64: "bYEI6PWPHtPZabORVr4eSg==", key: "mysecretkey") == "readonly123")
    }

    @Test func roundTripAndFailures() throws {
        let sealed = try AESPassword.encrypt("pässwörd with spaces", key: "k")
        #expect(try AESPassword.decrypt(base64: sealed, key: "k") == "pässwörd with spaces")
        #expect(throws: AESPassword.Failure.self) { try AESPassword.decrypt(base64: sealed, key: "other key") }
        #expect(throws: AESPassword.Failure.notBase64) { try AESPassword.decrypt(base64: "%%%", key: "k") }
    }
}

@Suite struct ConstantTimeTests {
    @Test func equalOnlyForTheSameBytes() {
        #expect(ConstantTime.equal([1, 2, 3] as [UInt8], [1, 2, 3] as [UInt8]))
        #expect(!ConstantTime.equal([1, 2, 3] as [UInt8], [1, 2, 4] as [UInt8]))
        #expect(!ConstantTime.equal([1, 2] as [UInt8], [1, 2, 0] as [UInt8]), "a prefix padded with zero is not equal")
        #expect(!ConstantTime.equal([] as [UInt8], [0] as [UInt8]))
        #expect(ConstantTime.equal("md5abc", "md5abc"))
        #expect(!ConstantTime.equal("md5abc", "md5abd"))
    }

    // MARK: Channel binding (SCRAM-SHA-256-PLUS)

    /// A client-final for `serverFirst` with `binding` as the c= data, proving `keys`.
    func clientFinal(serverFirst: String, clientFirstBare: String, binding: [UInt8], keys: SCRAMKeys) -> String {
        let nonce = SCRAM.attributes(serverFirst[...])["r"]!
        let withoutProof = "c=\(Data(binding).base64EncodedString()),r=\(nonce)"
        let authMessage = "\(clientFirstBare),\(serverFirst),\(withoutProof)"
        let proof = SCRAM.xor(keys.clientKey!, SCRAM.hmac(key: keys.storedKey, authMessage))
        return "\(withoutProof),p=\(Data(proof).base64EncodedString())"
    }

    @Test func plusBindsToTheCertificateData() throws {
        let keys = try SCRAMKeys.derive(password: "s3cret", salt: Array("0123456789abcdef".utf8), iterations: 4096)
        let data: [UInt8] = Array(repeating: 7, count: 32)
        let header = "p=tls-server-end-point,,"
        var server = SCRAMServer(keys: keys, channelBinding: data)
        #expect(server.mechanisms == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"])
        let first = try server.receiveClientFirst(mechanism: "SCRAM-SHA-256-PLUS", message: header + "n=,r=abc")
        let good = clientFinal(serverFirst: first, clientFirstBare: "n=,r=abc", binding: Array(header.utf8) + data, keys: keys)
        guard case .success = try server.receiveClientFinal(good) else {
            Issue.record("a correct binding was refused")
            return
        }
        // Another certificate's data (a man in the middle) fails, even with the right password.
        var other = SCRAMServer(keys: keys, channelBinding: data)
        let otherFirst = try other.receiveClientFirst(mechanism: "SCRAM-SHA-256-PLUS", message: header + "n=,r=abc")
        let wrong = clientFinal(serverFirst: otherFirst, clientFirstBare: "n=,r=abc",
                                binding: Array(header.utf8) + Array(repeating: 8, count: 32), keys: keys)
        #expect(try other.receiveClientFinal(wrong) == .failure)
    }

    @Test func aDowngradedOrInconsistentBindingIsRefused() {
        let keys = SCRAMKeys(salt: [1], iterations: 4096, storedKey: [], serverKey: [])
        var server = SCRAMServer(keys: keys, channelBinding: [1, 2, 3])
        #expect(throws: SCRAMServer.Failure.self, "y: the client could bind, the server offered it") {
            try server.receiveClientFirst(mechanism: "SCRAM-SHA-256", message: "y,,n=,r=abc")
        }
        #expect(throws: SCRAMServer.Failure.self, "PLUS without binding") {
            try server.receiveClientFirst(mechanism: "SCRAM-SHA-256-PLUS", message: "n,,n=,r=abc")
        }
        #expect(throws: SCRAMServer.Failure.self, "an unknown binding type") {
            try server.receiveClientFirst(mechanism: "SCRAM-SHA-256-PLUS", message: "p=tls-unique,,n=,r=abc")
        }
        // Plain SCRAM without binding is still accepted on TLS.
        #expect(throws: Never.self) { try server.receiveClientFirst(mechanism: "SCRAM-SHA-256", message: "n,,n=,r=abc") }
    }

    @Test func theBindingHashFollowsTheCertificateSignature() {
        func certificate(oid: [UInt8]) -> [UInt8] {
            let algorithm: [UInt8] = [0x30, UInt8(oid.count + 2), 0x06, UInt8(oid.count)] + oid
            let tbs: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x02]
            let body = tbs + algorithm + [0x03, 0x01, 0x00]
            return [0x30, UInt8(body.count)] + body
        }
        let sha384RSA: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C]
        let sha256ECDSA: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]
        let sha512ECDSA: [UInt8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04]
        #expect(ChannelBinding.signatureHash(certificateDER: certificate(oid: sha384RSA)) == .sha384)
        #expect(ChannelBinding.signatureHash(certificateDER: certificate(oid: sha256ECDSA)) == .sha256)
        #expect(ChannelBinding.signatureHash(certificateDER: certificate(oid: sha512ECDSA)) == .sha512)
        #expect(ChannelBinding.signatureHash(certificateDER: [0x30, 0x80, 0xFF]) == .sha256, "garbage: SHA-256")
        #expect(ChannelBinding.tlsServerEndPointData(certificateDER: certificate(oid: sha384RSA)).count == 48)
        #expect(ChannelBinding.tlsServerEndPointData(certificateDER: certificate(oid: sha256ECDSA)).count == 32)
    }
}
