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
        guard nodes.contains(where: \.isUp) else { return nil }
        let primary = nodes.first(where: { $0.isUp && $0.isPrimary })?.id
        // The application name list wins over the database list.
        let preference = applicationName.flatMap { applicationNameRedirects?.match($0) } ?? databaseRedirects?.match(database)
        if let preference {
            let draw = Double.random(in: 0...1, using: &random)
            switch preference.target {
            case .standby:
                if draw > preference.ratio { return primary ?? weightedPick(nodes, using: &random) { _ in true } }
                return weightedPick(nodes, using: &random) { !$0.isPrimary } ?? primary
            case .primary:
                if let primary, draw <= preference.ratio { return primary }
                return weightedPick(nodes, using: &random) { $0.id != primary } ?? primary
            case .node(let id):
                if nodes.contains(where: { $0.id == id && $0.isUp }), draw <= preference.ratio { return id }
                return weightedPick(nodes, using: &random) { $0.id != id } ?? primary
            }
        }
        return weightedPick(nodes, using: &random) { _ in true } ?? primary ?? nodes.first(where: \.isUp)?.id
    }

    /// prefer_lower_delay_standby: the standby (up, weight above zero) with the least replication
    /// delay, by a weighted draw when several have the same delay, as Pgpool-II picks it. A node
    /// whose delay is not known counts as the most delayed. Nil when no standby can take reads.
    public func leastDelayed<R: RandomNumberGenerator>(
        among nodes: [Candidate], delay: (Int) -> Double?, using random: inout R
    ) -> Int? {
        var least = Double.infinity
        var any = false
        for node in nodes where node.isUp && node.weight > 0 && !node.isPrimary {
            any = true
            least = min(least, delay(node.id) ?? .infinity)
        }
        guard any else { return nil }
        return weightedPick(nodes, using: &random) { !$0.isPrimary && (delay($0.id) ?? .infinity) == least }
    }

    /// A draw proportional to the weights among the up nodes `include` accepts; nil when their
    /// weights are all zero. No allocation: this runs per statement with statement-level balancing.
    func weightedPick<R: RandomNumberGenerator>(
        _ nodes: [Candidate], using random: inout R, include: (Candidate) -> Bool
    ) -> Int? {
        var total = 0.0
        for node in nodes where node.isUp && node.weight > 0 && include(node) { total += node.weight }
        guard total > 0 else { return nil }
        var point = Double.random(in: 0..<total, using: &random)
        var last: Int?
        for node in nodes where node.isUp && node.weight > 0 && include(node) {
            if point < node.weight { return node.id }
            point -= node.weight
            last = node.id
        }
        return last
    }
}
