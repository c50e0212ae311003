import Cluster
import Logging
import NIOCore
import NIOEmbedded
import PostgresWire
import Testing
@testable import Proxy

@Suite("Idle connection cache")
struct IdleConnectionCacheTests {
    final class Conn { let name: String; init(_ name: String) { self.name = name } }

    let keyA = PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "a")]))
    let keyB = PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "b")]))
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func mostRecentlyReleasedFirstAndKeyedByStartup() {
        var cache = IdleConnectionCache<Conn>(capacity: 10, lifeTime: .zero)
        let a1 = Conn("a1"), a2 = Conn("a2"), b1 = Conn("b1")
        _ = cache.checkin(a1, key: keyA, now: t0)
        _ = cache.checkin(a2, key: keyA, now: t0 + .seconds(1))
        _ = cache.checkin(b1, key: keyB, now: t0)
        #expect(cache.checkout(keyA, now: t0).0 === a2)
        #expect(cache.checkout(keyA, now: t0).0 === a1)
        #expect(cache.checkout(keyA, now: t0).0 == nil)
        #expect(cache.count == 1)
        let differentParams = PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "b"), ("application_name", "x")]))
        #expect(cache.checkout(differentParams, now: t0).0 == nil)
    }

    /// Two roles whose names differ only in Unicode normalization ("jos\u{E9}", "jose\u{301}") are
    /// two roles in PostgreSQL: one must never get the other's pooled connection.
    @Test func namesInAnotherNormalizationFormAreAnotherKey() {
        var cache = IdleConnectionCache<Conn>(capacity: 10, lifeTime: .zero)
        let composed = PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "jos\u{E9}")]))
        let decomposed = PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "jose\u{301}")]))
        #expect(composed != decomposed)
        #expect(StartupParameters(pairs: [("user", "jose\u{301}")])["user"] == "jose\u{301}")
        #expect(StartupParameters(pairs: [("user", "x")])["us\u{E9}r"] == nil)
        let connection = Conn("composed")
        _ = cache.checkin(connection, key: composed, now: t0)
        #expect(cache.checkout(decomposed, now: t0).0 == nil)
        #expect(cache.checkout(composed, now: t0).0 === connection)
        #expect(composed == PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "jos\u{E9}")])))
        #expect(composed.hashValue == PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "jos\u{E9}")])).hashValue)
    }

    /// A session makes its key once and moves it to each node it leases from.
    @Test func aKeyMovedToAnotherNodeIsThatNodesKey() {
        let long = String(repeating: "x", count: 300)
        let startup = StartupParameters(pairs: [("user", "a"), ("application_name", long)])
        let moved = PoolKey(nodeID: 0, startup: startup).onNode(2)
        #expect(moved == PoolKey(nodeID: 2, startup: startup))
        #expect(moved.hashValue == PoolKey(nodeID: 2, startup: startup).hashValue)
        #expect(moved != PoolKey(nodeID: 0, startup: startup))
        #expect(moved.nodeID == 2 && moved.user == "a")
        let longer = StartupParameters(pairs: [("user", "a"), ("application_name", long + "x")])
        #expect(moved != PoolKey(nodeID: 2, startup: longer))
        let lastByte = StartupParameters(pairs: [("user", "a"), ("application_name", String(long.dropLast()) + "y")])
        #expect(moved != PoolKey(nodeID: 2, startup: lastByte))
    }

    /// Sessions of one loop with the same startup packet share one key, which the pool then
    /// compares without reading its bytes; another packet gets its own.
    @Test func aLoopKeepsOneKeyPerStartupPacket() {
        let pool = BackendPool(
            eventLoop: EmbeddedEventLoop(),
            connector: BackendConnector(credentials: CredentialStore(passwords: [:]), connectTimeout: .seconds(1), maxMessageLength: 1 << 20),
            capacity: 0, lifeTime: .zero, cachingEnabled: false, logger: Logger(label: "test"))
        let first = pool.internedKey(PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "a"), ("database", "d")])))
        let second = pool.internedKey(PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "a"), ("database", "d")])))
        let other = pool.internedKey(PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "b"), ("database", "d")])))
        #expect(first.startup.sharesPairs(with: second.startup))
        #expect(first.onNode(1) == second.onNode(1) && first.onNode(1) != second)
        #expect(!first.startup.sharesPairs(with: other.startup) && first != other)
    }

    /// Nodes are found by id, gaps in the ids included, and found again after a reload moves one.
    @Test func nodesAreFoundByIDAndAgainAfterAChange() {
        let pool = BackendPool(
            eventLoop: EmbeddedEventLoop(),
            connector: BackendConnector(credentials: CredentialStore(passwords: [:]), connectTimeout: .seconds(1), maxMessageLength: 1 << 20),
            capacity: 0, lifeTime: .zero, cachingEnabled: false, logger: Logger(label: "test"))
        let cluster = ClusterState(nodes: [
            NodeInfo(id: 2, host: "h2", port: 5434, weight: 1),
            NodeInfo(id: 0, host: "h0", port: 5432, weight: 1),
        ])
        #expect(pool.backendNode(0, in: cluster) == BackendNode(id: 0, host: "h0", port: 5432))
        #expect(pool.backendNode(2, in: cluster) == BackendNode(id: 2, host: "h2", port: 5434))
        #expect(pool.backendNode(1, in: cluster) == nil)
        #expect(pool.backendNode(3, in: cluster) == nil)
        #expect(pool.backendNode(-1, in: cluster) == nil)
        cluster.replaceNodes([NodeInfo(id: 0, host: "h0", port: 5432, weight: 1), NodeInfo(id: 1, host: "h1", port: 6000, weight: 1)])
        #expect(pool.backendNode(1, in: cluster) == BackendNode(id: 1, host: "h1", port: 6000))
        #expect(pool.backendNode(2, in: cluster) == nil)
    }

    @Test func evictsOldestOverCapacity() {
        var cache = IdleConnectionCache<Conn>(capacity: 2, lifeTime: .zero)
        let old = Conn("old"), mid = Conn("mid"), new = Conn("new")
        #expect(cache.checkin(old, key: keyA, now: t0).isEmpty)
        #expect(cache.checkin(mid, key: keyB, now: t0 + .seconds(1)).isEmpty)
        let evicted = cache.checkin(new, key: keyB, now: t0 + .seconds(2))
        #expect(evicted.count == 1 && evicted[0] === old)
        var zero = IdleConnectionCache<Conn>(capacity: 0, lifeTime: .zero)
        #expect(zero.checkin(old, key: keyA, now: t0).first === old)
    }

    @Test func lifeTimeRetiresIdleConnections() {
        var cache = IdleConnectionCache<Conn>(capacity: 10, lifeTime: .seconds(5))
        let c = Conn("c"), d = Conn("d")
        _ = cache.checkin(c, key: keyA, now: t0)
        _ = cache.checkin(d, key: keyA, now: t0 + .seconds(4))
        #expect(cache.expire(now: t0 + .seconds(6)).map(\.name) == ["c"])
        let (found, expired) = cache.checkout(keyA, now: t0 + .seconds(10))
        #expect(found == nil)
        #expect(expired.map(\.name) == ["d"])
        #expect(cache.count == 0)
    }

    @Test func removeForgetsClosedConnection() {
        var cache = IdleConnectionCache<Conn>(capacity: 10, lifeTime: .zero)
        let c = Conn("c")
        _ = cache.checkin(c, key: keyA, now: t0)
        cache.remove(c, key: keyA)
        #expect(cache.count == 0)
        #expect(cache.drain().isEmpty)
    }
}

