import NIOCore
import PostgresWire
import Testing
@testable import Proxy

@Suite("Client authentication")
struct ClientAuthMachineTests {
    func body(_ write: (inout ByteBuffer) -> Void) -> ByteBuffer {
        var buffer = ByteBuffer()
        write(&buffer)
        return buffer.getSlice(at: 5, length: buffer.readableBytes - 5)!
    }

    func authRequest(_ action: ClientAuthMachine.Action) throws -> AuthenticationRequest {
        guard case .send(let bytes) = action else { throw Failure("expected a request, got \(action)") }
        return try BackendMessageDecoder.authentication(body: bytes.getSlice(at: 5, length: bytes.readableBytes - 5)!)
    }

    struct Failure: Error { var text: String; init(_ text: String) { self.text = text } }

    @Test func trustNeedsNothing() {
        var machine = ClientAuthMachine(method: .trust, user: "u", stored: nil, clientSideKeys: nil)
        #expect(machine.start() == .authenticated)
    }

    @Test func cleartextChecksEveryStoredForm() {
        let forms: [PasswordCredential] = [.plain("pw"), .md5(MD5Password.storedHash(password: "pw", user: "u"))]
        for stored in forms {
            var good = ClientAuthMachine(method: .password, user: "u", stored: stored, clientSideKeys: nil)
            _ = good.start()
            #expect(good.receive(passwordMessage: body { FrontendMessageEncoder.password("pw", into: &$0) }) == .authenticated)
            var bad = ClientAuthMachine(method: .password, user: "u", stored: stored, clientSideKeys: nil)
            _ = bad.start()
            guard case .fail(let error) = bad.receive(passwordMessage: body { FrontendMessageEncoder.password("nope", into: &$0) }) else {
                Issue.record("wrong password accepted")
                continue
            }
            #expect(error.sqlState == "28P01")
            #expect(error.message == "password authentication failed for user \"u\"")
        }
    }

    @Test func md5ChallengeUsesItsSalt() throws {
        var machine = ClientAuthMachine(method: .md5, user: "u", stored: .plain("pw"), clientSideKeys: nil)
        guard case .md5Password(let salt) = try authRequest(machine.start()) else { throw Failure("no md5 request") }
        let response = MD5Password.response(password: "pw", user: "u", salt: salt)
        #expect(machine.receive(passwordMessage: body { FrontendMessageEncoder.password(response, into: &$0) }) == .authenticated)
    }

    @Test func scramFullExchange() throws {
        let keys = try SCRAMKeys.derive(password: "pw", salt: Array("0123456789abcdef".utf8), iterations: 4096)
        var machine = ClientAuthMachine(method: .scramSHA256, user: "u", stored: .plain("pw"), clientSideKeys: keys)
        #expect(try authRequest(machine.start()) == .sasl(mechanisms: ["SCRAM-SHA-256"]))
        var client = SCRAMClient()
        let first = machine.receive(passwordMessage: body {
            FrontendMessageEncoder.saslInitialResponse(mechanism: "SCRAM-SHA-256", data: client.clientFirstMessage, into: &$0)
        })
        guard case .saslContinue(let serverFirst) = try authRequest(first) else { throw Failure("no server-first") }
        let final = try client.respond(toServerFirst: serverFirst) { salt, iterations in
            try SCRAMKeys.derive(password: "pw", salt: salt, iterations: iterations)
        }
        guard case .sendAndAuthenticate(let bytes) = machine.receive(passwordMessage: body { FrontendMessageEncoder.saslResponse(final, into: &$0) }) else {
            throw Failure("not authenticated")
        }
        guard case .saslFinal(let serverFinal) = try BackendMessageDecoder.authentication(body: bytes.getSlice(at: 5, length: bytes.readableBytes - 5)!) else {
            throw Failure("no server-final")
        }
        try client.verify(serverFinal: serverFinal)
    }

    @Test func unknownUserGetsTheSameErrorAsWrongPassword() throws {
        var machine = ClientAuthMachine(method: .scramSHA256, user: "ghost", stored: nil, clientSideKeys: nil)
        _ = machine.start()
        var client = SCRAMClient()
        let first = machine.receive(passwordMessage: body {
            FrontendMessageEncoder.saslInitialResponse(mechanism: "SCRAM-SHA-256", data: client.clientFirstMessage, into: &$0)
        })
        guard case .saslContinue(let serverFirst) = try authRequest(first) else { throw Failure("no server-first") }
        let final = try client.respond(toServerFirst: serverFirst) { salt, iterations in
            try SCRAMKeys.derive(password: "guess", salt: salt, iterations: iterations)
        }
        guard case .fail(let error) = machine.receive(passwordMessage: body { FrontendMessageEncoder.saslResponse(final, into: &$0) }) else {
            throw Failure("unknown user accepted")
        }
        #expect(error.sqlState == "28P01")
        #expect(error.message == "password authentication failed for user \"ghost\"")
    }

    /// The salt an unknown user is offered.
    func decoySalt(_ user: String) throws -> Substring {
        var machine = ClientAuthMachine(method: .scramSHA256, user: user, stored: nil, clientSideKeys: nil)
        _ = machine.start()
        let client = SCRAMClient()
        let first = machine.receive(passwordMessage: body {
            FrontendMessageEncoder.saslInitialResponse(mechanism: "SCRAM-SHA-256", data: client.clientFirstMessage, into: &$0)
        })
        guard case .saslContinue(let serverFirst) = try authRequest(first),
              let salt = serverFirst.split(separator: ",").first(where: { $0.hasPrefix("s=") }) else {
            throw Failure("no server-first")
        }
        return salt
    }

    /// Users are told apart by bytes, so the decoy salt is too: "jose\u{301}" must not be offered
    /// the salt of "jos\u{E9}" (whose real salt it would then reveal, or not, when that user exists).
    @Test func decoySaltsFollowTheNamesBytes() throws {
        #expect(try decoySalt("ghost") == decoySalt("ghost"))
        #expect(try decoySalt("jos\u{E9}") != decoySalt("jose\u{301}"))
    }

    /// A clear-text password is checked byte for byte against a TEXT entry, as Pgpool-II does.
    @Test func aClearTextPasswordInAnotherUnicodeFormIsWrong() {
        var machine = ClientAuthMachine(method: .password, user: "u", stored: .plain("caf\u{E9}"), clientSideKeys: nil)
        _ = machine.start()
        guard case .fail(let error) = machine.receive(passwordMessage: body { FrontendMessageEncoder.password("cafe\u{301}", into: &$0) }) else {
            Issue.record("a password in another Unicode form was accepted")
            return
        }
        #expect(error.sqlState == "28P01")
    }

    @Test func messageOutOfTurnIsAProtocolViolation() {
        var machine = ClientAuthMachine(method: .password, user: "u", stored: .plain("pw"), clientSideKeys: nil)
        guard case .fail(let error) = machine.receive(passwordMessage: ByteBuffer()) else {
            Issue.record("accepted a message before the request")
            return
        }
        #expect(error.sqlState == "08P01")
    }
}
