import Cluster
import NIOCore
import PostgresWire
import Routing
import Testing
@testable import Proxy

/// The dispatch machine's view of the session, as plain values.
struct FakeEnvironment: DispatchEnvironment {
    var connected: Set<Int> = [0]
    var busy: Set<Int> = []
    var midMessage: Set<Int> = []
    var readable = [1, 2, 3]
    var picks: [Int] = []
    var leastDelayedNode: Int?
    var primary = 0

    func isConnected(_ node: Int) -> Bool { connected.contains(node) }
    func isQuiescent(_ node: Int) -> Bool { !busy.contains(node) }
    func isAtMessageBoundary(_ node: Int) -> Bool { !midMessage.contains(node) }
    mutating func routingNodes() -> RoutingNodes { RoutingNodes(primary: primary, readable: readable) }
    mutating func pick() -> Int? { picks.isEmpty ? nil : picks.removeFirst() }
    mutating func leastDelayed() -> Int? { leastDelayedNode }
    var walSample = 0
    var caughtUp: [Int: Set<Int>] = [:]
    func currentWALSample() -> Int { walSample }
    func standbys(caughtUpAfter sample: Int) -> Set<Int> { caughtUp[sample] ?? [] }
    var replayed: [Int: UInt64] = [:]
    func standbys(replayedAtLeast position: UInt64) -> Set<Int> { Set(replayed.filter { $0.value >= position }.keys) }
    /// The Parse texts the machine asked to have classified, in order.
    var parsedTexts: [String] = []
    mutating func classification(ofParsed text: String) -> QueryClassification {
        parsedTexts.append(text)
        return SQLClassifier.classify(query: text)
    }
    /// The simple queries the machine asked to have classified, in order.
    var queryTexts: [String] = []
    mutating func classification(ofQuery text: String) -> QueryClassification {
        queryTexts.append(text)
        return SQLClassifier.classify(query: text)
    }
}

/// Catalog answers: everything is an ordinary table unless it is listed as unknown.
final class FakeFacts: SessionFacts {
    var unknown: Set<String> = []
    private var misses: [CatalogFactsCache.Key] = []

    func takeMisses() -> [CatalogFactsCache.Key] {
        defer { misses.removeAll() }
        return misses
    }

    private func known(_ relation: QualifiedName) -> Bool? {
        guard !unknown.contains(relation.name) else {
            misses.append(CatalogFactsCache.relationKey("app", relation))
            return nil
        }
        return false
    }

    func isSystemCatalog(_ relation: QualifiedName) -> Bool? {
        guard known(relation) != nil else { return nil }
        return ["pg_class"].contains(relation.name)
    }
    func isTemporary(_ relation: QualifiedName) -> Bool? { known(relation) }
    func isUnlogged(_ relation: QualifiedName) -> Bool? { known(relation) }
    func isVolatile(_ function: QualifiedName) -> Bool? { function.name == "nextval" }
}

func query(_ text: String) -> RawMessage {
    var bytes = ByteBuffer()
    FrontendMessageEncoder.query(text, into: &bytes)
    return RawMessage(type: FrontendMessageType.query, bytes: bytes)
}

func message(_ type: UInt8, _ body: (inout ByteBuffer) -> Void = { _ in }) -> RawMessage {
    var bytes = ByteBuffer()
    bytes.writeMessage(type: type, body)
    return RawMessage(type: type, bytes: bytes)
}

func parse(_ name: String, _ text: String) -> RawMessage {
    message(FrontendMessageType.parse) {
        $0.writeNullTerminatedString(name)
        $0.writeNullTerminatedString(text)
        $0.writeInteger(Int16(0))
    }
}

func bind(_ portal: String, _ statement: String) -> RawMessage {
    message(FrontendMessageType.bind) {
        $0.writeNullTerminatedString(portal)
        $0.writeNullTerminatedString(statement)
        $0.writeInteger(Int16(0))
        $0.writeInteger(Int16(0))
        $0.writeInteger(Int16(0))
    }
}

func execute(_ portal: String) -> RawMessage {
    message(FrontendMessageType.execute) {
        $0.writeNullTerminatedString(portal)
        $0.writeInteger(Int32(0))
    }
}

func describeStatement(_ name: String) -> RawMessage {
    message(FrontendMessageType.describe) {
        $0.writeInteger(UInt8(ascii: "S"))
        $0.writeNullTerminatedString(name)
    }
}

let sync = message(FrontendMessageType.sync)

@Suite("Client session dispatch")
struct DispatchMachineTests {
    var env = FakeEnvironment()
    let facts = FakeFacts()

    /// A routed session whose load-balance node is 2.
    func routed(_ configure: (inout RoutingSettings) -> Void = { _ in }) -> DispatchMachine {
        var settings = RoutingSettings()
        configure(&settings)
        return DispatchMachine(primary: 0, routing: RoutingSession(settings: settings, loadBalanceNode: 2))
    }

