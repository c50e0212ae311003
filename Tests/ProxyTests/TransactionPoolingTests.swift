import NIOCore
import PostgresWire
import Routing
import Testing
@testable import Proxy

/// Transaction mode's pure parts: the pool's places and waiters, the client's session state
/// and pins, statement names on shared connections, and the replies SwiftPool hides or rewrites.
@Suite("Transaction pooling")
struct TransactionPoolingTests {
    final class Connection {}
    /// Keys are "group/key": the group is the part before the slash.
    typealias Pool = TransactionPoolState<Connection, String, Substring>

    static func group(_ key: String) -> Substring { key.split(separator: "/").first ?? "" }

    // MARK: The pool

    @Test func aNodeNeverHasMoreConnectionsThanItsLimitAndWaitersAreServedInOrder() throws {
        var pool = Pool(limit: 2, group: Self.group)
        guard case .open = pool.checkout("a", node: 0), case .open = pool.checkout("a", node: 0) else {
            Issue.record("the first two leases open connections")
            return
        }
        guard case .wait(let first) = pool.checkout("a", node: 0), case .wait(let second) = pool.checkout("a", node: 0) else {
            Issue.record("beyond the limit leases wait")
            return
        }
        #expect(pool.counts[0]?.open == 2)
        #expect(pool.counts[0]?.waiting == 2)
        let one = Connection()
        let (handoff, close) = pool.checkin(one, key: "a", node: 0)
        #expect(!close)
        guard case .give(let given, let waiter)? = handoff else {
            Issue.record("a connection given back goes to the first waiter")
            return
        }
        #expect(given === one && waiter == first)
        // The second waiter's connection closes instead: its place opens a new one for it.
        guard case .openFor(let next)? = pool.closed(one, key: "a", node: 0) else {
            Issue.record("a closed connection's place goes to the next waiter")
            return
        }
        #expect(next == second)
        #expect(pool.counts[0]?.open == 2)
        // Other nodes have their own limit.
        guard case .open = pool.checkout("a", node: 1) else {
            Issue.record("node 1 has its own places")
            return
        }
    }

    @Test func nodesAreCountedOnlyOnceSeenWhateverTheirIDs() {
        var pool = Pool(limit: 1, group: Self.group)
        guard case .open = pool.checkout("a", node: 3) else {
            Issue.record("a first lease on node 3 opens a connection")
            return
        }
        #expect(Set(pool.counts.keys) == [3])
        let cancelledUnknown = pool.cancelWait(1, node: 7)
        let drainedUnknown = pool.drain(node: 5)
        #expect(!cancelledUnknown && drainedUnknown.isEmpty)
        guard case .open = pool.checkout("a", node: 1), case .wait(let waiter) = pool.checkout("a", node: 3) else {
            Issue.record("node 1 has its own limit; node 3 is full")
            return
        }
        #expect(Set(pool.counts.keys) == [1, 3])
        #expect(pool.counts[3]?.waiting == 1 && pool.counts[1]?.waiting == 0)
        let connection = Connection()
        _ = pool.checkin(connection, key: "a", node: 1)
        #expect(pool.idleConnections.count == 1 && pool.idleConnections[0] === connection)
        let cancelled = pool.cancelWait(waiter, node: 3)
        let drained = pool.drainAll()
        #expect(cancelled && drained.count == 1)
        #expect(pool.counts[1]?.open == 0 && pool.counts[1]?.idle == 0)
    }

    @Test func aRaisedLimitServesTheWaitersItMakesRoomFor() {
        var pool = Pool(limit: 1, group: Self.group)
        guard case .open = pool.checkout("a", node: 0), case .wait(let first) = pool.checkout("a", node: 0),
              case .wait(let second) = pool.checkout("a", node: 0), case .wait(let third) = pool.checkout("a", node: 0) else {
            Issue.record("one open, three waiting"); return
        }
        #expect(pool.serveWaiters().isEmpty)
        pool.setLimit(3)
        let served = pool.serveWaiters().compactMap { handoff -> UInt64? in
            if case .openFor(let id) = handoff { return id }
            return nil
        }
        #expect(served == [first, second])
        #expect(pool.counts[0]?.open == 3)
        #expect(pool.counts[0]?.waiting == 1)
        // A group limit raised later lets the last one in, in place of an idle connection of
        // another group.
        var grouped = Pool(limit: 2, group: Self.group, groupLimit: { $0 == "g" ? 1 : nil })
        guard case .open = grouped.checkout("g/a", node: 0), case .open = grouped.checkout("h/b", node: 0),
              case .wait(let waiting) = grouped.checkout("g/c", node: 0) else {
            Issue.record("the group is at its limit"); return
        }
        let idle = Connection()
        _ = grouped.checkin(idle, key: "h/b", node: 0)
        grouped.groupLimit = { _ in nil }
        guard case .replaceFor(let id, let closing)? = grouped.serveWaiters().first else {
            Issue.record("the waiter takes the idle connection's place"); return
        }
        #expect(id == waiting && closing === idle)
        _ = third
    }

    /// A waiter whose group is still at its limit stays where it is; one behind it that fits is
    /// served (and the queue stays in order for the rest).
    @Test func aRaisedLimitPassesOverAWaiterWhoseGroupIsFull() {
        var pool = Pool(limit: 1, group: Self.group, groupLimit: { $0 == "g" ? 1 : nil })
        let first = Connection()
        guard case .open = pool.checkout("g/a", node: 0), case .wait(let blocked) = pool.checkout("g/a", node: 0),
              case .wait(let fits) = pool.checkout("h/c", node: 0), case .wait(let last) = pool.checkout("h/d", node: 0) else {
            Issue.record("one open, three waiting"); return
        }
        pool.setLimit(2)
        let served = pool.serveWaiters().compactMap { handoff -> UInt64? in
            if case .openFor(let id) = handoff { return id }
            return nil
        }
        #expect(served == [fits])
        #expect(pool.counts[0]?.waiting == 2)
        // g's connection comes back: the blocked waiter with its key gets it, ahead of the later h.
        guard case (.give(let given, let to)?, false) = pool.checkin(first, key: "g/a", node: 0) else {
            Issue.record("the connection goes to the first waiter of its group"); return
        }
        #expect(given === first && to == blocked)
        let cancelled = pool.cancelWait(last, node: 0)
        #expect(cancelled)
        #expect(pool.counts[0]?.waiting == 0)
    }

