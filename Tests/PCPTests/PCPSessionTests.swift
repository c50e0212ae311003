import Configuration
import NIOCore
import PostgresWire
import Testing

@testable import PCP

@Suite struct PCPSessionTests {
    // pcpadmin / pcpadminpass
    let users = PCPUsers(users: [PCPUser(user: "pcpadmin", passwordMD5: "9e5cc4cae447769a19c378d7da878eab", line: 1)])
    let salt: [UInt8] = [1, 2, 3, 4]

    func session() -> PCPSession { PCPSession(users: users) { [1, 2, 3, 4] } }

    /// What a pcp_* client sends for a password.
    func clientHash(password: String, user: String) -> String {
        let inner = MD5Password.plainHash(MD5Password.plainHash(password) + user)
        return MD5Password.plainHash(bytes: Array(inner.utf8) + salt)
    }

    @Test func authenticationThenCommands() {
        var session = session()
        #expect(session.receive(PCPMessage(type: UInt8(ascii: "M"))) == .send([PCPMessage(type: UInt8(ascii: "m"), payload: salt)]))
        let login = PCPMessage.strings("R", ["pcpadmin", clientHash(password: "pcpadminpass", user: "pcpadmin")])
        #expect(session.receive(login) == .send([.strings("r", ["AuthenticationOK"])]))
        #expect(session.user == "pcpadmin")
        #expect(session.receive(PCPMessage(type: UInt8(ascii: "L"))) == .execute(.nodeCount))
        #expect(session.receive(.strings("I", ["-1"])) == .execute(.nodeInfo(-1)))
        #expect(session.receive(.strings("d", ["2"])) == .execute(.detach(2, graceful: true)))
        #expect(session.receive(.strings("J", ["1 "], then: [UInt8(ascii: "s")])) == .execute(.promote(1, switchover: true)))
        #expect(session.receive(.strings("J", ["1 "], then: [UInt8(ascii: "n")])) == .execute(.promote(1, switchover: false)))
        #expect(session.receive(PCPMessage(type: UInt8(ascii: "T"), payload: [UInt8(ascii: "f")])) == .execute(.stop(mode: UInt8(ascii: "f"))))
        if case .send(let replies) = session.receive(.strings("C", ["x"])) {
            #expect(replies.first?.type == UInt8(ascii: "E"))
        } else {
            Issue.record("a malformed node id must give an ERROR")
        }
        #expect(session.receive(PCPMessage(type: UInt8(ascii: "X"))) == .close)
    }

    @Test func refusals() {
        var session = session()
        guard case .fatal(let early) = session.receive(PCPMessage(type: UInt8(ascii: "L"))) else { Issue.record("not refused"); return }
        #expect(early.strings.contains("Mauthentication failed for new PCP connection"))
        _ = session.receive(PCPMessage(type: UInt8(ascii: "M")))
        guard case .fatal(let wrong) = session.receive(.strings("R", ["pcpadmin", clientHash(password: "nope", user: "pcpadmin")])) else {
            Issue.record("wrong password accepted"); return
        }
        #expect(wrong.strings.contains("SFATAL"))
        var other = self.session()
        _ = other.receive(PCPMessage(type: UInt8(ascii: "M")))
        guard case .fatal = other.receive(.strings("R", ["ghost", clientHash(password: "pcpadminpass", user: "ghost")])) else {
            Issue.record("unknown user accepted"); return
        }
        var unknown = self.session()
        _ = unknown.receive(PCPMessage(type: UInt8(ascii: "M")))
        _ = unknown.receive(.strings("R", ["pcpadmin", clientHash(password: "pcpadminpass", user: "pcpadmin")]))
        guard case .fatal = unknown.receive(PCPMessage(type: UInt8(ascii: "Q"))) else { Issue.record("unknown packet accepted"); return }
    }

    @Test func framing() throws {
        var buffer = ByteBuffer()
        PCPMessage.strings("l", ["CommandComplete", "4"]).write(into: &buffer)
        #expect(buffer.readableBytes == 5 + 16 + 2)
        var partial = buffer.getSlice(at: 0, length: 7)!
        #expect(try PCPMessageDecoder.next(from: &partial) == nil)
        let message = try PCPMessageDecoder.next(from: &buffer)
        #expect(message?.strings == ["CommandComplete", "4"])
        var tooLong = ByteBuffer(bytes: [UInt8(ascii: "M"), 0, 0, 1, 4])
        #expect(throws: PCPFramingError.invalidLength(260)) { try PCPMessageDecoder.next(from: &tooLong) }
        var tooShort = ByteBuffer(bytes: [UInt8(ascii: "M"), 0, 0, 0, 3])
        #expect(throws: PCPFramingError.invalidLength(3)) { try PCPMessageDecoder.next(from: &tooShort) }
    }

    /// A pcp.conf user is matched byte for byte: the same name in another Unicode normalization
    /// form is another (unknown) user, even with the right password.
    @Test func aUserNameInAnotherNormalizationFormIsRefused() {
        let joseNFC = PCPUsers(users: [PCPUser(user: "jos\u{E9}", passwordMD5: MD5Password.plainHash("pw"), line: 1)])
        var session = PCPSession(users: joseNFC) { [1, 2, 3, 4] }
        _ = session.receive(PCPMessage(type: UInt8(ascii: "M")))
        let login = PCPMessage.strings("R", ["jose\u{301}", clientHash(password: "pw", user: "jose\u{301}")])
        guard case .fatal = session.receive(login) else {
            Issue.record("a login as jose\u{301} with jos\u{E9}'s password was accepted")
            return
        }
        #expect(session.user == nil)
        var exact = PCPSession(users: joseNFC) { [1, 2, 3, 4] }
        _ = exact.receive(PCPMessage(type: UInt8(ascii: "M")))
        #expect(exact.receive(.strings("R", ["jos\u{E9}", clientHash(password: "pw", user: "jos\u{E9}")])) == .send([.strings("r", ["AuthenticationOK"])]))
    }

    /// Two pcp.conf users whose names differ only in their Unicode normalization form are two
    /// users: each logs in with its own password (as HTTP Basic on the admin API finds them).
    @Test func twoUsersWhoseNamesDifferOnlyInNormalizationFormBothLogIn() {
        let users = PCPUsers(users: [
            PCPUser(user: "jos\u{E9}", passwordMD5: MD5Password.plainHash("first"), line: 1),
            PCPUser(user: "jose\u{301}", passwordMD5: MD5Password.plainHash("second"), line: 2),
        ])
        for (user, password) in [("jos\u{E9}", "first"), ("jose\u{301}", "second")] {
            var session = PCPSession(users: users) { [1, 2, 3, 4] }
            _ = session.receive(PCPMessage(type: UInt8(ascii: "M")))
            #expect(session.receive(.strings("R", [user, clientHash(password: password, user: user)]))
                == .send([.strings("r", ["AuthenticationOK"])]), "\(user.unicodeScalars.count) scalars")
            #expect(session.user.map { Array($0.utf8) } == Array(user.utf8))
        }
    }
}
