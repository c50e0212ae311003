import NIOCore
import PostgresWire
import Routing
import Testing
@testable import Proxy

/// A transaction-mode session between units of work follows a failover to the new primary.
@Suite("Moving to a new primary in transaction mode")
struct PrimaryMoveTests {
    var env = FakeEnvironment()
    let facts = FakeFacts()

    /// Primary 0, reads on node 2, transaction mode.
    func pooled() -> DispatchMachine {
        DispatchMachine(primary: 0, routing: RoutingSession(settings: RoutingSettings(), loadBalanceNode: 2),
                        transactionPooling: true)
    }

    mutating func send(_ machine: inout DispatchMachine, _ messages: RawMessage...) -> [DispatchMachine.Action] {
        var actions: [DispatchMachine.Action] = []
        machine.clientMessages(messages, &env, facts: facts, into: &actions)
        return actions
    }

    mutating func answer(_ machine: inout DispatchMachine, _ nodes: Int...) {
        for node in nodes {
            var actions: [DispatchMachine.Action] = []
            machine.backendReady(node, status: .idle, failed: false, &env, facts: facts, into: &actions)
        }
    }

    func writtenNodes(_ actions: [DispatchMachine.Action]) -> Set<Int> {
        Set(actions.compactMap { if case .write(let node, _, _) = $0 { node } else { nil } })
    }

    @Test mutating func statementsAndWritesFollowTheNewPrimaryAndReadsStayOnTheirStandby() {
        var machine = pooled()
        env.connected = [0, 1, 2, 3]
        #expect(writtenNodes(send(&machine, parse("w", "INSERT INTO t VALUES (1)"), sync)) == [0])
        answer(&machine, 0)
        #expect(writtenNodes(send(&machine, parse("r", "SELECT * FROM t"), sync)) == [2])
        answer(&machine, 2)
        #expect(machine.canMoveToAnotherPrimary(unitWaiting: false))

        machine.primaryMoved(to: 1)
        env.primary = 1
        #expect(machine.primary == 1)
        #expect(machine.protocolStatements["w"]?.nodes == [1], "the write statement lives on the new primary")
        #expect(writtenNodes(send(&machine, bind("", "w"), execute(""), sync)) == [1])
        answer(&machine, 1)
        #expect(writtenNodes(send(&machine, bind("", "r"), execute(""), sync)) == [2], "reads keep their standby")
        answer(&machine, 2)
        #expect(writtenNodes(send(&machine, query("UPDATE t SET x = 1"))) == [1])
    }

    @Test mutating func aLoadBalanceNodePromotedToPrimaryTakesTheReadsAsThePrimary() {
        var machine = pooled()
        env.connected = [0, 2]
        _ = send(&machine, query("SELECT * FROM t"))
        answer(&machine, 2)
        machine.primaryMoved(to: 2)
        env.primary = 2
        env.readable = [1, 3]
        #expect(machine.routing.loadBalanceNode == 2)
        #expect(writtenNodes(send(&machine, query("INSERT INTO t VALUES (2)"))) == [2])
    }

    @Test mutating func aSessionWithAnAnswerOutstandingOrPinnedCannotMove() {
        var waiting = pooled()
        env.connected = [0, 2]
        _ = send(&waiting, query("SELECT pg_sleep(10)"))
        #expect(!waiting.canMoveToAnotherPrimary(unitWaiting: true), "the client waits for an answer")
        var open = pooled()
        _ = send(&open, parse("s", "SELECT 1"), bind("", "s"))
        #expect(!open.canMoveToAnotherPrimary(unitWaiting: true), "an extended exchange is open")
        var pinned = pooled()
        _ = send(&pinned, query("LISTEN news"))
        answer(&pinned, 0)
        #expect(pinned.pooled?.isPinned == true)
        #expect(!pinned.canMoveToAnotherPrimary(unitWaiting: false), "LISTEN lives in one server session")
        #expect(!DispatchMachine.primaryOnly(0).canMoveToAnotherPrimary(unitWaiting: false), "session mode does not move")
    }

    @Test mutating func aUnitWaitingForTheLostPrimarysLeaseLeasesTheNewOneAndRunsThere() {
        var machine = pooled()
        env.connected = []
        let sent = send(&machine, query("INSERT INTO t VALUES (1)"))
        #expect(sent.contains(.lease(node: 0)))
        #expect(writtenNodes(sent).isEmpty)
        #expect(machine.canMoveToAnotherPrimary(unitWaiting: true), "nothing of the unit was sent")
        #expect(!machine.canMoveToAnotherPrimary(unitWaiting: false), "but it is not between units")

        machine.primaryMoved(to: 1)
        env.primary = 1
        var actions: [DispatchMachine.Action] = []
        machine.dispatch(&env, into: &actions)
        #expect(actions == [.lease(node: 1)])
        env.connected = [1]
        actions = []
        machine.leased(1, &env, into: &actions)
        #expect(writtenNodes(actions) == [1])
    }
}
