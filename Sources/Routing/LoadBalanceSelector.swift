/// Picks a session's load-balance node the way Pgpool-II does: a weighted random draw among the
/// nodes that are up and have a weight above zero, steered by the redirect preference lists.
/// Pure: the caller passes the nodes and the random source.
public struct LoadBalanceSelector: Sendable {
    /// What the selector needs to know about a node.
    public struct Candidate: Sendable, Equatable {
        public var id: Int
        public var weight: Double
        public var isUp: Bool
        public var isPrimary: Bool

        public init(id: Int, weight: Double, isUp: Bool, isPrimary: Bool) {
            self.id = id
            self.weight = weight
            self.isUp = isUp
            self.isPrimary = isPrimary
        }
    }

    public var databaseRedirects: RedirectPreferenceList?
    public var applicationNameRedirects: RedirectPreferenceList?

    public init(databaseRedirects: RedirectPreferenceList? = nil, applicationNameRedirects: RedirectPreferenceList? = nil) {
        self.databaseRedirects = databaseRedirects
        self.applicationNameRedirects = applicationNameRedirects
    }

    /// The node for a session of `database` / `applicationName` (both from the startup packet).
    /// Falls back to the primary when no node can take reads; nil when no node is up at all.
    public func select<R: RandomNumberGenerator>(
        among nodes: [Candidate], database: String, applicationName: String?, using random: inout R
    ) -> Int? {
        let up = nodes.filter(\.isUp)
        guard !up.isEmpty else { return nil }
        let primary = up.first(where: \.isPrimary)?.id
        // The application name list wins over the database list.
        let preference = applicationName.flatMap { applicationNameRedirects?.match($0) } ?? databaseRedirects?.match(database)
        if let preference {
            let draw = Double.random(in: 0...1, using: &random)
            switch preference.target {
            case .standby:
                if draw > preference.ratio { return primary ?? weightedPick(up, using: &random) }
                return weightedPick(up.filter { !$0.isPrimary }, using: &random) ?? primary
            case .primary:
                if let primary, draw <= preference.ratio { return primary }
                return weightedPick(up.filter { $0.id != primary }, using: &random) ?? primary
            case .node(let id):
                if up.contains(where: { $0.id == id }), draw <= preference.ratio { return id }
                return weightedPick(up.filter { $0.id != id }, using: &random) ?? primary
            }
        }
        return weightedPick(up, using: &random) ?? primary ?? up.first?.id
    }

    /// A draw proportional to the weights; nil when every weight is zero.
    func weightedPick<R: RandomNumberGenerator>(_ nodes: [Candidate], using random: inout R) -> Int? {
        let eligible = nodes.filter { $0.weight > 0 }
        let total = eligible.reduce(0) { $0 + $1.weight }
        guard total > 0 else { return nil }
        var point = Double.random(in: 0..<total, using: &random)
        for node in eligible {
            if point < node.weight { return node.id }
            point -= node.weight
        }
        return eligible.last?.id
    }
}
