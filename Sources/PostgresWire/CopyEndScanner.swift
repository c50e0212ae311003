import NIOCore

/// Finds where a client's COPY FROM STDIN ends in what it goes on sending once nobody reads its
/// data any more: the first message that is not CopyData, Flush or Sync (PostgreSQL ignores the
/// last two during a copy), normally CopyDone or CopyFail. What comes before is skipped without
/// being held, so a copy of any size costs nothing.
public struct CopyEndScanner: Sendable {
    public enum Outcome: Equatable, Sendable {
        case copying
        /// The copy ended; `after`: the bytes that followed its last message.
        case ended(after: ByteBuffer)
    }

    /// Bytes of the current message still to skip.
    private var skipping: Int
    /// The type byte and length bytes of a message header read so far (at most four of five).
    private var header: [UInt8] = []

    /// - Parameter skipping: bytes still to come of a message that has already started.
    public init(skipping: Int = 0) {
        self.skipping = skipping
    }

    /// Reads `bytes`. CopyDone or CopyFail ends the copy (and is part of it); a message of
    /// another type ends it too, before that message: a client that sends one no longer copies.
    /// So does an impossible length.
    public mutating func scan(_ bytes: ByteBuffer) -> Outcome {
        var bytes = bytes
        while bytes.readableBytes > 0 {
            if skipping > 0 {
                let skipped = min(skipping, bytes.readableBytes)
                bytes.moveReaderIndex(forwardBy: skipped)
                skipping -= skipped
                if skipping == 0, ending { return .ended(after: bytes) }
                continue
            }
            if header.isEmpty {
                let type = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self)!
                ending = Self.endsTheCopy.contains(type)
                if !ending, !Self.partOfTheCopy.contains(type) { return .ended(after: bytes) }
            }
            header.append(bytes.readInteger(as: UInt8.self)!)
            guard header.count == 5 else { continue }
            let length = header[1...].reduce(0) { $0 << 8 | Int($1) }
            guard length >= 4, length <= Int(Int32.max) else { return .ended(after: bytes) }
            skipping = length - 4
            header.removeAll(keepingCapacity: true)
            if skipping == 0, ending { return .ended(after: bytes) }
        }
        return .copying
    }

    /// The message being read is CopyDone or CopyFail.
    private var ending = false

    /// `bytes` without the whole Sync and Flush messages at their front.
    public static func droppingSyncs(_ bytes: ByteBuffer) -> ByteBuffer {
        var bytes = bytes
        while bytes.readableBytes >= 5, let type = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self),
              type == FrontendMessageType.sync || type == FrontendMessageType.flush,
              bytes.getInteger(at: bytes.readerIndex + 1, as: Int32.self) == 4 {
            bytes.moveReaderIndex(forwardBy: 5)
        }
        return bytes
    }

    private static let partOfTheCopy: Set<UInt8> = [
        FrontendMessageType.copyData, FrontendMessageType.flush, FrontendMessageType.sync,
    ]
    private static let endsTheCopy: Set<UInt8> = [FrontendMessageType.copyDone, FrontendMessageType.copyFail]
}