    mutating func send(_ machine: inout DispatchMachine, _ messages: RawMessage...) -> [DispatchMachine.Action] {
        var actions: [DispatchMachine.Action] = []
        machine.clientMessages(messages, &env, facts: facts, into: &actions)
        return actions
    }

    mutating func ready(_ machine: inout DispatchMachine, _ node: Int, _ status: TransactionStatus = .idle,
                        failed: Bool = false) -> [DispatchMachine.Action] {
        env.busy.remove(node)
        var actions: [DispatchMachine.Action] = []
        machine.backendReady(node, status: status, failed: failed, &env, facts: facts, into: &actions)
        return actions
    }

    /// The nodes written to, in order.
    func writes(_ actions: [DispatchMachine.Action]) -> [Int] {
        actions.compactMap { if case .write(let node, _, _) = $0 { node } else { nil } }
    }

    func counts(_ actions: [DispatchMachine.Action]) -> [Int: [StatementCategory]] {
        actions.reduce(into: [:]) { result, action in
            if case .count(let node, let category) = action { result[node, default: []].append(category) }
        }
    }

    // MARK: One pipeline

    @Test mutating func withoutRoutingEverythingGoesToThePrimaryAndIsCounted() {
        var machine = DispatchMachine.primaryOnly(0)
        env.connected = [0]
        let actions = send(&machine, query("SELECT * FROM t"), query("INSERT INTO t VALUES (1)"), query("SET x = 1"))
        #expect(writes(actions) == [0, 0, 0])
        #expect(counts(actions) == [0: [.select, .insert, .other]])
        #expect(!actions.contains { if case .lease = $0 { true } else { false } })
        #expect(send(&machine, message(FrontendMessageType.terminate)) == [.terminate])
    }

    @Test mutating func primaryOnlyNeverAsksTheCatalog() {
        var machine = DispatchMachine.primaryOnly(0)
        facts.unknown = ["fresh"]
        let actions = send(&machine, query("SELECT * FROM fresh"))
        #expect(writes(actions) == [0])
        #expect(facts.takeMisses().isEmpty)
    }

    // MARK: Simple protocol

    @Test mutating func aReadLeasesTheLoadBalanceNodeThenGoesThere() {
        var machine = routed()
        var actions = send(&machine, query("SELECT * FROM t"))
        #expect(actions == [.lease(node: 2)])
        // A second message while the lease runs does not lease again.
        #expect(send(&machine, query("SELECT 2")).isEmpty)
        env.connected.insert(2)
        actions = []
        machine.leased(2, &env, into: &actions)
        #expect(actions.first == .setCancelTarget(node: 2))
        #expect(writes(actions) == [2, 2])
        #expect(counts(actions) == [2: [.select, .select]])
    }

