import Configuration
import Logging
import NIOCore

/// The backend connections transaction-mode sessions of one event loop share: lent for one
/// unit of work (a transaction, a statement outside one, an extended exchange up to its Sync),
/// given back clean and idle. Each connection holds one of the node's `transaction_pool_size`
/// places, which all loops share (``TransactionPoolPlaces``); a session that finds no connection
/// and no free place waits, up to `transaction_pool_timeout`, while places move to its loop from
/// loops that have idle connections or more than their share. Used only on its event loop.
final class TransactionPool {
    /// Who a lease is for, and what for.
    private struct Taker {
        var session: TransactionLeaseTaker
        var purpose: TransactionLeasePurpose

        func take(_ lease: TransactionLease, of node: BackendNode) { session.take(lease, of: node, for: purpose) }
    }

    /// A class: a waiter moves into the queue and out of it once per lease, and a copy of a
    /// struct would retain each of its node's, key's and taker's references every time.
    private final class Waiter {
        let id: UInt64
        let node: BackendNode
        let key: Key
        let since: NIODeadline
        let timeout: TimeAmount
        let taker: Taker
        var deadline: NIODeadline { since + timeout }

        init(id: UInt64, node: BackendNode, key: Key, since: NIODeadline, timeout: TimeAmount, taker: Taker) {
            self.id = id
            self.node = node
            self.key = key
            self.since = since
            self.timeout = timeout
            self.taker = taker
        }
    }

    let eventLoop: EventLoop
    private let connector: BackendConnector
    private let logger: Logger
    private var state: TransactionPoolState<BackendConnection, Key, Group>
    private var sizeRules = PoolSizeRules()
    /// In the order they began to wait, which is about the order they are served in: the one
    /// served is nearly always the first (a ring buffer, not a dictionary hashing at every
    /// lease).
    private var waiters = CircularBuffer<Waiter>()
    /// Times out waiters: one timer for the earliest deadline, not one per waiter (most leases
    /// wait when clients outnumber connections).
    private var expiry: Scheduled<Void>?
    /// When `expiry` fires.
    private var expiryDeadline: NIODeadline?
    /// Reports how long a lease waited (the slot-wait histogram's sibling).
    var onWait: ((TimeAmount, _ served: Bool) -> Void)?

    /// `connection_life_time`: an idle connection older than this is closed instead of lent.
    private let lifeTime: TimeAmount
    /// The places every loop shares, and this loop's index among them.
    private let places: TransactionPoolPlaces
    private let loopIndex: Int
    /// Places this loop holds, by node: one per counted connection, and briefly one more taken
    /// for a waiter (the state's limit is this, less the places promised back).
    private var held: [Int] = []
    /// By node: whether this loop told the places it wants one (its leases keep waiting).
    private var wanting: [Bool] = []
    /// By node: the look, after ``wantDelay``, at leases still waiting.
    private var wantTimers: [Scheduled<Void>?] = []
    /// How long a lease waits before its loop takes a place beyond its share or asks other loops
    /// for one: a wait shorter than this is served by the loop's own connections coming back,
    /// and a place that moves costs a connection closed on one loop and one opened on another.
    static let wantDelay = TimeAmount.milliseconds(100)
    /// An idle connection unused this long is cold: a loop closes it for another loop that wants
    /// its place even if it has lent all its connections at once lately.
    static let coldAfter = TimeAmount.seconds(1)
    /// By node: the most connections lent at once since the last sweep, and in the second before
    /// it. A loop keeps that many for another loop that wants places (so that two loops busy at
    /// once do not take places back and forth) and closes idle ones beyond.
    private var lentPeak: [Int] = []
    private var lentPeakBefore: [Int] = []

    init(eventLoop: EventLoop, connector: BackendConnector, places: TransactionPoolPlaces, loopIndex: Int,
         lifeTime: TimeAmount = .zero, logger: Logger) {
        self.lifeTime = lifeTime
        self.eventLoop = eventLoop
        self.connector = connector
        self.places = places
        self.loopIndex = loopIndex
        self.state = TransactionPoolState(limit: 0, group: { Group(user: $0.pool.user, database: $0.pool.database) })
        self.logger = logger
    }

    /// This loop's share of `total` connections of a user and database per node over `loops`
    /// loops (at least one): `transaction_pool_size_list` limits are split, not shared.
    static func share(of total: Int, loop index: Int, loops: Int) -> Int {
        let loops = max(1, loops)
        return max(1, total / loops + (index < total % loops ? 1 : 0))
    }

