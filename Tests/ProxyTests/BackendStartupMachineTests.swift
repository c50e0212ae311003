import NIOCore
import PostgresWire
import Testing
@testable import Proxy

@Suite("Backend login")
struct BackendStartupMachineTests {
    func message(_ write: (inout ByteBuffer) -> Void) throws -> RawMessage {
        var buffer = ByteBuffer()
        write(&buffer)
        var splitter = MessageSplitter(maxMessageLength: 1 << 16)
        var result: RawMessage?
        try splitter.feed(buffer) { result = $0 }
        return result!
    }

    func machine(_ secret: BackendSecret) -> BackendStartupMachine {
        BackendStartupMachine(user: "u", secret: secret) { salt, iterations in
            try SCRAMKeys.derive(password: "pw", salt: salt, iterations: iterations)
        }
    }

    @Test func trustLoginCollectsParametersAndKey() throws {
        var machine = machine(.none)
        #expect(machine.receive(try message { BackendMessageEncoder.authenticationOk(into: &$0) }) == .none)
        #expect(machine.receive(try message { BackendMessageEncoder.parameterStatus(name: "server_version", value: "15.1", into: &$0) }) == .none)
        #expect(machine.receive(try message { BackendMessageEncoder.backendKeyData(BackendKey(processID: 5, secretKey: 6), into: &$0) }) == .none)
        #expect(machine.receive(try message { BackendMessageEncoder.readyForQuery(.idle, into: &$0) }) == .ready(.idle))
        #expect(machine.authMethod == .trust)
        #expect(machine.parameters["server_version"] == "15.1")
        #expect(machine.backendKey == BackendKey(processID: 5, secretKey: 6))
    }

    @Test func md5AnswersFromPlainAndHashedSecrets() throws {
        for secret in [BackendSecret.plain("pw"), .md5Hash(MD5Password.storedHash(password: "pw", user: "u"))] {
            var machine = machine(secret)
            let action = machine.receive(try message { BackendMessageEncoder.authenticationMD5Password(salt: [9, 8, 7, 6], into: &$0) })
            var expected = ByteBuffer()
            FrontendMessageEncoder.password(MD5Password.response(password: "pw", user: "u", salt: [9, 8, 7, 6]), into: &expected)
            #expect(action == .send(expected))
            #expect(machine.authMethod == .md5)
        }
    }

    @Test func scramAgainstAServerMachine() throws {
        let keys = try SCRAMKeys.derive(password: "pw", salt: Array("0123456789abcdef".utf8), iterations: 4096)
        var server = SCRAMServer(keys: keys)
        var machine = machine(.plain("pw"))
        guard case .send(let initial) = machine.receive(try message { BackendMessageEncoder.authenticationSASL(mechanisms: ["SCRAM-SHA-256"], into: &$0) }) else {
            Issue.record("no initial response")
            return
        }
        let (mechanism, data) = try FrontendMessageDecoder.saslInitialResponse(body: initial.getSlice(at: 5, length: initial.readableBytes - 5)!)
        let serverFirst = try server.receiveClientFirst(mechanism: mechanism, message: data)
        guard case .send(let final) = machine.receive(try message { BackendMessageEncoder.authenticationSASLContinue(serverFirst, into: &$0) }) else {
            Issue.record("no final response")
            return
        }
        guard case .success(let serverFinal) = try server.receiveClientFinal(FrontendMessageDecoder.saslResponse(body: final.getSlice(at: 5, length: final.readableBytes - 5)!)) else {
            Issue.record("server rejected the proof")
            return
        }
        #expect(machine.receive(try message { BackendMessageEncoder.authenticationSASLFinal(serverFinal, into: &$0) }) == .none)
        #expect(machine.receive(try message { BackendMessageEncoder.authenticationOk(into: &$0) }) == .none)
        #expect(machine.receive(try message { BackendMessageEncoder.readyForQuery(.idle, into: &$0) }) == .ready(.idle))
        #expect(machine.authMethod == .scramSHA256)
    }

    @Test func failuresAreReported() throws {
        var noPassword = machine(.none)
        #expect(noPassword.receive(try message { BackendMessageEncoder.authenticationSASL(mechanisms: ["SCRAM-SHA-256"], into: &$0) })
                == .fail(.noUsablePassword(.scramSHA256)))
        var md5Only = machine(.md5Hash("md5abc"))
        #expect(md5Only.receive(try message { BackendMessageEncoder.authenticationCleartextPassword(into: &$0) })
                == .fail(.noUsablePassword(.password)))
        var rejected = machine(.plain("pw"))
        let error = ErrorFields(severity: .fatal, sqlState: "28P01", message: "password authentication failed for user \"u\"")
        #expect(rejected.receive(try message { BackendMessageEncoder.errorResponse(error, into: &$0) }) == .fail(.rejected(error)))
        var early = machine(.none)
        guard case .fail(.protocolViolation) = early.receive(try message { BackendMessageEncoder.readyForQuery(.idle, into: &$0) }) else {
            Issue.record("ReadyForQuery before AuthenticationOk accepted")
            return
        }
    }
}