    @Test func anIdleConnectionOfAnotherKeyMakesRoomInsteadOfAWait() {
        var pool = Pool(limit: 1, group: Self.group)
        guard case .open = pool.checkout("a", node: 0) else { Issue.record("opens"); return }
        let a = Connection()
        _ = pool.checkin(a, key: "a", node: 0)
        guard case .replace(let victim) = pool.checkout("b", node: 0) else { Issue.record("replaces the idle one"); return }
        #expect(victim === a)
        #expect(pool.counts[0]?.open == 1)
        #expect(pool.counts[0]?.idle == 0)
        // The same key reuses its idle connection.
        let b = Connection()
        _ = pool.checkin(b, key: "b", node: 0)
        guard case .reuse(let reused) = pool.checkout("b", node: 0) else { Issue.record("reuses"); return }
        #expect(reused === b)
    }

    @Test func aWaiterThatGaveUpIsNotServedAndALowerLimitClosesReturningConnections() {
        var pool = Pool(limit: 1, group: Self.group)
        guard case .open = pool.checkout("a", node: 0), case .wait(let id) = pool.checkout("a", node: 0) else {
            Issue.record("one open, one waiting"); return
        }
        let cancelled = pool.cancelWait(id, node: 0)
        let cancelledAgain = pool.cancelWait(id, node: 0)
        #expect(cancelled && !cancelledAgain)
        let a = Connection()
        #expect(pool.checkin(a, key: "a", node: 0).handoff == nil)
        pool.setLimit(1)
        guard case .reuse = pool.checkout("a", node: 0) else { Issue.record("reuses"); return }
        var bigger = Pool(limit: 2, group: Self.group)
        _ = bigger.checkout("a", node: 0)
        _ = bigger.checkout("a", node: 0)
        bigger.setLimit(1)
        #expect(bigger.checkin(Connection(), key: "a", node: 0).close)
        #expect(bigger.counts[0]?.open == 1)
    }

    @Test func idleConnectionsPastTheirLifeTimeCloseAndFreeTheirPlaces() {
        var pool = Pool(limit: 3, group: Self.group)
        for _ in 0..<3 { _ = pool.checkout("g/a", node: 0) }
        // Two come back; the third stays lent.
        let (old, recent) = (Connection(), Connection())
        _ = pool.checkin(old, key: "g/a", node: 0)
        _ = pool.checkin(recent, key: "g/a", node: 0)
        #expect(pool.counts[0]?.open == 3 && pool.counts[0]?.idle == 2)
        #expect(pool.expireIdle { _ in false }.isEmpty)
        let expired = pool.expireIdle { $0 === old }
        #expect(expired.count == 1 && expired.first === old)
        #expect(pool.counts[0]?.open == 2 && pool.counts[0]?.idle == 1)
        // The one still idle is lent next; the expired one is gone for good.
        guard case .reuse(let reused) = pool.checkout("g/a", node: 0) else { Issue.record("reuses"); return }
        #expect(reused === recent)
        // The expired connection's place opens a new one.
        guard case .open = pool.checkout("g/a", node: 0) else { Issue.record("the freed place opens"); return }
        // Without the expiry, a key of another group would have replaced the idle connection.
        var full = Pool(limit: 1, group: Self.group, groupLimit: { $0 == "g" ? 1 : nil })
        _ = full.checkout("g/a", node: 0)
        _ = full.checkin(old, key: "g/a", node: 0)
        guard case .reuse = full.checkout("g/a", node: 0) else { Issue.record("reuses"); return }
        _ = full.checkin(old, key: "g/a", node: 0)
        #expect(full.expireIdle { $0 === old }.count == 1)
        #expect(full.counts[0]?.open == 0 && full.counts[0]?.idle == 0)
        guard case .open = full.checkout("h/b", node: 0) else { Issue.record("the place is free again"); return }
    }

    @Test func placesAddedServeWaitersAndPlacesRemovedCloseConnectionsAsTheyComeBack() {
        var pool = Pool(limit: 0, group: Self.group)
        guard case .wait(let first) = pool.checkout("g/a", node: 0) else { Issue.record("no place: waits"); return }
        #expect(pool.isFull(node: 0) && pool.waiterCount(node: 0) == 1)
        pool.addPlace(node: 0)
        guard case .openFor(let served)? = pool.serveWaiters().first else { Issue.record("the place opens for the waiter"); return }
        #expect(served == first && pool.connectionCount(node: 0) == 1 && pool.waiterCount(node: 0) == 0)
        pool.addPlace(node: 0)
        guard case .open = pool.checkout("g/b", node: 0) else { Issue.record("a second place opens"); return }
        let (a, b) = (Connection(), Connection())
        _ = pool.checkin(a, key: "g/a", node: 0)
        _ = pool.checkin(b, key: "g/b", node: 0)
        // Taken for another loop, uncounted.
        let taken = pool.takeIdle(node: 0, upTo: 1)
        #expect(taken.count == 1 && pool.connectionCount(node: 0) == 1 && pool.counts[0]?.idle == 1)
        let unknown = pool.takeIdle(node: 3, upTo: 1)
        #expect(unknown.isEmpty)
        pool.lowerLimit(node: 0, to: 1)
        #expect(pool.isFull(node: 0))
        // One place promised away: the connection lent closes when it comes back.
        let remaining = taken[0] === a ? b : a
        guard case .reuse(let lent) = pool.checkout(taken[0] === a ? "g/b" : "g/a", node: 0) else { Issue.record("reuses"); return }
        #expect(lent === remaining)
        pool.removePlaces(1, node: 0)
        let closes = pool.checkin(lent, key: taken[0] === a ? "g/b" : "g/a", node: 0).close
        #expect(closes)
        #expect(pool.connectionCount(node: 0) == 0)
    }

