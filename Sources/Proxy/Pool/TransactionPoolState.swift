import NIOCore

/// Which backend connections transaction-mode sessions of one event loop may open, hand out and
/// wait for. Pure: the caller opens, closes and times out what the state says.
///
/// Each node has a limit (its share of `transaction_pool_size`): connections open, being opened
/// or lent out count against it. Keys fall into groups (a user and database) that may have a
/// lower limit of their own (`transaction_pool_size_list`). A lease takes an idle connection with
/// the same pool key (most recently returned first); else opens one while under both limits;
/// else, when an idle connection of another key exists (of its own group, or with the group
/// under its limit), retires it and opens one in its place; else waits, first come first served
/// among the waiters that could be served. A connection given back goes to the first such waiter
/// of its node (or is retired so that one with the waiter's key can be opened), else becomes idle.
struct TransactionPoolState<Connection: AnyObject, Key: Hashable, Group: Hashable> {
    /// What a lease gets now.
    enum Checkout {
        case reuse(Connection)
        /// Open a new connection (already counted).
        case open
        /// Close this idle connection of another key, then open one (the count is unchanged).
        case replace(Connection)
        /// Wait; the id names the waiter.
        case wait(UInt64)
    }

    /// What to do for a waiter once a place or a connection is free.
    enum Handoff {
        case give(Connection, to: UInt64)
        /// Open a connection for the waiter (counted).
        case openFor(UInt64)
        /// Close this connection, then open one for the waiter (the count is unchanged).
        case replaceFor(UInt64, closing: Connection)
    }

    private struct Waiter {
        var id: UInt64
        var key: Key
    }

    private struct NodeState {
        var limit: Int
        var open = 0
        /// Connections counted per group (only groups with some).
        var groupOpen: [Group: Int] = [:]
        var idle: [Key: [Connection]] = [:]
        var idleCount = 0
        /// First come first served; usually the first one is served, which a ring buffer does
        /// without moving the others.
        var waiters = CircularBuffer<Waiter>()
    }

    /// By node id (ids are small and dense): an array, not a dictionary that would hash twice
    /// at every lease and hand-back.
    private var nodes: [NodeState?] = []
    private var nextWaiter: UInt64 = 0
    /// The limit of a node seen for the first time.
    var defaultLimit: Int
    /// The group of a key.
    private let group: (Key) -> Group
    /// The limit of a group per node (nil: only the node's).
    var groupLimit: (Group) -> Int?

    init(limit: Int, group: @escaping (Key) -> Group, groupLimit: @escaping (Group) -> Int? = { _ in nil }) {
        defaultLimit = max(0, limit)
        self.group = group
        self.groupLimit = groupLimit
    }

    /// Whether a group may have one more connection on a node.
    private func hasRoom(_ group: Group, in state: NodeState) -> Bool {
        guard let limit = groupLimit(group) else { return true }
        return state.groupOpen[group, default: 0] < limit
    }

    private func isOverLimit(_ group: Group, in state: NodeState) -> Bool {
        guard let limit = groupLimit(group) else { return false }
        return state.groupOpen[group, default: 0] > limit
    }

    private static func count(_ group: Group, by change: Int, in state: inout NodeState) {
        let value = state.groupOpen[group, default: 0] + change
        state.groupOpen[group] = value > 0 ? value : nil
    }

    /// Changes every node's limit (a reload). Connections beyond it are closed as they come back.
    mutating func setLimit(_ limit: Int) {
        defaultLimit = max(1, limit)
        for id in nodes.indices where nodes[id] != nil { nodes[id]!.limit = defaultLimit }
    }

    /// Takes a node's state out (a new one for a node seen for the first time), so that its
    /// arrays are not copied when they change; ``putBack(_:node:)`` returns it.
    private mutating func takeOut(_ nodeID: Int) -> NodeState {
        if nodeID >= nodes.count { nodes.append(contentsOf: repeatElement(nil, count: nodeID - nodes.count + 1)) }
        return nodes[nodeID].take() ?? NodeState(limit: defaultLimit)
    }

