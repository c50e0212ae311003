import Cluster
import NIOCore
import PostgresWire
import Routing
import Testing
@testable import Proxy

/// read_your_writes: once a session's write commits, its reads go only to standbys that have
/// replayed it.
@Suite("Read your writes")
struct ReadYourWritesTests {
    var env = FakeEnvironment()
    let facts = FakeFacts()
    var machine: DispatchMachine

    init() {
        var settings = RoutingSettings()
        settings.statementLevelLoadBalance = true
        settings.readYourWrites = true
        machine = DispatchMachine(primary: 0, routing: RoutingSession(settings: settings, loadBalanceNode: 2))
        env.connected = [0, 1, 2]
        env.readable = [1, 2]
    }

    /// Sends `text` and lets its node answer; returns the node it went to.
    mutating func run(_ text: String, pick: Int = 2, status: TransactionStatus = .idle) -> Int? {
        env.picks = [pick]
        var actions: [DispatchMachine.Action] = []
        machine.clientMessages([query(text)], &env, facts: facts, into: &actions)
        let node = actions.compactMap { if case .write(let node, _, _) = $0 { node } else { nil } }.first
        if let node {
            actions = []
            machine.backendReady(node, status: status, failed: false, &env, facts: facts, into: &actions)
        }
        return node
    }

    @Test mutating func readsOfASessionThatNeverWroteAreBalanced() {
        #expect(run("SELECT * FROM t", pick: 2) == 2)
        #expect(run("SELECT * FROM t", pick: 1) == 1)
    }

    @Test mutating func aReadAfterACommittedWriteWaitsForAStandbyThatReplayedIt() {
        env.walSample = 7
        #expect(run("INSERT INTO t VALUES (1)") == 0)
        // No sample after the write yet: no standby qualifies.
        #expect(run("SELECT * FROM t", pick: 2) == 0)
        env.caughtUp[7] = [1]
        #expect(run("SELECT * FROM t", pick: 2) == 0, "node 2 has not replayed the write")
        #expect(run("SELECT * FROM t", pick: 1) == 1)
        // Every standby caught up: the session reads anywhere again, without asking.
        env.caughtUp[7] = [1, 2]
        #expect(run("SELECT * FROM t", pick: 2) == 2)
        env.caughtUp[7] = []
        #expect(run("SELECT * FROM t", pick: 2) == 2)
    }

    @Test mutating func aTransactionCountsWhenItEnds() {
        env.walSample = 3
        #expect(run("BEGIN", status: .inTransaction) == 0)
        #expect(run("INSERT INTO t VALUES (1)", status: .inTransaction) == 0)
        env.walSample = 4
        #expect(run("COMMIT") == 0)
        env.caughtUp[3] = [1, 2]
        env.caughtUp[4] = [1]
        #expect(run("SELECT * FROM t", pick: 2) == 0, "the commit came at sample 4")
        #expect(run("SELECT * FROM t", pick: 1) == 1)
    }

    @Test mutating func aPositionFromAnotherSessionHoldsReadsUntilStandbysReplayedIt() {
        machine.minimumPosition = 500
        env.replayed = [1: 400, 2: 600]
        #expect(run("SELECT * FROM t", pick: 1) == 0)
        #expect(run("SELECT * FROM t", pick: 2) == 2)
        env.replayed = [1: 500, 2: 600]
        #expect(run("SELECT * FROM t", pick: 1) == 1)
        #expect(machine.minimumPosition == nil, "every standby has it: forgotten")
    }

    @Test mutating func aStatementPreparedOnAStandbyRunsOnThePrimaryAfterAWrite() {
        #expect(Set(runPrepared("s1", "SELECT * FROM t", parse: true, pick: 2)) == [2])
        #expect(Set(runPrepared("s1", "", parse: false)) == [2])
        env.walSample = 9
        #expect(run("INSERT INTO t VALUES (1)") == 0)
        // Parsed on the primary first (its answers hidden), then bound and executed there.
        #expect(Set(runPrepared("s1", "", parse: false)) == [0])
        env.caughtUp[9] = [1, 2]
        #expect(run("SELECT 1", pick: 1) == 1)
        #expect(Set(runPrepared("s1", "", parse: false)) == [2])
    }

