@testable import Proxy
import Testing

/// The cheap removals the per-message lists use behave as the standard library's.
@Suite("Array removals")
struct ArrayRemovalTests {
    /// An element whose live instances are counted: emptying a list must release every one.
    final class Tracked {
        nonisolated(unsafe) static var alive = 0
        let value: Int
        init(_ value: Int) { self.value = value; Self.alive += 1 }
        deinit { Self.alive -= 1 }
    }

    @Test func removeAllKeepingCapacityEmptiesAndKeepsTheStorage() {
        var list = (0..<5).map(Tracked.init)
        let capacity = list.capacity
        #expect(Tracked.alive == 5)
        list.removeAllKeepingCapacity()
        #expect(list.isEmpty)
        #expect(list.capacity == capacity)
        #expect(Tracked.alive == 0)
        list.append(Tracked(7))
        #expect(list.map(\.value) == [7])

        var empty: [Int] = []
        empty.removeAllKeepingCapacity()
        #expect(empty.isEmpty)
    }

    @Test func removeAllKeepingCapacityLeavesAnotherCopyAlone() {
        var list = [1, 2, 3]
        let shared = list
        list.removeAllKeepingCapacity()
        #expect(list.isEmpty)
        #expect(shared == [1, 2, 3])
    }

    @Test func takeFirstReturnsTheHeadInOrder() {
        var queue = [10, 20, 30]
        #expect(queue.takeFirst() == 10)
        #expect(queue == [20, 30])
        #expect(queue.takeFirst() == 20)
        #expect(queue.takeFirst() == 30)
        #expect(queue.isEmpty)
    }
}
