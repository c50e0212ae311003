import NIOCore

/// A framing violation: a length that is impossible or above the configured limit.
public struct FramingError: Error, Equatable, Sendable, CustomStringConvertible {
    public var messageType: UInt8
    public var length: Int
    public var limit: Int

    public var description: String {
        if length < 4 {
            return "invalid message length \(length) for message type '\(Character(Unicode.Scalar(messageType)))'"
        }
        return "message of type '\(Character(Unicode.Scalar(messageType)))' is \(length) bytes, over the limit of \(limit) bytes"
    }
}

/// One complete typed message: its type byte and a buffer holding the whole message
/// (type, length and body) so that it can be forwarded unchanged.
public struct RawMessage: Sendable {
    public var type: UInt8
    public var bytes: ByteBuffer

    public init(type: UInt8, bytes: ByteBuffer) {
        self.type = type
        self.bytes = bytes
    }

    /// The body after the type byte and the length.
    public var body: ByteBuffer {
        bytes.getSlice(at: bytes.readerIndex + 5, length: bytes.readableBytes - 5)!
    }
}

/// Splits a byte stream of typed messages (after the startup phase) into complete messages.
/// Incomplete tails are kept until the next bytes arrive.
public struct MessageSplitter: Sendable {
    public let maxMessageLength: Int
    private var pending: ByteBuffer?

    public init(maxMessageLength: Int) {
        self.maxMessageLength = maxMessageLength
    }

    /// Bytes held back because they do not yet form a complete message.
    public var bufferedByteCount: Int { pending?.readableBytes ?? 0 }

    /// Appends `chunk` and calls `body` for every complete message, in order.
    public mutating func feed(_ chunk: ByteBuffer, _ body: (RawMessage) throws -> Void) throws {
        var buffer: ByteBuffer
        if var held = pending {
            pending = nil
            var chunk = chunk
            held.writeBuffer(&chunk)
            buffer = held
        } else {
            buffer = chunk
        }
        while buffer.readableBytes >= 5 {
            let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self)!
            let length = Int(buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self)!)
            guard length >= 4, length <= maxMessageLength else {
                throw FramingError(messageType: type, length: length, limit: maxMessageLength)
            }
            guard buffer.readableBytes >= length + 1 else { break }
            let message = buffer.readSlice(length: length + 1)!
            try body(RawMessage(type: type, bytes: message))
        }
        if buffer.readableBytes > 0 {
            pending = buffer
        }
    }
}
