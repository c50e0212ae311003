import NIOCore
import PostgresWire
import Routing
import Testing
@testable import Proxy

/// The session machine's view of its connections, as plain values.
struct FakeSessionEnvironment: SessionEnvironment {
    var base = FakeEnvironment()
    let facts = FakeFacts()

    var allQuiescent: Bool { base.connected.allSatisfy { !base.busy.contains($0) } }
    var holdsConnections: Bool { !base.connected.isEmpty }
    var inTransaction: Set<Int> = []
    var allOutsideTransaction: Bool { base.connected.allSatisfy { !inTransaction.contains($0) && !base.midMessage.contains($0) } }
    var copyingIn: TransactionStatus?
    func isConnected(_ node: Int) -> Bool { base.isConnected(node) }
    func isQuiescent(_ node: Int) -> Bool { base.isQuiescent(node) }
    func isAtMessageBoundary(_ node: Int) -> Bool { base.isAtMessageBoundary(node) }
    mutating func routingNodes() -> RoutingNodes { base.routingNodes() }
    mutating func pick() -> Int? { base.pick() }
    mutating func leastDelayed() -> Int? { base.leastDelayed() }
    func currentWALSample() -> Int { base.currentWALSample() }
    func standbys(caughtUpAfter sample: Int) -> Set<Int> { base.standbys(caughtUpAfter: sample) }
    func standbys(replayedAtLeast position: UInt64) -> Set<Int> { base.standbys(replayedAtLeast: position) }
    mutating func classification(ofParsed text: String) -> QueryClassification { base.classification(ofParsed: text) }
    mutating func classification(ofQuery text: String) -> QueryClassification { base.classification(ofQuery: text) }
}

/// The client session, event by event: login paths, forwarding, admin answers, errors and the end.
@Suite("Client session machine")
struct ClientSessionMachineTests {
    typealias Action = ClientSessionMachine.Action

    var machine: ClientSessionMachine
    var env = FakeSessionEnvironment()
    var actions: [Action] = []
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    init() {
        var settings = ProxySettings()
        settings.authenticationTimeout = .seconds(60)
        machine = ClientSessionMachine(settings: settings, answersAdminCommands: true)
    }

    // MARK: Helpers

    mutating func client(_ bytes: ByteBuffer, at now: NIODeadline? = nil) -> [Action] {
        actions.removeAll()
        let at = now ?? start
        machine.clientBytes(bytes, &env, now: { at }, into: &actions)
        return actions
    }

    mutating func client(_ messages: RawMessage...) -> [Action] {
        var bytes = ByteBuffer()
        for message in messages { bytes.writeImmutableBuffer(message.bytes) }
        return client(bytes)
    }

    func startupPacket(_ pairs: [(String, String)]) -> ByteBuffer {
        var bytes = ByteBuffer()
        StartupPacket.startup(StartupParameters(pairs: pairs)).encode(into: &bytes)
        return bytes
    }

    func passwordMessage(_ password: String) -> ByteBuffer {
        var bytes = ByteBuffer()
        FrontendMessageEncoder.password(password, into: &bytes)
        return bytes
    }

    /// The client bytes of `actions`, concatenated.
    func clientBytes(_ actions: [Action]) -> ByteBuffer {
        var out = ByteBuffer()
        for action in actions {
            switch action {
            case .writeClient(let bytes), .sayLastWords(let bytes), .dispatch(.writeClient(let bytes)): out.writeImmutableBuffer(bytes)
            default: break
            }
        }
        return out
    }

    /// Message types of `bytes`.
    func types(_ bytes: ByteBuffer) -> String {
        var bytes = bytes
        var result = ""
        while let type = bytes.readInteger(as: UInt8.self), let length = bytes.readInteger(as: Int32.self) {
            result.append(Character(Unicode.Scalar(type)))
            bytes.moveReaderIndex(forwardBy: Int(length) - 4)
        }
        return result
    }