    /// Moves a node's state back (not copied: a copy retains and a destroy releases each of its
    /// collections, at every lease and hand-back).
    private mutating func putBack(_ state: consuming NodeState, node nodeID: Int) {
        nodes[nodeID] = consume state
    }

    /// Runs `body` on a node's state taken out, then moves it back.
    private mutating func withNode<Result>(_ nodeID: Int, _ body: (inout Self, inout NodeState) -> Result) -> Result {
        var state = takeOut(nodeID)
        let result = body(&self, &state)
        putBack(consume state, node: nodeID)
        return result
    }



    // MARK: Places (a node's limit is the places this loop holds; see PlaceLedger)

    /// One more place on a node; ``serveWaiters()`` gives it to a waiter.
    mutating func addPlace(node nodeID: Int) {
        withNode(nodeID) { _, state in state.limit += 1 }
    }

    /// `count` places fewer on a node: connections beyond the limit close as they come back.
    mutating func removePlaces(_ count: Int, node nodeID: Int) {
        withNode(nodeID) { _, state in state.limit = max(0, state.limit - count) }
    }

    /// Lowers a node's limit to `places` if it is above (places given back).
    mutating func lowerLimit(node nodeID: Int, to places: Int) {
        withNode(nodeID) { _, state in state.limit = min(state.limit, places) }
    }

    /// Connections a node counts: open, being opened or lent.
    func connectionCount(node nodeID: Int) -> Int { nodeID < nodes.count ? nodes[nodeID]?.open ?? 0 : 0 }

    /// Connections of a node lent out or being opened (counted, not idle).
    func lentCount(node nodeID: Int) -> Int {
        // Read through the optional, not bound: binding would copy the node's collections.
        nodeID < nodes.count ? (nodes[nodeID]?.open ?? 0) - (nodes[nodeID]?.idleCount ?? 0) : 0
    }

    /// Leases waiting for a node.
    func waiterCount(node nodeID: Int) -> Int { nodeID < nodes.count ? nodes[nodeID]?.waiters.count ?? 0 : 0 }

    /// Whether a node's connections fill its places (a lease that cannot reuse one waits).
    func isFull(node nodeID: Int) -> Bool {
        guard nodeID < nodes.count, let state = nodes[nodeID] else { return true }
        return state.open >= state.limit
    }

    /// Up to `count` idle connections of a node that `isTaken` picks (of each key, the least
    /// recently returned first), taken out of the pool and uncounted (another loop wants their
    /// places).
    mutating func takeIdle(node nodeID: Int, upTo count: Int, where isTaken: (Connection) -> Bool = { _ in true }) -> [Connection] {
        guard count > 0, nodeID < nodes.count, (nodes[nodeID]?.idleCount ?? 0) > 0 else { return [] }
        return withNode(nodeID) { pool, state in
            var taken: [Connection] = []
            for key in Array(state.idle.keys) where taken.count < count {
                let list = state.idle.removeValue(forKey: key)!
                var kept: [Connection] = []
                for connection in list {
                    if taken.count < count, isTaken(connection) { taken.append(connection) } else { kept.append(connection) }
                }
                let gone = list.count - kept.count
                if !kept.isEmpty { state.idle[key] = kept }
                state.idleCount -= gone
                state.open -= gone
                Self.count(pool.group(key), by: -gone, in: &state)
            }
            return taken
        }
    }

    /// After a limit went up (a reload): the places it makes go to the waiters that now fit, first
    /// come first served, as new connections or in place of idle ones of other keys.
    mutating func serveWaiters() -> [Handoff] {
        var handoffs: [Handoff] = []
        for nodeID in nodes.indices where nodes[nodeID] != nil {
            var state = takeOut(nodeID)
            // An offset, not an index: removing a waiter invalidates the ring buffer's indices.
            var offset = 0
            while offset < state.waiters.count {
                let index = state.waiters.index(state.waiters.startIndex, offsetBy: offset)
                let wanted = group(state.waiters[index].key)
                let room = hasRoom(wanted, in: state)
                if room, state.open < state.limit {
                    state.open += 1
                    Self.count(wanted, by: 1, in: &state)
                    handoffs.append(.openFor(state.waiters.remove(at: index).id))
                } else if let victim = takeIdle(&state, for: wanted, groupHasRoom: room) {
                    handoffs.append(.replaceFor(state.waiters.remove(at: index).id, closing: victim))
                } else {
                    offset += 1
                }
            }
            putBack(state, node: nodeID)
        }
        return handoffs
    }

