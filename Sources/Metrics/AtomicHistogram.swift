import Synchronization

/// A histogram that many threads record into without locks: one atomic counter per bucket and
/// an atomic sum in microseconds. Reads are a consistent-enough copy for a scrape.
public final class AtomicHistogram: Sendable {
    /// Upper bounds of the buckets, in seconds, ascending (`+Inf` is implicit).
    public let bounds: [Double]
    private let boundMicros: [Int]
    private let buckets: [Cell]
    private let count = Cell()
    private let sumMicros = Cell()

    private final class Cell: Sendable {
        let value = Atomic<Int>(0)
    }

    /// Latency buckets from 100 µs to 10 s.
    public static let latencyBounds: [Double] = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]

    public init(bounds: [Double] = AtomicHistogram.latencyBounds) {
        self.bounds = bounds
        boundMicros = bounds.map { Int(($0 * 1_000_000).rounded()) }
        buckets = bounds.map { _ in Cell() }
    }

    /// Records one observation.
    public func record(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        record(microseconds: Int(seconds) * 1_000_000 + Int(attoseconds / 1_000_000_000_000))
    }

    public func record(microseconds: Int) {
        // Only the first bucket that holds the value is bumped; the snapshot accumulates.
        if let index = boundMicros.firstIndex(where: { microseconds <= $0 }) {
            buckets[index].value.wrappingAdd(1, ordering: .relaxed)
        }
        count.value.wrappingAdd(1, ordering: .relaxed)
        sumMicros.value.wrappingAdd(microseconds, ordering: .relaxed)
    }

    /// Cumulative bucket counts (one per bound), total count and sum in seconds.
    public var snapshot: Snapshot {
        var cumulative: [Int] = []
        var running = 0
        for bucket in buckets {
            running += bucket.value.load(ordering: .relaxed)
            cumulative.append(running)
        }
        let total = max(running, count.value.load(ordering: .relaxed))
        return Snapshot(bounds: bounds, cumulativeCounts: cumulative, count: total,
                        sum: Double(sumMicros.value.load(ordering: .relaxed)) / 1_000_000)
    }

    public struct Snapshot: Sendable, Equatable {
        public var bounds: [Double]
        public var cumulativeCounts: [Int]
        public var count: Int
        public var sum: Double
    }
}