    @Test mutating func aWriteWaitsUntilTheReadingNodeAnswered() {
        var machine = routed()
        env.connected = [0, 2]
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [2])
        env.busy = [2]
        #expect(send(&machine, query("INSERT INTO t VALUES (1)")).isEmpty, "node 2 still answers the read")
        let actions = ready(&machine, 2)
        #expect(actions.first == .setCancelTarget(node: 0))
        #expect(writes(actions) == [0])
    }

    @Test mutating func bothStatementsReachBothNodesAndOnlyThePrimaryAnswers() {
        var machine = routed()
        env.connected = [0, 2]
        let actions = send(&machine, query("SET search_path = public"))
        #expect(writes(actions) == [0, 2])
        #expect(counts(actions) == [0: [.other], 2: [.other]])
        #expect(machine.backendOutput(2, ByteBuffer(string: "C")) == .dropped)
        #expect(machine.backendOutput(0, ByteBuffer(string: "C")) == .forward)
    }

    @Test mutating func beginReadWriteIsAPlainBeginOnTheStandby() {
        var machine = routed()
        env.connected = [0, 2]
        let actions = send(&machine, query("BEGIN READ WRITE"))
        var plain = ByteBuffer()
        FrontendMessageEncoder.query("BEGIN", into: &plain)
        #expect(actions.contains(.write(node: 2, bytes: plain, type: FrontendMessageType.query)))
        #expect(actions.contains(.write(node: 0, bytes: query("BEGIN READ WRITE").bytes, type: FrontendMessageType.query)))
    }

    @Test mutating func thePrimarysAsynchronousOutputWaitsForTheReadingNodesBoundary() {
        var machine = routed()
        env.connected = [0, 2]
        _ = send(&machine, query("SELECT * FROM t"))
        env.busy = [2]
        // A ParameterStatus or NOTICE from the primary while node 2 answers the client.
        #expect(machine.backendOutput(0, ByteBuffer(string: "S1")) == .held)
        #expect(machine.backendOutput(0, ByteBuffer(string: "S2")) == .held)
        #expect(machine.backendOutput(2, ByteBuffer(string: "D")) == .forward)
        #expect(ready(&machine, 2) == [.writeClient(ByteBuffer(string: "S1S2"))])
    }

    // MARK: Cancel targets and errors

    @Test mutating func theCancelTargetFollowsTheNodeWhoseAnswerTheClientAwaits() {
        var machine = routed()
        env.connected = [0, 2]
        var actions = send(&machine, query("SELECT * FROM t"))
        #expect(actions.first == .setCancelTarget(node: 2))
        env.busy = [2]
        _ = ready(&machine, 2)
        // A statement sent to both nodes is answered (and cancelled) by the primary.
        actions = send(&machine, query("SET work_mem = '8MB'"))
        #expect(actions.first == .setCancelTarget(node: 0))
        #expect(writes(actions) == [0, 2])
        env.busy = [0, 2]
        _ = ready(&machine, 2)
        _ = ready(&machine, 0)
        actions = send(&machine, query("SELECT * FROM t"))
        #expect(actions.first == .setCancelTarget(node: 2))
    }

    @Test mutating func anErrorFromTheReadingStandbyReachesTheClientAndTheSessionGoesOn() {
        var machine = routed()
        env.connected = [0, 2]
        _ = send(&machine, query("SELECT * FROM missing_table"))
        env.busy = [2]
        #expect(machine.backendOutput(2, ByteBuffer(string: "E")) == .forward)
        #expect(ready(&machine, 2, failed: true).isEmpty)
        let actions = send(&machine, query("INSERT INTO t VALUES (1)"))
        #expect(actions.first == .setCancelTarget(node: 0))
        #expect(writes(actions) == [0])
        env.busy = [0]
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [], "the read waits for the primary's answer")
        #expect(writes(ready(&machine, 0)) == [2])
    }

    @Test mutating func anErrorOnlyOnTheStandbyOfAStatementSentToBothIsNotShown() {
        var machine = routed()
        env.connected = [0, 2]
        #expect(writes(send(&machine, query("SET search_path = app"))) == [0, 2])
        env.busy = [0, 2]
        #expect(machine.backendOutput(2, ByteBuffer(string: "E")) == .dropped)
        #expect(ready(&machine, 2, failed: true).isEmpty)
        #expect(machine.backendOutput(0, ByteBuffer(string: "CZ")) == .forward)
        _ = ready(&machine, 0)
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [2])
    }

    @Test mutating func anErrorFromThePrimaryInAnExtendedBatchLeavesTheNextBatchRoutable() {
        var machine = routed()
        env.connected = [0, 2]
        var actions = send(&machine, parse("", "INSERT INTO t VALUES (1)"), bind("", ""), execute(""), sync)
        #expect(Set(writes(actions)) == [0])
        env.busy = [0]
        #expect(machine.backendOutput(0, ByteBuffer(string: "E")) == .forward)
        _ = ready(&machine, 0, failed: true)
        actions = send(&machine, parse("", "SELECT * FROM t"), bind("", ""), execute(""), sync)
        #expect(Set(writes(actions)) == [2])
    }

    @Test mutating func writesInATransactionPinLaterReadsToThePrimary() {
        var machine = routed()
        env.connected = [0, 2]
        #expect(writes(send(&machine, query("BEGIN"))) == [0, 2])
        _ = ready(&machine, 2, .inTransaction)
        _ = ready(&machine, 0, .inTransaction)
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [2])
        _ = ready(&machine, 2, .inTransaction)
        #expect(writes(send(&machine, query("UPDATE t SET x = 1"))) == [0])
        _ = ready(&machine, 0, .inTransaction)
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [0], "the transaction wrote")
        _ = ready(&machine, 0, .inTransaction)
        #expect(writes(send(&machine, query("COMMIT"))) == [0, 2])
        _ = ready(&machine, 0)
        _ = ready(&machine, 2)
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [2], "a new transaction reads from the standby again")
    }

    @Test mutating func copyDataFollowsItsQuery() {
        var machine = routed()
        env.connected = [0, 2]
        let actions = send(&machine, query("COPY t FROM STDIN"), message(FrontendMessageType.copyData) { $0.writeString("1\n") },
                           message(FrontendMessageType.copyDone))
        #expect(writes(actions) == [0, 0, 0])
    }

    @Test mutating func anUnreachableStandbySendsWhatWaitedForItToThePrimary() {
        var machine = routed()
        #expect(send(&machine, query("SELECT * FROM t")) == [.lease(node: 2)])
        var actions: [DispatchMachine.Action] = []
        machine.nodeUnavailable(2, &env, into: &actions)
        #expect(writes(actions) == [0])
        #expect(machine.routing.loadBalanceNode == 0)
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [0])
    }

    @Test mutating func aQueryAfterAnExchangeWithoutSyncGoesWhereTheExchangeIs() {
        var machine = routed()
        env.connected = [0, 2]
        // asyncpg's prepare: Parse, Describe, Flush; the primary keeps the exchange open.
        let flush = message(FrontendMessageType.flush)
        #expect(Set(writes(send(&machine, parse("s1", "INSERT INTO t VALUES (1)"), message(FrontendMessageType.describe) {
            $0.writeInteger(UInt8(ascii: "S")); $0.writeNullTerminatedString("s1")
        }, flush))) == [0])
        env.busy = [0]
        // A read would go to node 2, but the open exchange is on the primary: it goes there
        // at once instead of waiting for a ReadyForQuery that only it will bring.
        #expect(writes(send(&machine, query("SELECT 1"))) == [0])
        _ = ready(&machine, 0)
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [2], "reads balance again after it")
    }

    // MARK: Bounds and large messages

    @Test mutating func aLargeBindStreamsToThePrimaryAfterItsStatementIsParsedThere() {
        var machine = routed()
        env.connected = [0, 2]
        _ = send(&machine, parse("s1", "SELECT * FROM t"), sync)
        _ = ready(&machine, 2)
        var actions: [DispatchMachine.Action] = []
        let head = bind("", "s1")
        machine.largeMessage(head, &env, facts: facts, into: &actions)
        // Close + Parse before the Bind on the primary, then (once answered) the head and the stream.
        #expect(writes(actions) == [0, 0, 0])
        #expect(!actions.contains { if case .streamTo = $0 { true } else { false } })
        actions = ready(&machine, 0)
        #expect(actions.contains(.write(node: 0, bytes: head.bytes, type: FrontendMessageType.bind)))
        #expect(actions.last == .streamTo(nodes: [0]))
        // Nothing else goes out while the message streams.
        #expect(writes(send(&machine, execute(""), sync)).isEmpty)
        actions = []
        machine.streamEnded(&env, into: &actions)
        #expect(writes(actions) == [0, 0])
    }

    @Test mutating func withoutRoutingALargeMessageStreamsToThePrimaryAtOnce() {
        var machine = DispatchMachine.primaryOnly(0)
        var actions: [DispatchMachine.Action] = []
        let head = query("SELECT 'a very long text")
        machine.largeMessage(head, &env, facts: facts, into: &actions)
        #expect(actions == [.count(node: 0, .other), .write(node: 0, bytes: head.bytes, type: FrontendMessageType.query),
                            .streamTo(nodes: [0])])
    }

    @Test mutating func anExtendedBatchTooLargeToHoldGoesOutBeforeItsSync() {
        var machine = routed()
        env.connected = [0, 2]
        let big = String(repeating: "x", count: 100_000)
        var actions: [DispatchMachine.Action] = []
        for index in 0..<12 {
            actions += send(&machine, parse("p\(index)", "SELECT '\(big)'"))
        }
        #expect(!writes(actions).isEmpty, "over a MiB is not held for a Sync")
        #expect(Set(writes(actions)) == [0])
        #expect(machine.heldClientBytes <= DispatchMachine.heldBytesLimit)
    }

    @Test mutating func queuedMessagesCountAsHeldBytes() {
        var machine = routed()
        env.connected = [0, 2]
        _ = send(&machine, query("SELECT * FROM t"))
        env.busy = [2]
        _ = send(&machine, query("INSERT INTO t VALUES (1)"), query("INSERT INTO t VALUES (2)"))
        #expect(machine.heldClientBytes == query("INSERT INTO t VALUES (1)").bytes.readableBytes * 2)
        _ = ready(&machine, 2)
        #expect(machine.heldClientBytes == 0)
    }

    // MARK: A lost standby

    mutating func lose(_ machine: inout DispatchMachine, _ node: Int, wasIdle: Bool = true) -> (Bool, [DispatchMachine.Action]) {
        env.connected.remove(node)
        env.readable.removeAll { $0 == node }
        var actions: [DispatchMachine.Action] = []
        let survives = machine.nodeLost(node, wasIdle: wasIdle, &env, into: &actions)
        return (survives, actions)
    }

    @Test mutating func anIdleSessionGoesOnWithoutItsLostStandbyAndReadsElsewhere() {
        var machine = routed()
        env.connected = [0, 2, 3]
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [2])
        _ = ready(&machine, 2)
        env.picks = [3]
        let (survives, _) = lose(&machine, 2)
        #expect(survives)
        #expect(machine.routing.loadBalanceNode == 3, "reads move to a node drawn by weight")
        let actions = send(&machine, query("SELECT * FROM t"))
        #expect(actions.first == .setCancelTarget(node: 3))
        #expect(writes(actions) == [3])
    }

    @Test mutating func aStandbyLostMidQueryOrInATransactionEndsTheSession() {
        var machine = routed()
        env.connected = [0, 2]
        _ = send(&machine, query("SELECT pg_sleep(10)"))
        #expect(lose(&machine, 2, wasIdle: false).0 == false, "the client waits for its answer")
        var inTransaction = routed()
        env.connected = [0, 2]
        _ = send(&inTransaction, query("BEGIN"))
        _ = ready(&inTransaction, 0, .inTransaction)
        _ = ready(&inTransaction, 2, .inTransaction)
        #expect(lose(&inTransaction, 2, wasIdle: false).0 == false)
    }

    @Test mutating func anSQLPreparedReadAlsoLivesOnThePrimarySoTheSessionGoesOn() {
        var machine = routed()
        env.connected = [0, 2]
        #expect(writes(send(&machine, query("PREPARE q AS SELECT * FROM t"))) == [0, 2])
        _ = ready(&machine, 2)
        _ = ready(&machine, 0)
        env.connected = [0]
        env.readable = [1, 3]
        env.picks = [3]
        #expect(lose(&machine, 2).0 == true)
        #expect(writes(send(&machine, query("EXECUTE q"))) == [0], "node 3 lacks q: the primary runs it")
    }

    @Test mutating func afterASetReadsStayOnThePrimaryWhenTheStandbyIsLost() {
        var machine = routed()
        env.connected = [0, 2, 3]
        #expect(writes(send(&machine, query("SET search_path = app"))) == [0, 2])
        _ = ready(&machine, 0)
        _ = ready(&machine, 2)
        env.picks = [3]
        #expect(lose(&machine, 2).0)
        #expect(machine.routing.loadBalanceNode == 0, "node 3 never saw the SET")
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [0])
    }

    @Test mutating func aProtocolStatementOnTheLostStandbyIsParsedAgainWhereItIsNextUsed() {
        var machine = routed()
        env.connected = [0, 2, 3]
        _ = send(&machine, parse("s1", "SELECT * FROM t"), sync)
        _ = ready(&machine, 2)
        env.picks = [3]
        #expect(lose(&machine, 2).0)
        // Close + Parse + Sync of SwiftPool's own on node 3 first, then, once node 3 answered
        // them, the client's batch.
        #expect(writes(send(&machine, bind("", "s1"), execute(""), sync)) == [3, 3, 3])
        #expect(writes(ready(&machine, 3)) == [3, 3, 3])
    }

    /// The types of the messages written to `node`.
    func types(_ actions: [DispatchMachine.Action], to node: Int) -> [UInt8] {
        actions.compactMap { if case .write(node, _, let type) = $0 { type } else { nil } }
    }

    /// Statement-level balancing: a prepared BEGIN parsed while node 3 was out; node 3 has
    /// joined since.
    mutating func beginPreparedBeforeNode3Joined() -> DispatchMachine {
        var machine = routed { $0.statementLevelLoadBalance = true }
        env.connected = [0, 2, 3]
        env.readable = [2]
        _ = send(&machine, parse("begin", "BEGIN"), sync)
        _ = ready(&machine, 0)
        _ = ready(&machine, 2)
        env.readable = [2, 3]
        return machine
    }

    @Test mutating func aPreparedBeginReachesTheNodesReadingNowNotThoseOfItsParse() {
        // A read of the transaction may go to node 3, so the BEGIN must go there too.
        var machine = beginPreparedBeforeNode3Joined()
        let actions = send(&machine, bind("", "begin"), execute(""), sync)
        // Close + Parse + Sync of SwiftPool's own on node 3 first; once node 3 answered them, the
        // client's batch goes to all three.
        #expect(types(actions, to: 3) == [FrontendMessageType.close, FrontendMessageType.parse, FrontendMessageType.sync])
        let batch = [FrontendMessageType.bind, FrontendMessageType.execute, FrontendMessageType.sync]
        let after = ready(&machine, 3)
        #expect(types(after, to: 0) == batch)
        #expect(types(after, to: 2) == batch)
        #expect(types(after, to: 3) == batch)
    }

    @Test mutating func aPreparedBeginDescribedBeforeItIsBoundAlsoReachesTheNodesReadingNow() {
        // As above, with a Describe of the statement ahead of its Bind: the batch goes where the
        // Bind sends the statement now, not where the Describe found it.
        var machine = beginPreparedBeforeNode3Joined()
        _ = send(&machine, describeStatement("begin"), bind("", "begin"), execute(""), sync)
        let batch = [FrontendMessageType.describe, FrontendMessageType.bind, FrontendMessageType.execute,
                     FrontendMessageType.sync]
        let after = ready(&machine, 3)
        #expect(types(after, to: 0) == batch)
        #expect(types(after, to: 2) == batch)
        #expect(types(after, to: 3) == batch)
    }

    @Test mutating func aStatementForSeveralNodesForgetsALostOneAndNothingOfSwiftPoolsGoesToThePrimaryInstead() {
        // psycopg prepares BEGIN and COMMIT: BOTH statements placed on the primary and node 2.
        var machine = routed()
        env.connected = [0, 2]
        _ = send(&machine, parse("begin", "BEGIN"), sync)
        _ = ready(&machine, 0)
        _ = ready(&machine, 2)
        env.picks = [3]
        #expect(lose(&machine, 2).0)
        // Any node the batch leases cannot be reached (a node going down and coming back).
        var actions = send(&machine, bind("", "begin"), execute(""), sync)
        for case .lease(let node) in actions {
            env.readable.removeAll { $0 == node }
            var failed: [DispatchMachine.Action] = []
            machine.nodeUnavailable(node, &env, into: &failed)
            actions += failed
        }
        // The client's batch runs on the primary, which has the statement; no Parse of
        // SwiftPool's own reaches the primary (there, inside a transaction, its error would abort
        // the transaction unseen and turn its COMMIT into a ROLLBACK).
        #expect(!types(actions, to: 0).contains(FrontendMessageType.parse))
        #expect(types(actions, to: 0).contains(FrontendMessageType.bind))
        #expect(types(actions, to: 2).isEmpty)
    }

    @Test mutating func terminateEndsTheSessionAfterWhatCameBefore() {
        var machine = routed()
        env.connected = [0, 2]
        let actions = send(&machine, query("SELECT 1"), message(FrontendMessageType.terminate))
        #expect(writes(actions) == [2])
        #expect(actions.last == .terminate)
    }

    // MARK: Extended protocol

    @Test mutating func anExtendedBatchIsRoutedAsAUnitAtItsSync() {
        var machine = routed()
        env.connected = [0, 2]
        #expect(send(&machine, parse("", "SELECT * FROM t"), bind("", "")).isEmpty, "nothing goes out before the Sync")
        let actions = send(&machine, execute(""), sync)
        #expect(writes(actions) == [2, 2, 2, 2])
        #expect(counts(actions) == [2: [.select]])
        #expect(machine.isIdle)
    }

    @Test mutating func aBatchThatBeginsATransactionOnThePrimaryKeepsItsReadsThere() {
        // pgjdbc: BEGIN in one batch with the transaction's first statement.
        var machine = routed()
        env.connected = [0, 2]
        let first = send(&machine, parse("", "BEGIN"), bind("", ""), execute(""),
                         parse("", "SELECT * FROM t"), bind("", ""), execute(""), sync)
        #expect(Set(writes(first)) == [0], "a mixed batch goes to the primary")
        _ = ready(&machine, 0, .inTransaction)
        // The standby is in no transaction: the transaction's reads stay on the primary.
        #expect(Set(writes(send(&machine, parse("", "SELECT * FROM t"), bind("", ""), execute(""), sync))) == [0])
        _ = ready(&machine, 0, .inTransaction)
        #expect(Set(writes(send(&machine, query("SELECT * FROM t")))) == [0])
        _ = ready(&machine, 0, .inTransaction)
        _ = send(&machine, query("COMMIT"))
        _ = ready(&machine, 0, .idle)
        #expect(Set(writes(send(&machine, query("SELECT * FROM t")))) == [2], "balanced again after the transaction")
    }

    @Test mutating func aBatchEndingInFlushGoesOutAndStaysOnThePrimaryUntilItsSync() {
        var machine = routed()
        env.connected = [0, 2]
        let flush = message(FrontendMessageType.flush)
        #expect(writes(send(&machine, parse("s1", "SELECT * FROM t"), flush)) == [0, 0])
        #expect(writes(send(&machine, bind("", "s1"), execute(""), sync)) == [0, 0, 0], "the open exchange stays on the primary")
    }

    @Test mutating func aStatementPreparedOnAStandbyIsParsedOnThePrimaryInAWritingTransaction() {
        var machine = routed()
        env.connected = [0, 2]
        #expect(writes(send(&machine, parse("s1", "SELECT * FROM t"), sync)) == [2, 2])
        _ = ready(&machine, 2)
        _ = send(&machine, query("BEGIN"))
        _ = ready(&machine, 0, .inTransaction)
        _ = ready(&machine, 2, .inTransaction)
        _ = send(&machine, query("INSERT INTO t VALUES (1)"))
        _ = ready(&machine, 0, .inTransaction)
        let actions = send(&machine, bind("", "s1"), execute(""), sync)
        // A Close, a Parse and a Sync of SwiftPool's own go to the primary first (the Close
        // keeps a Parse of a name the primary might have after all from failing, and with it the
        // client's transaction).
        #expect(types(actions, to: 0) == [FrontendMessageType.close, FrontendMessageType.parse, FrontendMessageType.sync])
        let parsed = actions.compactMap { if case .write(0, let bytes, FrontendMessageType.parse) = $0 { bytes } else { nil } }
        #expect(parsed == [parse("s1", "SELECT * FROM t").bytes])
        // Their answers are hidden, up to their ReadyForQuery; then the client's batch follows.
        #expect(machine.backendOutput(0, ByteBuffer(string: "1")) == .dropped)
        #expect(writes(ready(&machine, 0, .inTransaction)) == [0, 0, 0])
        #expect(machine.backendOutput(0, ByteBuffer(string: "2")) == .forward)
    }

    @Test mutating func closingAStatementClosesItOnEveryNodeItLivesOn() {
        var machine = routed()
        env.connected = [0, 2]
        _ = send(&machine, parse("s1", "SELECT * FROM t"), sync)
        _ = ready(&machine, 2)
        // A write batch uses s1 on the primary (parse-before-bind), then closes it there.
        let close = message(FrontendMessageType.close) {
            $0.writeInteger(UInt8(ascii: "S"))
            $0.writeNullTerminatedString("s1")
        }
        _ = send(&machine, parse("w", "INSERT INTO t VALUES (1)"), bind("", "s1"), close, sync)
        #expect(machine.protocolStatements["s1"] == nil)
        // Closed on node 2 by SwiftPool: a Close and a Sync of its own wait in the queue.
        #expect(machine.waiting.filter(\.swallowed).count == 2)
    }

    @Test mutating func aNameClosedAndParsedAgainInOneBatchKeepsItsLastParse() {
        var machine = routed()
        env.connected = [0, 2]
        _ = send(&machine, parse("s1", "SELECT * FROM a"), sync)
        _ = ready(&machine, 2)
        _ = send(&machine, DispatchMachine.closeStatement("s1"), parse("s1", "SELECT * FROM b"), sync)
        #expect(machine.protocolStatements["s1"]?.parse.bytes == parse("s1", "SELECT * FROM b").bytes)
        // Parsed twice in one batch: the later Parse is the one kept (and sent again elsewhere).
        _ = ready(&machine, 2)
        _ = send(&machine, parse("s2", "SELECT * FROM a"), DispatchMachine.closeStatement("s2"), parse("s2", "SELECT * FROM c"), sync)
        #expect(machine.protocolStatements["s2"]?.parse.bytes == parse("s2", "SELECT * FROM c").bytes)
        // Parsed, then closed: gone.
        _ = ready(&machine, 2)
        _ = send(&machine, parse("s3", "SELECT 1"), DispatchMachine.closeStatement("s3"), sync)
        #expect(machine.protocolStatements["s3"] == nil)
    }

    @Test mutating func aBatchOfManyStatementsKeepsEachByNameWithItsLastParse() {
        var machine = routed()
        env.connected = [0, 2]
        var batch = (0..<12).map { parse("s\($0)", "SELECT \($0)") }
        batch += [DispatchMachine.closeStatement("s3"), parse("s7", "SELECT 'seven'"), parse("s12", "SELECT 12"), sync]
        var actions: [DispatchMachine.Action] = []
        machine.clientMessages(batch, &env, facts: facts, into: &actions)
        let names = Set(machine.protocolStatements.keys)
        #expect(names == Set((0...12).map { "s\($0)" }).subtracting(["s3"]))
        #expect(machine.protocolStatements["s7"]?.parse.bytes == parse("s7", "SELECT 'seven'").bytes)
        #expect(machine.protocolStatements["s11"]?.parse.bytes == parse("s11", "SELECT 11").bytes)
    }

    @Test mutating func parseTextsAreClassifiedThroughTheEnvironment() {
        var machine = routed()
        _ = send(&machine, parse("", "SELECT 1"), bind("", ""), execute(""), sync)
        _ = ready(&machine, 0)
        _ = send(&machine, query("SELECT 2"))
        _ = ready(&machine, 0)
        _ = send(&machine, parse("", "SELECT 1"), bind("", ""), execute(""), sync)
        // Only Parse texts (which drivers send again and again) go to the session's cache.
        #expect(env.parsedTexts == ["SELECT 1", "SELECT 1"])
    }

    // MARK: Catalog facts

    @Test mutating func aReadOfAnUnknownTableWaitsForItsFactsThenIsBalanced() {
        var machine = routed()
        env.connected = [0, 2]
        facts.unknown = ["fresh"]
        var actions = send(&machine, query("SELECT * FROM fresh"), query("SELECT 1"))
        #expect(actions == [.waitForFacts([CatalogFactsCache.relationKey("app", QualifiedName(["fresh"]))])])
        #expect(!machine.isIdle)
        // The look-up answered.
        facts.unknown = []
        actions = []
        machine.factsSettled(&env, facts: facts, into: &actions)
        #expect(writes(actions) == [2, 2])
        #expect(machine.isIdle)
    }

    @Test mutating func aFailedLookupSendsTheReadToThePrimary() {
        var machine = routed()
        env.connected = [0, 2]
        facts.unknown = ["fresh"]
        _ = send(&machine, parse("", "SELECT * FROM fresh"), bind("", ""), execute(""), sync)
        var actions: [DispatchMachine.Action] = []
        machine.factsSettled(&env, facts: facts, into: &actions)
        #expect(writes(actions) == [0, 0, 0, 0], "still unknown: the whole batch goes to the primary")
        // The next statement on the same table may wait again (a new look-up may succeed).
        #expect(send(&machine, query("SELECT * FROM fresh")).count == 1)
    }

    // MARK: prefer_lower_delay_standby

    @Test mutating func aLaggingLoadBalanceNodeHandsReadsToTheLeastDelayedStandby() {
        var machine = routed { $0.preferLowerDelayStandby = true }
        env.connected = [0, 1, 2, 3]
        env.readable = [1, 3]
        env.leastDelayedNode = 3
        #expect(writes(send(&machine, query("SELECT * FROM t"))) == [3])
    }
}

