import NIOCore

/// Which idle backend connections to keep, hand out and retire. Pure: the caller passes the
/// clock and closes what the cache returns.
///
/// Connections are handed out most-recently-used first (warm caches on the backend); when the
/// cache is full the least recently released one is evicted; with `connection_life_time` set,
/// a connection idle longer than that is retired.
struct IdleConnectionCache<Connection: AnyObject> {
    private struct Entry {
        var connection: Connection
        var releasedAt: NIODeadline
    }

    private var entries: [PoolKey: [Entry]] = [:]
    private(set) var count = 0
    var capacity: Int
    /// Zero means "forever".
    var lifeTime: TimeAmount

    init(capacity: Int, lifeTime: TimeAmount) {
        self.capacity = capacity
        self.lifeTime = lifeTime
    }

    /// Takes the most recently released connection for `key` that has not outlived its life time.
    /// Expired connections found on the way are returned for closing.
    mutating func checkout(_ key: PoolKey, now: NIODeadline) -> (Connection?, expired: [Connection]) {
        var expired: [Connection] = []
        guard var list = entries[key] else { return (nil, expired) }
        var found: Connection?
        while let entry = list.popLast() {
            count -= 1
            if isExpired(entry, now: now) {
                expired.append(entry.connection)
            } else {
                found = entry.connection
                break
            }
        }
        entries[key] = list.isEmpty ? nil : list
        return (found, expired)
    }

    /// Puts a connection back. Returns the connections to close: the oldest ones when the cache
    /// is over capacity (possibly the one just released, when the capacity is zero).
    mutating func checkin(_ connection: Connection, key: PoolKey, now: NIODeadline) -> [Connection] {
        guard capacity > 0 else { return [connection] }
        entries[key, default: []].append(Entry(connection: connection, releasedAt: now))
        count += 1
        var evicted: [Connection] = []
        while count > capacity, let oldest = oldestKey() {
            evicted.append(entries[oldest]!.removeFirst().connection)
            if entries[oldest]!.isEmpty { entries[oldest] = nil }
            count -= 1
        }
        return evicted
    }

    /// Forgets a connection (it closed by itself).
    mutating func remove(_ connection: Connection, key: PoolKey) {
        guard var list = entries[key], let index = list.firstIndex(where: { $0.connection === connection }) else { return }
        list.remove(at: index)
        count -= 1
        entries[key] = list.isEmpty ? nil : list
    }

    /// Retires every connection that has been idle longer than the life time.
    mutating func expire(now: NIODeadline) -> [Connection] {
        guard lifeTime > .zero else { return [] }
        var expired: [Connection] = []
        for (key, list) in entries {
            let keep = list.filter { !isExpired($0, now: now) }
            if keep.count != list.count {
                expired += list.filter { isExpired($0, now: now) }.map(\.connection)
                count -= list.count - keep.count
                entries[key] = keep.isEmpty ? nil : keep
            }
        }
        return expired
    }

    /// How many idle connections each node has.
    func countsByNode() -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for (key, list) in entries { counts[key.nodeID, default: 0] += list.count }
        return counts
    }

    /// Removes the connections to node `nodeID`, returning them to close.
    mutating func drain(node nodeID: Int) -> [Connection] {
        var removed: [Connection] = []
        for (key, list) in entries where key.nodeID == nodeID {
            removed += list.map(\.connection)
            entries[key] = nil
        }
        count -= removed.count
        return removed
    }

    /// Empties the cache, returning everything to close.
    mutating func drain() -> [Connection] {
        let all = entries.values.flatMap { $0.map(\.connection) }
        entries.removeAll()
        count = 0
        return all
    }

    private func isExpired(_ entry: Entry, now: NIODeadline) -> Bool {
        lifeTime > .zero && now - entry.releasedAt >= lifeTime
    }

    private func oldestKey() -> PoolKey? {
        entries.min(by: { $0.value[0].releasedAt < $1.value[0].releasedAt })?.key
    }
}
