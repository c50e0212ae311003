import Testing
@testable import Proxy

/// The places of `transaction_pool_size` shared by the event loops: never more than the capacity
/// held, a place given back goes to the loop that wanted longest, and loops above their fair
/// share give places up while another loop wants.
@Suite("Transaction pool places")
struct PlaceLedgerTests {
    /// Takes `count` places for `loop`; how many it got.
    static func acquire(_ ledger: inout PlaceLedger, _ count: Int, node: Int = 0, loop: Int) -> Int {
        (0..<count).filter { _ in ledger.acquire(node: node, loop: loop, beyondShare: true) }.count
    }

    @Test func noMoreThanTheCapacityIsHeldWhateverTheNumberOfLoops() {
        var ledger = PlaceLedger(capacity: 2)
        let three = Self.acquire(&ledger, 1, loop: 3), one = Self.acquire(&ledger, 1, loop: 1)
        #expect(three == 1 && one == 1)
        let beyond = (0..<4).map { Self.acquire(&ledger, 1, loop: $0) }
        #expect(beyond == [0, 0, 0, 0] && ledger.free(node: 0) == 0)
        // Each node has its own places.
        let other = Self.acquire(&ledger, 1, node: 5, loop: 0)
        #expect(other == 1 && ledger.free(node: 5) == 1)
        // A place given back with nobody wanting is free again.
        let grants = ledger.release(node: 0, loop: 3, count: 1)
        #expect(grants.isEmpty && ledger.free(node: 0) == 1)
        let again = Self.acquire(&ledger, 1, loop: 2)
        #expect(again == 1)
        // More given back than held counts what was held.
        let overGiven = ledger.release(node: 0, loop: 2, count: 5)
        #expect(overGiven.isEmpty && ledger.held(node: 0, loop: 2) == 0 && ledger.free(node: 0) == 1)
    }

    @Test func withinItsShareALoopTakesAFreePlaceAtOnceAndBeyondItOnlyAfterAWait() {
        var ledger = PlaceLedger(capacity: 5)
        ledger.loops = 2
        #expect(ledger.share == 3)
        let within = (0..<4).map { _ in ledger.acquire(node: 0, loop: 0, beyondShare: false) }
        #expect(within == [true, true, true, false])
        let beyond = ledger.acquire(node: 0, loop: 0, beyondShare: true)
        let last = ledger.acquire(node: 0, loop: 1, beyondShare: false)
        let full = ledger.acquire(node: 0, loop: 1, beyondShare: false)
        #expect(beyond && last && !full, "loop 1 gets the last place, then finds every place held")
        // Fewer places than loops: each loop's share is one.
        var small = PlaceLedger(capacity: 2)
        small.loops = 8
        #expect(small.share == 1)
        let first = small.acquire(node: 0, loop: 5, beyondShare: false)
        let second = small.acquire(node: 0, loop: 5, beyondShare: false)
        #expect(first && !second)
    }

    @Test func aPlaceGivenBackGoesToTheLoopThatWantedLongestThenToTheNext() {
        var ledger = PlaceLedger(capacity: 1)
        _ = Self.acquire(&ledger, 1, loop: 0)
        let first = ledger.want(node: 0, loop: 2, waiting: 1)
        #expect(first.granted.isEmpty && first.holders == [0])
        let second = ledger.want(node: 0, loop: 1, waiting: 1)
        #expect(second.granted.isEmpty && second.holders == [0])
        #expect(ledger.isWanted(node: 0))
        _ = ledger.want(node: 0, loop: 1, waiting: 4)
        let elsewhere = ledger.wantedElsewhere(node: 0, loop: 0), besidesOne = ledger.wantedElsewhere(node: 0, loop: 1)
        #expect(elsewhere == 5 && besidesOne == 1, "loop 2 wants one, loop 1 four")
        let toTwo = ledger.release(node: 0, loop: 0, count: 1)
        #expect(toTwo == [2])
        // Loop 2 got one and went to the back of the line: the next place is loop 1's.
        let toOne = ledger.release(node: 0, loop: 2, count: 1)
        #expect(toOne == [1])
        ledger.satisfied(node: 0, loop: 1)
        ledger.satisfied(node: 0, loop: 2)
        #expect(!ledger.isWanted(node: 0))
        let toNobody = ledger.release(node: 0, loop: 1, count: 1)
        #expect(toNobody.isEmpty && ledger.free(node: 0) == 1)
    }