    @Test func aGroupWithItsOwnLimitWaitsWithoutHoldingOthersBack() {
        var pool = Pool(limit: 4, group: Self.group) { $0 == "small" ? 1 : nil }
        guard case .open = pool.checkout("small/a", node: 0), case .wait(let waiting) = pool.checkout("small/b", node: 0) else {
            Issue.record("the small group has one place"); return
        }
        // Another group still opens connections while the small group's client waits.
        guard case .open = pool.checkout("big/a", node: 0), case .open = pool.checkout("big/b", node: 0) else {
            Issue.record("other groups are not held back"); return
        }
        let small = Connection()
        // The small group's connection comes back: its waiter gets the place (another key of the
        // same group: the connection is replaced).
        guard case .replaceFor(let id, let closing)? = pool.checkin(small, key: "small/a", node: 0).handoff else {
            Issue.record("the waiter of the same group is served"); return
        }
        #expect(id == waiting && closing === small)
        #expect(pool.counts[0]?.open == 3)
        // An idle connection of a big key is not retired for the small group at its limit.
        let big = Connection()
        _ = pool.checkin(big, key: "big/a", node: 0)
        guard case .wait = pool.checkout("small/c", node: 0) else { Issue.record("the small group is full"); return }
        // A big-group client takes the fourth place; then a closing small connection lets the
        // small waiter open one.
        guard case .open = pool.checkout("big/c", node: 0) else { Issue.record("the fourth place"); return }
        guard case .openFor = pool.closed(nil, key: "small/b", node: 0) else {
            Issue.record("the small group's place goes to its waiter"); return
        }
    }

    @Test func eachLoopGetsAShareOfTheNodeLimit() {
        #expect(TransactionPool.share(of: 8, loop: 0, loops: 2) == 4)
        #expect(TransactionPool.share(of: 8, loop: 1, loops: 2) == 4)
        #expect((0..<3).map { TransactionPool.share(of: 8, loop: $0, loops: 3) } == [3, 3, 2])
        #expect(TransactionPool.share(of: 1, loop: 1, loops: 2) == 1)
    }

    // MARK: Session state

    func effects(_ text: String) -> [SessionEffect] {
        SessionEffect.of(SQLClassifier.classify(query: text), text: text)
    }

    @Test func statementsThatChangeTheSessionAreRecognised() {
        #expect(effects("SET search_path TO app, public") == [.set(parameter: "search_path", text: "SET search_path TO app, public")])
        #expect(effects("set local statement_timeout = 5") == [])
        #expect(effects("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE") == [])
        #expect(effects("RESET timezone") == [.reset(parameter: "timezone")])
        #expect(effects("RESET ALL") == [.resetAll])
        #expect(effects("DISCARD ALL") == [.discardAll])
        #expect(effects("DEALLOCATE ALL") == [.deallocateAll])
        #expect(effects("LISTEN jobs") == [.pin(.listen)])
        #expect(effects("SELECT pg_advisory_lock(42)") == [.pin(.advisoryLock)])
        #expect(effects("SELECT pg_advisory_xact_lock(42)") == [])
        #expect(effects("DECLARE c CURSOR WITH HOLD FOR SELECT 1") == [.pin(.holdCursor)])
        #expect(effects("DECLARE c CURSOR FOR SELECT 1") == [])
        #expect(effects("CREATE TEMP TABLE t (a int)") == [.pin(.temporaryTable)])
        #expect(effects("PREPARE p AS SELECT 1") == [.pin(.sqlPrepare)])
        #expect(effects("SET ROLE admin") == [.pin(.role)])
        #expect(effects("SELECT set_config('search_path', 'x', false)") == [.pin(.setConfig)])
        #expect(effects("SELECT * FROM t") == [])
        #expect(effects("BEGIN; SET a.b = 1; COMMIT") == [.begin, .set(parameter: "a.b", text: "SET a.b = 1"), .commit])
    }

