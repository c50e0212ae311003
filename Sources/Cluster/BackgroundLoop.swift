import NIOConcurrencyHelpers

/// A background task that a reload replaces: starting it cancels the one running.
final class BackgroundLoop: Sendable {
    private let task = NIOLockedValueBox<Task<Void, Never>?>(nil)

    /// Cancels the running task, if any, and runs `body` in a new one.
    func start(_ body: @escaping @Sendable () async -> Void) {
        stop()
        task.withLockedValue { $0 = Task { await body() } }
    }

    /// Cancels the running task, if any.
    func stop() {
        task.withLockedValue {
            $0?.cancel()
            $0 = nil
        }
    }
}
