import NIOCore

/// Watches a stream of backend messages without holding it back: bytes can be forwarded as they
/// arrive while the observer reports the messages whose content matters to the proxy
/// (ReadyForQuery, ParameterStatus, ErrorResponse, COPY starts, …).
///
/// Messages of other types are only skipped over, so a large result costs a few instructions per
/// row and no copies.
public struct BackendStreamObserver: Sendable {
    /// An observed message: its type and, when the type is watched, its whole body.
    public struct Event: Sendable {
        public var type: UInt8
        public var body: ByteBuffer
    }

    private let watchedTypes: [Bool]
    private let maxMessageLength: Int
    /// Header bytes of a message whose header was split across reads.
    private var header: [UInt8] = []
    /// Body bytes still to skip or capture for the current message.
    private var remaining = 0
    private var currentType: UInt8 = 0
    private var capture: ByteBuffer?

    /// The most a watched message split across reads reserves before its bytes arrive.
    static let initialCaptureCapacity = 64 * 1024

    /// Bytes reserved for the watched message being captured (tests).
    var captureCapacity: Int { capture?.capacity ?? 0 }

    public init(watching types: [UInt8], maxMessageLength: Int) {
        var watched = [Bool](repeating: false, count: 256)
        for type in types { watched[Int(type)] = true }
        self.watchedTypes = watched
        self.maxMessageLength = maxMessageLength
    }

    /// True when the stream ends exactly on a message boundary.
    public var isAtMessageBoundary: Bool { header.isEmpty && remaining == 0 }

    /// Where the stream stands inside a message: header bytes of a split header seen so far, and
    /// body bytes still to come of a message of type `type`.
    public var position: (header: [UInt8], remaining: Int, type: UInt8) { (header, remaining, currentType) }

    /// Scans `chunk` and calls `onEvent` for each completed message of a watched type.
    public mutating func scan(_ chunk: ByteBuffer, _ onEvent: (Event) throws -> Void) throws {
        var chunk = chunk
        while chunk.readableBytes > 0 {
            if remaining > 0 {
                let take = min(remaining, chunk.readableBytes)
                if capture != nil {
                    var slice = chunk.readSlice(length: take)!
                    capture!.writeBuffer(&slice)
                } else {
                    chunk.moveReaderIndex(forwardBy: take)
                }
                remaining -= take
                if remaining == 0, let body = capture {
                    capture = nil
                    try onEvent(Event(type: currentType, body: body))
                }
                continue
            }
            // At a message start: need five header bytes.
            let type: UInt8
            let length: Int
            if header.isEmpty, chunk.readableBytes >= 5 {
                type = chunk.readInteger(as: UInt8.self)!
                length = Int(chunk.readInteger(as: Int32.self)!)
            } else {
                while header.count < 5, let byte = chunk.readInteger(as: UInt8.self) {
                    header.append(byte)
                }
                guard header.count == 5 else { return }
                type = header[0]
                length = Int(Int32(bitPattern: UInt32(header[1]) << 24 | UInt32(header[2]) << 16 | UInt32(header[3]) << 8 | UInt32(header[4])))
                header.removeAll(keepingCapacity: true)
            }
            guard length >= 4, length <= maxMessageLength else {
                throw FramingError(messageType: type, length: length, limit: maxMessageLength)
            }
            currentType = type
            remaining = length - 4
            if watchedTypes[Int(type)] {
                if remaining == 0 {
                    try onEvent(Event(type: type, body: ByteBuffer()))
                } else if chunk.readableBytes >= remaining {
                    let body = chunk.readSlice(length: remaining)!
                    remaining = 0
                    try onEvent(Event(type: type, body: body))
                } else {
                    // The length is only what the header claims: reserve for a small message at
                    // most, and let the buffer grow with the bytes that really arrive.
                    capture = ByteBuffer()
                    capture!.reserveCapacity(min(remaining, Self.initialCaptureCapacity))
                }
            }
        }
    }
}
