import NIOCore

extension CircularBuffer {
    /// Removes the element at `index`: the first one (a queue served in order, the usual case)
    /// without the general removal's checks and shifting.
    @discardableResult
    mutating func removeFast(at index: Index) -> Element {
        index == startIndex ? removeFirst() : remove(at: index)
    }
}
