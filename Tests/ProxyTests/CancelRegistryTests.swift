import PostgresWire
import Testing
@testable import Proxy

/// The cancel keys SwiftPool hands out and where a cancel for each goes.
@Suite("Cancel registry")
struct CancelRegistryTests {
    let primary = BackendNode(id: 0, host: "127.0.0.1", port: 5432)
    let standby = BackendNode(id: 1, host: "127.0.0.1", port: 5433)

    @Test func eachSessionMovesItsOwnTargetAndAnEndedOneIsForgotten() {
        let registry = CancelRegistry()
        let first = registry.register()
        let second = registry.register()
        #expect(first.key != second.key)
        #expect(registry.count == 2)
        // Registered, running nothing yet: a cancel goes nowhere.
        #expect(registry.target(for: first.key) == nil)
        first.setTarget(.init(node: primary, backendKey: BackendKey(processID: 100, secretKey: 1)))
        second.setTarget(.init(node: standby, backendKey: BackendKey(processID: 200, secretKey: 2)))
        #expect(registry.target(for: first.key)?.backendKey.processID == 100)
        #expect(registry.target(for: second.key)?.node.id == 1)
        // A unit of work ends: the first session's cancels go nowhere, the second's still reach
        // its backend.
        first.setTarget(nil)
        #expect(registry.target(for: first.key) == nil)
        #expect(registry.target(for: second.key)?.backendKey.processID == 200)
        registry.unregister(second)
        #expect(registry.count == 1)
        #expect(registry.target(for: second.key) == nil)
        // An unknown key (a guessed one) finds nothing.
        #expect(registry.target(for: BackendKey(processID: second.key.processID, secretKey: second.key.secretKey &+ 1)) == nil)
        // Unregistering twice is harmless and leaves the other session registered.
        registry.unregister(second)
        #expect(registry.count == 1)
    }
}
