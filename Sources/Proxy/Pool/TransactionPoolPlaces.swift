import NIOCore
import Synchronization

/// The places of `transaction_pool_size` every event loop's transaction pool shares: a
/// ``PlaceLedger`` under a lock, and the messages it sends the loops (a place granted, idle
/// connections wanted back). A pool asks it only when it opens or closes a connection, or when its
/// leases start or stop waiting; lending and giving back a connection it holds does not.
final class TransactionPoolPlaces: Sendable {
    /// What one loop's pool is told.
    enum Message {
        /// It now holds one more place on the node.
        case granted(node: Int)
        /// Another loop waits: close up to this many idle connections to the node.
        case closeIdle(node: Int, upTo: Int)
    }

    private struct Registered {
        let eventLoop: EventLoop
        let pool: NIOLoopBound<TransactionPool>
    }

    private struct Shared {
        var ledger: PlaceLedger
        var pools: [Registered?]
    }

    private final class Hint: Sendable {
        let value = Atomic<Bool>(true)
    }

    private let shared: Mutex<Shared>
    /// Per node (the first 128 ids; a larger id always asks): whether a place may be free, read
    /// without the lock by leases about to wait, which are most leases when clients outnumber
    /// connections.
    private let freeHints: [Hint] = (0..<128).map { _ in Hint() }
    private let statistics: TransactionPoolStatistics

    init(capacity: Int, statistics: TransactionPoolStatistics) {
        shared = Mutex(Shared(ledger: PlaceLedger(capacity: capacity), pools: []))
        self.statistics = statistics
    }

    /// Makes `pool` reachable for the messages to loop `index`.
    func register(_ pool: NIOLoopBound<TransactionPool>, loop index: Int, on eventLoop: EventLoop) {
        shared.withLock { shared in
            shared.ledger.loops = max(shared.ledger.loops, index + 1)
            if index >= shared.pools.count { shared.pools += repeatElement(nil, count: index - shared.pools.count + 1) }
            shared.pools[index] = Registered(eventLoop: eventLoop, pool: pool)
        }
    }

    /// Takes a free place on `node` for `loop`, if there is one (see
    /// ``PlaceLedger/acquire(node:loop:beyondShare:)``).
    func acquire(node: Int, loop: Int, beyondShare: Bool) -> Bool {
        if node < freeHints.count, !freeHints[node].value.load(ordering: .relaxed) { return false }
        return shared.withLock { shared in
            defer { updateHint(node, shared.ledger) }
            return shared.ledger.acquire(node: node, loop: loop, beyondShare: beyondShare)
        }
    }

    /// `loop` gives back `count` places; the loops wanting longest get them. `forAnotherLoop`:
    /// it closed idle connections because another loop asked (counted as places moved).
    func release(node: Int, loop: Int, count: Int, forAnotherLoop: Bool = false) {
        guard count > 0 else { return }
        if forAnotherLoop { statistics.placesMoved(count) }
        let (grants, pools) = shared.withLock { shared in
            defer { updateHint(node, shared.ledger) }
            return (shared.ledger.release(node: node, loop: loop, count: count), shared.pools)
        }
        for granted in grants { send(.granted(node: node), to: granted, in: pools) }
    }

    /// `loop` has `waiting` leases for `node` and no place: the loops holding places are asked to
    /// close idle connections for it.
    func want(node: Int, loop: Int, waiting: Int) {
        let (decision, pools) = shared.withLock { shared in
            defer { updateHint(node, shared.ledger) }
            return (shared.ledger.want(node: node, loop: loop, waiting: waiting), shared.pools)
        }
        for granted in decision.granted { send(.granted(node: node), to: granted, in: pools) }
        for holder in decision.holders { send(.closeIdle(node: node, upTo: max(1, waiting)), to: holder, in: pools) }
    }

    /// How many places loops other than `loop` want on `node` and are not promised yet.
    func wantedElsewhere(node: Int, loop: Int) -> Int {
        shared.withLock { $0.ledger.wantedElsewhere(node: node, loop: loop) }
    }

    /// `loop` has no lease waiting for `node` any more.
    func satisfied(node: Int, loop: Int) {
        shared.withLock { $0.ledger.satisfied(node: node, loop: loop) }
    }

    /// How many places `loop` gives up on `node` (see ``PlaceLedger/giveUp(node:loop:)``),
    /// counted as places moved.
    func giveUp(node: Int, loop: Int) -> Int {
        let count = shared.withLock { $0.ledger.giveUp(node: node, loop: loop) }
        statistics.placesMoved(count)
        return count
    }

    /// Applies a reloaded `transaction_pool_size` (at once: loops whose sessions wait get the
    /// places a higher one frees; a lower one is given back at the loops' next sweep).
    func setCapacity(_ capacity: Int) {
        let (grants, pools): ([(node: Int, loop: Int)], [Registered?]) = shared.withLock { shared in
            guard capacity != shared.ledger.capacity else { return ([], shared.pools) }
            let grants = shared.ledger.setCapacity(capacity)
            for id in freeHints.indices { updateHint(id, shared.ledger) }
            return (grants, shared.pools)
        }
        for grant in grants { send(.granted(node: grant.node), to: grant.loop, in: pools) }
    }

    /// Places `loop` holds on `node` (for tests and reports).
    func held(node: Int, loop: Int) -> Int {
        shared.withLock { $0.ledger.held(node: node, loop: loop) }
    }

    private func updateHint(_ node: Int, _ ledger: PlaceLedger) {
        guard node < freeHints.count else { return }
        freeHints[node].value.store(ledger.free(node: node) > 0, ordering: .relaxed)
    }

    private func send(_ message: Message, to loop: Int, in pools: [Registered?]) {
        guard pools.indices.contains(loop), let registered = pools[loop] else { return }
        registered.eventLoop.execute { registered.pool.value.receive(message) }
    }
}