    mutating func checkout(_ key: Key, node nodeID: Int) -> Checkout {
        withNode(nodeID) { pool, state in pool.checkout(key, in: &state) }
    }

    private mutating func checkout(_ key: Key, in state: inout NodeState) -> Checkout {
        // Waiters and idle connections exist together only when none of these fits a waiter:
        // taking one here passes no one.
        if let connection = Self.popIdle(key, in: &state) {
            state.idleCount -= 1
            return .reuse(connection)
        }
        let wanted = group(key)
        let room = hasRoom(wanted, in: state)
        if room, state.open < state.limit {
            state.open += 1
            Self.count(wanted, by: 1, in: &state)
            return .open
        }
        if let victim = takeIdle(&state, for: wanted, groupHasRoom: room) {
            return .replace(victim)
        }
        nextWaiter &+= 1
        state.waiters.append(Waiter(id: nextWaiter, key: key))
        return .wait(nextWaiter)
    }

    /// A lent connection comes back, clean and idle: it goes to a waiter, or is idle now, or
    /// (`close`: the node is above its limit after a reload) is closed and uncounted.
    mutating func checkin(_ connection: Connection, key: Key, node nodeID: Int) -> (handoff: Handoff?, close: Bool) {
        withNode(nodeID) { pool, state in pool.checkin(connection, key: key, in: &state) }
    }

    private func checkin(_ connection: Connection, key: Key, in state: inout NodeState) -> (handoff: Handoff?, close: Bool) {
        let owner = group(key)
        if state.open > state.limit || isOverLimit(owner, in: state) {
            // A limit went down: this one goes, and its place with it.
            state.open -= 1
            Self.count(owner, by: -1, in: &state)
            return (nil, true)
        }
        if let index = state.waiters.firstIndex(where: { $0.key == key || group($0.key) == owner || hasRoom(group($0.key), in: state) }) {
            let waiter = state.waiters.removeFast(at: index)
            if waiter.key == key { return (.give(connection, to: waiter.id), false) }
            Self.count(owner, by: -1, in: &state)
            Self.count(group(waiter.key), by: 1, in: &state)
            return (.replaceFor(waiter.id, closing: connection), false)
        }
        // Taken out and put back, not changed in place: changing a dictionary's value in place
        // allocates (the accessor's frame), at every return.
        var list = state.idle.removeValue(forKey: key) ?? []
        list.append(connection)
        state.idle[key] = list
        state.idleCount += 1
        return (nil, false)
    }

    /// A counted connection closed (idle in the pool or lent), or could not be opened: its place
    /// goes to the first waiter.
    mutating func closed(_ connection: Connection?, key: Key, node nodeID: Int) -> Handoff? {
        withNode(nodeID) { pool, state in pool.closed(connection, key: key, in: &state) }
    }

    private func closed(_ connection: Connection?, key: Key, in state: inout NodeState) -> Handoff? {
        if let connection, var list = state.idle[key], let index = list.firstIndex(where: { $0 === connection }) {
            list.remove(at: index)
            state.idle[key] = list.isEmpty ? nil : list
            state.idleCount -= 1
        }
        state.open = max(0, state.open - 1)
        Self.count(group(key), by: -1, in: &state)
        guard state.open < state.limit, let index = state.waiters.firstIndex(where: { hasRoom(group($0.key), in: state) }) else {
            return nil
        }
        let waiter = state.waiters.removeFast(at: index)
        state.open += 1
        Self.count(group(waiter.key), by: 1, in: &state)
        return .openFor(waiter.id)
    }