extension DispatchMachineTests {
    @Test mutating func withoutRoutingProtocolStatementsAreCountedAtEachBind() {
        var machine = DispatchMachine.primaryOnly(0)
        var actions = send(&machine, parse("s", "UPDATE t SET x = 1"), sync)
        #expect(writes(actions) == [0, 0])
        #expect(counts(actions).isEmpty, "prepared, not run")
        actions = send(&machine, bind("", "s"), execute(""), sync, bind("", "s"), execute(""), sync)
        #expect(writes(actions) == [0, 0, 0, 0, 0, 0])
        #expect(counts(actions) == [0: [.update, .update]])
        actions = send(&machine, query("DEALLOCATE ALL"), bind("", "s"))
        #expect(counts(actions) == [0: [.other]], "a deallocated statement counts no more")
    }

    @Test mutating func withoutRoutingARunIsOneWrite() {
        var machine = DispatchMachine.primaryOnly(0)
        let messages = [parse("", "SELECT 1"), bind("", ""), execute(""), sync]
        var run = ByteBuffer()
        for message in messages { var bytes = message.bytes; run.writeBuffer(&bytes) }
        var actions: [DispatchMachine.Action] = []
        machine.clientMessages(messages, run: run, &env, facts: facts, into: &actions)
        #expect(actions.filter { if case .track = $0 { true } else { false } }.count == 4)
        #expect(actions.last == .writeRun(node: 0, bytes: run))
        #expect(counts(actions) == [0: [.select]])
        // With a Terminate the messages before it go one by one, the Terminate never.
        actions = []
        machine.clientMessages([query("SELECT 1"), message(FrontendMessageType.terminate)], run: run, &env, facts: facts, into: &actions)
        #expect(writes(actions) == [0])
        #expect(actions.last == .terminate)
    }

