import Cluster
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Routing

/// What SwiftPool has learned about relations and functions, per database, shared by every
/// session. A question it cannot answer yet is answered "unknown" and looked up on the primary
/// (one look-up per name at a time, however many sessions ask); a session that needs the answer
/// to route a statement waits for it with ``whenSettled(_:_:)`` — Pgpool-II too decides before
/// it routes — and only a failed (or too slow) look-up sends the statement to the primary.
public final class CatalogFactsCache: Sendable {
    /// One fact's name: a relation (`r:`) or a function (`f:`) of one database.
    struct Key: Hashable, Sendable {
        var database: String
        var name: String
    }

    /// Sessions waiting for look-ups; `remaining` is only touched under the state lock.
    private final class Waiter: @unchecked Sendable {
        var remaining: Int
        let done: @Sendable () -> Void

        init(remaining: Int, done: @escaping @Sendable () -> Void) {
            self.remaining = remaining
            self.done = done
        }
    }

    private struct State {
        var relations: [Key: CatalogLookup.RelationFacts] = [:]
        var functions: [Key: Bool] = [:]
        var inFlight: Set<Key> = []
        var waiters: [Key: [Waiter]] = [:]
        /// Failed lookups are retried after `retryDelay`, not on every statement.
        var failedAt: [Key: NIODeadline] = [:]

        mutating func shouldLookUp(_ key: Key, capacity: Int, count: Int) -> Bool {
            if let failed = failedAt[key], NIODeadline.now() - failed < CatalogFactsCache.retryDelay { return false }
            return count < capacity && inFlight.insert(key).inserted
        }

        /// The look-up of `key` is over: the waiters it was the last one for.
        mutating func settle(_ key: Key) -> [Waiter] {
            inFlight.remove(key)
            var ready: [Waiter] = []
            for waiter in waiters.removeValue(forKey: key) ?? [] {
                waiter.remaining -= 1
                if waiter.remaining == 0 { ready.append(waiter) }
            }
            return ready
        }
    }

    static let retryDelay = TimeAmount.seconds(30)

    private let state = NIOLockedValueBox(State())
    private let currentLookup: NIOLockedValueBox<CatalogLookup?>
    private var lookup: CatalogLookup? { currentLookup.withLockedValue { $0 } }
    private let logger: Logger
    /// Bound on cached names per kind, so that generated names cannot grow the cache forever.
    private let capacity = 100_000

    /// - Parameter lookup: how to ask the primary; nil answers every question "unknown".
    public init(lookup: CatalogLookup?, logger: Logger) {
        self.currentLookup = NIOLockedValueBox(lookup)
        self.logger = logger
    }

    /// Asks another node from now on (the primary changed).
    public func use(_ lookup: CatalogLookup?) {
        currentLookup.withLockedValue { $0 = lookup }
    }

    /// The facts of one database, for one routing decision.
    public func facts(for database: String) -> DatabaseFacts {
        DatabaseFacts(cache: self, database: database)
    }

    /// Answers for `database`, starting look-ups for what is not known yet.
    public struct DatabaseFacts: CatalogFacts {
        let cache: CatalogFactsCache
        let database: String

        /// Everything known about `relation`, or nil (and a look-up is started).
        public func relationFacts(_ relation: QualifiedName) -> CatalogLookup.RelationFacts? { cache.relation(database, relation) }
        public func isSystemCatalog(_ relation: QualifiedName) -> Bool? { cache.relation(database, relation)?.isSystemCatalog }
        public func isTemporary(_ relation: QualifiedName) -> Bool? { cache.relation(database, relation)?.isTemporary }
        public func isUnlogged(_ relation: QualifiedName) -> Bool? { cache.relation(database, relation)?.isUnlogged }
        public func isVolatile(_ function: QualifiedName) -> Bool? { cache.function(database, function) }
    }

    static func relationKey(_ database: String, _ name: QualifiedName) -> Key {
        Key(database: database, name: "r:" + name.quotedSQL)
    }

    static func functionKey(_ database: String, _ name: QualifiedName) -> Key {
        Key(database: database, name: "f:" + name.description)
    }

    func relation(_ database: String, _ name: QualifiedName) -> CatalogLookup.RelationFacts? {
        let quoted = name.quotedSQL
        let schema = name.schema
        return answer(Self.relationKey(database, name), in: \.relations) { lookup in
            try lookup.relation(database: database, quotedName: quoted, schema: schema)
        }
    }