    /// Forgets a waiter (it timed out or its client left). Returns whether it was waiting.
    mutating func cancelWait(_ id: UInt64, node nodeID: Int) -> Bool {
        guard nodeID < nodes.count, let index = nodes[nodeID]?.waiters.firstIndex(where: { $0.id == id }) else { return false }
        nodes[nodeID]!.waiters.remove(at: index)
        return true
    }

    /// Every idle connection of a node (it went down), taken out of the pool and uncounted.
    mutating func drain(node nodeID: Int) -> [Connection] {
        guard nodeID < nodes.count, nodes[nodeID] != nil else { return [] }
        var state = takeOut(nodeID)
        let all = state.idle.values.flatMap { $0 }
        for (key, list) in state.idle { Self.count(group(key), by: -list.count, in: &state) }
        state.idle.removeAll()
        state.idleCount = 0
        state.open -= all.count
        putBack(state, node: nodeID)
        return all
    }

    /// The idle connections `isExpired` picks (idle for `connection_life_time`), taken out of
    /// the pool and uncounted; ``serveWaiters()`` then gives their places to waiters that could
    /// not use them.
    mutating func expireIdle(where isExpired: (Connection) -> Bool) -> [Connection] {
        var expired: [Connection] = []
        for nodeID in nodes.indices where (nodes[nodeID]?.idleCount ?? 0) > 0 {
            var state = takeOut(nodeID)
            for (key, list) in state.idle where list.contains(where: isExpired) {
                let kept = list.filter { !isExpired($0) }
                let gone = list.count - kept.count
                expired.append(contentsOf: list.filter(isExpired))
                state.idle[key] = kept.isEmpty ? nil : kept
                state.idleCount -= gone
                state.open -= gone
                Self.count(group(key), by: -gone, in: &state)
            }
            putBack(state, node: nodeID)
        }
        return expired
    }

    /// Every idle connection (shutdown).
    mutating func drainAll() -> [Connection] {
        nodes.indices.flatMap { drain(node: $0) }
    }

    /// Per node: connections counted (open, opening or lent), idle, and clients waiting.
    /// Every idle connection, of every node.
    var idleConnections: [Connection] { nodes.flatMap { $0.map { Array($0.idle.values.joined()) } ?? [] } }

    var counts: [Int: (open: Int, idle: Int, waiting: Int)] {
        var counts: [Int: (open: Int, idle: Int, waiting: Int)] = [:]
        for case (let id, let state?) in nodes.enumerated() { counts[id] = (state.open, state.idleCount, state.waiters.count) }
        return counts
    }

    /// The most recently returned idle connection of `key`. An emptied list stays, keeping its
    /// storage for the next return.
    private static func popIdle(_ key: Key, in state: inout NodeState) -> Connection? {
        // Clients outnumbering connections find none idle: no hashing then.
        guard state.idleCount > 0, var list = state.idle.removeValue(forKey: key) else { return nil }
        let connection = list.popLast()
        state.idle[key] = list
        return connection
    }

    /// An idle connection to retire so that `wanted` can open one in its place: of its own group,
    /// or of any group when `wanted` has room; its place moves to `wanted`.
    private func takeIdle(_ state: inout NodeState, for wanted: Group, groupHasRoom: Bool) -> Connection? {
        guard state.idleCount > 0, let key = state.idle.first(where: { !$0.value.isEmpty && (groupHasRoom || group($0.key) == wanted) })?.key else {
            return nil
        }
        let connection = state.idle[key]!.removeFirst()
        if state.idle[key]!.isEmpty { state.idle[key] = nil }
        state.idleCount -= 1
        Self.count(group(key), by: -1, in: &state)
        Self.count(wanted, by: 1, in: &state)
        return connection
    }
}

extension CircularBuffer {
    /// Removes the element at `index`: the first one (a queue served in order, the usual case)
    /// without the general removal's checks and shifting.
    @discardableResult
    mutating func removeFast(at index: Index) -> Element {
        index == startIndex ? removeFirst() : remove(at: index)
    }
}
