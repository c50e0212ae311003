import NIOConcurrencyHelpers
import Testing

@testable import Cluster

@Suite struct PrimaryGateTests {
    @Test func anOpenGateKeepsNoWaiter() {
        let gate = PrimaryGate()
        let called = NIOLockedValueBox(0)
        #expect(gate.whenOpen { called.withLockedValue { $0 += 1 } } == nil)
        gate.open()
        #expect(called.withLockedValue { $0 } == 0)
    }

    @Test func waitersAreCalledOnceWhenItOpens() {
        let gate = PrimaryGate()
        gate.close()
        #expect(gate.isClosed)
        let called = NIOLockedValueBox<[Int]>([])
        let first = gate.whenOpen { called.withLockedValue { $0.append(1) } }
        let second = gate.whenOpen { called.withLockedValue { $0.append(2) } }
        #expect(first != nil && second != nil && first != second)
        gate.open()
        #expect(!gate.isClosed)
        #expect(called.withLockedValue { $0.sorted() } == [1, 2])
        gate.close()
        gate.open()
        #expect(called.withLockedValue { $0.count } == 2, "a waiter is called once")
    }

    @Test func aCancelledWaiterIsNotCalled() throws {
        let gate = PrimaryGate()
        gate.close()
        let called = NIOLockedValueBox(false)
        let ticket = try #require(gate.whenOpen { called.withLockedValue { $0 = true } })
        gate.cancel(ticket)
        gate.open()
        #expect(!called.withLockedValue { $0 })
    }
}
