import Cluster
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Routing

/// What SwiftPool has learned about relations and functions, per database. A question it cannot
/// answer yet is answered "unknown" (the policy then uses the primary) and looked up in the
/// background, so the next statement that needs it can be load-balanced.
public final class CatalogFactsCache: Sendable {
    private struct Key: Hashable {
        var database: String
        var name: String
    }

    private struct State {
        var relations: [Key: CatalogLookup.RelationFacts] = [:]
        var functions: [Key: Bool] = [:]
        var inFlight: Set<Key> = []
        /// Failed lookups are retried after `retryDelay`, not on every statement.
        var failedAt: [Key: NIODeadline] = [:]

        mutating func shouldLookUp(_ key: Key, capacity: Int, count: Int) -> Bool {
            if let failed = failedAt[key], NIODeadline.now() - failed < CatalogFactsCache.retryDelay { return false }
            return count < capacity && inFlight.insert(key).inserted
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

    /// Answers for `database`, scheduling lookups for what is not known yet.
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

    func relation(_ database: String, _ name: QualifiedName) -> CatalogLookup.RelationFacts? {
        let quoted = name.quotedSQL
        let schema = name.schema
        return answer(Key(database: database, name: "r:" + quoted), in: \.relations) { lookup in
            try lookup.relation(database: database, quotedName: quoted, schema: schema)
        }
    }

    func function(_ database: String, _ name: QualifiedName) -> Bool? {
        let function = name.name
        let schema = name.schema
        return answer(Key(database: database, name: "f:" + name.description), in: \.functions) { lookup in
            try lookup.isVolatile(database: database, name: function, schema: schema)
        }
    }

    /// The cached answer for `key`, or nil after starting a look-up (once at a time per key).
    private func answer<Value: Sendable>(
        _ key: Key, in table: WritableKeyPath<State, [Key: Value]> & Sendable,
        lookUp: @escaping @Sendable (CatalogLookup) throws -> Value
    ) -> Value? {
        let (known, start) = state.withLockedValue { state -> (Value?, Bool) in
            if let known = state[keyPath: table][key] { return (known, false) }
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
            do {
                let value = try query()
                state.withLockedValue { state in
                    store(&state, value)
                    state.inFlight.remove(key)
                    state.failedAt[key] = nil
                }
            } catch {
                logger.warning("catalog lookup failed", metadata: ["database": "\(key.database)", "error": "\(error)"])
                state.withLockedValue { state in
                    state.inFlight.remove(key)
                    state.failedAt[key] = .now()
                }
            }
        }
    }
}

/// A session's memo of the shared cache's answers: known facts are read without the lock.
final class SessionCatalogFacts: CatalogFacts {
    private let shared: CatalogFactsCache.DatabaseFacts
    private var relations: [QualifiedName: CatalogLookup.RelationFacts] = [:]
    private var functions: [QualifiedName: Bool] = [:]

    init(_ shared: CatalogFactsCache.DatabaseFacts) {
        self.shared = shared
    }

    private func relation(_ name: QualifiedName) -> CatalogLookup.RelationFacts? {
        if let known = relations[name] { return known }
        guard let found = shared.relationFacts(name) else { return nil }
        if relations.count < 10_000 { relations[name] = found }
        return found
    }

    func isSystemCatalog(_ relation: QualifiedName) -> Bool? { self.relation(relation)?.isSystemCatalog }
    func isTemporary(_ relation: QualifiedName) -> Bool? { self.relation(relation)?.isTemporary }
    func isUnlogged(_ relation: QualifiedName) -> Bool? { self.relation(relation)?.isUnlogged }

    func isVolatile(_ function: QualifiedName) -> Bool? {
        if let known = functions[function] { return known }
        guard let found = shared.isVolatile(function) else { return nil }
        if functions.count < 10_000 { functions[function] = found }
        return found
    }
}