    @Test func countersByFirstKeyword() {
        func categories(_ text: String) -> [StatementCategory] {
            DispatchMachine.categories(ofQueryText: query(text).body)
        }
        #expect(categories("  select * from t") == [.select])
        #expect(categories("-- note\nUPDATE t SET x = 1;") == [.update])
        #expect(categories("INSERT INTO t VALUES (1); DELETE FROM t") == [.insert, .delete])
        #expect(categories("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d").count == 1)
        #expect(categories("/* hint */ SELECT 1") == [.select])
        #expect(categories("truncate t") == [.ddl])
        #expect(categories("BEGIN") == [.other])
        #expect(categories("xtruncate") == [.other])
        #expect(categories("   ") == [])
    }
}

@Suite("Client session dispatch in transaction mode")
struct PooledDispatchTests {
    var env = FakeEnvironment()
    let facts = FakeFacts()

    @Test mutating func aStatementExchangeLeftOpenWithAFlushIsClosedByAQuietSync() {
        var machine = DispatchMachine.primaryOnly(0, transactionPooling: true)
        var actions: [DispatchMachine.Action] = []
        machine.clientMessages([parse("s", "SELECT 1"), describeStatement("s"), message(FrontendMessageType.flush)],
                               &env, facts: facts, into: &actions)
        let writes = actions.compactMap { action -> String? in
            switch action {
            case .write(_, _, let type): String(UnicodeScalar(type))
            case .writeQuietSync: "quiet sync"
            default: nil
            }
        }
        #expect(writes == ["P", "D", "H", "quiet sync"])
        #expect(machine.unsyncedRoute == nil)
    }

