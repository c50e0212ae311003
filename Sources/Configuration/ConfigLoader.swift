/// Reads a pgpool.conf into a `PoolConfig`, the way Pgpool-II 4.3 reads it.
///
/// - Unknown parameters give an `unrecognizedParameter` warning (with file and line) and are ignored.
/// - Parameters SwiftPool does not support yet give one `notSupportedYet` warning each when the
///   file sets them to something other than their default.
/// - Syntax errors, invalid values, a clustering mode other than streaming replication, and an
///   unreadable file throw a `ConfigError`.
public enum ConfigLoader {
    /// Reads and parses the file at `path`; relative paths inside it are resolved against its directory.
    public static func load(path: String) throws(ConfigError) -> LoadedConfig {
        let text = try readConfigText(path, what: "configuration file")
        return try parse(text: text, fileName: path, configDirectory: directoryOf(path))
    }

    /// Parses `text` as if it were the file `fileName`. Relative paths are resolved against
    /// `configDirectory`, by default the directory of `fileName`.
    public static func parse(
        text: String, fileName: String, configDirectory: String? = nil
    ) throws(ConfigError) -> LoadedConfig {
        let entries = try ConfigFileLexer.parse(text: text, fileName: fileName)
        var settings: [String: ConfigSetting] = [:]
        var diagnostics: [ConfigDiagnostic] = []
        for entry in entries {
            switch ParameterTable.resolve(entry.name) {
            case .unknown:
                diagnostics.append(
                    ConfigDiagnostic(
                        severity: .warning, kind: .unrecognizedParameter, file: fileName, line: entry.line,
                        parameter: entry.name, message: "unrecognized configuration parameter \"\(entry.name)\""))
            case .missingNodeSuffix(let definition):
                throw ConfigError(
                    kind: .invalidValue, file: fileName, line: entry.line, parameter: entry.name,
                    message: "parameter \"\(entry.name)\" needs a node number, e.g. \(definition.name)0")
            case .nodeOutOfRange(let definition, let suffix):
                throw ConfigError(
                    kind: .invalidValue, file: fileName, line: entry.line, parameter: entry.name,
                    message: "node number \(suffix) of parameter \"\(entry.name)\" is outside the valid range "
                        + "\(NodeSuffix.validRange.lowerBound) .. \(NodeSuffix.validRange.upperBound) "
                        + "(\(definition.name)0 … \(definition.name)\(NodeSuffix.validRange.upperBound))")
            case .parameter(let definition, let reference):
                guard let value = ValueParser.parse(entry.value, as: definition) else {
                    throw ConfigError.invalidValue(
                        file: fileName, line: entry.line, parameter: entry.name, value: entry.value,
                        expected: ValueParser.expectation(for: definition))
                }
                settings[reference.key] = ConfigSetting(
                    reference: reference, writtenName: entry.name, rawValue: entry.value, value: value,
                    line: entry.line)
            }
        }
        var builder = PoolConfigBuilder(
            settings: settings, fileName: fileName, configDirectory: configDirectory ?? directoryOf(fileName))
        let config = try builder.build()
        diagnostics += builder.diagnostics
        diagnostics += notSupportedDiagnostics(settings, fileName: fileName)
        return LoadedConfig(config: config, diagnostics: sortedByLine(diagnostics))
    }

    /// One diagnostic per unimplemented parameter (a node family counts once) that the file sets
    /// to something other than its default.
    static func notSupportedDiagnostics(_ settings: [String: ConfigSetting], fileName: String) -> [ConfigDiagnostic] {
        var firstByName: [String: ConfigSetting] = [:]
        for setting in settings.values {
            guard let definition = ParameterTable.definition(named: setting.reference.name),
                !definition.implemented,
                setting.value != ValueParser.parse(definition.defaultValue, as: definition)
            else { continue }
            let name = definition.name
            if let first = firstByName[name], first.line <= setting.line { continue }
            firstByName[name] = setting
        }
        return firstByName.values.map { setting in
            ConfigDiagnostic(
                severity: .warning, kind: .notSupportedYet, file: fileName, line: setting.line,
                parameter: setting.writtenName,
                message: "parameter \"\(setting.writtenName)\" is not supported yet; its setting is ignored")
        }
    }

    static func sortedByLine(_ diagnostics: [ConfigDiagnostic]) -> [ConfigDiagnostic] {
        diagnostics.enumerated().sorted { lhs, rhs in
            let left = lhs.element.line ?? Int.max
            let right = rhs.element.line ?? Int.max
            return left != right ? left < right : lhs.offset < rhs.offset
        }.map(\.element)
    }
}
