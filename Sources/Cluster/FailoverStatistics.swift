import Foundation
import NIOConcurrencyHelpers

/// How often nodes were taken out of service, by reason, and when last (for metrics).
public final class FailoverStatistics: Sendable {
    private struct Counts {
        var byReason: [FailoverReason: Int] = [:]
        var lastFailover: Double?
        var quarantines = 0
    }

    private let counts = NIOLockedValueBox(Counts())

    public init() {}

    public func record(_ reason: FailoverReason, nodes: Int) {
        counts.withLockedValue {
            $0.byReason[reason, default: 0] += nodes
            $0.lastFailover = Date().timeIntervalSince1970
        }
    }

    /// A failure that the watchdog did not confirm took a node out on this member only.
    public func recordQuarantine() {
        counts.withLockedValue { $0.quarantines += 1 }
    }

    /// Nodes quarantined since start-up.
    public var quarantines: Int { counts.withLockedValue { $0.quarantines } }

    /// Nodes taken out for each reason since start-up.
    public var byReason: [FailoverReason: Int] { counts.withLockedValue { $0.byReason } }
    public var total: Int { byReason.values.reduce(0, +) }
    /// Seconds since 1970 of the last failover, if any.
    public var lastFailover: Double? { counts.withLockedValue { $0.lastFailover } }
}
