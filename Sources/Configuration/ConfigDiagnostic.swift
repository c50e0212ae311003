/// A remark about a configuration file that does not stop SwiftPool: an unknown parameter, a
/// parameter SwiftPool does not support yet, an option it ignores.
///
/// Loaders return diagnostics instead of logging them, so the executable can log each one once.
public struct ConfigDiagnostic: Sendable, Equatable, CustomStringConvertible {
    /// How loudly the diagnostic should be logged.
    public enum Severity: String, Sendable, Equatable {
        /// Something the operator probably wants to fix.
        case warning
        /// Worth knowing; nothing is wrong.
        case notice
    }

    /// What the diagnostic is about.
    public enum Kind: String, Sendable, Equatable {
        /// The file sets a parameter that neither Pgpool-II 4.3 nor SwiftPool knows; it is ignored.
        case unrecognizedParameter
        /// The file sets a Pgpool-II parameter to a non-default value that SwiftPool ignores for now.
        case notSupportedYet
        /// The value is accepted but part of it (an option, a keyword) has no effect.
        case ignoredSetting
        /// Something about the layout of the file or its values deserves a look.
        case advice
    }

    /// How loudly the diagnostic should be logged.
    public var severity: Severity
    /// What the diagnostic is about.
    public var kind: Kind
    /// The file as it was named to the loader.
    public var file: String
    /// The 1-based line number, when the diagnostic belongs to one line.
    public var line: Int?
    /// The parameter involved, when there is one.
    public var parameter: String?
    /// The message without the `file:line:` prefix.
    public var message: String

    /// Creates a diagnostic; `message` must not repeat the file and line.
    public init(
        severity: Severity, kind: Kind, file: String, line: Int? = nil, parameter: String? = nil,
        message: String
    ) {
        self.severity = severity
        self.kind = kind
        self.file = file
        self.line = line
        self.parameter = parameter
        self.message = message
    }

    /// `file:line: message`, or `file: message` when not tied to a line.
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
