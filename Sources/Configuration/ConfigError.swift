/// A configuration problem that stops SwiftPool from starting (or a reload from being applied).
///
/// The description names the file, the line when there is one, and the parameter, in the form an
/// operator can jump to: `pgpool.conf:12: invalid value for parameter "port": "abc" (expected …)`.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem this is.
    public enum Kind: Sendable, Equatable {
        /// The file could not be opened or read.
        case unreadableFile
        /// The text does not follow the file's syntax.
        case syntax
        /// A parameter has a value of the wrong type or outside its range.
        case invalidValue
        /// The file asks for something SwiftPool does not do (a clustering mode, an auth method).
        case unsupported
        /// A line of pool_passwd, pool_hba.conf or pcp.conf is malformed.
        case malformedEntry
    }

    /// What kind of problem this is.
    public var kind: Kind
    /// The file as it was named to the loader.
    public var file: String
    /// The 1-based line number, when the problem belongs to one line.
    public var line: Int?
    /// The parameter involved, when there is one (as written in the file).
    public var parameter: String?
    /// The message without the `file:line:` prefix.
    public var message: String

    /// Creates an error; `message` must not repeat the file and line.
    public init(kind: Kind, file: String, line: Int? = nil, parameter: String? = nil, message: String) {
        self.kind = kind
        self.file = file
        self.line = line
        self.parameter = parameter
        self.message = message
    }

    /// `file:line: message`, or `file: message` when the problem is not tied to a line.
    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

extension ConfigError {
    static func syntax(file: String, line: Int, near token: String) -> ConfigError {
        ConfigError(kind: .syntax, file: file, line: line, message: "syntax error near \"\(token)\"")
    }

    static func invalidValue(
        file: String, line: Int, parameter: String, value: String, expected: String
    ) -> ConfigError {
        ConfigError(
            kind: .invalidValue, file: file, line: line, parameter: parameter,
            message: "invalid value for parameter \"\(parameter)\": \"\(value)\" (expected \(expected))")
    }

    static func unreadable(file: String, what: String, reason: String) -> ConfigError {
        ConfigError(kind: .unreadableFile, file: file, message: "could not read \(what): \(reason)")
    }
}
