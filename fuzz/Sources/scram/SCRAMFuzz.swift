// SCRAM-SHA-256 messages. Server side (a client logging in to SwiftPool): SCRAMServer reads a
// client-first and a client-final message from the input. Client side (SwiftPool logging in to a
// backend): SCRAMClient reads a server-first and a server-final message from the input, with keys
// from a cache as CredentialStore provides them. Each run also does a whole exchange between the
// real client and the real server, with a client nonce from the input, which must succeed.
//
// Input: client-first, client-final, server-first, server-final, separated by 0x01 bytes.
import FuzzSupport
import PostgresWire

let salt: [UInt8] = Array("fuzz-salt-16byte".utf8)
let keys = try! SCRAMKeys.derive(password: "fuzz-password", salt: salt, iterations: 4096)
let serverKeys = SCRAMKeys(salt: keys.salt, iterations: keys.iterations, storedKey: keys.storedKey, serverKey: keys.serverKey)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let parts = FuzzInput(bytes(start, count)).parts(separatedBy: 1).map { String(fuzz: $0) }
    func part(_ index: Int) -> String { index < parts.count ? parts[index] : "" }

    // Server side, messages from the input.
    var server = SCRAMServer(keys: serverKeys, serverNonce: "server-nonce")
    if let serverFirst = try? server.receiveClientFirst(mechanism: SCRAM.mechanism, message: part(0)) {
        check(serverFirst.hasPrefix("r=") && serverFirst.contains("server-nonce,s="), "server-first \(serverFirst)")
        _ = try? server.receiveClientFinal(part(1))
    }
    var unknownUser = SCRAMServer(keys: serverKeys, credentialIsValid: false, serverNonce: "n")
    if (try? unknownUser.receiveClientFirst(mechanism: SCRAM.mechanism, message: part(0))) != nil {
        if case .success = try? unknownUser.receiveClientFinal(part(1)) {
            check(false, "an unknown user authenticated")
        }
    }

    // Client side, messages from the input.
    var client = SCRAMClient(nonce: "client-nonce")
    if (try? client.respond(toServerFirst: part(2), keys: { _, _ in keys })) != nil {
        _ = try? client.verify(serverFinal: part(3))
    }

    // The real client against the real server, with a nonce from the input (printable, no comma).
    let nonce = String(part(0).unicodeScalars.filter { $0.value > 0x20 && $0.value < 0x7F && $0 != "," }.prefix(40))
    var honest = SCRAMClient(nonce: nonce.isEmpty ? "x" : nonce)
    var honestServer = SCRAMServer(keys: serverKeys, serverNonce: "server-nonce")
    do {
        let serverFirst = try honestServer.receiveClientFirst(mechanism: SCRAM.mechanism, message: honest.clientFirstMessage)
        let clientFinal = try honest.respond(toServerFirst: serverFirst, keys: { _, _ in keys })
        guard case .success(let serverFinal) = try honestServer.receiveClientFinal(clientFinal) else {
            check(false, "a correct proof was refused (nonce \(nonce))")
            return 0
        }
        try honest.verify(serverFinal: serverFinal)
    } catch {
        check(false, "the exchange failed: \(error) (nonce \(nonce))")
    }
    return 0
}
