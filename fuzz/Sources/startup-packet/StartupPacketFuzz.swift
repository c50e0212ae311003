// Startup packets: StartupPacket.decode as ClientSessionMachine+Login calls it, on a buffer that
// may hold several packets, any prefix of one, or garbage.
import FuzzSupport
import NIOCore
import PostgresWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var buffer = ByteBuffer(bytes: UnsafeRawBufferPointer(start: start, count: count))
    while buffer.readableBytes > 0 {
        let before = buffer.readerIndex
        let packet: StartupPacket?
        do {
            packet = try StartupPacket.decode(from: &buffer)
        } catch {
            // The session ends on a refused packet; what was consumed does not matter.
            break
        }
        guard let packet else {
            // Incomplete: nothing consumed, and it really is short of its declared length.
            check(buffer.readerIndex == before, "an incomplete packet consumed bytes")
            let length = Int(buffer.getInteger(at: before, as: Int32.self) ?? 0)
            check(buffer.readableBytes < max(length, 4), "a complete packet was reported incomplete")
            break
        }
        let consumed = buffer.readerIndex - before
        check(consumed >= 8 && consumed <= ProtocolCode.maxStartupPacketLength, "consumed \(consumed) bytes")

        // Round trip: the encoder's bytes decode to the same packet.
        var encoded = ByteBuffer()
        packet.encode(into: &encoded)
        let length = encoded.readableBytes
        if length <= ProtocolCode.maxStartupPacketLength {
            let again = try? StartupPacket.decode(from: &encoded)
            check(again == packet, "round trip changed \(packet) into \(String(describing: again))")
            check(encoded.readableBytes == 0, "round trip left \(encoded.readableBytes) bytes")
        }
        if case .startup(let parameters) = packet {
            _ = parameters.user
            _ = parameters.database
            check(parameters.protocolVersion >> 16 == 3, "accepted protocol \(parameters.protocolVersion)")
        }
    }
    return 0
}
