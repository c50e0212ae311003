import NIOCore
import PostgresWire
import Testing
@testable import Proxy

/// What transaction-mode logins learn from their leases, and which later logins it answers.
@Suite("Login facts")
struct LoginFactsCacheTests {
    let key = PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "app"), ("database", "db")]))
    let otherDatabase = PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "app"), ("database", "other")]))
    let onStandby = PoolKey(nodeID: 1, startup: StartupParameters(pairs: [("user", "app"), ("database", "db")]))
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func facts(at time: NIODeadline) -> LoginFactsCache.Facts {
        .init(reply: LoginReply(node: 0, parameters: ParameterStatusSet(), status: .idle), authMethod: .scramSHA256, learntAt: time)
    }

    @Test func aLeaseAnswersLaterLoginsWithTheSameStartupPacketForAMinute() {
        var cache = LoginFactsCache()
        #expect(cache.facts(for: key, clientPassword: nil, now: start) == nil)
        cache.learn(facts(at: start), for: key, clientPassword: nil)
        #expect(cache.facts(for: key, clientPassword: nil, now: start + .seconds(59))?.authMethod == .scramSHA256)
        #expect(cache.facts(for: key, clientPassword: nil, now: start + LoginFactsCache.lifetime) == nil)
        // Another database, or the same packet on another node, is not answered.
        #expect(cache.facts(for: otherDatabase, clientPassword: nil, now: start) == nil)
        #expect(cache.facts(for: onStandby, clientPassword: nil, now: start) == nil)
        // A newer lease starts the minute again.
        cache.learn(facts(at: start + .seconds(50)), for: key, clientPassword: nil)
        #expect(cache.facts(for: key, clientPassword: nil, now: start + .seconds(100)) != nil)
    }

    @Test func aPassedThroughPasswordMustBeTheOneThatLoggedIn() {
        var cache = LoginFactsCache()
        cache.learn(facts(at: start), for: key, clientPassword: "right")
        #expect(cache.facts(for: key, clientPassword: "right", now: start) != nil)
        #expect(cache.facts(for: key, clientPassword: "wrong", now: start) == nil)
        #expect(cache.facts(for: key, clientPassword: nil, now: start) == nil)
    }

    @Test func expiredFactsAreDroppedAsTheCacheGrowsAndAllGoWhenANodeCloses() {
        var cache = LoginFactsCache()
        for index in 0..<LoginFactsCache.pruneAbove {
            let old = PoolKey(nodeID: 0, startup: StartupParameters(pairs: [("user", "u\(index)")]))
            cache.learn(facts(at: start), for: old, clientPassword: nil)
        }
        #expect(cache.count == LoginFactsCache.pruneAbove)
        cache.learn(facts(at: start + .seconds(61)), for: key, clientPassword: nil)
        #expect(cache.count == 1)
        cache.removeAll()
        #expect(cache.facts(for: key, clientPassword: nil, now: start + .seconds(61)) == nil)
    }
}
