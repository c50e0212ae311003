import Metrics
import Synchronization

/// Client connections accepted and refused, and how long clients waited for a slot. Updated
/// once per session, read by metrics.
public final class ConnectionStatistics: Sendable {
    /// Why a client was turned away before its session started.
    public enum RejectionReason: String, Sendable, CaseIterable {
        /// No free `num_init_children` slot in time (53300).
        case tooManyClients = "too_many_clients"
        /// Authentication failed or pool_hba refused (28xxx).
        case authentication
        /// The client broke the protocol before logging in (08P01).
        case protocolViolation = "protocol_violation"
        /// No backend could take the session (08006, 57P03, …).
        case backendUnavailable = "backend_unavailable"
        /// Authentication timed out or the client left during login.
        case other
    }

    private final class Cell: Sendable {
        let value = Atomic<Int>(0)
    }

    private let acceptedCount = Atomic<Int>(0)
    private let withoutSlotCount = Atomic<Int>(0)
    private let lastRefusalLog = Atomic<Int64>(0)
    private let rejections: [Cell] = RejectionReason.allCases.map { _ in Cell() }
    /// Time from asking for a slot to getting one (or giving up).
    public let slotWait = AtomicHistogram(bounds: [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30])
    /// Client TLS handshakes.
    public let tls = TLSStatistics()

    public init() {}

    func accepted() { acceptedCount.wrappingAdd(1, ordering: .relaxed) }

    /// Counts a new connection that holds no slot yet, unless `limit` such connections are
    /// open already (then false: refuse it).
    func admitWithoutSlot(limit: Int) -> Bool {
        let (_, count) = withoutSlotCount.wrappingAdd(1, ordering: .relaxed)
        guard count <= limit else {
            withoutSlotCount.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// A connection counted by ``admitWithoutSlot(limit:)`` got its slot or closed.
    func leftWithoutSlot() { withoutSlotCount.wrappingSubtract(1, ordering: .relaxed) }

    /// Connections open without a slot: before their startup packet, or waiting for a slot.
    public var withoutSlot: Int { withoutSlotCount.load(ordering: .relaxed) }

    /// Whether a refusal for the connection cap should be logged now (at most every 10 s, so a
    /// flood does not flood the log).
    func shouldLogRefusal(now: Int64) -> Bool {
        let last = lastRefusalLog.load(ordering: .relaxed)
        guard now - last >= 10_000_000_000 else { return false }
        return lastRefusalLog.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
    }

    func rejected(_ reason: RejectionReason) {
        rejections[RejectionReason.allCases.firstIndex(of: reason)!].value.wrappingAdd(1, ordering: .relaxed)
    }

    /// The reason for a FATAL sent before login, from its SQLSTATE.
    static func reason(forSQLState sqlState: String?) -> RejectionReason {
        guard let sqlState else { return .other }
        if sqlState == "53300" { return .tooManyClients }
        if sqlState.hasPrefix("28") { return .authentication }
        if sqlState == "08P01" { return .protocolViolation }
        if sqlState == "08006" || sqlState == "57P03" || sqlState == "08001" { return .backendUnavailable }
        return .other
    }

    public var acceptedTotal: Int { acceptedCount.load(ordering: .relaxed) }

    public func rejectedTotal(_ reason: RejectionReason) -> Int {
        rejections[RejectionReason.allCases.firstIndex(of: reason)!].value.load(ordering: .relaxed)
    }
}
