import NIOConcurrencyHelpers
import Synchronization

/// read_your_writes: what SwiftPool knows of the WAL — samples of the primary's insert position,
/// numbered, and each standby's last known replay position. Sessions ask it (from any thread)
/// which standbys have replayed their last write.
///
/// A session notes ``currentSample`` when its write commits. Every sample numbered after that
/// one was begun after the commit, so its position is at or past the commit's: a standby whose
/// replay position reached it has the write. Until such a sample exists, no standby qualifies.
public final class WALPositions: Sendable {
    struct State {
        var sample = 0
        /// Recent samples of the primary, oldest first.
        var primary: [(sample: Int, position: UInt64)] = []
        var replay: [Int: UInt64] = [:]
    }

    /// Samples kept: enough for a session that asks a few periods after its write.
    static let samplesKept = 64

    private let state = NIOLockedValueBox(State())
    private let primaryReads = Atomic<Int>(0)
    private let waitsOnStandby = Atomic<Int>(0)
    private let waitsOnPrimary = Atomic<Int>(0)
    private let waitedMilliseconds = Atomic<Int>(0)
    private let lastReplayRead = NIOLockedValueBox<[Int: ContinuousClock.Instant]>([:])

    public init() {}

    /// A read went to the primary because no standby had replayed its session's last write.
    public func countPrimaryRead() { primaryReads.wrappingAdd(1, ordering: .relaxed) }

    /// Reads sent to the primary because no standby had replayed their session's last write.
    public var primaryReadsTotal: Int { primaryReads.load(ordering: .relaxed) }

    /// A read waited (read_your_writes_wait), then went to a standby or the primary.
    public func countWait(milliseconds: Int, onStandby: Bool) {
        if onStandby {
            waitsOnStandby.wrappingAdd(1, ordering: .relaxed)
        } else {
            waitsOnPrimary.wrappingAdd(1, ordering: .relaxed)
        }
        waitedMilliseconds.wrappingAdd(milliseconds, ordering: .relaxed)
    }

    /// Reads that waited, by where they went in the end.
    public var waits: (onStandby: Int, onPrimary: Int) {
        (waitsOnStandby.load(ordering: .relaxed), waitsOnPrimary.load(ordering: .relaxed))
    }

    /// Time reads spent waiting, in seconds.
    public var waitedSeconds: Double { Double(waitedMilliseconds.load(ordering: .relaxed)) / 1000 }

    /// Seconds since each standby's replay position was last read successfully.
    public func replayPositionAges(now: ContinuousClock.Instant = .now) -> [Int: Double] {
        lastReplayRead.withLockedValue { reads in
            reads.mapValues { read in
                let age = read.duration(to: now)
                return Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
            }
        }
    }

    /// The number of the latest sample begun.
    public var currentSample: Int { state.withLockedValue { $0.sample } }

    /// The standbys that have replayed everything the primary had written when the first sample
    /// after `sample` was taken; empty while there is no such sample.
    public func standbys(caughtUpAfter sample: Int) -> Set<Int> {
        state.withLockedValue { state in
            // Too old to be kept: the oldest sample kept is later, so it covers the write too.
            guard let required = state.primary.first(where: { $0.sample > sample })?.position else { return [] }
            return Set(state.replay.filter { $0.value >= required }.keys)
        }
    }

    /// The standbys whose last known replay position is at least `position`.
    public func standbys(replayedAtLeast position: UInt64) -> Set<Int> {
        state.withLockedValue { state in Set(state.replay.filter { $0.value >= position }.keys) }
    }

    /// Begins a sample of the primary's position (before it is read); returns its number.
    public func beginSample() -> Int {
        state.withLockedValue { state in
            state.sample += 1
            return state.sample
        }
    }

    /// The primary's insert position, read in sample `sample`.
    public func recordPrimary(_ position: UInt64, sample: Int) {
        state.withLockedValue { state in
            state.primary.append((sample, position))
            if state.primary.count > Self.samplesKept { state.primary.removeFirst(state.primary.count - Self.samplesKept) }
        }
    }

    /// A standby's replay position as just read (nil: unknown, e.g. it went away).
    public func recordReplay(_ position: UInt64?, node: Int) {
        state.withLockedValue { $0.replay[node] = position }
        if position != nil { lastReplayRead.withLockedValue { $0[node] = .now } }
    }

    /// Forgets every position (a new primary starts a new history).
    public func reset() {
        state.withLockedValue { state in
            state.primary.removeAll()
            state.replay.removeAll()
        }
    }
}