    func sqlStates(_ actions: [Action]) -> [String] {
        var bytes = clientBytes(actions)
        var states: [String] = []
        while let type = bytes.readInteger(as: UInt8.self), let length = bytes.readInteger(as: Int32.self),
              var body = bytes.readSlice(length: Int(length) - 4) {
            guard type == UInt8(ascii: "E") else { continue }
            while let code = body.readInteger(as: UInt8.self), code != 0, let value = body.readNullTerminatedString() {
                if code == UInt8(ascii: "C") { states.append(value) }
            }
        }
        return states
    }

    /// Nodes written to by `actions`, in order.
    func writes(_ actions: [Action]) -> [Int] {
        actions.compactMap {
            switch $0 {
            case .dispatch(.write(let node, _, _)), .dispatch(.writeRun(let node, _)): node
            default: nil
            }
        }
    }

    func has(_ actions: [Action], _ test: (Action) -> Bool) -> Bool { actions.contains(where: test) }

    /// Logs in "alice" with pool_hba md5 and a clear-text pool_passwd entry; the primary is node 0.
    mutating func logIn(dispatch: DispatchMachine = .primaryOnly(0)) {
        _ = client(startupPacket([("user", "alice"), ("database", "app")]))
        actions.removeAll()
        machine.slotGranted(verdict: .authenticate(.md5), capturesClearText: false, who: "alice", into: &actions)
        actions.removeAll()
        machine.startClientAuthentication(
            ClientAuthMachine(method: .password, user: "alice", stored: .plain("secret"), clientSideKeys: nil), into: &actions)
        _ = client(passwordMessage("secret"))
        actions.removeAll()
        machine.primaryLeased(askedFor: .trust, into: &actions)
        actions.removeAll()
        machine.loggedIn(parameters: ParameterStatusSet(), clientKey: BackendKey(processID: 1, secretKey: 2), status: .idle,
                         dispatch: dispatch, &env, now: { start }, into: &actions)
    }

    // MARK: Login

    @Test mutating func anSSLRequestIsRefusedAndTheStartupPacketAsksForASlot() {
        var bytes = ByteBuffer()
        StartupPacket.sslRequest.encode(into: &bytes)
        var after = client(bytes)
        #expect(clientBytes(after) == ByteBuffer(integer: UInt8(ascii: "N")))
        after = client(startupPacket([("user", "alice"), ("database", "app")]))
        #expect(has(after) { if case .requestSlot = $0 { true } else { false } })
        #expect(has(after) { if case .identified(let startup) = $0 { startup.user == "alice" } else { false } })
        guard case .awaitingSlot = machine.phase else { Issue.record("phase \(machine.phase)"); return }
    }

    @Test mutating func withPoolHbaThePasswordIsCheckedBeforeTheBackendIsLeased() {
        machine.clientConnected(admitted: true, into: &actions)
        _ = client(startupPacket([("user", "alice")]))
        actions.removeAll()
        machine.slotGranted(verdict: .authenticate(.password), capturesClearText: false, who: "alice", into: &actions)
        #expect(has(actions) { if case .prepareClientAuthentication(.password) = $0 { true } else { false } })
        #expect(has(actions) { if case .leftWithoutSlot = $0 { true } else { false } })
        actions.removeAll()
        machine.startClientAuthentication(
            ClientAuthMachine(method: .password, user: "alice", stored: .plain("secret"), clientSideKeys: nil), into: &actions)
        #expect(types(clientBytes(actions)) == "R")
        let afterPassword = client(passwordMessage("secret"))
        #expect(has(afterPassword) { if case .leasePrimary(nil) = $0 { true } else { false } })
        #expect(machine.isConnectingBackend)
    }

    @Test mutating func aWrongPasswordEndsWith28P01AndReleasesTheSlot() {
        _ = client(startupPacket([("user", "alice")]))
        machine.slotGranted(verdict: .authenticate(.password), capturesClearText: false, who: "alice", into: &actions)
        machine.startClientAuthentication(
            ClientAuthMachine(method: .password, user: "alice", stored: .plain("secret"), clientSideKeys: nil), into: &actions)
        let after = client(passwordMessage("wrong"))
        #expect(sqlStates(after) == ["28P01"])
        #expect(has(after) { if case .releaseAll(_, true, false) = $0 { true } else { false } })
        #expect(has(after) { if case .connectionRejected("28P01") = $0 { true } else { false } })
        #expect(machine.isClosed)
    }