    /// Changes the limits of users and databases (`transaction_pool_size_list`); `share` turns
    /// a configured size into this loop's share of it.
    func setGroupLimits(_ rules: PoolSizeRules, share: @escaping (Int) -> Int) {
        guard rules != sizeRules else { return }
        sizeRules = rules
        state.groupLimit = { group in rules.value(user: group.user, database: group.database).map(share) }
        state.serveWaiters().forEach(perform)
    }

    /// Lends a connection to `node`: an idle one, a new one, or the first that comes free
    /// within `timeout`; `session` is told (now or later) with `purpose`. Returns the waiter's id
    /// when the lease waits (for ``cancel(_:node:)``).
    @discardableResult
    func lease(_ node: BackendNode, key: PoolKey, clientPassword: String?, timeout: TimeAmount,
               for session: TransactionLeaseTaker, purpose: TransactionLeasePurpose) -> UInt64? {
        lease(node, key: Key(pool: key, clientPassword: clientPassword), timeout: timeout,
              taker: Taker(session: session, purpose: purpose))
    }

    private func lease(_ node: BackendNode, key: Key, timeout: TimeAmount, taker: Taker) -> UInt64? {
        switch state.checkout(key, node: node.id) {
        case .reuse(let connection) where lifeTime > .zero && .now() - connection.lastReleasedAt >= lifeTime:
            // Idle too long: closed, its place taken again at once.
            retire(connection)
            if let handoff = state.closed(nil, key: key, node: node.id) { perform(handoff) }
            return lease(node, key: key, timeout: timeout, taker: taker)
        case .reuse(let connection):
            noteLent(node.id)
            taker.take(.success((connection, true)), of: node)
        case .open:
            noteLent(node.id)
            open(node, key: key, taker: taker)
        case .replace(let victim):
            noteLent(node.id)
            retire(victim)
            open(node, key: key, taker: taker)
        case .wait(let id):
            let waiter = Waiter(id: id, node: node, key: key, since: .now(), timeout: timeout, taker: taker)
            waiters.append(waiter)
            // Only a waiter due before the timer (a timeout shortened by a reload) moves it.
            if expiryDeadline.map({ waiter.deadline < $0 }) ?? true { scheduleExpiry() }
            if state.isFull(node: node.id) { findPlace(node.id) }
            return id
        }
        return nil
    }

    /// The session no longer wants the connection it waits for (its client left).
    func cancel(_ id: UInt64, node: Int) {
        guard state.cancelWait(id, node: node) else { return }
        _ = removeWaiter(id)
        checkSatisfied(node)
    }

    // MARK: Places

    /// A lease waits with the loop's places on the node all in use: a free place is taken for it
    /// within the loop's share; else, if leases still wait after ``wantDelay``, free places
    /// beyond the share, or the loop wants places from the other loops.
    private func findPlace(_ node: Int) {
        if places.acquire(node: node, loop: loopIndex, beyondShare: false) { return placeAdded(node) }
        growHeld(to: node)
        guard !wanting[node], wantTimers[node] == nil else { return }
        wantTimers[node] = eventLoop.assumeIsolated().scheduleTask(in: Self.wantDelay) { [self] in
            wantTimers[node] = nil
            guard !isWanting(node) else { return }
            while state.waiterCount(node: node) > 0, state.isFull(node: node),
                  places.acquire(node: node, loop: loopIndex, beyondShare: true) {
                placeAdded(node)
            }
            guard state.waiterCount(node: node) > 0, state.isFull(node: node) else { return }
            setWanting(node, true)
            places.want(node: node, loop: loopIndex, waiting: state.waiterCount(node: node))
        }
    }

    /// A place taken or granted: the first waiter that fits gets it; one nobody can use goes back.
    private func placeAdded(_ node: Int) {
        growHeld(to: node)
        held[node] += 1
        state.addPlace(node: node)
        state.serveWaiters().forEach(perform)
        if held[node] > state.connectionCount(node: node), isWanting(node) {
            // The waiters left cannot use a place (their user's own limit): this loop stops
            // wanting until a lease waits again, so two such loops do not pass a place back and forth.
            setWanting(node, false)
            places.satisfied(node: node, loop: loopIndex)
        }
        settle(node)
    }

    /// What the places tell this loop.
    func receive(_ message: TransactionPoolPlaces.Message) {
        switch message {
        case .granted(let node):
            placeAdded(node)
            checkSatisfied(node)
        case .closeIdle(let node, let count):
            guard state.waiterCount(node: node) == 0 else { return }
            closeSpareIdle(node, upTo: count, now: .now())
        }
    }

