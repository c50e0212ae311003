import Metrics
import NIOConcurrencyHelpers
import Synchronization

/// What kind of statement a counter counts.
public enum StatementCategory: Int, Sendable, CaseIterable {
    case select, insert, update, delete, ddl, other
}

/// Severity of an ErrorResponse a backend sent.
public enum ErrorSeverity: Int, Sendable, CaseIterable {
    case error, fatal, panic
}

/// Statements sent to one node and errors it returned. Lock-free: sessions bump them on every
/// statement; metrics and SHOW commands read them.
public final class NodeQueryCounters: Sendable {
    // Indexed by StatementCategory, then ErrorSeverity after them.
    private let slots: [Slot]
    /// How long the node took from a query (or Sync) to its ReadyForQuery.
    public let queryDuration = AtomicHistogram()

    private final class Slot: Sendable {
        let value = Synchronization.Atomic<Int>(0)
    }

    public init() {
        slots = (0..<(StatementCategory.allCases.count + ErrorSeverity.allCases.count)).map { _ in Slot() }
    }

    public func count(_ category: StatementCategory) {
        slots[category.rawValue].value.wrappingAdd(1, ordering: .relaxed)
    }

    public func count(_ severity: ErrorSeverity) {
        slots[StatementCategory.allCases.count + severity.rawValue].value.wrappingAdd(1, ordering: .relaxed)
    }

    public func value(_ category: StatementCategory) -> Int {
        slots[category.rawValue].value.load(ordering: .relaxed)
    }

    public func value(_ severity: ErrorSeverity) -> Int {
        slots[StatementCategory.allCases.count + severity.rawValue].value.load(ordering: .relaxed)
    }
}

/// The counters of every node, created on first use.
public final class QueryStatistics: Sendable {
    private let nodes = NIOLockedValueBox<[Int: NodeQueryCounters]>([:])

    public init() {}

    /// The counters of `nodeID`; callers keep the reference instead of looking it up per statement.
    public func counters(for nodeID: Int) -> NodeQueryCounters {
        nodes.withLockedValue { nodes in
            if let existing = nodes[nodeID] { return existing }
            let created = NodeQueryCounters()
            nodes[nodeID] = created
            return created
        }
    }

    /// Every node's counters, by node id.
    public var all: [Int: NodeQueryCounters] { nodes.withLockedValue { $0 } }
}