    @Test mutating func whatTheClientPipelinesBeforeTheLoginReplyIsForwardedAfterIt() {
        _ = client(startupPacket([("user", "alice")]))
        machine.slotGranted(verdict: .authenticate(.password), capturesClearText: false, who: "alice", into: &actions)
        machine.startClientAuthentication(
            ClientAuthMachine(method: .password, user: "alice", stored: .plain("secret"), clientSideKeys: nil), into: &actions)
        var pipelined = passwordMessage("secret")
        pipelined.writeImmutableBuffer(query("SELECT 1").bytes)
        _ = client(pipelined)
        actions.removeAll()
        machine.primaryLeased(askedFor: .trust, into: &actions)
        #expect(has(actions) { if case .completeLogin = $0 { true } else { false } })
        actions.removeAll()
        machine.loggedIn(parameters: ParameterStatusSet(), clientKey: BackendKey(processID: 1, secretKey: 2), status: .idle,
                         dispatch: .primaryOnly(0), &env, now: { start }, into: &actions)
        #expect(types(clientBytes(actions)) == "RKZ")
        #expect(writes(actions) == [0])
        #expect(has(actions) { if case .connectionAccepted = $0 { true } else { false } })
        #expect(machine.isForwarding)
    }

    @Test mutating func tooMuchDataBeforeTheLoginIsAProtocolViolation() {
        _ = client(startupPacket([("user", "alice")]))
        let after = client(ByteBuffer(repeating: 0x51, count: ClientSessionMachine.maxBytesBeforeLogin + 1))
        #expect(sqlStates(after) == ["08P01"])
    }

    @Test mutating func aCancelRequestIsPassedOnAndTheConnectionClosed() {
        var bytes = ByteBuffer()
        StartupPacket.cancel(BackendKey(processID: 5, secretKey: 6)).encode(into: &bytes)
        let after = client(bytes)
        #expect(has(after) { if case .forwardCancel(let key) = $0 { key.processID == 5 } else { false } })
        #expect(has(after) { if case .closeClient = $0 { true } else { false } })
    }

    @Test mutating func aConnectionBeyondTheCapIsRefusedWhenItsStartupPacketArrives() {
        machine.clientConnected(admitted: false, into: &actions)
        #expect(has(actions) { if case .startTimer(.refusal, _) = $0 { true } else { false } })
        let after = client(startupPacket([("user", "alice")]))
        #expect(sqlStates(after) == ["53300"])
    }

    @Test mutating func authenticationTimesOut() {
        machine.clientConnected(admitted: true, into: &actions)
        #expect(has(actions) { if case .startTimer(.authentication, .seconds(60)) = $0 { true } else { false } })
        actions.removeAll()
        machine.timerFired(.authentication, &env, now: start, into: &actions)
        #expect(sqlStates(actions) == ["08006"])
    }

    @Test mutating func anUnknownPrimaryIsReportedAs57P03() {
        _ = client(startupPacket([("user", "alice")]))
        machine.slotGranted(verdict: nil, capturesClearText: false, who: "alice", into: &actions)
        #expect(has(actions) { if case .leasePrimary(nil) = $0 { true } else { false } })
        actions.removeAll()
        machine.primaryLeaseFailed(nil, into: &actions)
        #expect(sqlStates(actions) == ["57P03"])
    }

    // MARK: Forwarding

    @Test mutating func aQueryGoesToThePrimaryThenOneFlush() {
        logIn()
        let after = client(query("SELECT 1"))
        #expect(writes(after) == [0])
        let flushes = after.filter { if case .flushWritten = $0 { true } else { false } }
        #expect(flushes.count == 1)
    }

    @Test mutating func terminateEndsTheSessionAfterWhatCameBefore() {
        logIn()
        let after = client(query("SELECT 1"), message(FrontendMessageType.terminate))
        #expect(writes(after) == [0])
        let order = after.compactMap { action -> String? in
            switch action {
            case .flushWritten: "flush"
            case .releaseAll: "release"
            case .closeClient: "close"
            default: nil
            }
        }
        #expect(order == ["flush", "release", "close"])
    }

