/// Removals for the short per-message lists (actions, messages, leases, queued replies), which
/// are emptied or shortened several times per transaction. The standard library's
/// `removeAll(keepingCapacity:)` and `removeFirst()` go through the general `replaceSubrange`,
/// about 150 instructions even for one element, and `removeFirst()` copies the element first.
extension Array {
    /// Removes every element and keeps the storage, as `removeAll(keepingCapacity: true)` does,
    /// element by element from the end. Meant for a list one owner holds: storage shared with
    /// another copy is copied before the first removal.
    mutating func removeAllKeepingCapacity() {
        while popLast() != nil {}
    }

    /// Removes and returns the first element, moved out rather than copied.
    @discardableResult
    mutating func takeFirst() -> Element {
        remove(at: 0)
    }
}
