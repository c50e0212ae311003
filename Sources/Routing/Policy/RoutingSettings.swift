/// `disable_load_balance_on_write`: what a write does to later reads of the session.
public enum WriteStickiness: String, Sendable, CaseIterable {
    case off
    case transaction
    case transTransaction = "trans_transaction"
    case always
    case dmlAdaptive = "dml_adaptive"
}

/// `check_temp_table`: how SwiftPool learns that a table is temporary.
public enum TempTableCheck: String, Sendable {
    /// Ask the catalog (through ``CatalogFacts``).
    case catalog
    /// Follow the session's own `CREATE TEMP` / `DROP` statements.
    case trace
    case none
}

/// The routing parameters of pgpool.conf, parsed.
public struct RoutingSettings: Sendable {
    public var loadBalanceMode = true
    public var statementLevelLoadBalance = false
    public var writeStickiness = WriteStickiness.transaction
    /// `dml_adaptive_object_relationship_list`: a write to the key also marks the values.
    public var dmlAdaptiveRelationships: [String: [String]] = [:]
    public var allowSQLComments = false
    public var ignoreLeadingWhiteSpace = true
    /// `primary_routing_query_pattern_list`: regular expressions matched against the whole query.
    public var primaryRoutingQueryPatternList: PatternList = []
    /// `write_function_list` / `read_only_function_list` (mutually exclusive; both empty means
    /// "ask pg_proc for the volatility").
    public var writeFunctionPatternList: PatternList = []
    public var readOnlyFunctionPatternList: PatternList = []
    public var checkTempTable = TempTableCheck.catalog
    public var checkUnloggedTable = true
    /// `prefer_lower_delay_standby`: when the load-balance node lags (or went down), reads go to
    /// another standby instead of the primary.
    public var preferLowerDelayStandby = false
    /// `read_your_writes` (SwiftPool): once a session's write commits, its reads go only to
    /// standbys that have replayed it, else to the primary.
    public var readYourWrites = false
    /// `read_your_writes_wait` (milliseconds): how long a read waits for a standby to replay the
    /// session's write before it goes to the primary; 0 does not wait.
    public var readYourWritesWait = 0
    /// `read_your_writes_check_period` (milliseconds): how often a waiting read looks again.
    public var readYourWritesCheckPeriod = 50

    public init() {}

    /// The pattern lists as written; setting one compiles it (once, not per statement).
    public var primaryRoutingQueryPatterns: [String] {
        get { primaryRoutingQueryPatternList.patterns }
        set { primaryRoutingQueryPatternList = PatternList(newValue) }
    }

    public var writeFunctionPatterns: [String] {
        get { writeFunctionPatternList.patterns }
        set { writeFunctionPatternList = PatternList(newValue) }
    }

    public var readOnlyFunctionPatterns: [String] {
        get { readOnlyFunctionPatternList.patterns }
        set { readOnlyFunctionPatternList = PatternList(newValue) }
    }

    /// Parses `dml_adaptive_object_relationship_list` (`'t1:t2,f1():t3'`): a write to the left
    /// object (a table, or a function written with `()`) also marks the right one.
    public static func relationships(from text: String) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":", maxSplits: 1).map { part in
                let name = part.trimmingSpaces()
                return name.hasSuffix("()") ? name : name.lowercased()
            }
            guard parts.count == 2 else { continue }
            result[parts[0], default: []].append(parts[1])
        }
        return result
    }
}

/// What SwiftPool has learned from the catalog (cached lookups). Nil means "not known yet"; the
/// policy then plays safe and sends the statement to the primary.
public protocol CatalogFacts {
    func isSystemCatalog(_ relation: QualifiedName) -> Bool?
    func isTemporary(_ relation: QualifiedName) -> Bool?
    func isUnlogged(_ relation: QualifiedName) -> Bool?
    /// `pg_proc.provolatile = 'v'`.
    func isVolatile(_ function: QualifiedName) -> Bool?
}