    @Test mutating func aReadIsRoutedToTheLoadBalanceNodeOnceItIsLeased() {
        var routing = RoutingSettings()
        routing.loadBalanceMode = true
        logIn(dispatch: DispatchMachine(primary: 0, routing: RoutingSession(settings: routing, loadBalanceNode: 2)))
        var after = client(query("SELECT * FROM t"))
        #expect(has(after) { if case .dispatch(.lease(node: 2)) = $0 { true } else { false } })
        #expect(writes(after).isEmpty)
        env.base.connected.insert(2)
        actions.removeAll()
        machine.leased(2, &env, into: &actions)
        after = actions
        #expect(writes(after) == [2])
    }

    // MARK: Admin answers

    @Test mutating func anAdminCommandWaitsForTheBackendsThenIsAnsweredHere() {
        logIn()
        _ = client(query("SELECT pg_sleep(1)"))
        env.base.busy.insert(0)
        var after = client(query("SHOW POOL_NODES"), query("SELECT 2"))
        #expect(!has(after) { if case .answerAdmin = $0 { true } else { false } })
        #expect(machine.readingPlan(backendsWritable: true).client == false)
        env.base.busy.remove(0)
        actions.removeAll()
        machine.backendReady(0, status: .idle, failed: false, &env, into: &actions)
        guard case .answerAdmin(let batch, let commands, _, _)? = actions.first(where: { if case .answerAdmin = $0 { true } else { false } }) else {
            Issue.record("no admin answer: \(actions)")
            return
        }
        #expect(commands == [.show(.nodes)])
        actions.removeAll()
        machine.adminAnswered(batch, answers: [(.show(.nodes), .table(columns: ["node_id"], rows: [["0"]]))], status: .idle,
                              &env, into: &actions)
        after = actions
        #expect(types(clientBytes(after)) == "TDCZ")
        // The query behind it goes on to the primary.
        #expect(writes(after) == [0])
        #expect(machine.adminAnswer == .none)
    }

    @Test mutating func pgpoolSetClientIdleLimitRestartsTheIdleTimer() {
        logIn()
        let set = query("PGPOOL SET client_idle_limit = 7")
        guard case .answerAdmin(let batch, let commands, _, _)? = client(set).first(where: { if case .answerAdmin = $0 { true } else { false } }) else {
            Issue.record("not intercepted")
            return
        }
        actions.removeAll()
        machine.adminAnswered(batch, answers: commands.map { ($0, .done(tag: "SET")) }, status: .idle, &env, into: &actions)
        #expect(has(actions) { if case .startTimer(.idle, .seconds(7)) = $0 { true } else { false } })
        #expect(machine.settings.clientIdleLimit == .seconds(7))
    }

    @Test mutating func theIdleLimitEndsAQuietSessionWith57P05() {
        logIn()
        machine.settings.clientIdleLimit = .seconds(5)
        actions.removeAll()
        machine.timerFired(.idle, &env, now: start + .seconds(3), into: &actions)
        #expect(has(actions) { if case .startTimer(.idle, .seconds(2)) = $0 { true } else { false } })
        actions.removeAll()
        machine.timerFired(.idle, &env, now: start + .seconds(5), into: &actions)
        #expect(sqlStates(actions) == ["57P05"])
    }

    // MARK: Errors and node loss

    @Test mutating func anIdleSessionsFatalWaitsForTheClientWithTheBackendsOwnError() {
        logIn()
        var error = ByteBuffer()
        BackendMessageEncoder.errorResponse(ErrorFields(severity: .fatal, sqlState: "57P01", message: "bye"), into: &error)
        #expect(machine.backendOutput(0, error, &env) == .none)
        actions.removeAll()
        machine.backendClosed(.init(node: 0, name: "node 0", wasPrimary: true, wasQuiescent: true, atMessageBoundary: true,
                                    transactionStatus: .idle, lastSQLState: "57P01"), &env, into: &actions)
        #expect(has(actions) { if case .backendLost(0, true) = $0 { true } else { false } })
        #expect(has(actions) { if case .startTimer(.lastWords, _) = $0 { true } else { false } })
        #expect(clientBytes(actions).readableBytes == 0)
        let spoken = client(query("SELECT 1"))
        #expect(sqlStates(spoken) == ["57P01", "08006"])
    }

