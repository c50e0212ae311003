/// A parameter name from a configuration file, matched against the parameter table.
public struct ParameterReference: Sendable, Equatable, Hashable {
    /// The parameter's base name as the table spells it (`backend_hostname`).
    public var name: String
    /// The node number suffix, if the name had one (`0` for `backend_hostname0`).
    public var node: Int?

    /// Creates a reference.
    public init(name: String, node: Int? = nil) {
        self.name = name
        self.node = node
    }

    /// The canonical spelling: lower case, with the node number without leading zeros.
    public var key: String {
        let base = name.lowercased()
        if let node { return base + String(node) }
        return base
    }
}

extension ParameterTable {
    /// The outcome of matching a name against the table.
    public enum Resolution: Sendable, Equatable {
        /// A known parameter.
        case parameter(ParameterDefinition, ParameterReference)
        /// Neither Pgpool-II 4.3 nor SwiftPool knows the name.
        case unknown
        /// The name needs a node number suffix (`backend_hostname` alone).
        case missingNodeSuffix(ParameterDefinition)
        /// The node number suffix is outside 0…127.
        case nodeOutOfRange(ParameterDefinition, String)
    }

    private static let byName: [String: ParameterDefinition] = {
        var table: [String: ParameterDefinition] = [:]
        for definition in all { table[definition.name.lowercased()] = definition }
        return table
    }()

    /// The definition of a base name (no node suffix), compared without regard to case.
    public static func definition(named name: String) -> ParameterDefinition? {
        byName[name.lowercased()]
    }

    /// Matches a name as written in pgpool.conf; names are compared without regard to case.
    public static func resolve(_ name: String) -> Resolution {
        let lowered = name.lowercased()
        if let definition = byName[lowered] {
            if definition.nodeSuffix == .required { return .missingNodeSuffix(definition) }
            return .parameter(definition, ParameterReference(name: definition.name))
        }
        let digits = lowered.reversed().prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty else { return .unknown }
        let base = String(lowered.dropLast(digits.count))
        guard let definition = byName[base], definition.nodeSuffix != .none else { return .unknown }
        let suffix = String(digits.reversed())
        guard let node = Int(suffix), NodeSuffix.validRange.contains(node) else {
            return .nodeOutOfRange(definition, suffix)
        }
        return .parameter(definition, ParameterReference(name: definition.name, node: node))
    }
}
