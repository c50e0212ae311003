// Backend byte streams: BackendStreamObserver watching what BackendConnection watches, fed in
// random read sizes and compared with a plain reading of the whole stream; each observed message
// decoded as BackendConnection.received decodes it, driving a BackendProtocolTracker together
// with frontend message types from the input; login messages ('R', 'K') decoded as the backend
// login does. Decoders are checked against their encoders.
//
// Input: one control byte (length limit and chunking), then the backend's bytes.
import FuzzSupport
import NIOCore
import PostgresWire
import Proxy

let watched: [UInt8] = [
    BackendMessageType.readyForQuery, BackendMessageType.parameterStatus, BackendMessageType.copyInResponse,
    BackendMessageType.copyBothResponse, BackendMessageType.errorResponse,
]

/// The body of the one message in `buffer` (as an encoder wrote it).
func body(_ buffer: ByteBuffer) -> ByteBuffer {
    buffer.getSlice(at: buffer.readerIndex + 5, length: buffer.readableBytes - 5)!
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(bytes(start, count))
    let control = input.byte()
    let limit = [64, 1024, 65_536, 1 << 30][Int(control & 3)]
    let stream = input.rest()
    var random = FuzzRandom(seed: [control] + stream.prefix(8))
    let reference = referenceMessages(stream, limit: limit)

    var observer = BackendStreamObserver(watching: watched, maxMessageLength: limit)
    var tracker = BackendProtocolTracker()
    let frontendTypes: [UInt8] = Array("QPBDECSHFdcfX".utf8)
    var events: [(UInt8, [UInt8])] = []
    var failed = false
    for chunk in random.chunks(of: stream, maxChunk: [7, 64, 600, 5000][Int(control >> 2 & 3)]) {
        // The client keeps sending while the backend answers.
        tracker.frontendSent(frontendTypes[random.below(frontendTypes.count)])
        do {
            try observer.scan(ByteBuffer(bytes: chunk)) { event in
                events.append((event.type, Array(buffer: event.body)))
                switch event.type {
                case BackendMessageType.readyForQuery:
                    if let status = try? BackendMessageDecoder.readyForQuery(body: event.body) {
                        tracker.backendSentReadyForQuery(status)
                        check(!tracker.copyInProgress, "COPY still in progress after ReadyForQuery")
                    }
                case BackendMessageType.parameterStatus:
                    _ = try? BackendMessageDecoder.parameterStatus(body: event.body)
                case BackendMessageType.copyInResponse, BackendMessageType.copyBothResponse:
                    tracker.backendStartedCopyIn()
                default:
                    _ = ErrorFields.decode(body: event.body).severity
                }
            }
        } catch {
            check(error is FramingError, "unexpected error \(error)")
            failed = true
            break
        }
        check(tracker.pendingReadyForQuery >= 0, "negative ReadyForQuery count")
        check(tracker.isQuiescent == (tracker.pendingReadyForQuery == 0 && !tracker.unsyncedExtendedQuery && !tracker.copyInProgress),
              "isQuiescent disagrees with the state")
    }
    let expected = reference.messages.filter { watched.contains($0.type) }
    check(events.count <= expected.count, "more events than watched messages")
    for (event, message) in zip(events, expected) {
        check(event.0 == message.type && event.1 == Array(message.body), "an event differs from its message")
    }
    if failed {
        check(reference.error != nil, "the observer refused a stream a plain reading accepts")
    } else {
        check(reference.error == nil, "the observer accepted a header with an invalid length")
        check(events.count == expected.count, "observed \(events.count) messages, expected \(expected.count)")
        check(observer.isAtMessageBoundary == (reference.consumed == stream.count), "wrong message boundary")
    }

    for message in reference.messages {
        let messageBody = ByteBuffer(bytes: message.body)
        var encoded = ByteBuffer()
        switch message.type {
        case BackendMessageType.authentication:
            guard let request = try? BackendMessageDecoder.authentication(body: messageBody) else { continue }
            switch request {
            case .ok: BackendMessageEncoder.authenticationOk(into: &encoded)
            case .cleartextPassword: BackendMessageEncoder.authenticationCleartextPassword(into: &encoded)
            case .md5Password(let salt): BackendMessageEncoder.authenticationMD5Password(salt: salt, into: &encoded)
            case .sasl(let mechanisms): BackendMessageEncoder.authenticationSASL(mechanisms: mechanisms, into: &encoded)
            case .saslContinue(let data): BackendMessageEncoder.authenticationSASLContinue(data, into: &encoded)
            case .saslFinal(let data): BackendMessageEncoder.authenticationSASLFinal(data, into: &encoded)
            case .unsupported: continue
            }
            check((try? BackendMessageDecoder.authentication(body: body(encoded))) == request, "authentication round trip of \(request)")
        case BackendMessageType.parameterStatus:
            guard let (name, value) = try? BackendMessageDecoder.parameterStatus(body: messageBody) else { continue }
            BackendMessageEncoder.parameterStatus(name: name, value: value, into: &encoded)
            let again = try? BackendMessageDecoder.parameterStatus(body: body(encoded))
            check(again?.name == name && again?.value == value, "ParameterStatus round trip")
        case BackendMessageType.backendKeyData:
            guard let key = try? BackendMessageDecoder.backendKeyData(body: messageBody) else { continue }
            BackendMessageEncoder.backendKeyData(key, into: &encoded)
            check((try? BackendMessageDecoder.backendKeyData(body: body(encoded))) == key, "BackendKeyData round trip")
        case BackendMessageType.readyForQuery:
            guard let status = try? BackendMessageDecoder.readyForQuery(body: messageBody) else { continue }
            BackendMessageEncoder.readyForQuery(status, into: &encoded)
            check((try? BackendMessageDecoder.readyForQuery(body: body(encoded))) == status, "ReadyForQuery round trip")
        case BackendMessageType.errorResponse, BackendMessageType.noticeResponse:
            let fields = ErrorFields.decode(body: messageBody)
            BackendMessageEncoder.errorResponse(fields, into: &encoded)
            check(ErrorFields.decode(body: body(encoded)) == fields, "ErrorResponse round trip")
            _ = fields.description
        default:
            continue
        }
    }
    return 0
}