    @Test mutating func losingThePrimaryMidQueryEndsTheSessionAtOnce() {
        logIn()
        _ = client(query("SELECT 1"))
        actions.removeAll()
        machine.backendClosed(.init(node: 0, name: "node 0", wasPrimary: true, wasQuiescent: false, atMessageBoundary: true,
                                    transactionStatus: .idle, lastSQLState: nil), &env, into: &actions)
        #expect(sqlStates(actions) == ["08006"])
    }

    /// A balanced session whose read went to node 2; `answered`: node 2's whole reply went to
    /// the client. The primary then owes only an answer the client never sees.
    mutating func readOnAStandby(answered: Bool) {
        var routing = RoutingSettings()
        routing.loadBalanceMode = true
        logIn(dispatch: DispatchMachine(primary: 0, routing: RoutingSession(settings: routing, loadBalanceNode: 2)))
        env.base.connected.insert(2)
        #expect(writes(client(query("SELECT * FROM t"))) == [2])
        if answered {
            var reply = ByteBuffer()
            BackendMessageEncoder.commandComplete("SELECT 0", into: &reply)
            BackendMessageEncoder.readyForQuery(.idle, into: &reply)
            #expect(machine.backendOutput(2, reply, &env) == .forward)
            actions.removeAll()
            machine.backendReady(2, status: .idle, failed: false, &env, into: &actions)
        } else {
            env.base.busy.insert(2)
        }
        // The handler lets go of the lost connection before the machine hears of it.
        env.base.connected.remove(0)
        actions.removeAll()
        machine.backendClosed(.init(node: 0, name: "node 0", wasPrimary: true, wasQuiescent: false, atMessageBoundary: true,
                                    transactionStatus: .idle, lastSQLState: nil), &env, into: &actions)
    }

    /// Sent at once, the FATAL would land right behind a reply the client already has whole,
    /// where drivers read it while idle and fail the next query without a SQLSTATE.
    @Test mutating func losingThePrimaryWhileItOwesOnlyAnUnseenAnswerKeepsTheFatalForTheClient() {
        readOnAStandby(answered: true)
        #expect(clientBytes(actions).readableBytes == 0)
        #expect(has(actions) { if case .startTimer(.lastWords, ClientSessionMachine.idleFatalDelay) = $0 { true } else { false } })
        #expect(sqlStates(client(query("SELECT 1"))) == ["08006"])
    }

    @Test mutating func losingThePrimaryWhileAReadRunsOnAStandbyEndsTheSessionAtOnce() {
        readOnAStandby(answered: false)
        #expect(sqlStates(actions) == ["08006"])
    }

    @Test mutating func losingAnIdleStandbyLetsTheSessionGoOn() {
        var routing = RoutingSettings()
        routing.loadBalanceMode = true
        logIn(dispatch: DispatchMachine(primary: 0, routing: RoutingSession(settings: routing, loadBalanceNode: 2)))
        env.base.connected.insert(2)
        _ = client(query("SELECT * FROM t"))
        env.base.connected.remove(2)
        env.base.picks = [1]
        actions.removeAll()
        machine.backendClosed(.init(node: 2, name: "node 2", wasPrimary: false, wasQuiescent: true, atMessageBoundary: true,
                                    transactionStatus: .idle, lastSQLState: nil), &env, into: &actions)
        #expect(sqlStates(actions).isEmpty)
        #expect(machine.isForwarding)
        #expect(machine.dispatch?.routing.loadBalanceNode == 1)
    }

