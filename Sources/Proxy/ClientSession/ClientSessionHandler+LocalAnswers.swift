import NIOCore
import PostgresWire

/// Computes the answers to SwiftPool's own SQL commands (see ``ClientSessionMachine``'s local
/// answers) with the admin services, off the event loop.
extension ClientSessionHandler {
    func answerAdmin(_ batch: [RawMessage], commands: [AdminCommand], loadBalanceNode: Int?, overrides: [String: String]) {
        guard let service = runtime.adminCommands, let context else { return }
        let loop = NIOLoopBound(self, eventLoop: context.eventLoop)
        Task {
            var answers: [(AdminCommand, AdminCommandAnswer)] = []
            for command in commands {
                answers.append((command, await service.answer(command, loadBalanceNode: loadBalanceNode, overrides: overrides)))
            }
            let computed = answers
            loop.eventLoop.execute {
                let handler = loop.value
                let status = handler.primaryConnection?.tracker.transactionStatus ?? .idle
                handler.run { machine, env, actions in
                    machine.adminAnswered(batch, answers: computed, status: status, &env, into: &actions)
                }
            }
        }
    }
}