    func function(_ database: String, _ name: QualifiedName) -> Bool? {
        let function = name.name
        let schema = name.schema
        return answer(Self.functionKey(database, name), in: \.functions) { lookup in
            try lookup.isVolatile(database: database, name: function, schema: schema)
        }
    }

    /// Calls `done` (on any thread) once none of `keys` is being looked up any more — answered
    /// or failed; at once when none is.
    func whenSettled(_ keys: [Key], _ done: @escaping @Sendable () -> Void) {
        let waiting = state.withLockedValue { state -> Bool in
            let pending = Set(keys).filter { state.inFlight.contains($0) }
            guard !pending.isEmpty else { return false }
            let waiter = Waiter(remaining: pending.count, done: done)
            for key in pending { state.waiters[key, default: []].append(waiter) }
            return true
        }
        if !waiting { done() }
    }

    /// The cached answer for `key`, or nil after starting a look-up (once at a time per key).
    private func answer<Value: Sendable>(
        _ key: Key, in table: WritableKeyPath<State, [Key: Value]> & Sendable,
        lookUp: @escaping @Sendable (CatalogLookup) throws -> Value
    ) -> Value? {
        let lookup = self.lookup
        let (known, start) = state.withLockedValue { state -> (Value?, Bool) in
            if let known = state[keyPath: table][key] { return (known, false) }
            guard lookup != nil else { return (nil, false) }
            return (nil, state.shouldLookUp(key, capacity: capacity, count: state[keyPath: table].count))
        }
        if start, let lookup {
            learn(key) { try lookUp(lookup) } store: { state, value in state[keyPath: table][key] = value }
        }
        return known
    }

    private func learn<Value: Sendable>(
        _ key: Key, _ query: @escaping @Sendable () throws -> Value,
        store: @escaping @Sendable (inout State, Value) -> Void
    ) {
        let logger = self.logger
        NIOThreadPool.singleton.submit { [state] _ in
            let ready: [Waiter]
            do {
                let value = try query()
                ready = state.withLockedValue { state in
                    store(&state, value)
                    state.failedAt[key] = nil
                    return state.settle(key)
                }
            } catch {
                logger.warning("catalog lookup failed", metadata: ["database": "\(key.database)", "error": "\(error)"])
                ready = state.withLockedValue { state in
                    state.failedAt[key] = .now()
                    return state.settle(key)
                }
            }
            for waiter in ready { waiter.done() }
        }
    }
}

/// A session's memo of the shared cache's answers: known facts are read without the lock. It
/// also notes the facts a routing decision asked for and did not get (``misses``), so that the
/// session can wait for exactly those.
final class SessionCatalogFacts: CatalogFacts {
    private let shared: CatalogFactsCache.DatabaseFacts
    private var relations: [QualifiedName: CatalogLookup.RelationFacts] = [:]
    private var functions: [QualifiedName: Bool] = [:]
    /// Facts asked for since the last ``takeMisses()`` that were not known.
    private var misses: [CatalogFactsCache.Key] = []

    init(_ shared: CatalogFactsCache.DatabaseFacts) {
        self.shared = shared
    }

    /// The facts that were not known since the last call.
    func takeMisses() -> [CatalogFactsCache.Key] {
        defer { misses.removeAll() }
        return misses
    }

    /// Calls `done` once the look-ups of `keys` are over (on any thread).
    func whenSettled(_ keys: [CatalogFactsCache.Key], _ done: @escaping @Sendable () -> Void) {
        shared.cache.whenSettled(keys, done)
    }

    private func relation(_ name: QualifiedName) -> CatalogLookup.RelationFacts? {
        if let known = relations[name] { return known }
        guard let found = shared.relationFacts(name) else {
            misses.append(CatalogFactsCache.relationKey(shared.database, name))
            return nil
        }
        if relations.count < 10_000 { relations[name] = found }
        return found
    }

    func isSystemCatalog(_ relation: QualifiedName) -> Bool? { self.relation(relation)?.isSystemCatalog }
    func isTemporary(_ relation: QualifiedName) -> Bool? { self.relation(relation)?.isTemporary }
    func isUnlogged(_ relation: QualifiedName) -> Bool? { self.relation(relation)?.isUnlogged }

    func isVolatile(_ function: QualifiedName) -> Bool? {
        if let known = functions[function] { return known }
        guard let found = shared.isVolatile(function) else {
            misses.append(CatalogFactsCache.functionKey(shared.database, function))
            return nil
        }
        if functions.count < 10_000 { functions[function] = found }
        return found
    }
}