    @Test mutating func aSessionEndingDuringTheClientsCopyFailsTheCopyAtItsEndThenSaysItsFatal() {
        logIn()
        _ = client(query("COPY t FROM STDIN"))
        env.copyingIn = .inTransaction
        // Half a CopyData message has arrived when the primary goes away.
        var copyData = ByteBuffer()
        copyData.writeInteger(UInt8(ascii: "d"))
        copyData.writeInteger(Int32(4 + 100_000))
        copyData.writeRepeatingByte(0x41, count: 10_000)
        _ = client(copyData)
        actions.removeAll()
        machine.backendClosed(.init(node: 0, name: "node 0", wasPrimary: true, wasQuiescent: false, atMessageBoundary: true,
                                    transactionStatus: .idle, lastSQLState: "57P01", copyInProgress: true), &env, into: &actions)
        #expect(clientBytes(actions).readableBytes == 0)
        #expect(has(actions) { if case .startTimer(.lastWords, ClientSessionMachine.copyEndDelay) = $0 { true } else { false } })
        // The rest of that message, whose bytes spell a CopyDone, and another whole CopyData go unanswered.
        var rest = ByteBuffer()
        rest.writeRepeatingByte(UInt8(ascii: "c"), count: 90_000)
        rest.writeImmutableBuffer(message(FrontendMessageType.copyData) { $0.writeString("1\tx\n") }.bytes)
        #expect(clientBytes(client(rest)).readableBytes == 0)
        // CopyDone and Sync (an extended-protocol copy): the copy fails as PostgreSQL fails one.
        var end = message(FrontendMessageType.copyDone).bytes
        end.writeImmutableBuffer(message(FrontendMessageType.sync).bytes)
        let answer = client(end)
        #expect(types(clientBytes(answer)) == "EZ")
        #expect(has(answer) { if case .flushClient = $0 { true } else { false } })
        #expect(sqlStates(answer) == ["08006"])
        #expect(clientBytes(answer).getInteger(at: clientBytes(answer).writerIndex - 1, as: UInt8.self) == UInt8(ascii: "I"))
        #expect(has(answer) { if case .startTimer(.lastWords, ClientSessionMachine.idleFatalDelay) = $0 { true } else { false } })
        // The next query gets the FATAL.
        let next = client(query("SELECT 1"))
        #expect(sqlStates(next) == ["08006"])
        #expect(has(next) { if case .sayLastWords = $0 { true } else { false } })
    }

    @Test mutating func aCopyThatNeverEndsGetsTheFatalAfterTheDelay() {
        logIn()
        _ = client(query("COPY t FROM STDIN"))
        env.copyingIn = .inTransaction
        actions.removeAll()
        machine.terminateForFailover(atMessageBoundary: true, &env, into: &actions)
        #expect(clientBytes(actions).readableBytes == 0)
        actions.removeAll()
        machine.timerFired(.lastWords, &env, now: start + .seconds(10), into: &actions)
        #expect(sqlStates(actions) == ["57P01"])
        #expect(types(clientBytes(actions)) == "E")
    }

    @Test mutating func aCopyFailInATransactionIsAnsweredWithAFailedTransaction() {
        logIn()
        _ = client(query("COPY t FROM STDIN"))
        env.copyingIn = .inTransaction
        actions.removeAll()
        machine.terminateForFailover(atMessageBoundary: true, &env, into: &actions)
        let answer = client(message(FrontendMessageType.copyFail) { $0.writeNullTerminatedString("stop") })
        #expect(sqlStates(answer) == ["57P01"])
        #expect(clientBytes(answer).getInteger(at: clientBytes(answer).writerIndex - 1, as: UInt8.self) == UInt8(ascii: "E"))
    }

    @Test mutating func aFailoverMidMessageClosesWithoutAnError() {
        logIn()
        actions.removeAll()
        machine.terminateForFailover(atMessageBoundary: false, &env, into: &actions)
        #expect(sqlStates(actions).isEmpty)
        #expect(has(actions) { if case .dropConnections(terminate: false) = $0 { true } else { false } })
        #expect(has(actions) { if case .closeClient = $0 { true } else { false } })
    }

    @Test mutating func shutdownSaysGoodbyePolitely() {
        logIn()
        actions.removeAll()
        machine.terminateForShutdown(atMessageBoundary: true, copyingIn: nil, into: &actions)
        #expect(has(actions) { if case .dropConnections(terminate: true) = $0 { true } else { false } })
        #expect(sqlStates(actions) == ["57P01"])
    }
}