    /// Closes, for another loop, up to `count` idle connections to `node` this loop can spare:
    /// those beyond the most it has lent at once lately, then cold ones.
    private func closeSpareIdle(_ node: Int, upTo count: Int, now: NIODeadline) {
        guard count > 0, node < held.count else { return }
        var idle = state.takeIdle(node: node, upTo: min(count, held[node] - max(lentPeak[node], lentPeakBefore[node])))
        idle += state.takeIdle(node: node, upTo: count - idle.count, where: isCold(now))
        idle.forEach(retire)
        settle(node, forAnotherLoop: true)
    }

    /// Keeps the most connections to `node` lent at once (after one is lent or opened).
    private func noteLent(_ node: Int) {
        growHeld(to: node)
        lentPeak[node] = max(lentPeak[node], state.lentCount(node: node))
    }

    private func isCold(_ now: NIODeadline) -> (BackendConnection) -> Bool {
        { now - $0.lastReleasedAt >= Self.coldAfter }
    }

    /// Gives back the places of a node that no connection of this loop uses any more.
    private func settle(_ node: Int, forAnotherLoop: Bool = false) {
        guard node < held.count else { return }
        let excess = held[node] - state.connectionCount(node: node)
        guard excess > 0 else { return }
        held[node] -= excess
        state.lowerLimit(node: node, to: held[node])
        places.release(node: node, loop: loopIndex, count: excess, forAnotherLoop: forAnotherLoop)
    }

    /// The sweep's share of the balancing, for nodes where other loops want places: the places
    /// above this loop's fair share are given up (idle connections first; the rest close as they
    /// come back), then spare idle connections close for what the other loops still want. The
    /// most lent at once starts again from what is lent now.
    private func giveUpPlaces(now: NIODeadline) {
        for node in held.indices where held[node] > 0 {
            let count = places.giveUp(node: node, loop: loopIndex)
            if count > 0 {
                let idle = state.takeIdle(node: node, upTo: count)
                idle.forEach(retire)
                state.removePlaces(count - idle.count, node: node)
                settle(node)
            }
            if state.waiterCount(node: node) == 0 {
                closeSpareIdle(node, upTo: places.wantedElsewhere(node: node, loop: loopIndex), now: now)
            }
        }
        for node in lentPeak.indices {
            lentPeakBefore[node] = lentPeak[node]
            lentPeak[node] = state.lentCount(node: node)
        }
    }

    private func isWanting(_ node: Int) -> Bool { node < wanting.count && wanting[node] }

    private func setWanting(_ node: Int, _ value: Bool) {
        growHeld(to: node)
        wanting[node] = value
    }

    /// Tells the places once this loop's leases for `node` stopped waiting.
    private func checkSatisfied(_ node: Int) {
        guard isWanting(node), state.waiterCount(node: node) == 0 else { return }
        setWanting(node, false)
        places.satisfied(node: node, loop: loopIndex)
    }

    private func growHeld(to node: Int) {
        guard node >= held.count else { return }
        held.append(contentsOf: repeatElement(0, count: node - held.count + 1))
        wanting.append(contentsOf: repeatElement(false, count: node - wanting.count + 1))
        wantTimers.append(contentsOf: repeatElement(nil, count: node - wantTimers.count + 1))
        lentPeak.append(contentsOf: repeatElement(0, count: node - lentPeak.count + 1))
        lentPeakBefore.append(contentsOf: repeatElement(0, count: node - lentPeakBefore.count + 1))
    }

    private func scheduleExpiry() {
        guard let next = waiters.lazy.map(\.deadline).min() else { return }
        if let expiryDeadline, expiryDeadline <= next { return }
        expiry?.cancel()
        expiryDeadline = next
        expiry = eventLoop.assumeIsolated().scheduleTask(deadline: next) { [self] in
            expiry = nil
            expiryDeadline = nil
            let now = NIODeadline.now()
            for waiter in waiters.filter({ $0.deadline <= now }) {
                guard state.cancelWait(waiter.id, node: waiter.node.id), removeWaiter(waiter.id) != nil else { continue }
                onWait?(waiter.timeout, false)
                checkSatisfied(waiter.node.id)
                waiter.taker.take(.failure(.timedOut(waiter.timeout)), of: waiter.node)
            }
            scheduleExpiry()
        }
    }

