import Configuration
import Proxy
import Routing

/// pgpool.conf's load-balancing parameters turned into the routing policy's settings.
enum RoutingConfig {
    static func make(_ config: PoolConfig, file: String) throws -> RoutingConfiguration? {
        guard config.loadBalanceMode else { return nil }
        var settings = RoutingSettings()
        settings.loadBalanceMode = true
        settings.statementLevelLoadBalance = config.statementLevelLoadBalance
        settings.writeStickiness = WriteStickiness(rawValue: config.disableLoadBalanceOnWrite.rawValue) ?? .transaction
        settings.allowSQLComments = bool(config, "allow_sql_comments") ?? false
        settings.ignoreLeadingWhiteSpace = bool(config, "ignore_leading_white_space") ?? true
        settings.checkUnloggedTable = bool(config, "check_unlogged_table") ?? true
        settings.preferLowerDelayStandby = config.streamingReplicationCheck.preferLowerDelayStandby
        settings.readYourWrites = bool(config, "read_your_writes") ?? false
        if case .integer(let wait)? = config.typedValue("read_your_writes_wait") { settings.readYourWritesWait = Int(wait) }
        if case .integer(let period)? = config.typedValue("read_your_writes_check_period") {
            settings.readYourWritesCheckPeriod = Int(period)
        }
        switch config.typedValue("check_temp_table") {
        case .string(let mode)?: settings.checkTempTable = TempTableCheck(rawValue: mode.lowercased()) ?? (mode == "off" ? .none : .catalog)
        case .bool(let on)?: settings.checkTempTable = on ? .catalog : .none
        default: break
        }
        settings.primaryRoutingQueryPatterns = list(config, "primary_routing_query_pattern_list")
        settings.writeFunctionPatterns = list(config, "write_function_list")
        settings.readOnlyFunctionPatterns = list(config, "read_only_function_list")
        settings.dmlAdaptiveRelationships = RoutingSettings.relationships(
            from: config.value("dml_adaptive_object_relationship_list") ?? "")
        var selector = LoadBalanceSelector()
        selector.databaseRedirects = try redirects(config, "database_redirect_preference_list", file: file)
        selector.applicationNameRedirects = try redirects(config, "app_name_redirect_preference_list", file: file)
        return RoutingConfiguration(settings: settings, selector: selector)
    }

    private static func bool(_ config: PoolConfig, _ name: String) -> Bool? {
        if case .bool(let value)? = config.typedValue(name) { return value }
        return nil
    }

    private static func list(_ config: PoolConfig, _ name: String) -> [String] {
        switch config.typedValue(name) {
        case .list(let items)?: return items
        case .string(let text)?: return text.isEmpty ? [] : [text]
        default: return []
        }
    }

    private static func redirects(_ config: PoolConfig, _ name: String, file: String) throws -> RedirectPreferenceList? {
        guard let text = config.value(name), !text.isEmpty else { return nil }
        do {
            return try RedirectPreferenceList(text)
        } catch {
            let line = config.settings[name].map { ":\($0.line)" } ?? ""
            throw StartupError("\(file)\(line): invalid value for parameter \"\(name)\": \(error.description)")
        }
    }
}
