import Clocks
import Configuration
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import Cluster

/// The health check loop on a test clock, against an address where nothing listens (libpq's
/// connection is refused at once).
@Suite struct HealthCheckerTests {
    @Test func aNodeIsReportedOnlyAfterEveryRetryAndItsDelays() async throws {
        let clock = TestClock()
        let start = clock.now
        let cluster = ClusterState(nodes: [NodeInfo(id: 0, host: "127.0.0.1", port: 1, weight: 1)])
        let failedAt = NIOLockedValueBox<[Duration]>([])
        let checker = HealthChecker(
            cluster: cluster, logger: Logger(label: "test"),
            onFailure: { _ in failedAt.withLockedValue { $0.append(start.duration(to: clock.now)) } },
            clock: AnyClock(clock))
        let settings = HealthCheckConfig(period: .seconds(10), timeout: .seconds(60), maxRetries: 2, retryDelay: .seconds(3),
                                         connectTimeout: .seconds(2), user: "nobody")
        checker.start([.init(node: cluster.snapshot.nodes[0], settings: settings, password: nil)])
        defer { checker.stop() }
        // One second of the clock at a time; each step leaves real time for libpq's attempt on the
        // thread pool. A slow attempt can only make the failure later on the clock, never earlier.
        var steps = 0
        while failedAt.withLockedValue({ $0.isEmpty }), steps < 60 {
            await clock.advance(by: .seconds(1))
            try await Task.sleep(for: .milliseconds(40))
            steps += 1
        }
        let failures = failedAt.withLockedValue { $0 }
        #expect(failures.count == 1)
        // The period, then the first try and two retries three seconds apart.
        #expect((failures.first ?? .zero) >= .seconds(16))
        let statistics = checker.statistics(for: 0).snapshot
        #expect(statistics.failures == 1 && statistics.retries == 2)
        #expect(cluster.snapshot.node(0)?.status != .down, "marking the node down is the coordinator's work")
    }

    @Test func nodesAlreadyDownAreSkipped() async throws {
        let clock = TestClock()
        let cluster = ClusterState(nodes: [NodeInfo(id: 0, host: "127.0.0.1", port: 1, weight: 1)])
        _ = cluster.setStatus(.down, of: 0)
        let checker = HealthChecker(cluster: cluster, logger: Logger(label: "test"), onFailure: { _ in }, clock: AnyClock(clock))
        checker.start([.init(node: cluster.snapshot.nodes[0], settings: HealthCheckConfig(period: .seconds(5)), password: nil)])
        defer { checker.stop() }
        for expected in 1...3 {
            // A period at a time. An advance made before the loop slept again (it starts, or
            // finishes the last skip, on another thread) moves the clock under no sleeper: then
            // the period is advanced again, after two seconds without the skip.
            var attempts = 0
            repeat {
                await clock.advance(by: .seconds(5))
                attempts += 1
                let deadline = ContinuousClock.now + .seconds(2)
                while checker.statistics(for: 0).snapshot.skips < expected, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
            } while checker.statistics(for: 0).snapshot.skips < expected && attempts < 5
            #expect(checker.statistics(for: 0).snapshot.skips == expected)
        }
        #expect(checker.statistics(for: 0).snapshot.checks == 0)
    }
}