    /// Takes back a lent connection that is idle, outside a transaction and clean (once no cancel
    /// request for it is in flight).
    func giveBack(_ connection: BackendConnection, clientPassword: String?) {
        guard !connection.isClosed else { return }
        connection.owner = nil
        guard connection.cancelsInFlight == 0 else {
            return connection.whenNoCancelInFlight { [self] in giveBack(connection, clientPassword: clientPassword) }
        }
        connection.lastReleasedAt = .now()
        let key = Key(pool: connection.key, clientPassword: clientPassword)
        if connection.key.isNeverCached {
            // Template databases must stay free of lingering connections (CREATE DATABASE).
            retire(connection)
            if let handoff = state.closed(nil, key: key, node: connection.node.id) { perform(handoff) }
            settle(connection.node.id)
            return
        }
        let (handoff, close) = state.checkin(connection, key: key, node: connection.node.id)
        if close {
            retire(connection)
            settle(connection.node.id)
        }
        if let handoff { perform(handoff) }
    }

    /// Closes the connections idle for `connection_life_time` or longer (the pool's sweep, every
    /// second), so that a burst's connections do not stay open for good; their places go to
    /// waiters that could not use them.
    /// Also gives up the places another loop should have (see ``PlaceLedger/giveUp(node:loop:)``).
    func sweep(now: NIODeadline) {
        giveUpPlaces(now: now)
        guard lifeTime > .zero else { return }
        let expired = state.expireIdle { now - $0.lastReleasedAt >= lifeTime }
        guard !expired.isEmpty else { return }
        expired.forEach(retire)
        state.serveWaiters().forEach(perform)
        held.indices.forEach { settle($0) }
    }

    /// Per node: connections open or lent, idle, and sessions waiting.
    var counts: [Int: (open: Int, idle: Int, waiting: Int)] { state.counts }

    /// Statements prepared on the idle connections.
    var idleStatementCount: Int { state.idleConnections.reduce(0) { $0 + ($1.pooled?.statements.count ?? 0) } }

    /// Closes the idle connections to a node that went down.
    func closeAll(toNode node: Int) {
        state.drain(node: node).forEach { retire($0) }
        settle(node)
    }

    /// Closes every idle connection (shutdown).
    func closeAll() {
        wantTimers.forEach { $0?.cancel() }
        state.drainAll().forEach { retire($0) }
        held.indices.forEach { settle($0) }
    }

    // MARK: Connections

    private func open(_ node: BackendNode, key: Key, taker: Taker) {
        connector.connect(to: node, key: key.pool, clientPassword: key.clientPassword, on: eventLoop) { [self] result in
            switch result {
            case .success(let connection):
                connection.clientPassword = key.clientPassword
                // The pool lives as long as its event loop; `self` is not weak (a weak reference
                // would put every retain of the pool on the runtime's slow path).
                connection.onClose = { [self, unowned connection] in
                    closed(connection, key: key)
                }
                taker.take(.success((connection, false)), of: node)
            case .failure(let error):
                if let handoff = state.closed(nil, key: key, node: node.id) { perform(handoff) }
                settle(node.id)
                taker.take(.failure(.connect(error)), of: node)
            }
        }
    }

    /// A counted connection closed, idle or lent.
    private func closed(_ connection: BackendConnection, key: Key) {
        if let handoff = state.closed(connection, key: key, node: connection.node.id) { perform(handoff) }
        settle(connection.node.id)
    }

    /// Closes a connection whose place is taken over or given up (not counted again on close).
    private func retire(_ connection: BackendConnection) {
        connection.onClose = nil
        connection.owner = nil
        logger.debug("closing backend connection", metadata: ["node": "\(connection.node.id)", "key": "\(connection.key)"])
        connection.terminate()
    }

    private func perform(_ handoff: TransactionPoolState<BackendConnection, Key, Group>.Handoff) {
        switch handoff {
        case .give(let connection, let id):
            guard let waiter = take(id) else { return giveBack(connection, clientPassword: connection.clientPassword) }
            checkSatisfied(waiter.node.id)
            waiter.taker.take(.success((connection, true)), of: waiter.node)
        case .openFor(let id):
            guard let waiter = take(id) else { return }
            checkSatisfied(waiter.node.id)
            noteLent(waiter.node.id)
            open(waiter.node, key: waiter.key, taker: waiter.taker)
        case .replaceFor(let id, let victim):
            retire(victim)
            guard let waiter = take(id) else { return }
            checkSatisfied(waiter.node.id)
            noteLent(waiter.node.id)
            open(waiter.node, key: waiter.key, taker: waiter.taker)
        }
    }

    private func take(_ id: UInt64) -> Waiter? {
        guard let waiter = removeWaiter(id) else { return nil }
        onWait?(.now() - waiter.since, true)
        return waiter
    }

    private func removeWaiter(_ id: UInt64) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.removeFast(at: index)
    }
}
