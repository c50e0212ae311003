/// What a reload would change: which changed parameters take effect now and which only after a
/// restart (those keep their old value, as in Pgpool-II, and should be logged).
public struct ReloadPlan: Sendable, Equatable {
    /// Changed parameters that a reload applies, by canonical name (`backend_weight2`).
    public var reloadable: [String]
    /// Changed parameters that need a restart; a reload keeps their old values.
    public var restartRequired: [String]

    /// Creates a plan.
    public init(reloadable: [String], restartRequired: [String]) {
        self.reloadable = reloadable
        self.restartRequired = restartRequired
    }

    /// Whether anything changed at all.
    public var isEmpty: Bool { reloadable.isEmpty && restartRequired.isEmpty }

    /// Compares the effective values (set or default) of every parameter of `old` and `new`.
    ///
    /// Values are compared after parsing, so `300` and `5min` are the same. Besides the parameters
    /// whose context is `restart`, changing the host or port of a node that `old` already had is
    /// restart-only (Pgpool-II refuses it while the node is attached); adding nodes, and changing
    /// their weight, flags, data directory or application name, is reloadable.
    public init(from old: PoolConfig, to new: PoolConfig) {
        var reloadable: [String] = []
        var restart: [String] = []
        let keys = Set(old.settings.keys).union(new.settings.keys)
        for key in keys.sorted() {
            guard old.typedValue(key) != new.typedValue(key),
                case .parameter(let definition, let reference) = ParameterTable.resolve(key)
            else { continue }
            if definition.context == .restart {
                restart.append(key)
            } else if let node = reference.node,
                definition.name == "backend_hostname" || definition.name == "backend_port",
                old.backend(node) != nil
            {
                restart.append(key)
            } else {
                reloadable.append(key)
            }
        }
        self.init(reloadable: reloadable, restartRequired: restart)
    }
}
