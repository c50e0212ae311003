/// A bounded map that keeps what was used recently, in two generations of at most `generationSize`
/// entries: a key is looked up in the current generation, then in the previous one (and moved
/// up); when the current one is full it becomes the previous one and the oldest is dropped.
/// Cheaper per look-up than an exact LRU list, and as good for a working set that fits.
struct RecentlyUsed<Key: Hashable, Value> {
    let generationSize: Int
    private var current: [Key: Value] = [:]
    private var previous: [Key: Value] = [:]

    init(generationSize: Int) {
        self.generationSize = max(1, generationSize)
    }

    /// Entries kept now.
    var count: Int { current.count + previous.count }

    /// The value of `key`, moved up to the current generation when found in the previous one
    /// (under the key it was kept with: an equal key may hold more, such as scratch space).
    mutating func value(for key: Key) -> Value? {
        if let found = current[key] { return found }
        guard let index = previous.index(forKey: key) else { return nil }
        let (kept, found) = previous.remove(at: index)
        keep(found, for: kept)
        return found
    }

    /// Keeps `value` for `key` in the current generation.
    mutating func keep(_ value: Value, for key: Key) {
        if current.count >= generationSize {
            // The previous generation goes; its storage is reused for the next one.
            swap(&previous, &current)
            current.removeAll(keepingCapacity: true)
        }
        current[key] = value
    }
}
