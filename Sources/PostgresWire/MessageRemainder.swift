import NIOCore

/// The rest of a backend message that was partly forwarded to the client when its session had
/// to end: how many of the next bytes still belong to it, so that the client gets it whole
/// before the session's FATAL. Pure.
public struct MessageRemainder: Sendable, Equatable {
    private var header: [UInt8]
    private var remaining: Int

    /// `header`: bytes of a split header seen so far; `remaining`: body bytes still to come
    /// (``BackendStreamObserver/position``).
    public init(header: [UInt8], remaining: Int) {
        self.header = header
        self.remaining = remaining
    }

    public var isComplete: Bool { header.isEmpty && remaining == 0 }

    /// How many bytes at the front of `chunk` belong to the message; after them the message is
    /// whole when ``isComplete`` says so.
    public mutating func take(from chunk: ByteBuffer) -> Int {
        var view = chunk.readableBytesView[...]
        var taken = 0
        if !header.isEmpty {
            let missing = min(5 - header.count, view.count)
            header.append(contentsOf: view.prefix(missing))
            view = view.dropFirst(missing)
            taken += missing
            guard header.count == 5 else { return taken }
            let length = Int(Int32(bitPattern: UInt32(header[1]) << 24 | UInt32(header[2]) << 16 | UInt32(header[3]) << 8 | UInt32(header[4])))
            header = []
            remaining = max(length - 4, 0)
        }
        let body = min(remaining, view.count)
        remaining -= body
        return taken + body
    }
}
