import NIOCore

/// The protocol-level statements SwiftPool prepared on one backend connection, under its own
/// names, least recently used first out. Pure.
struct PreparedStatementCache {
    private var lastUse: [String: UInt64] = [:]
    private var clock: UInt64 = 0
    /// At most this many; the least recently used is closed to make room.
    var capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { lastUse.count }

    func contains(_ name: String) -> Bool { lastUse[name] != nil }

    /// Marks a statement used (or prepared) now. Returns the statement to close to stay within
    /// the capacity, if any (never `name` itself).
    mutating func use(_ name: String) -> String? {
        clock &+= 1
        lastUse[name] = clock
        guard lastUse.count > capacity,
              let victim = lastUse.min(by: { $0.value < $1.value })?.key, victim != name else { return nil }
        lastUse[victim] = nil
        return victim
    }

    mutating func remove(_ name: String) { lastUse[name] = nil }

    mutating func removeAll() { lastUse.removeAll() }
}

/// SwiftPool's names for protocol-level statements on one event loop's connections: one per
/// distinct statement (query text and parameter types), so that clients preparing the same
/// statement share it on a connection. Names are never reused; the table is emptied when it
/// grows past its bound (statements already prepared keep their names until closed).
struct StatementRegistry {
    private var names: [ByteBuffer: String] = [:]
    private var next: UInt64 = 0
    static let bound = 10_000

    /// The name for the statement whose Parse body, after its name, is `definition`.
    mutating func name(for definition: ByteBuffer) -> String {
        if let name = names[definition] { return name }
        if names.count >= Self.bound { names.removeAll() }
        next &+= 1
        let name = "swiftpool_s\(next)"
        // A copy of its own: `definition` is a slice of a client's read buffer, which the key
        // would otherwise keep alive whole for as long as the table holds it.
        var key = ByteBufferAllocator().buffer(capacity: definition.readableBytes)
        key.writeImmutableBuffer(definition)
        names[key] = name
        return name
    }

    /// The bytes of storage the table's keys hold (for tests: a key must not keep a whole read
    /// buffer alive).
    var storageBytes: Int { names.keys.reduce(0) { $0 + $1.storageCapacity } }

    /// A name for a statement that is not shared (its definition streamed through).
    mutating func uniqueName() -> String {
        next &+= 1
        return "swiftpool_s\(next)"
    }
}
