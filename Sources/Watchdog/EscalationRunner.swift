import Cluster
import Configuration
import Logging

/// Runs the escalation and de-escalation commands (`wd_escalation_command`, `if_up_cmd`,
/// `arping_cmd`; `wd_de_escalation_command`, `if_down_cmd`) one batch at a time, in the order
/// asked, for whichever coordination back end decides that this member leads.
public struct EscalationRunner: Sendable {
    private let settings: EscalationSettings
    private let commandTimeout: Duration
    private let logger: Logger
    private let label: String

    /// - Parameter label: the log prefix (`watchdog`, `etcd`).
    public init(settings: EscalationSettings, commandTimeout: Duration, logger: Logger, label: String) {
        self.settings = settings
        self.commandTimeout = commandTimeout
        self.logger = logger
        self.label = label
    }

    /// Starts the batch after `previous` and returns its task; callers keep it as the next
    /// `previous`, so batches never overlap.
    public func run(escalation: Bool, after previous: Task<Void, Never>?) -> Task<Void, Never> {
        let steps = settings.steps(escalation: escalation)
        let runner = CommandRunner(timeout: commandTimeout, logger: logger)
        let logger = self.logger
        let label = self.label
        let ip = settings.delegateIP
        return Task {
            await previous?.value
            for step in steps {
                let outcome = await runner.run(step.command, label: step.label)
                if !outcome.succeeded { logger.error("\(label): \(step.label) failed: \(outcome)") }
            }
            if !ip.isEmpty { logger.warning("\(label): virtual IP \(ip) is \(escalation ? "up on this member" : "released")") }
        }
    }
}
