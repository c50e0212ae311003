/// Which backend connections transaction-mode sessions of one event loop may open, hand out and
/// wait for. Pure: the caller opens, closes and times out what the state says.
///
/// Each node has a limit (its share of `transaction_pool_size`): connections open, being opened
/// or lent out count against it. A lease takes an idle connection with the same pool key (most
/// recently returned first); else opens one while under the limit; else, when an idle
/// connection of another key exists, retires it and opens one in its place; else waits, first
/// come first served. A connection given back goes to the first waiter of its node (or is
/// retired so that one with the waiter's key can be opened), else becomes idle.
struct TransactionPoolState<Connection: AnyObject, Key: Hashable> {
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
        var idle: [Key: [Connection]] = [:]
        var idleCount = 0
        var waiters: [Waiter] = []
    }

    private var nodes: [Int: NodeState] = [:]
    private var nextWaiter: UInt64 = 0
    /// The limit of a node seen for the first time.
    var defaultLimit: Int

    init(limit: Int) {
        defaultLimit = max(1, limit)
    }

    /// Changes every node's limit (a reload). Connections beyond it are closed as they come back.
    mutating func setLimit(_ limit: Int) {
        defaultLimit = max(1, limit)
        for id in nodes.keys { nodes[id]!.limit = defaultLimit }
    }

    private func node(_ id: Int) -> NodeState { nodes[id] ?? NodeState(limit: defaultLimit) }

    mutating func checkout(_ key: Key, node nodeID: Int) -> Checkout {
        var state = node(nodeID)
        defer { nodes[nodeID] = state }
        if state.waiters.isEmpty, let connection = state.idle[key]?.popLast() {
            state.idleCount -= 1
            return .reuse(connection)
        }
        if state.waiters.isEmpty, state.open < state.limit {
            state.open += 1
            return .open
        }
        if state.waiters.isEmpty, let victim = Self.takeAnyIdle(&state) {
            return .replace(victim)
        }
        nextWaiter &+= 1
        state.waiters.append(Waiter(id: nextWaiter, key: key))
        return .wait(nextWaiter)
    }

    /// A lent connection comes back, clean and idle: it goes to a waiter, or is idle now, or
    /// (`close`: the node is above its limit after a reload) is closed and uncounted.
    mutating func checkin(_ connection: Connection, key: Key, node nodeID: Int) -> (handoff: Handoff?, close: Bool) {
        var state = node(nodeID)
        defer { nodes[nodeID] = state }
        if state.open > state.limit {
            // The limit went down: this one goes, and its place with it.
            state.open -= 1
            return (nil, true)
        }
        if !state.waiters.isEmpty {
            let waiter = state.waiters.removeFirst()
            if waiter.key == key { return (.give(connection, to: waiter.id), false) }
            return (.replaceFor(waiter.id, closing: connection), false)
        }
        state.idle[key, default: []].append(connection)
        state.idleCount += 1
        return (nil, false)
    }

    /// A counted connection closed (idle in the pool or lent), or could not be opened: its place
    /// goes to the first waiter.
    mutating func closed(_ connection: Connection?, key: Key, node nodeID: Int) -> Handoff? {
        var state = node(nodeID)
        defer { nodes[nodeID] = state }
        if let connection, var list = state.idle[key], let index = list.firstIndex(where: { $0 === connection }) {
            list.remove(at: index)
            state.idle[key] = list.isEmpty ? nil : list
            state.idleCount -= 1
        }
        state.open = max(0, state.open - 1)
        guard !state.waiters.isEmpty, state.open < state.limit else { return nil }
        state.open += 1
        return .openFor(state.waiters.removeFirst().id)
    }

    /// Forgets a waiter (it timed out or its client left). Returns whether it was waiting.
    mutating func cancelWait(_ id: UInt64, node nodeID: Int) -> Bool {
        guard var state = nodes[nodeID], let index = state.waiters.firstIndex(where: { $0.id == id }) else { return false }
        state.waiters.remove(at: index)
        nodes[nodeID] = state
        return true
    }

    /// Every idle connection of a node (it went down), taken out of the pool and uncounted.
    mutating func drain(node nodeID: Int) -> [Connection] {
        guard var state = nodes[nodeID] else { return [] }
        let all = state.idle.values.flatMap { $0 }
        state.idle.removeAll()
        state.idleCount = 0
        state.open -= all.count
        nodes[nodeID] = state
        return all
    }

    /// Every idle connection (shutdown).
    mutating func drainAll() -> [Connection] {
        nodes.keys.flatMap { drain(node: $0) }
    }

    /// Per node: connections counted (open, opening or lent), idle, and clients waiting.
    /// Every idle connection, of every node.
    var idleConnections: [Connection] { nodes.values.flatMap { $0.idle.values.joined() } }

    var counts: [Int: (open: Int, idle: Int, waiting: Int)] {
        nodes.mapValues { ($0.open, $0.idleCount, $0.waiters.count) }
    }

    private static func takeAnyIdle(_ state: inout NodeState) -> Connection? {
        guard let key = state.idle.first(where: { !$0.value.isEmpty })?.key else { return nil }
        let connection = state.idle[key]!.removeFirst()
        if state.idle[key]!.isEmpty { state.idle[key] = nil }
        state.idleCount -= 1
        return connection
    }
}
