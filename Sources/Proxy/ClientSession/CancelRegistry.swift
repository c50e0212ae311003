import NIOConcurrencyHelpers
import PostgresWire

/// Maps the BackendKeyData SwiftPool gave its clients to their sessions, so that a
/// CancelRequest reaches the session it names; the session, on its own event loop, sends it on
/// to the backend that runs its query (see ``CancelRoute``).
///
/// The registry's lock is taken when a session starts and ends and when a cancel request
/// arrives; nothing of a unit of work takes it.
public final class CancelRegistry: Sendable {
    /// One session's cancel key and how a cancel reaches it.
    final class Registration: Sendable {
        let key: BackendKey
        /// Hands a cancel request to the session (which hops to its event loop).
        let deliver: @Sendable () -> Void

        fileprivate init(key: BackendKey, deliver: @escaping @Sendable () -> Void) {
            self.key = key
            self.deliver = deliver
        }
    }

    private struct State {
        var registrations: [BackendKey: Registration] = [:]
        var nextProcessID: Int32 = 1
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// A fresh key for a new client session; `deliver` is called for each cancel request that
    /// names it.
    func register(deliver: @escaping @Sendable () -> Void) -> Registration {
        state.withLockedValue { state in
            var key: BackendKey
            repeat {
                key = BackendKey(processID: state.nextProcessID, secretKey: Int32.random(in: Int32.min...Int32.max))
                state.nextProcessID = state.nextProcessID == Int32.max ? 1 : state.nextProcessID + 1
            } while state.registrations[key] != nil
            let registration = Registration(key: key, deliver: deliver)
            state.registrations[key] = registration
            return registration
        }
    }

    func unregister(_ registration: Registration) {
        state.withLockedValue { state in
            if state.registrations[registration.key] === registration { state.registrations[registration.key] = nil }
        }
    }

    public var count: Int { state.withLockedValue { $0.registrations.count } }

    /// Hands a cancel for `key` to its session. Unknown keys are ignored, as PostgreSQL does.
    func cancel(_ key: BackendKey) {
        state.withLockedValue { $0.registrations[key] }?.deliver()
    }
}
