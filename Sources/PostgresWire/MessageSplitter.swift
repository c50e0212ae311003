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
/// Only the incomplete tail of a read is kept (copied once) until the next bytes arrive.
///
/// Messages of ``streamThreshold`` bytes or more are not held whole: ``feedRun(_:accept:)``
/// stops before one, ``largeMessageAhead`` names it, and after ``beginStreaming()`` its bytes
/// pass through ``takeStreamed(from:)`` as they arrive.
public struct MessageSplitter: Sendable {
    /// The largest message accepted; it can be raised once a session is authenticated.
    public var maxMessageLength: Int
    /// Messages at least this long (length field plus type byte) are streamed, not held whole.
    public var streamThreshold = Int.max
    private(set) var pending: ByteBuffer?
    /// The buffer the last ``combine(_:)`` returned is `pending`'s storage, not a caller's.
    private var ownsStorage = false
    /// Bytes of the message being streamed that have not arrived yet.
    public private(set) var streamRemaining = 0

    public init(maxMessageLength: Int) {
        self.maxMessageLength = maxMessageLength
    }

    /// Bytes held back because they do not yet form a complete message.
    public var bufferedByteCount: Int { pending?.readableBytes ?? 0 }

    /// Takes the bytes held back (to hand them to another reader).
    public mutating func takeBuffered() -> ByteBuffer? {
        defer { pending = nil }
        return pending
    }

    /// Appends `chunk` and calls `body` for every complete message, in order.
    public mutating func feed(_ chunk: ByteBuffer, _ body: (RawMessage) throws -> Void) throws {
        var buffer = combine(chunk)
        let start = buffer.readerIndex
        defer { keepTail(of: buffer, reusable: ownsStorage && buffer.readerIndex == start) }
        while let (type, length) = try nextMessage(in: buffer) {
            try body(RawMessage(type: type, bytes: buffer.readSlice(length: length + 1)!))
        }
    }

    /// Appends `chunk` and returns, as one slice, the run of complete messages that `accept`
    /// lets through, so that they can be forwarded with a single write. The first message
    /// `accept` refuses ends the run; it and everything after it stay buffered (for
    /// `nextMessage()` or the next feed). `accept` gets the type and, on demand, the message.
    /// A message of ``streamThreshold`` bytes or more also ends the run (see
    /// ``largeMessageAhead``).
    public mutating func feedRun(_ chunk: ByteBuffer, accept: (UInt8, () -> RawMessage) throws -> Bool) throws -> ByteBuffer? {
        let combined = combine(chunk)
        let reusable = ownsStorage
        var buffer = combined
        while let (type, length) = try nextMessage(in: buffer, streaming: true) {
            guard try accept(type, { RawMessage(type: type, bytes: buffer.getSlice(at: buffer.readerIndex, length: length + 1)!) }) else {
                break
            }
            buffer.moveReaderIndex(forwardBy: length + 1)
        }
        keepTail(of: buffer, reusable: reusable && buffer.readerIndex == combined.readerIndex)
        let length = buffer.readerIndex - combined.readerIndex
        return length > 0 ? combined.getSlice(at: combined.readerIndex, length: length) : nil
    }

    /// The type and total size (type byte included) of the message at the front of the
    /// buffered bytes when it is to be streamed (``streamThreshold``), and how much of it is
    /// buffered.
    public func largeMessageAhead() throws -> (type: UInt8, size: Int, buffered: Int)? {
        guard streamRemaining == 0, let pending, pending.readableBytes >= 5 else { return nil }
        let type = pending.getInteger(at: pending.readerIndex, as: UInt8.self)!
        let length = Int(pending.getInteger(at: pending.readerIndex + 1, as: Int32.self)!)
        guard length >= 4, length <= maxMessageLength else {
            throw FramingError(messageType: type, length: length, limit: maxMessageLength)
        }
        guard length + 1 >= streamThreshold else { return nil }
        return (type, length + 1, min(pending.readableBytes, length + 1))
    }

    /// Starts streaming the large message ahead: returns its buffered head; the rest comes
    /// through ``takeStreamed(from:)``.
    public mutating func beginStreaming() throws -> ByteBuffer? {
        guard let (_, size, buffered) = try largeMessageAhead(), var held = pending else { return nil }
        let head = held.readSlice(length: buffered)!
        pending = held.readableBytes > 0 ? held : nil
        streamRemaining = size - buffered
        return head
    }

    /// While a message streams: takes its next bytes off the front of `chunk` (the rest of
    /// `chunk` is what follows the message).
    public mutating func takeStreamed(from chunk: inout ByteBuffer) -> ByteBuffer? {
        guard streamRemaining > 0, chunk.readableBytes > 0 else { return nil }
        let piece = chunk.readSlice(length: min(streamRemaining, chunk.readableBytes))!
        streamRemaining -= piece.readableBytes
        return piece
    }

    /// Whether a message is being streamed and has bytes still to come.
    public var isStreaming: Bool { streamRemaining > 0 }

    /// Puts a message taken with `nextMessage()` back in front of the buffered bytes.
    public mutating func putBack(_ message: RawMessage) {
        var combined = message.bytes
        if var rest = pending { combined.writeBuffer(&rest) }
        pending = combined
    }

    /// Takes the first buffered message, if a complete one is buffered.
    public mutating func nextMessage() throws -> RawMessage? {
        guard var buffer = pending, let (type, length) = try nextMessage(in: buffer) else { return nil }
        let message = RawMessage(type: type, bytes: buffer.readSlice(length: length + 1)!)
        pending = nil
        keepTail(of: buffer)
        return message
    }

    /// The held bytes followed by `chunk`; sets ``ownsStorage`` to whether the result is the
    /// splitter's own buffer (rather than the caller's read buffer).
    private mutating func combine(_ chunk: ByteBuffer) -> ByteBuffer {
        guard var held = pending else {
            ownsStorage = false
            return chunk
        }
        pending = nil
        var chunk = chunk
        held.writeBuffer(&chunk)
        ownsStorage = true
        return held
    }

    /// The type and length of the complete message at the reader index, nil if incomplete (or,
    /// when `streaming`, at least ``streamThreshold`` bytes long).
    private func nextMessage(in buffer: ByteBuffer, streaming: Bool = false) throws -> (UInt8, Int)? {
        guard buffer.readableBytes >= 5 else { return nil }
        let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self)!
        let length = Int(buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self)!)
        guard length >= 4, length <= maxMessageLength else {
            throw FramingError(messageType: type, length: length, limit: maxMessageLength)
        }
        if streaming, length + 1 >= streamThreshold { return nil }
        return buffer.readableBytes >= length + 1 ? (type, length) : nil
    }

    /// Keeps the incomplete tail: the buffer itself when it is the splitter's own and nothing was
    /// taken from it (`reusable`: a message arriving in many reads is then appended to, not
    /// copied again at each read), else a copy in a buffer of its own, sized for the whole
    /// message when its length is known, so that the consumed bytes before it are not kept alive.
    private mutating func keepTail(of buffer: ByteBuffer, reusable: Bool = false) {
        guard buffer.readableBytes > 0 else { return }
        if reusable {
            pending = buffer
            return
        }
        var expected = buffer.readableBytes
        if buffer.readableBytes >= 5, let length = buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self) {
            expected = max(expected, Int(length) + 1)
        }
        var tail = ByteBufferAllocator().buffer(capacity: min(expected, 1 << 20))
        var rest = buffer
        tail.writeBuffer(&rest)
        pending = tail
    }
}
