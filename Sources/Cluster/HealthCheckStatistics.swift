import Foundation
import Metrics
import NIOConcurrencyHelpers

/// What the health checks of one node did (for metrics and SHOW POOL_HEALTH_CHECK_STATS).
public final class HealthCheckStatistics: Sendable {
    /// A consistent copy of the figures.
    public struct Snapshot: Sendable, Equatable {
        public var checks = 0
        public var successes = 0
        public var failures = 0
        public var skips = 0
        public var retries = 0
        public var maxRetries = 0
        public var totalDuration: Duration = .zero
        public var minDuration: Duration?
        public var maxDuration: Duration = .zero
        public var lastDuration: Duration = .zero
        /// Seconds since 1970; nil when it never happened.
        public var lastCheck: Double?
        public var lastSuccess: Double?
        public var lastFailure: Double?
        public var lastSkip: Double?

        public init() {}

        public var averageDuration: Duration { checks > 0 ? totalDuration / checks : .zero }
        public var averageRetries: Double { checks > 0 ? Double(retries) / Double(checks) : 0 }
    }

    private let state = NIOLockedValueBox(Snapshot())
    /// Durations of the checks, retries included.
    public let durations = AtomicHistogram(bounds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])

    public init() {}

    public func record(success: Bool, retries used: Int, duration: Duration) {
        let now = Date().timeIntervalSince1970
        durations.record(duration)
        state.withLockedValue { stats in
            stats.checks += 1
            if success {
                stats.successes += 1
                stats.lastSuccess = now
            } else {
                stats.failures += 1
                stats.lastFailure = now
            }
            stats.retries += used
            stats.maxRetries = max(stats.maxRetries, used)
            stats.totalDuration += duration
            stats.minDuration = min(stats.minDuration ?? duration, duration)
            stats.maxDuration = max(stats.maxDuration, duration)
            stats.lastDuration = duration
            stats.lastCheck = now
        }
    }

    public func recordSkip() {
        let now = Date().timeIntervalSince1970
        state.withLockedValue {
            $0.skips += 1
            $0.lastSkip = now
        }
    }

    public var snapshot: Snapshot { state.withLockedValue { $0 } }
    public var checks: Int { snapshot.checks }
    public var successCount: Int { snapshot.successes }
    public var failureCount: Int { snapshot.failures }
    public var skipCount: Int { snapshot.skips }
    public var retryCount: Int { snapshot.retries }
}