    @Test mutating func aReadWaitsForAStandbyThenGoesThereOrToThePrimary() {
        machine.updateRoutingSettings {
            $0.readYourWritesWait = 100
            $0.readYourWritesCheckPeriod = 50
        }
        env.walSample = 4
        #expect(run("INSERT INTO t VALUES (1)") == 0)
        env.picks = [2, 2, 2]
        var actions: [DispatchMachine.Action] = []
        machine.clientMessages([query("SELECT * FROM t")], &env, facts: facts, into: &actions)
        #expect(actions == [.waitForStandbys(milliseconds: 50)])
        env.caughtUp[4] = [2]
        actions = []
        machine.factsSettled(&env, facts: facts, into: &actions)
        #expect(actions.contains(.write(node: 2, bytes: query("SELECT * FROM t").bytes, type: FrontendMessageType.query)))
        #expect(actions.contains(.standbyWaitEnded(milliseconds: 50, onStandby: true)))
        _ = ready(2)

        // Never caught up: after two looks, the primary.
        env.walSample = 5
        #expect(run("INSERT INTO t VALUES (2)") == 0)
        env.picks = [2, 2, 2]
        actions = []
        machine.clientMessages([query("SELECT * FROM t")], &env, facts: facts, into: &actions)
        #expect(actions == [.waitForStandbys(milliseconds: 50)])
        actions = []
        machine.factsSettled(&env, facts: facts, into: &actions)
        #expect(actions == [.waitForStandbys(milliseconds: 50)])
        actions = []
        machine.factsSettled(&env, facts: facts, into: &actions)
        #expect(actions.contains(.standbyWaitEnded(milliseconds: 100, onStandby: false)))
        #expect(actions.contains(.readOnPrimaryForSessionWrites))
        #expect(actions.contains { if case .write(node: 0, _, _) = $0 { true } else { false } })
    }

    mutating func ready(_ node: Int) -> [DispatchMachine.Action] {
        var actions: [DispatchMachine.Action] = []
        machine.backendReady(node, status: .idle, failed: false, &env, facts: facts, into: &actions)
        return actions
    }

    @Test mutating func aSetIsNoWrite() {
        env.walSample = 1
        _ = run("SET search_path = public")
        #expect(run("SELECT * FROM t", pick: 2) == 2)
    }

    @Test mutating func withTheModeOffReadsGoToStandbysAtOnce() {
        machine.updateRoutingSettings { $0.readYourWrites = false }
        #expect(run("INSERT INTO t VALUES (1)") == 0)
        #expect(run("SELECT * FROM t", pick: 2) == 2)
    }

    @Test func samplesAfterTheWriteDecideWhichStandbysQualify() {
        let positions = WALPositions()
        let atWrite = positions.currentSample
        #expect(positions.standbys(caughtUpAfter: atWrite).isEmpty)
        positions.recordReplay(100, node: 1)
        positions.recordReplay(300, node: 2)
        let sample = positions.beginSample()
        #expect(positions.standbys(caughtUpAfter: atWrite).isEmpty, "begun, not read yet")
        positions.recordPrimary(200, sample: sample)
        #expect(positions.standbys(caughtUpAfter: atWrite) == [2])
        // A sample that began before the write does not cover it.
        #expect(positions.standbys(caughtUpAfter: sample).isEmpty)
        positions.recordReplay(nil, node: 2)
        #expect(positions.standbys(caughtUpAfter: atWrite).isEmpty)
    }
}

extension ReadYourWritesTests {
    /// Parse, Bind, Execute, Sync of a named statement (or Bind, Execute, Sync when `parse` is false).
    mutating func runPrepared(_ name: String, _ text: String, parse parsing: Bool, pick: Int = 2) -> [Int] {
        env.picks = [pick]
        var messages: [RawMessage] = parsing ? [parse(name, text)] : []
        messages += [bind("", name), execute(""), sync]
        var actions: [DispatchMachine.Action] = []
        machine.clientMessages(messages, &env, facts: facts, into: &actions)
        let nodes = actions.compactMap { if case .write(let node, _, _) = $0 { node } else { nil } }
        for node in Set(nodes) {
            var more: [DispatchMachine.Action] = []
            machine.backendReady(node, status: .idle, failed: false, &env, facts: facts, into: &more)
        }
        return nodes
    }
}