    @Test mutating func anExchangeWithAPortalStaysOpenAndALoneFlushNeedsNoConnection() {
        var machine = DispatchMachine.primaryOnly(0, transactionPooling: true)
        var actions: [DispatchMachine.Action] = []
        machine.clientMessages([message(FrontendMessageType.flush)], &env, facts: facts, into: &actions)
        #expect(!actions.contains { if case .write = $0 { true } else { false } })
        machine.clientMessages([parse("", "SELECT 1"), bind("", ""), execute(""), message(FrontendMessageType.flush)],
                               &env, facts: facts, into: &actions)
        #expect(!actions.contains { if case .writeQuietSync = $0 { true } else { false } })
        #expect(machine.unsyncedRoute != nil)
    }
}

extension PooledDispatchTests {
    @Test mutating func aRefusedStatementIsBoundWithoutItsParameters() {
        var machine = DispatchMachine.primaryOnly(0, transactionPooling: true)
        machine.pinningAllowed = false
        var actions: [DispatchMachine.Action] = []
        var withParameter = ByteBuffer()
        withParameter.writeMessage(type: FrontendMessageType.bind) {
            $0.writeNullTerminatedString("")
            $0.writeNullTerminatedString("lock")
            $0.writeInteger(Int16(0))
            $0.writeInteger(Int16(1))
            $0.writeInteger(Int32(2))
            $0.writeString("42")
            $0.writeInteger(Int16(0))
        }
        machine.clientMessages([parse("lock", "SELECT pg_advisory_lock($1)"),
                                RawMessage(type: FrontendMessageType.bind, bytes: withParameter), execute(""), sync],
                               &env, facts: facts, into: &actions)
        #expect(actions.contains(.refusedPinning(.advisoryLock)))
        let binds = actions.compactMap { action -> ByteBuffer? in
            if case .write(_, let bytes, FrontendMessageType.bind) = action { bytes } else { nil }
        }
        #expect(binds == [bind("", "lock").bytes])
    }
}