    /// A statement's text is cut from the query by UTF-8 byte offsets: characters of several
    /// bytes before it, and in it, must not shift or split it.
    @Test func aStatementsTextIsCutAtItsBytesAfterMultiByteCharacters() {
        #expect(effects("SELECT 'Zürich ✓'; SET application_name = 'café ✓'; DISCARD ALL")
            == [.set(parameter: "application_name", text: "SET application_name = 'café ✓'"), .discardAll])
        #expect(effects("SELECT '日本'; DECLARE c CURSOR WITH HOLD FOR SELECT 'ö'") == [.pin(.holdCursor)])
        #expect(effects("SELECT 'é', set_config('a.b', 'ü', true)") == [])
    }

    @Test func aSetCountsWhenItsTransactionCommitsAndNotWhenItRollsBack() {
        var state = PooledSessionState()
        state.completed(effects("SET search_path TO a"), status: .idle, failed: false)
        #expect(state.settings.statements.map(\.text) == ["SET search_path TO a"])
        // Inside a transaction: pending until its end.
        state.completed(effects("BEGIN"), status: .inTransaction, failed: false)
        state.completed(effects("SET timezone = 'UTC'"), status: .inTransaction, failed: false)
        #expect(state.settings.statements.count == 1)
        state.completed(effects("ROLLBACK"), status: .idle, failed: false)
        #expect(state.settings.statements.count == 1)
        state.completed(effects("BEGIN"), status: .inTransaction, failed: false)
        state.completed(effects("SET timezone = 'UTC'"), status: .inTransaction, failed: false)
        state.completed(effects("COMMIT"), status: .idle, failed: false)
        #expect(state.settings.statements.map(\.parameter) == ["search_path", "timezone"])
        // A failed transaction's COMMIT is a rollback.
        state.completed(effects("BEGIN"), status: .inTransaction, failed: false)
        state.completed(effects("SET search_path TO b"), status: .inTransaction, failed: false)
        state.completed([], status: .failed, failed: true)
        state.completed(effects("COMMIT"), status: .idle, failed: false)
        #expect(state.settings.statements.first?.text == "SET search_path TO a")
        // SET LOCAL never counts; RESET removes; a failed statement does not count.
        state.completed(effects("SET LOCAL search_path TO c"), status: .idle, failed: false)
        state.completed(effects("RESET timezone"), status: .idle, failed: false)
        state.completed(effects("SET work_mem = 'nonsense'"), status: .idle, failed: true)
        #expect(state.settings.statements.map(\.text) == ["SET search_path TO a"])
    }

    @Test func pinsCountAtOnceAndDiscardAllClearsEverything() {
        var state = PooledSessionState()
        #expect(state.completed(effects("SELECT pg_advisory_lock(1)"), status: .inTransaction, failed: false) == [.advisoryLock])
        #expect(state.isPinned)
        state.completed(effects("ROLLBACK"), status: .idle, failed: false)
        #expect(state.isPinned, "a session advisory lock survives the rollback of its transaction")
        state.completed(effects("SET search_path TO x"), status: .idle, failed: false)
        state.completed(effects("DISCARD ALL"), status: .idle, failed: false)
        #expect(!state.isPinned)
        #expect(state.settings.isEmpty)
        let deallocation = state.takeDeallocation()
        let secondDeallocation = state.takeDeallocation()
        #expect(deallocation == .held && secondDeallocation == .none)
    }

    @Test func aDeallocationWhoseGroupFailedIsReportedAsFailed() {
        var state = PooledSessionState()
        state.completed(effects("BEGIN"), status: .inTransaction, failed: false)
        state.completed(effects("DISCARD ALL"), status: .failed, failed: true)
        #expect(state.takeDeallocation() == .failed)
        state.completed(effects("DEALLOCATE ALL"), status: .failed, failed: true)
        #expect(state.takeDeallocation() == .failed)
        state.completed(effects("ROLLBACK"), status: .idle, failed: false)
        state.completed(effects("DEALLOCATE ALL"), status: .inTransaction, failed: false)
        #expect(state.takeDeallocation() == .held, "DEALLOCATE ALL is not transactional: it holds at once")
    }

    @Test func discardAllKeepsTheLoadPin() {
        var state = PooledSessionState()
        state.completed(effects("LOAD 'auto_explain'"), status: .idle, failed: false)
        state.completed(effects("SELECT pg_advisory_lock(1)"), status: .idle, failed: false)
        state.completed(effects("DISCARD ALL"), status: .idle, failed: false)
        #expect(state.pins == [.load])
    }

    @Test func aTransactionRecoveredByASavepointKeepsItsLaterSets() {
        var state = PooledSessionState()
        state.completed(effects("BEGIN"), status: .inTransaction, failed: false)
        state.completed(effects("SAVEPOINT s"), status: .inTransaction, failed: false)
        state.completed(effects("SELECT 1/0"), status: .failed, failed: true)
        state.completed(effects("ROLLBACK TO SAVEPOINT s"), status: .inTransaction, failed: false)
        state.completed(effects("SET search_path TO after"), status: .inTransaction, failed: false)
        state.completed(effects("COMMIT"), status: .idle, failed: false)
        #expect(state.settings.replay(from: SessionSettings()) == "RESET ALL; SET search_path TO after")
        #expect(!state.isPinned)
    }

    @Test func chainedTransactionsCommitOrDropTheirSetsAtTheirOwnEnd() {
        var state = PooledSessionState()
        state.completed(effects("BEGIN"), status: .inTransaction, failed: false)
        state.completed(effects("SET timezone = 'UTC'"), status: .inTransaction, failed: false)
        state.completed(effects("ROLLBACK AND CHAIN"), status: .inTransaction, failed: false)
        state.completed(effects("SET search_path TO kept"), status: .inTransaction, failed: false)
        state.completed(effects("COMMIT AND CHAIN"), status: .inTransaction, failed: false)
        #expect(state.settings.replay(from: SessionSettings()) == "RESET ALL; SET search_path TO kept")
        state.completed(effects("COMMIT"), status: .idle, failed: false)
        #expect(state.settings.replay(from: SessionSettings()) == "RESET ALL; SET search_path TO kept")
    }

    @Test func resetSpellingsMatchTheirSetsAndSessionCharacteristicsAreOneSetPerMode() {
        var state = PooledSessionState()
        state.completed(effects("SET TIME ZONE 'Asia/Tokyo'"), status: .idle, failed: false)
        state.completed(effects("RESET TIME ZONE"), status: .idle, failed: false)
        #expect(state.settings.isEmpty)
        state.completed(effects("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
                        status: .idle, failed: false)
        state.completed(effects("RESET default_transaction_read_only"), status: .idle, failed: false)
        #expect(state.settings.replay(from: SessionSettings())
                == "RESET ALL; SET default_transaction_isolation = 'repeatable read'")
        // set_config(…, true) lasts for the transaction only: no pin.
        #expect(effects("SELECT set_config('app.tenant', '42', true)") == [])
        #expect(effects("SELECT set_config('app.tenant', '42', false)") == [.pin(.setConfig)])
    }

    @Test func aRollbackToASavepointAfterASetPins() {
        var state = PooledSessionState()
        state.completed(effects("BEGIN"), status: .inTransaction, failed: false)
        state.completed(effects("SAVEPOINT s; SET search_path TO x"), status: .inTransaction, failed: false)
        #expect(state.completed(effects("ROLLBACK TO SAVEPOINT s"), status: .inTransaction, failed: false) == [.savepointRollback])
    }

    @Test func settingsReplayOnlyWhenTheyDiffer() {
        var mine = SessionSettings()
        #expect(mine.replay(from: SessionSettings()) == nil)
        #expect(mine.replay(from: nil) == "RESET ALL")
        mine.set("search_path", "SET search_path TO a")
        mine.set("timezone", "SET timezone = 'UTC'")
        mine.set("search_path", "SET search_path TO b")
        #expect(mine.replay(from: SessionSettings()) == "RESET ALL; SET search_path TO b; SET timezone = 'UTC'")
        #expect(mine.replay(from: mine) == nil)
    }

    // MARK: Statement names

    @Test func theRegistryKeepsCopiesNotTheClientsReadBuffer() {
        var read = ByteBufferAllocator().buffer(capacity: 1 << 20)
        read.writeRepeatingByte(0x41, count: 1 << 20)
        var registry = StatementRegistry()
        let first = registry.name(for: read.getSlice(at: 100, length: 40)!)
        #expect(registry.storageBytes < 4096)
        var again = ByteBufferAllocator().buffer(capacity: 40)
        again.writeRepeatingByte(0x41, count: 40)
        #expect(registry.name(for: again) == first)
    }

    func rewritten(_ mapper: inout StatementNameMapper, _ message: RawMessage, cache: inout PreparedStatementCache,
                   registry: inout StatementRegistry) -> [StatementNameMapper.Outgoing] {
        var out: [StatementNameMapper.Outgoing] = []
        mapper.map(message.bytes, type: message.type, cache: &cache, registry: &registry, into: &out)
        return out
    }

    static func name(in message: ByteBuffer, skipping bytes: Int = 0) -> String {
        var body = message
        body.moveReaderIndex(forwardBy: 5 + bytes)
        return body.readNullTerminatedString() ?? ""
    }

    @Test func clientsPreparingTheSameStatementShareItOnAConnection() {
        var registry = StatementRegistry()
        var cache = PreparedStatementCache(capacity: 10)
        var a = StatementNameMapper()
        var b = StatementNameMapper()
        let first = rewritten(&a, parse("__asyncpg_stmt_1__", "SELECT $1"), cache: &cache, registry: &registry)
        // A hidden Close of the name, then the Parse under SwiftPool's name.
        #expect(first.map(\.type) == [FrontendMessageType.close, FrontendMessageType.parse])
        #expect(first.map(\.disposition) == [.drop, .pass])
        let serverName = Self.name(in: first[1].bytes)
        #expect(serverName.hasPrefix("swiftpool_s"))
        #expect(cache.contains(serverName))
        // Another client, same name and text, on the same connection: nothing is parsed, the
        // client gets its ParseComplete from a Close of nothing.
        let second = rewritten(&b, parse("__asyncpg_stmt_1__", "SELECT $1"), cache: &cache, registry: &registry)
        #expect(second.count == 1)
        #expect(second[0].type == FrontendMessageType.close && second[0].disposition == .asParseComplete)
        #expect(Self.name(in: second[0].bytes, skipping: 1) == StatementNameMapper.absentName)
        // Bind uses SwiftPool's name.
        let binding = rewritten(&b, bind("", "__asyncpg_stmt_1__"), cache: &cache, registry: &registry)
        #expect(binding.count == 1)
        #expect(Self.name(in: binding[0].bytes, skipping: 1) == serverName)
    }

    @Test func aStatementIsPreparedAgainOnAConnectionThatLacksIt() {
        var registry = StatementRegistry()
        var old = PreparedStatementCache(capacity: 10)
        var fresh = PreparedStatementCache(capacity: 10)
        var mapper = StatementNameMapper()
        _ = rewritten(&mapper, parse("s", "SELECT 1"), cache: &old, registry: &registry)
        let out = rewritten(&mapper, bind("", "s"), cache: &fresh, registry: &registry)
        #expect(out.map(\.type) == [FrontendMessageType.close, FrontendMessageType.parse, FrontendMessageType.bind])
        #expect(out.map(\.disposition) == [.drop, .drop, .pass])
        #expect(mapper.preparedAgain == 1)
        // An unnamed statement and an unknown name pass as they are.
        let unnamed = parse("", "SELECT 2")
        #expect(rewritten(&mapper, unnamed, cache: &fresh, registry: &registry).map(\.bytes) == [unnamed.bytes])
        let unknown = bind("", "nope")
        #expect(rewritten(&mapper, unknown, cache: &fresh, registry: &registry).map(\.bytes) == [unknown.bytes])
    }

    @Test func theHeadOfALargeMessageKeepsItsWholeLengthWithTheNewName() {
        var registry = StatementRegistry()
        var cache = PreparedStatementCache(capacity: 10)
        var mapper = StatementNameMapper()
        // A Parse too large to hold: only its head is here; it is prepared under its own name.
        let whole = parse("big", "SELECT '" + String(repeating: "x", count: 4000) + "'")
        let head = whole.bytes.getSlice(at: whole.bytes.readerIndex, length: 1024)!
        let parsed = rewritten(&mapper, RawMessage(type: whole.type, bytes: head), cache: &cache, registry: &registry)
        #expect(parsed.count == 1)
        let serverName = Self.name(in: parsed[0].bytes)
        #expect(serverName.hasPrefix("swiftpool_s"))
        let delta = serverName.utf8.count - "big".utf8.count
        #expect(parsed[0].bytes.getInteger(at: parsed[0].bytes.readerIndex + 1, as: Int32.self)!
                == whole.bytes.getInteger(at: whole.bytes.readerIndex + 1, as: Int32.self)! + Int32(delta))
        #expect(parsed[0].bytes.readableBytes == 1024 + delta)
        #expect(mapper.largeStatements == 1)
        #expect(!cache.contains(serverName), "a statement that cannot be prepared again is not shared")
        // A Bind too large to hold, of that statement: names replaced, length adjusted.
        let bound = bind("", "big")
        var bigBind = ByteBuffer()
        bigBind.writeInteger(FrontendMessageType.bind)
        bigBind.writeInteger(Int32(bound.bytes.readableBytes - 1 + 100_000))
        bigBind.writeBytes(bound.bytes.readableBytesView.dropFirst(5))
        let out = rewritten(&mapper, RawMessage(type: FrontendMessageType.bind, bytes: bigBind), cache: &cache, registry: &registry)
        #expect(out.count == 1)
        #expect(Self.name(in: out[0].bytes, skipping: 1) == serverName)
        #expect(out[0].bytes.getInteger(at: out[0].bytes.readerIndex + 1, as: Int32.self)!
                == Int32(bound.bytes.readableBytes - 1 + 100_000 + delta))
    }

    @Test func aClientsCloseForgetsOnlyItsNameAndTheLeastRecentlyUsedStatementIsClosed() {
        var registry = StatementRegistry()
        var cache = PreparedStatementCache(capacity: 2)
        var mapper = StatementNameMapper()
        _ = rewritten(&mapper, parse("a", "SELECT 'a'"), cache: &cache, registry: &registry)
        _ = rewritten(&mapper, parse("b", "SELECT 'b'"), cache: &cache, registry: &registry)
        let third = rewritten(&mapper, parse("c", "SELECT 'c'"), cache: &cache, registry: &registry)
        #expect(third.map(\.type) == [FrontendMessageType.close, FrontendMessageType.parse, FrontendMessageType.close])
        #expect(cache.count == 2)
        let close = RawMessage(type: FrontendMessageType.close, bytes: StatementNameMapper.close("c"))
        let closing = rewritten(&mapper, close, cache: &cache, registry: &registry)
        #expect(closing.count == 1 && closing[0].disposition == .pass)
        #expect(Self.name(in: closing[0].bytes, skipping: 1) == StatementNameMapper.absentName)
        #expect(mapper.statements["c"] == nil)
        #expect(cache.count == 2, "the shared statement stays on the connection")
    }

    @Test func deallocateOfAClientsStatementUsesSwiftPoolsName() {
        var registry = StatementRegistry()
        var cache = PreparedStatementCache(capacity: 10)
        var mapper = StatementNameMapper()
        let parsed = rewritten(&mapper, parse("mine", "SELECT 1"), cache: &cache, registry: &registry)
        let serverName = Self.name(in: parsed[1].bytes)
        let out = rewritten(&mapper, query("DEALLOCATE mine"), cache: &cache, registry: &registry)
        var body = out[0].bytes
        body.moveReaderIndex(forwardBy: 5)
        #expect(body.readNullTerminatedString() == "DEALLOCATE PREPARE \"\(serverName)\"")
        #expect(!cache.contains(serverName))
        _ = rewritten(&mapper, parse("other", "SELECT 2"), cache: &cache, registry: &registry)
        _ = rewritten(&mapper, query("DEALLOCATE ALL"), cache: &cache, registry: &registry)
        #expect(cache.count == 0 && mapper.statements.isEmpty)
        mapper.deallocationAnswered(held: true)
        #expect(mapper.statements.isEmpty)
    }

    @Test func aDeallocateAllThatFailedGivesTheClientItsStatementsBack() {
        var registry = StatementRegistry()
        var cache = PreparedStatementCache(capacity: 10)
        var mapper = StatementNameMapper()
        _ = rewritten(&mapper, parse("kept", "SELECT 1"), cache: &cache, registry: &registry)
        _ = rewritten(&mapper, parse("renewed", "SELECT 2"), cache: &cache, registry: &registry)
        let oldName = mapper.statements["renewed"]?.serverName
        _ = rewritten(&mapper, query("DISCARD ALL"), cache: &cache, registry: &registry)
        #expect(mapper.statements.isEmpty && cache.count == 0, "statements sent before the answer see them gone")
        _ = rewritten(&mapper, parse("renewed", "SELECT 3"), cache: &cache, registry: &registry)
        let newName = mapper.statements["renewed"]?.serverName
        mapper.deallocationAnswered(held: false)
        #expect(mapper.statements["kept"] != nil)
        #expect(mapper.statements["renewed"]?.serverName == newName && newName != oldName,
                "a name prepared anew since keeps its new statement")
        // The connection lacks nothing it thinks it has: "kept" is prepared again before a Bind.
        let bind = rewritten(&mapper, bind("", "kept"), cache: &cache, registry: &registry)
        #expect(bind.map(\.type) == [FrontendMessageType.close, FrontendMessageType.parse, FrontendMessageType.bind])
    }

    @Test func aNameParsedAgainTakesTheNewStatementAndDeallocateFindsIt() {
        var registry = StatementRegistry()
        var first = PreparedStatementCache(capacity: 10)
        var second = PreparedStatementCache(capacity: 10)
        var mapper = StatementNameMapper()
        let parsed = rewritten(&mapper, parse("mine", "SELECT 1"), cache: &first, registry: &registry)
        let oldName = Self.name(in: parsed[1].bytes)
        // A Parse that failed (or was skipped) leaves the name behind: a new Parse must work.
        let again = rewritten(&mapper, parse("mine", "SELECT 2"), cache: &second, registry: &registry)
        #expect(again.map(\.type) == [FrontendMessageType.close, FrontendMessageType.parse])
        #expect(again.map(\.disposition) == [.drop, .pass])
        let serverName = Self.name(in: again[1].bytes)
        #expect(serverName != oldName)
        // DEALLOCATE on a third connection: a stand-in that always parses is prepared there
        // first under that name, in an exchange ended by SwiftPool's own Sync (should it fail
        // anyway, the DEALLOCATE is not skipped).
        var third = PreparedStatementCache(capacity: 10)
        let out = rewritten(&mapper, query("DEALLOCATE mine"), cache: &third, registry: &registry)
        #expect(out.map(\.type) == [FrontendMessageType.close, FrontendMessageType.parse, FrontendMessageType.sync,
                                     FrontendMessageType.query])
        #expect(out.map(\.disposition) == [.drop, .drop, .drop, .pass])
        #expect(Self.name(in: out[1].bytes) == serverName)
        var standIn = out[1].bytes
        standIn.moveReaderIndex(forwardBy: 5)
        _ = standIn.readNullTerminatedString()
        #expect(standIn.readNullTerminatedString() == "SELECT NULL")
        #expect(!third.contains(serverName))
    }

    // MARK: Replies

    func reply(_ types: [Character]) -> ByteBuffer {
        var bytes = ByteBuffer()
        for type in types {
            bytes.writeInteger(UInt8(ascii: type.unicodeScalars.first!))
            if type == "Z" {
                bytes.writeInteger(Int32(5))
                bytes.writeInteger(UInt8(ascii: "I"))
            } else if type == "E" {
                bytes.writeInteger(Int32(6))
                bytes.writeInteger(UInt8(ascii: "S"))
                bytes.writeInteger(UInt8(0))
            } else {
                bytes.writeInteger(Int32(4))
            }
        }
        return bytes
    }

    func types(_ bytes: ByteBuffer) -> [Character] {
        var bytes = bytes
        var result: [Character] = []
        while let type = bytes.readInteger(as: UInt8.self), let length = bytes.readInteger(as: Int32.self) {
            result.append(Character(UnicodeScalar(type)))
            bytes.moveReaderIndex(forwardBy: Int(length) - 4)
        }
        return result
    }

    @Test func hiddenRepliesAreDroppedAndACloseCompleteCanStandForAParseComplete() {
        var filter = ReplyFilter()
        filter.sent(FrontendMessageType.close, .drop)
        filter.sent(FrontendMessageType.parse, .drop, name: "s1")
        filter.sent(FrontendMessageType.close, .asParseComplete)
        filter.sent(FrontendMessageType.bind)
        filter.sent(FrontendMessageType.sync)
        let (output, skipped) = filter.process(reply(["3", "1", "3", "2", "Z"]))
        #expect(types(output!) == ["1", "2", "Z"])
        #expect(skipped.isEmpty)
        #expect(!filter.isScanning)
        // Nothing awaited: reads pass untouched.
        #expect(filter.process(reply(["T", "D", "C", "Z"])).output == nil)
    }

    @Test func afterAnErrorTheMessagesUpToSyncAreSkippedAndTheirStatementsReported() {
        var filter = ReplyFilter()
        filter.sent(FrontendMessageType.parse, .pass, name: "client")
        filter.sent(FrontendMessageType.parse, .drop, name: "hidden")
        filter.sent(FrontendMessageType.sync)
        filter.sent(FrontendMessageType.parse, .drop, name: "later")
        filter.sent(FrontendMessageType.sync)
        let (output, skipped) = filter.process(reply(["E", "Z"]))
        #expect(types(output!) == ["E", "Z"])
        #expect(skipped == [.parse(.pass, name: "client"), .parse(.drop, name: "hidden")])
        let (rest, none) = filter.process(reply(["1", "Z"]))
        #expect(types(rest!) == ["Z"])
        #expect(none.isEmpty)
    }

    @Test func aFunctionCallEndsWithItsOwnReadyForQuery() {
        var filter = ReplyFilter()
        filter.sent(FrontendMessageType.functionCall)
        filter.sent(FrontendMessageType.parse, .drop, name: "s")
        filter.sent(FrontendMessageType.sync)
        // The function call's error skips nothing after it: its ReadyForQuery ends it.
        let (output, skipped) = filter.process(reply(["E", "Z", "1", "Z"]))
        #expect(types(output!) == ["E", "Z", "Z"])
        #expect(skipped.isEmpty)
        #expect(filter.readyCount == 2)
    }

    @Test func anErrorInAnExchangeOfSwiftPoolsOwnMessagesIsHidden() {
        var filter = ReplyFilter()
        filter.sent(FrontendMessageType.parse, .drop, name: "s1")
        filter.sent(FrontendMessageType.sync, .drop)
        filter.sent(FrontendMessageType.query)
        let (output, skipped) = filter.process(reply(["E", "Z", "C", "Z"]))
        #expect(types(output!) == ["C", "Z"])
        #expect(skipped == [.parse(.drop, name: "s1")])
        #expect(filter.readyCount == 2)
        // With a message of the client's in the exchange the error is the client's.
        var shown = ReplyFilter()
        shown.sent(FrontendMessageType.parse, .drop, name: "s1")
        shown.sent(FrontendMessageType.parse, .pass, name: "s2")
        shown.sent(FrontendMessageType.sync, .drop)
        #expect(types(shown.process(reply(["E", "Z"])).output!) == ["E"])
    }

    /// Feeds `bytes` to `filter` in reads of `size` bytes, with the stream position a
    /// connection's framing observer reports and the ReadyForQuery count it keeps, as
    /// `BackendConnection` does; returns what the client gets.
    func deliver(_ bytes: ByteBuffer, in size: Int, to filter: inout ReplyFilter,
                 observer: inout BackendStreamObserver) -> ByteBuffer {
        var delivered = ByteBuffer()
        var offset = 0
        var readyTotal = filter.readyCount
        while offset < bytes.readableBytes {
            var read = bytes.getSlice(at: bytes.readerIndex + offset, length: min(size, bytes.readableBytes - offset))!
            offset += read.readableBytes
            let position = observer.position
            try? observer.scan(read) { if $0.type == BackendMessageType.readyForQuery { readyTotal += 1 } }
            if var output = filter.process(read, streamPosition: position).output {
                delivered.writeBuffer(&output)
            } else {
                delivered.writeBuffer(&read)
            }
            if readyTotal > filter.readyCount { filter.readyForQuery(count: readyTotal - filter.readyCount) }
        }
        return delivered
    }

    @Test func aReplySplitAcrossReadsIsStillFound() {
        for size in 1...7 {
            var filter = ReplyFilter()
            var observer = BackendStreamObserver(watching: [BackendMessageType.readyForQuery], maxMessageLength: 1 << 20)
            filter.sent(FrontendMessageType.parse, .drop, name: "s")
            filter.sent(FrontendMessageType.bind)
            filter.sent(FrontendMessageType.sync)
            let output = deliver(reply(["1", "2", "Z"]), in: size, to: &filter, observer: &observer)
            #expect(types(output) == ["2", "Z"], "reads of \(size) bytes")
        }
    }

    @Test func theReadyForQueryOfAQuietSyncIsRemovedInAnyReadSize() {
        for size in 1...7 {
            var filter = ReplyFilter()
            var observer = BackendStreamObserver(watching: [BackendMessageType.readyForQuery], maxMessageLength: 1 << 20)
            filter.sent(FrontendMessageType.query)
            filter.sent(FrontendMessageType.parse, name: "s")
            filter.sent(FrontendMessageType.describe)
            filter.sent(FrontendMessageType.flush)
            filter.sent(FrontendMessageType.sync, .drop)
            let output = deliver(reply(["C", "Z", "1", "t", "T", "Z"]), in: size, to: &filter, observer: &observer)
            #expect(types(output) == ["C", "Z", "1", "t", "T"], "reads of \(size) bytes")
            #expect(filter.readyCount == 2)
            #expect(!filter.isScanning)
        }
    }

    @Test func scanningThatStartsInsideAMessageKeepsItsFraming() {
        for size in 1...9 {
            var filter = ReplyFilter()
            var observer = BackendStreamObserver(watching: [BackendMessageType.readyForQuery], maxMessageLength: 1 << 20)
            filter.sent(FrontendMessageType.query)
            // A row whose body holds bytes that look like a ParseComplete.
            var row = ByteBuffer()
            row.writeInteger(UInt8(ascii: "D"))
            row.writeInteger(Int32(4 + 10))
            row.writeBytes([UInt8(ascii: "1"), 0, 0, 0, 4, UInt8(ascii: "1"), 0, 0, 0, 4])
            let first = row.readSlice(length: min(size, row.readableBytes))!
            var delivered = deliver(first, in: size, to: &filter, observer: &observer)
            // The client pipelines a Parse SwiftPool hides while the row is still arriving.
            filter.sent(FrontendMessageType.parse, .drop, name: "s")
            filter.sent(FrontendMessageType.sync)
            var rest = row
            var tail = reply(["C", "Z", "1", "Z"])
            rest.writeBuffer(&tail)
            var more = deliver(rest, in: size, to: &filter, observer: &observer)
            delivered.writeBuffer(&more)
            #expect(types(delivered) == ["D", "C", "Z", "Z"], "reads of \(size) bytes")
        }
    }

    // MARK: Pool modes

    @Test func poolModeListPicksTheFirstMatchingEntry() throws {
        let rules = try PoolModeRules("reports:transaction, batch@warehouse:session, *@analytics : transaction")
        #expect(rules.mode(user: "app", database: "reports", fallback: .session) == .transaction)
        #expect(rules.mode(user: "batch", database: "warehouse", fallback: .transaction) == .session)
        #expect(rules.mode(user: "other", database: "warehouse", fallback: .transaction) == .transaction)
        #expect(rules.mode(user: "x", database: "analytics", fallback: .session) == .transaction)
        #expect(throws: PoolModeRulesError.self) { try PoolModeRules("reports:statement") }
        #expect(throws: PoolModeRulesError.self) { try PoolModeRules("reports") }
        #expect(throws: PoolModeRulesError.self) { try PoolModeRules("@db:session") }
    }

    @Test func aPoolSizeBelowTheEventLoopsIsWarnedAboutWhenTransactionModeIsUsed() throws {
        var settings = ProxySettings()
        settings.transactionPoolSize = 4
        #expect(settings.transactionPoolSizeWarning(eventLoops: 8) == nil, "session mode only")
        settings.poolModeRules = try PoolModeRules("reports:transaction")
        let warning = try #require(settings.transactionPoolSizeWarning(eventLoops: 8))
        #expect(warning.contains("transaction_pool_size = 4") && warning.contains("event loops (8)")
            && warning.contains("take turns"))
        settings.poolModeRules = PoolModeRules()
        settings.poolMode = .transaction
        #expect(settings.transactionPoolSizeWarning(eventLoops: 8) != nil)
        #expect(settings.transactionPoolSizeWarning(eventLoops: 4) == nil, "one connection per loop is the size")
    }

    /// Pool keys, groups and rules tell names and clear-text passwords apart by bytes: a
    /// connection opened with one password is not handed to a client that gave another form of
    /// it, and a reload that only changes a name's Unicode form changes the rules.
    @Test func keysGroupsAndRulesCompareByBytes() throws {
        let pool = PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "u")]))
        let composed = TransactionPool.Key(pool: pool, clientPassword: "caf\u{E9}")
        #expect(composed == TransactionPool.Key(pool: pool, clientPassword: "caf\u{E9}"))
        #expect(composed != TransactionPool.Key(pool: pool, clientPassword: "cafe\u{301}"))
        #expect(composed != TransactionPool.Key(pool: pool, clientPassword: nil))
        #expect(TransactionPool.Group(user: "jos\u{E9}", database: "d") != TransactionPool.Group(user: "jose\u{301}", database: "d"))
        #expect(TransactionPool.Group(user: "jos\u{E9}", database: "d") == TransactionPool.Group(user: "jos\u{E9}", database: "d"))
        #expect(try PoolModeRules("jos\u{E9}@d:transaction") != PoolModeRules("jose\u{301}@d:transaction"))
        #expect(try PoolModeRules("a@d:transaction,\u{301}b@d:session").rules.count == 2)
    }

    /// Names compare byte for byte, as PostgreSQL's; the `@` is found by code point even when a
    /// combining mark follows it.
    @Test func poolModeListComparesNamesByteForByte() throws {
        let rules = try PoolModeRules("jos\u{E9}@caf\u{E9}:transaction, batch@\u{301}db:transaction")
        #expect(rules.mode(user: "jos\u{E9}", database: "caf\u{E9}", fallback: .session) == .transaction)
        #expect(rules.mode(user: "jose\u{301}", database: "caf\u{E9}", fallback: .session) == .session)
        #expect(rules.mode(user: "jos\u{E9}", database: "cafe\u{301}", fallback: .session) == .session)
        #expect(rules.mode(user: "batch", database: "\u{301}db", fallback: .session) == .transaction)
    }
}
