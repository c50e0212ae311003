import NIOConcurrencyHelpers
import PostgresWire
import Testing
@testable import Proxy

/// The cancel keys SwiftPool hands out, the session a cancel for each reaches, and where the
/// session sends it.
@Suite("Cancel registry")
struct CancelRegistryTests {
    @Test func eachKeyReachesItsOwnSessionAndAnEndedOneIsForgotten() {
        let registry = CancelRegistry()
        let delivered = NIOLockedValueBox<[String]>([])
        let first = registry.register { delivered.withLockedValue { $0.append("first") } }
        let second = registry.register { delivered.withLockedValue { $0.append("second") } }
        #expect(first.key != second.key)
        #expect(registry.count == 2)
        registry.cancel(second.key)
        registry.cancel(first.key)
        #expect(delivered.withLockedValue { $0 } == ["second", "first"])
        registry.unregister(second)
        #expect(registry.count == 1)
        registry.cancel(second.key)
        // An unknown key (a guessed one) reaches nobody.
        registry.cancel(BackendKey(processID: first.key.processID, secretKey: first.key.secretKey &+ 1))
        #expect(delivered.withLockedValue { $0 } == ["second", "first"])
        // Unregistering twice is harmless and leaves the other session registered.
        registry.unregister(second)
        #expect(registry.count == 1)
    }

    @Test func aCancelWhileNothingRunsIsIgnored() {
        var route = CancelRoute()
        #expect(route.cancelRequested() == nil)
        // The ignored cancel is not kept for the next unit of work.
        route.unitAwaitsBackend()
        #expect(route.backendRuns(node: 0) == false)
    }

    @Test func aCancelReachesTheNodeThatRunsTheQueryUntilTheUnitEnds() {
        var route = CancelRoute()
        #expect(route.backendRuns(node: 0) == false)
        #expect(route.cancelRequested() == 0)
        // Reads move to a standby: cancels follow.
        #expect(route.backendRuns(node: 2) == false)
        #expect(route.cancelRequested() == 2)
        route.unitEnded()
        #expect(route.cancelRequested() == nil)
    }

    @Test func aCancelWhileTheUnitWaitsForItsConnectionIsSentOnceItRuns() {
        var route = CancelRoute()
        route.unitAwaitsBackend()
        #expect(route.cancelRequested() == nil)
        // A second cancel while waiting is the same one.
        #expect(route.cancelRequested() == nil)
        #expect(route.backendRuns(node: 1) == true)
        #expect(route.state == .backend(node: 1))
        // Sent once: the next node the unit moves to does not get it again.
        #expect(route.backendRuns(node: 0) == false)
        route.unitEnded()
        route.unitAwaitsBackend()
        #expect(route.backendRuns(node: 0) == false)
    }

    @Test func aUnitThatAlreadyRunsKeepsItsNodeWhenItLeasesAnother() {
        var route = CancelRoute()
        _ = route.backendRuns(node: 0)
        route.unitAwaitsBackend()
        #expect(route.cancelRequested() == 0)
    }
}
