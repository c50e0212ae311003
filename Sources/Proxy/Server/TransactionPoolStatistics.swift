import Metrics
import Synchronization

/// Transaction mode's counters: units of work served, waits for a connection, pins, settings
/// replayed, statements prepared again. Read by metrics.
public final class TransactionPoolStatistics: Sendable {
    private final class Cell: Sendable {
        let value = Atomic<Int>(0)
    }

    private let leases = Atomic<Int>(0)
    private let timeouts = Atomic<Int>(0)
    private let replays = Atomic<Int>(0)
    private let preparedAgainCount = Atomic<Int>(0)
    private let failoversFollowed = Atomic<Int>(0)
    private let movedPlaces = Atomic<Int>(0)
    private let loginsFromFacts = Atomic<Int>(0)
    private let pinCells: [Cell] = PinReason.allCases.map { _ in Cell() }
    private let refusalCells: [Cell] = PinReason.allCases.map { _ in Cell() }
    /// Time a unit of work waited for a free backend connection (leases that did not wait are
    /// not recorded).
    public let wait = AtomicHistogram(bounds: [0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30])

    public init() {}

    func leased() { leases.wrappingAdd(1, ordering: .relaxed) }
    func timedOut() { timeouts.wrappingAdd(1, ordering: .relaxed) }
    func replayed() { replays.wrappingAdd(1, ordering: .relaxed) }
    func preparedAgain(_ count: Int) { preparedAgainCount.wrappingAdd(count, ordering: .relaxed) }
    func followedFailover() { failoversFollowed.wrappingAdd(1, ordering: .relaxed) }
    func placesMoved(_ count: Int) { movedPlaces.wrappingAdd(count, ordering: .relaxed) }
    func loginAnsweredFromFacts() { loginsFromFacts.wrappingAdd(1, ordering: .relaxed) }
    func pinned(_ reason: PinReason) { cell(pinCells, reason).value.wrappingAdd(1, ordering: .relaxed) }
    func refused(_ reason: PinReason) { cell(refusalCells, reason).value.wrappingAdd(1, ordering: .relaxed) }

    /// Connections lent to transaction-mode sessions for a unit of work (or a login).
    public var leasesTotal: Int { leases.load(ordering: .relaxed) }
    /// Units of work that waited longer than transaction_pool_timeout.
    public var timeoutsTotal: Int { timeouts.load(ordering: .relaxed) }
    /// Connections whose settings were brought to the client's (RESET ALL and SETs).
    public var replaysTotal: Int { replays.load(ordering: .relaxed) }
    /// Protocol-level statements prepared again on a connection that lacked them.
    public var preparedAgainTotal: Int { preparedAgainCount.load(ordering: .relaxed) }
    /// Sessions that went on with the new primary after a failover instead of ending (between
    /// units of work, or with a unit that found its primary unreachable before it began).
    public var failoversFollowedTotal: Int { failoversFollowed.load(ordering: .relaxed) }
    /// Places of `transaction_pool_size` an event loop gave up for another whose sessions waited;
    /// each closes one of its backend connections (an idle one at once, one in use when it
    /// comes back).
    public var placesMovedTotal: Int { movedPlaces.load(ordering: .relaxed) }
    /// Transaction-mode logins answered from what an earlier login with the same startup packet
    /// learnt, without leasing a backend connection.
    public var loginsWithoutLeaseTotal: Int { loginsFromFacts.load(ordering: .relaxed) }
    /// Clients pinned, by reason (a client pinned for two reasons counts twice).
    public func pinsTotal(_ reason: PinReason) -> Int { cell(pinCells, reason).value.load(ordering: .relaxed) }
    /// Statements refused because pinning is off, by reason.
    public func refusalsTotal(_ reason: PinReason) -> Int { cell(refusalCells, reason).value.load(ordering: .relaxed) }

    private func cell(_ cells: [Cell], _ reason: PinReason) -> Cell {
        cells[PinReason.allCases.firstIndex(of: reason)!]
    }
}
