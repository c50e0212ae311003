// Client message framing: MessageSplitter fed in random read sizes with the calls the client
// session makes (feed during login, feedRun while forwarding, nextMessage/putBack around local
// answers), compared with a plain reading of the whole stream; then the authentication messages
// through FrontendMessageDecoder, with encoder round trips.
//
// Input: one control byte (message length limit and chunking), then the client's bytes.
import FuzzSupport
import NIOCore
import PostgresWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(bytes(start, count))
    let control = input.byte()
    let limit = [64, 1024, 65_536, 1 << 30][Int(control & 3)]
    let stream = input.rest()
    var random = FuzzRandom(seed: [control] + stream.prefix(8))
    let reference = referenceMessages(stream, limit: limit)

    var splitter = MessageSplitter(maxMessageLength: limit)
    var got: [[UInt8]] = []
    var failed = false
    reading: for chunk in random.chunks(of: stream, maxChunk: [7, 64, 600, 5000][Int(control >> 2 & 3)]) {
        let buffer = ByteBuffer(bytes: chunk)
        do {
            switch random.below(3) {
            case 0:
                try splitter.feed(buffer) { got.append(Array(buffer: $0.bytes)) }
            case 1:
                var accepted: [[UInt8]] = []
                let stop = UInt8(truncatingIfNeeded: random.next())
                let run = try splitter.feedRun(buffer) { type, message in
                    guard type != stop else { return false }
                    accepted.append(Array(buffer: message().bytes))
                    return true
                }
                let runBytes = run.map { Array(buffer: $0) } ?? []
                check(runBytes == accepted.flatMap { $0 }, "feedRun's slice is not the accepted messages")
                got += accepted
            default:
                // Take a few messages, give some back, as a local answer does with a batch.
                _ = try splitter.feedRun(buffer) { _, _ in false }
                var taken: [RawMessage] = []
                for _ in 0..<random.below(4) {
                    guard let message = try splitter.nextMessage() else { break }
                    taken.append(message)
                }
                let keep = random.below(taken.count + 1)
                for message in taken[keep...].reversed() { splitter.putBack(message) }
                got += taken[..<keep].map { Array(buffer: $0.bytes) }
            }
        } catch {
            check(error is FramingError, "unexpected error \(error)")
            failed = true
            break reading
        }
    }
    if !failed {
        do {
            while let message = try splitter.nextMessage() { got.append(Array(buffer: message.bytes)) }
        } catch {
            failed = true
        }
    }
    let expected = reference.messages.map(\.bytes)
    if failed {
        check(reference.error != nil, "the splitter refused a stream a plain reading accepts")
        check(got.count <= expected.count && Array(expected[..<got.count]) == got, "messages before the error differ")
    } else {
        check(reference.error == nil, "the splitter accepted a header with an invalid length")
        check(got == expected, "split into \(got.count) messages, expected \(expected.count)")
        check(splitter.bufferedByteCount == stream.count - reference.consumed, "wrong number of bytes held back")
    }

    for message in reference.messages {
        check(message.bytes.count - 1 == Int(UInt32(message.bytes[1]) << 24 | UInt32(message.bytes[2]) << 16
              | UInt32(message.bytes[3]) << 8 | UInt32(message.bytes[4])), "length field mismatch")
        let raw = RawMessage(type: message.type, bytes: ByteBuffer(bytes: message.bytes))
        check(Array(buffer: raw.body) == Array(message.body), "RawMessage.body is not the body")
        guard message.type == FrontendMessageType.password else { continue }
        // The login reads a 'p' message as whichever of these the authentication expects.
        if let password = try? FrontendMessageDecoder.password(body: raw.body) {
            var encoded = ByteBuffer()
            FrontendMessageEncoder.password(password, into: &encoded)
            let decoded = try? FrontendMessageDecoder.password(body: encoded.getSlice(at: 5, length: encoded.readableBytes - 5)!)
            check(decoded == password, "password round trip")
        }
        if let (mechanism, data) = try? FrontendMessageDecoder.saslInitialResponse(body: raw.body) {
            var encoded = ByteBuffer()
            FrontendMessageEncoder.saslInitialResponse(mechanism: mechanism, data: data, into: &encoded)
            let decoded = try? FrontendMessageDecoder.saslInitialResponse(body: encoded.getSlice(at: 5, length: encoded.readableBytes - 5)!)
            check(decoded?.mechanism == mechanism && decoded?.data == data, "SASLInitialResponse round trip")
        }
        let response = FrontendMessageDecoder.saslResponse(body: raw.body)
        var encoded = ByteBuffer()
        FrontendMessageEncoder.saslResponse(response, into: &encoded)
        check(FrontendMessageDecoder.saslResponse(body: encoded.getSlice(at: 5, length: encoded.readableBytes - 5)!) == response,
              "SASLResponse round trip")
    }
    return 0
}
