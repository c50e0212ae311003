import Logging
import Subprocess

/// Runs an operator's shell command (failover_command and the like) with `/bin/sh -c`, puts
/// every line it prints in the log, and kills its whole process group when it runs past the
/// timeout. A command that fails or hangs is reported, never fatal.
public struct CommandRunner: Sendable {
    /// How a command ended.
    public enum Outcome: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
        case couldNotStart(String)

        public var succeeded: Bool { self == .exited(0) }
    }

    public var timeout: Duration
    public var logger: Logger

    public init(timeout: Duration, logger: Logger) {
        self.timeout = timeout
        self.logger = logger
    }

    /// Runs `command`; `label` names it in the log (e.g. `failover_command`). `environment`
    /// is added to SwiftPool's own.
    public func run(_ command: String, label: String, environment: [String: String] = [:]) async -> Outcome {
        logger.warning("running \(label)", metadata: ["command": "\(command)"])
        var options = PlatformOptions()
        options.processGroupID = 0
        let limit = timeout
        let log = logger
        let added = Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), Optional($0.value)) })
        do {
            let result = try await Subprocess.run(
                .path("/bin/sh"), arguments: ["-c", command],
                environment: .inherit.updating(added), platformOptions: options,
                input: .none, output: .sequence, error: .combinedWithOutput
            ) { execution in
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        for try await line in execution.standardOutput.strings() {
                            log.warning("\(label): \(line.trimmingTrailingNewline())")
                        }
                        return true
                    }
                    group.addTask {
                        try await Task.sleep(for: limit)
                        return false
                    }
                    let finished = try await group.next() ?? true
                    if !finished { try? execution.send(signal: .kill, toProcessGroup: true) }
                    group.cancelAll()
                    return finished
                }
            }
            let outcome: Outcome
            if !result.closureResult {
                outcome = .timedOut
            } else {
                switch result.terminationStatus {
                case .exited(let code): outcome = .exited(Int32(code))
                case .signaled(let signal): outcome = .signalled(Int32(signal))
                }
            }
            report(outcome, label: label)
            return outcome
        } catch {
            let outcome = Outcome.couldNotStart("\(error)")
            report(outcome, label: label)
            return outcome
        }
    }

    private func report(_ outcome: Outcome, label: String) {
        switch outcome {
        case .exited(0): logger.warning("\(label) finished")
        case .exited(let code): logger.error("\(label) failed", metadata: ["exit_code": "\(code)"])
        case .signalled(let signal): logger.error("\(label) was killed", metadata: ["signal": "\(signal)"])
        case .timedOut: logger.error("\(label) did not finish in time and was killed", metadata: ["timeout": "\(timeout)"])
        case .couldNotStart(let error): logger.error("\(label) could not be started", metadata: ["error": "\(error)"])
        }
    }
}

extension String {
    func trimmingTrailingNewline() -> String {
        var text = self
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return text
    }
}