    @Test func aLoopThatWantsWhenAPlaceHasJustBeenFreedGetsItAtOnce() {
        var ledger = PlaceLedger(capacity: 1)
        _ = Self.acquire(&ledger, 1, loop: 0)
        // Loop 1 looked while the place was held; loop 0 gives it back before loop 1 says it wants.
        let released = ledger.release(node: 0, loop: 0, count: 1)
        let decision = ledger.want(node: 0, loop: 1, waiting: 1)
        #expect(released.isEmpty && decision.granted == [1] && decision.holders.isEmpty)
        #expect(ledger.held(node: 0, loop: 1) == 1)
    }

    @Test func aLoopAboveItsFairShareGivesUpWhatAWantingLoopLacks() {
        var ledger = PlaceLedger(capacity: 20)
        let taken = Self.acquire(&ledger, 21, loop: 0)
        #expect(taken == 20)
        // Nobody wants: nothing to give up.
        let unwanted = ledger.giveUp(node: 0, loop: 0)
        #expect(unwanted == 0)
        _ = ledger.want(node: 0, loop: 1, waiting: 1)
        let promised = ledger.giveUp(node: 0, loop: 0)
        // Promised already: not promised again.
        let again = ledger.giveUp(node: 0, loop: 0)
        #expect(promised == 10 && again == 0)
        let grants = ledger.release(node: 0, loop: 0, count: 10)
        #expect(grants == Array(repeating: 1, count: 10))
        #expect(ledger.held(node: 0, loop: 0) == 10 && ledger.held(node: 0, loop: 1) == 10)
        // Both busy at their fair share: nothing moves either way.
        _ = ledger.want(node: 0, loop: 0, waiting: 1)
        let fromZero = ledger.giveUp(node: 0, loop: 0), fromOne = ledger.giveUp(node: 0, loop: 1)
        #expect(fromZero == 0 && fromOne == 0)
    }

    @Test func aCapacityBelowTheLoopsMovesBetweenWantingLoops() {
        var ledger = PlaceLedger(capacity: 1)
        _ = Self.acquire(&ledger, 1, loop: 0)
        _ = ledger.want(node: 0, loop: 0, waiting: 1)
        _ = ledger.want(node: 0, loop: 1, waiting: 1)
        // The fair share is 0; loop 1 holds nothing, so it lacks one.
        let fromZero = ledger.giveUp(node: 0, loop: 0), fromOne = ledger.giveUp(node: 0, loop: 1)
        #expect(fromZero == 1 && fromOne == 0)
        let toOne = ledger.release(node: 0, loop: 0, count: 1)
        #expect(toOne == [1])
        // Now the other way round.
        let back = ledger.giveUp(node: 0, loop: 1)
        let toZero = ledger.release(node: 0, loop: 1, count: 1)
        #expect(back == 1 && toZero == [0])
    }

    @Test func aLowerCapacityIsGivenBackAndAHigherOneGoesToWantingLoops() {
        var ledger = PlaceLedger(capacity: 4)
        _ = Self.acquire(&ledger, 3, loop: 0)
        _ = Self.acquire(&ledger, 1, loop: 1)
        let lowered = ledger.setCapacity(2)
        // Two too many: the first loop to sweep gives them up.
        let fromZero = ledger.giveUp(node: 0, loop: 0), fromOne = ledger.giveUp(node: 0, loop: 1)
        #expect(lowered.isEmpty && fromZero == 2 && fromOne == 0)
        let released = ledger.release(node: 0, loop: 0, count: 2)
        #expect(released.isEmpty && ledger.free(node: 0) == 0)
        _ = ledger.want(node: 0, loop: 1, waiting: 1)
        let grants = ledger.setCapacity(4)
        #expect(grants.count == 2 && grants.allSatisfy { $0.node == 0 && $0.loop == 1 })
        #expect(ledger.held(node: 0, loop: 1) == 3)
    }
}
