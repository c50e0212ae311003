import Synchronization

/// What the health checks of one node did (for metrics and SHOW POOL_HEALTH_CHECK_STATS).
public final class HealthCheckStatistics: Sendable {
    private final class Counter: Sendable {
        let value = Synchronization.Atomic<Int>(0)
    }

    private let total = Counter(), successes = Counter(), failures = Counter(), skips = Counter()
    private let retries = Counter(), lastDurationMicroseconds = Counter(), totalDurationMicroseconds = Counter()

    public init() {}

    public func record(success: Bool, retries used: Int, duration: Duration) {
        total.value.wrappingAdd(1, ordering: .relaxed)
        (success ? successes : failures).value.wrappingAdd(1, ordering: .relaxed)
        retries.value.wrappingAdd(used, ordering: .relaxed)
        let micros = Int(duration.components.seconds) * 1_000_000 + Int(duration.components.attoseconds / 1_000_000_000_000)
        lastDurationMicroseconds.value.store(micros, ordering: .relaxed)
        totalDurationMicroseconds.value.wrappingAdd(micros, ordering: .relaxed)
    }

    public func recordSkip() {
        skips.value.wrappingAdd(1, ordering: .relaxed)
    }

    public var checks: Int { total.value.load(ordering: .relaxed) }
    public var successCount: Int { successes.value.load(ordering: .relaxed) }
    public var failureCount: Int { failures.value.load(ordering: .relaxed) }
    public var skipCount: Int { skips.value.load(ordering: .relaxed) }
    public var retryCount: Int { retries.value.load(ordering: .relaxed) }
    public var lastDuration: Duration { .microseconds(lastDurationMicroseconds.value.load(ordering: .relaxed)) }
    public var totalDuration: Duration { .microseconds(totalDurationMicroseconds.value.load(ordering: .relaxed)) }
}
