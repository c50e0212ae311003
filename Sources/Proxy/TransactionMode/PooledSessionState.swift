/// The server-session state a transaction-mode client has built up, as SwiftPool follows it:
/// the `SET` values in effect (replayed on whichever connection the client gets next) and what
/// pins the client to its connection. Effects of a statement count once its ReadyForQuery says
/// it succeeded; inside a transaction they wait for its end, and a rollback drops them.
struct PooledSessionState: Equatable {
    /// `SET` statements in effect, one per parameter, in the order first set.
    private(set) var settings: SessionSettings = SessionSettings()
    /// Why the client keeps its connection (empty: it is given back between transactions).
    private(set) var pins: Set<PinReason> = []
    /// Effects of the open transaction, applied at its commit.
    private var pending: [SessionEffect] = []
    private var transactionFailed = false
    /// What became of the `DEALLOCATE ALL` or `DISCARD ALL` answered since the last
    /// ``takeDeallocation()``.
    private var deallocation: Deallocation = .none

    enum Deallocation: Equatable {
        case none
        /// It ran: the client's protocol-level statements are gone.
        case held
        /// Its statement group failed: it may not have run (DISCARD ALL in a transaction block,
        /// anything in an aborted transaction), so the client keeps its statements.
        case failed
    }

    var isPinned: Bool { !pins.isEmpty }

    /// Pins the client for a reason seen outside its statements' effects; true when new.
    mutating func pin(_ reason: PinReason) -> Bool { pins.insert(reason).inserted }

    /// A statement group (a Query, or an extended batch up to its Sync) answered with
    /// ReadyForQuery `status`; `failed`: an error came with it.
    /// Returns the pins it added (for the metrics).
    @discardableResult
    mutating func completed(_ effects: [SessionEffect], status: TransactionStatusView, failed: Bool) -> [PinReason] {
        var added: [PinReason] = []
        // Pins count at once, whatever the outcome: a session-level advisory lock taken in a
        // transaction that fails stays taken. Pinning too often is only slower.
        for case .pin(let reason) in effects where pins.insert(reason).inserted { added.append(reason) }
        // Prepared statements are not transactional: a DEALLOCATE ALL holds even when its
        // transaction rolls back. In a group that failed it may have run or not; keeping the
        // client's statements then errs on the side that works (they are prepared again).
        if effects.contains(.deallocateAll) || effects.contains(.discardAll) {
            deallocation = failed && deallocation != .held ? .failed : .held
        }
        if failed {
            if status == .idle {
                // An implicit transaction (or the commit) failed: nothing of it or before it stays.
                pending.removeAll()
                transactionFailed = false
            } else {
                transactionFailed = true
            }
            return added
        }
        var failedBefore = transactionFailed
        for effect in effects {
            switch effect {
            case .commit:
                // COMMIT (AND CHAIN too) ends the transaction: its effects count unless it had
                // failed, when COMMIT is a rollback.
                if !failedBefore { for pending in pending { apply(pending) } }
                pending.removeAll()
                failedBefore = false
            case .rollback:
                pending.removeAll()
                failedBefore = false
            case .rollbackToSavepoint:
                // The transaction goes on (recovered if it had failed); which of its SETs
                // survived depends on where the savepoint was.
                failedBefore = false
                if pending.contains(where: \.changesSettings), pins.insert(.savepointRollback).inserted {
                    added.append(.savepointRollback)
                }
            case .pin, .deallocateAll: break
            default: pending.append(effect)
            }
        }
        transactionFailed = status == .failed
        guard status == .idle else { return added }
        // Outside a transaction: statements that ran in their own implicit transaction.
        for effect in pending { apply(effect) }
        pending.removeAll()
        return added
    }

    /// What became of a deallocation of protocol-level statements since the last call.
    mutating func takeDeallocation() -> Deallocation {
        defer { deallocation = .none }
        return deallocation
    }

    private mutating func apply(_ effect: SessionEffect) {
        switch effect {
        case .set(let parameter, let text): settings.set(parameter, text)
        case .reset(let parameter): settings.reset(parameter)
        case .resetAll: settings = SessionSettings()
        case .discardAll:
            settings = SessionSettings()
            // A loaded library stays loaded: that pin lasts until the connection closes.
            pins = pins.intersection([.load])
        case .pin, .deallocateAll, .begin, .commit, .rollback, .rollbackToSavepoint: break
        }
    }
}

/// ReadyForQuery's transaction status, as the pooled state needs it.
enum TransactionStatusView: Equatable {
    case idle, inTransaction, failed
}

/// Session-level `SET` values, one statement per parameter, in the order first set.
struct SessionSettings: Equatable {
    private(set) var statements: [(parameter: String, text: String)] = []

    static func == (lhs: SessionSettings, rhs: SessionSettings) -> Bool {
        lhs.statements.elementsEqual(rhs.statements) { $0.parameter == $1.parameter && $0.text == $1.text }
    }

    var isEmpty: Bool { statements.isEmpty }

    mutating func set(_ parameter: String, _ text: String) {
        if let index = statements.firstIndex(where: { $0.parameter == parameter }) {
            statements[index].text = text
        } else {
            statements.append((parameter, text))
        }
    }

    mutating func reset(_ parameter: String) {
        statements.removeAll { $0.parameter == parameter }
    }

    /// What brings a connection whose settings are `current` (nil: not known) to these: nil when
    /// nothing is needed, else `RESET ALL` and the `SET` statements.
    func replay(from current: SessionSettings?) -> String? {
        if let current, current == self { return nil }
        return (["RESET ALL"] + statements.map(\.text)).joined(separator: "; ")
    }
}

extension SessionEffect {
    var changesSettings: Bool {
        switch self {
        case .set, .reset, .resetAll, .discardAll: return true
        default: return false
        }
    }
}
