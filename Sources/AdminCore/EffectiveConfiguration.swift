import Configuration

/// The configuration as the admin surfaces show it: every parameter's value, secrets replaced by
/// `********` (an empty secret stays empty, so operators see that it is unset).
public enum EffectiveConfiguration {
    public static let redacted = "********"

    /// Every parameter's value (per node for node parameters), secrets redacted.
    public static func values(_ config: PoolConfig) -> [String: String] {
        var values: [String: String] = [:]
        for definition in ParameterTable.all {
            switch definition.nodeSuffix {
            case .none:
                values[definition.name] = config.value(definition.name)
            case .optional:
                values[definition.name] = config.value(definition.name)
                for backend in config.backends { values["\(definition.name)\(backend.index)"] = config.value("\(definition.name)\(backend.index)") }
            case .required:
                guard definition.name.hasPrefix("backend_") else { continue }
                for backend in config.backends { values["\(definition.name)\(backend.index)"] = config.value("\(definition.name)\(backend.index)") }
            }
        }
        for key in values.keys where ParameterDefinition.isSecret(key) && !(values[key] ?? "").isEmpty { values[key] = redacted }
        return values
    }

    /// One parameter's value as shown: `override` (a session's own value) or the configured one,
    /// redacted when it is a secret that is set.
    public static func value(_ name: String, in config: PoolConfig, override: String? = nil) -> String {
        if ParameterDefinition.isSecret(name), !(config.value(name) ?? "").isEmpty { return redacted }
        return override ?? config.value(name) ?? ""
    }
}
