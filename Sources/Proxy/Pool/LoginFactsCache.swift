import NIOCore
import PostgresWire

/// Transaction mode: what a login learnt from a backend connection (how the server
/// authenticated SwiftPool, the ParameterStatus values of the reply), per pool key and password,
/// so that the next login with the same startup packet on the loop is answered without leasing
/// a connection: a login does not wait in line for a busy pool, and costs the server nothing.
/// Facts are used for ``lifetime`` after a lease learnt them; the next login then leases again
/// and learns them anew (a reloaded server default or `ALTER ROLE … SET` shows from then on).
/// Pure.
struct LoginFactsCache {
    struct Facts {
        let reply: LoginReply
        let authMethod: AuthMethod
        let learntAt: NIODeadline
    }

    /// How long facts answer logins.
    static let lifetime = TimeAmount.seconds(60)
    /// Entries kept before the expired ones are dropped.
    static let pruneAbove = 1_024

    private var entries: [TransactionPool.Key: Facts] = [:]

    /// The facts for a login with `key` and `clientPassword`, if some lease learnt them within
    /// ``lifetime``.
    func facts(for key: PoolKey, clientPassword: String?, now: NIODeadline) -> Facts? {
        guard let facts = entries[TransactionPool.Key(pool: key, clientPassword: clientPassword)],
              now - facts.learntAt < Self.lifetime else { return nil }
        return facts
    }

    /// A login's lease learnt `facts`.
    mutating func learn(_ facts: Facts, for key: PoolKey, clientPassword: String?) {
        if entries.count >= Self.pruneAbove { entries = entries.filter { facts.learntAt - $0.value.learntAt < Self.lifetime } }
        entries[TransactionPool.Key(pool: key, clientPassword: clientPassword)] = facts
    }

    /// Forgets everything (a node's connections were closed: it went down or its settings may
    /// have changed).
    mutating func removeAll() {
        entries.removeAll()
    }

    var count: Int { entries.count }
}
