// PCP: PCPMessageDecoder.next on a byte stream in random read sizes (as the ByteToMessageHandler
// calls it), each packet through PCPSession (salt, md5 authentication against pcp.conf, commands).
// Checks that packets survive being written back, that nothing runs before authentication, that
// a FATAL or close ends the conversation, and that replies the client can read are well framed.
//
// Input: one control byte (chunking), then the client's bytes. The session's salt is always
// 1 2 3 4, so a seed can hold a correct login for pcpadmin / pcpadminpass.
import Configuration
import FuzzSupport
import NIOCore
import PCP
import PostgresWire

let users = PCPUsers(users: [PCPUser(user: "pcpadmin", passwordMD5: "9e5cc4cae447769a19c378d7da878eab", line: 1)])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(bytes(start, count))
    let control = input.byte()
    let stream = input.rest()
    var random = FuzzRandom(seed: [control] + stream.prefix(8))
    var session = PCPSession(users: users) { [1, 2, 3, 4] }
    var buffer = ByteBuffer()
    var authenticated = false
    reading: for chunk in random.chunks(of: stream, maxChunk: [5, 40, 300, 3000][Int(control & 3)]) {
        buffer.writeBytes(chunk)
        while true {
            let before = buffer.readableBytes
            let message: PCPMessage?
            do {
                message = try PCPMessageDecoder.next(from: &buffer)
            } catch {
                check(buffer.readableBytes == before, "a refused packet consumed bytes")
                break reading
            }
            guard let message else {
                check(buffer.readableBytes == before, "an incomplete packet consumed bytes")
                break
            }
            check(before - buffer.readableBytes == 5 + message.payload.count, "consumed a wrong number of bytes")
            check(message.payload.count + 4 < PCPMessage.maxLength, "a packet over the limit")

            var written = ByteBuffer()
            message.write(into: &written)
            check((try? PCPMessageDecoder.next(from: &written)) == message, "packet round trip")
            _ = message.strings

            let action = session.receive(message)
            switch action {
            case .send(let replies):
                for reply in replies { readBack(reply) }
                if session.user != nil { authenticated = true }
            case .execute(let command):
                check(authenticated && session.user != nil, "\(command) before authentication")
            case .fatal(let reply):
                readBack(reply)
                break reading
            case .close:
                check(authenticated, "close before authentication")
                break reading
            }
        }
    }
    return 0
}

/// A reply short enough for Pgpool-II's client reads back as itself.
func readBack(_ reply: PCPMessage) {
    var written = ByteBuffer()
    reply.write(into: &written)
    guard reply.payload.count + 4 < PCPMessage.maxLength else { return }
    check((try? PCPMessageDecoder.next(from: &written)) == reply, "reply round trip")
}
