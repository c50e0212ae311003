import NIOConcurrencyHelpers
import NIOCore

/// The process-wide client slot limit (`num_init_children`), shared by every event loop.
public final class ClientAdmission: Sendable {
    /// What a waiting client is told.
    public enum Outcome: Sendable {
        case granted
        case refused
        case timedOut
    }

    private struct Waiter {
        var eventLoop: EventLoop
        var deliver: @Sendable (Outcome) -> Void
        var timeout: Scheduled<Void>?
    }

    private struct State {
        var slots: AdmissionState
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 1
    }

    private let state: NIOLockedValueBox<State>

    public init(capacity: Int, reserved: Int) {
        state = NIOLockedValueBox(State(slots: AdmissionState(capacity: capacity, reserved: reserved)))
    }

    public var activeCount: Int { state.withLockedValue { $0.slots.active } }
    public var waitingCount: Int { state.withLockedValue { $0.slots.waitingCount } }

    /// Asks for a slot. `deliver` runs on `eventLoop` exactly once, unless `cancel` is called
    /// with the returned id first. A granted slot must be given back with `release()`.
    @discardableResult
    public func acquire(
        on eventLoop: EventLoop, waitAtMost wait: TimeAmount,
        deliver: @escaping @Sendable (Outcome) -> Void
    ) -> UInt64 {
        let (id, decision) = state.withLockedValue { state -> (UInt64, AdmissionState.Decision) in
            let id = state.nextID
            state.nextID += 1
            let decision = state.slots.request(id)
            if decision == .queued {
                state.waiters[id] = Waiter(eventLoop: eventLoop, deliver: deliver, timeout: nil)
            }
            return (id, decision)
        }
        switch decision {
        case .granted:
            eventLoop.execute { deliver(.granted) }
        case .refused:
            eventLoop.execute { deliver(.refused) }
        case .queued:
            let timeout = eventLoop.scheduleTask(in: wait) { [self] in
                let waiter = state.withLockedValue { state -> Waiter? in
                    guard state.slots.withdraw(id) else { return nil }
                    return state.waiters.removeValue(forKey: id)
                }
                waiter?.deliver(.timedOut)
            }
            state.withLockedValue { state in
                if state.waiters[id] != nil { state.waiters[id]!.timeout = timeout } else { timeout.cancel() }
            }
        }
        return id
    }

    /// Withdraws a waiting request (the client went away). Returns true if it was still waiting;
    /// false means it was granted and the caller holds a slot to release.
    public func cancel(_ id: UInt64) -> Bool {
        let waiter = state.withLockedValue { state -> Waiter? in
            guard state.slots.withdraw(id) else { return nil }
            return state.waiters.removeValue(forKey: id)
        }
        waiter?.timeout?.cancel()
        return waiter != nil
    }

    /// Gives a slot back; the longest waiter, if any, gets it.
    public func release() {
        let next = state.withLockedValue { state -> Waiter? in
            guard let id = state.slots.release() else { return nil }
            return state.waiters.removeValue(forKey: id)
        }
        if let next { grant(next) }
    }

    /// Applies new limits after a reload.
    public func resize(capacity: Int, reserved: Int) {
        let granted = state.withLockedValue { state in
            state.slots.resize(capacity: capacity, reserved: reserved).compactMap { state.waiters.removeValue(forKey: $0) }
        }
        granted.forEach(grant)
    }

    private func grant(_ waiter: Waiter) {
        waiter.timeout?.cancel()
        waiter.eventLoop.execute { waiter.deliver(.granted) }
    }
}
