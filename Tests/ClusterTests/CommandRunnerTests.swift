import Logging
import Testing

@testable import Cluster

@Suite struct CommandRunnerTests {
    let logger = Logger(label: "test")

    @Test func exitCodes() async {
        let runner = CommandRunner(timeout: .seconds(10), logger: logger)
        #expect(await runner.run("echo hello; exit 0", label: "t") == .exited(0))
        #expect(await runner.run("exit 3", label: "t") == .exited(3))
    }

    @Test func aHangingCommandAndItsChildrenAreKilled() async throws {
        let runner = CommandRunner(timeout: .milliseconds(300), logger: logger)
        let started = ContinuousClock.now
        #expect(await runner.run("sleep 30 & sleep 30; echo never", label: "t") == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}