@Suite("Backend protocol tracking")
struct BackendProtocolTrackerTests {
    @Test func simpleAndExtendedQueries() {
        var tracker = BackendProtocolTracker()
        #expect(tracker.isQuiescent)
        tracker.frontendSent(FrontendMessageType.query)
        #expect(!tracker.isQuiescent)
        tracker.backendSentReadyForQuery(.inTransaction)
        #expect(tracker.isQuiescent && tracker.transactionStatus == .inTransaction)
        tracker.frontendSent(FrontendMessageType.parse)
        tracker.frontendSent(FrontendMessageType.bind)
        #expect(tracker.unsyncedExtendedQuery)
        tracker.frontendSent(FrontendMessageType.sync)
        #expect(!tracker.unsyncedExtendedQuery && tracker.pendingReadyForQuery == 1)
        tracker.backendSentReadyForQuery(.idle)
        #expect(tracker.isQuiescent)
    }

    @Test func copyInUntilDoneOrFail() {
        var tracker = BackendProtocolTracker()
        tracker.frontendSent(FrontendMessageType.query)
        tracker.backendStartedCopyIn()
        #expect(tracker.copyInProgress)
        tracker.frontendSent(FrontendMessageType.copyFail)
        #expect(!tracker.copyInProgress)
        tracker.backendSentReadyForQuery(.idle)
        #expect(tracker.isQuiescent)
    }
}

@Suite("Backend protocol tracking in COPY")
struct CopyTrackingTests {
    @Test func syncDuringCopyInIsNotCounted() {
        // libpq: Parse/Bind/Describe/Execute/Sync for COPY FROM STDIN, then CopyData, CopyDone, Sync.
        var tracker = BackendProtocolTracker()
        for type in "PBDES".utf8 { tracker.frontendSent(type) }
        #expect(tracker.pendingReadyForQuery == 1)
        tracker.backendStartedCopyIn()
        tracker.frontendSent(FrontendMessageType.sync)
        #expect(tracker.pendingReadyForQuery == 1)
        tracker.frontendSent(FrontendMessageType.copyData)
        tracker.frontendSent(FrontendMessageType.copyDone)
        tracker.frontendSent(FrontendMessageType.sync)
        tracker.backendSentReadyForQuery(.idle)
        #expect(tracker.pendingReadyForQuery == 1)
        tracker.backendSentReadyForQuery(.idle)
        #expect(tracker.isQuiescent)
    }
}
