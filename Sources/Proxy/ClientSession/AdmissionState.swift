/// Who may hold one of the `num_init_children` client slots. Pure: the caller owns timers.
///
/// A client beyond capacity waits in FIFO order until a slot frees or its wait times out; with
/// `reserved_connections` > 0 it is refused at once instead, as in Pgpool-II.
public struct AdmissionState: Sendable {
    public enum Decision: Equatable, Sendable {
        case granted
        case queued
        case refused
    }

    public private(set) var capacity: Int
    public private(set) var reserved: Int
    public private(set) var active = 0
    private var waiting: [UInt64] = []

    public init(capacity: Int, reserved: Int) {
        self.capacity = max(1, capacity)
        self.reserved = max(0, reserved)
    }

    public var waitingCount: Int { waiting.count }

    /// A new client asks for a slot.
    public mutating func request(_ id: UInt64) -> Decision {
        if active < capacity - reserved, waiting.isEmpty {
            active += 1
            return .granted
        }
        if reserved > 0 { return .refused }
        waiting.append(id)
        return .queued
    }

    /// A client left; returns the waiter that now gets the slot, if any.
    public mutating func release() -> UInt64? {
        if !waiting.isEmpty, active <= capacity - reserved {
            return waiting.removeFirst()
        }
        active = max(0, active - 1)
        return nil
    }

    /// A waiter gave up (timeout or disconnect). Returns false if it was not waiting any more
    /// (it was granted a slot in the meantime and must release it).
    public mutating func withdraw(_ id: UInt64) -> Bool {
        guard let index = waiting.firstIndex(of: id) else { return false }
        waiting.remove(at: index)
        return true
    }

    /// Applies new limits (reload); waiters that now fit are returned in order.
    public mutating func resize(capacity: Int, reserved: Int) -> [UInt64] {
        self.capacity = max(1, capacity)
        self.reserved = max(0, reserved)
        var granted: [UInt64] = []
        while !waiting.isEmpty, active < self.capacity - self.reserved {
            active += 1
            granted.append(waiting.removeFirst())
        }
        return granted
    }
}
