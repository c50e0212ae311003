import PostgresWire
import Routing

extension DispatchMachine {
    /// A statement an extended batch parses, as the batch leaves it.
    struct ParsedStatement {
        var name: String
        /// The Parse sent (a refusal in its place when pinning is refused).
        var parse: RawMessage
        var query: QueryClassification
        var routed: RoutedQuery
        /// Transaction mode: what the statement does to the session (empty when refused).
        var effects: [SessionEffect]
        /// Closed later in the batch (and not parsed again): gone at its end.
        var closed = false
    }

    /// A statement of an earlier batch that an extended batch binds, describes or closes, with
    /// what the batch's routing reads of its placement (looked up once per mention: a name
    /// hashes at each look-up, and a placement copied retains all it holds).
    struct UsedStatement {
        var name: String
        /// Where the statement was routed; nil when it is not known.
        var decision: RouteDecision?
        /// The nodes it is prepared on; nil when it is not known.
        var nodes: Set<Int>?

        init(name: String, decision: RouteDecision?, nodes: Set<Int>?) {
            self.name = name
            self.decision = decision
            self.nodes = nodes
        }

        /// The statement `name` as `placements` have it.
        init(_ name: String, in placements: [String: StatementPlacement]) {
            let placement = placements[name]
            self.init(name: name, decision: placement?.routed.decision, nodes: placement?.nodes)
        }
    }


    /// What an extended batch parses, by name, the last Parse of a name in place of an earlier
    /// one. A short list searched in order (a batch parses one or two statements, and
    /// dictionaries built per batch cost more than the search), indexed by name once it holds
    /// more than a few, so that a batch of thousands of statements is not searched quadratically.
    struct ParsedInBatch {
        private(set) var statements: [ParsedStatement] = []
        private var positions: [String: Int]?

        /// Where the statement parsed under `name` is in ``statements``.
        func find(_ name: String) -> Int? {
            if let positions { return positions[name] }
            return statements.isEmpty ? nil : statements.firstIndex { $0.name == name }
        }

        /// A Parse: replaces an earlier one of the same name (closed or not).
        mutating func record(_ parsed: ParsedStatement) {
            if let position = find(parsed.name) {
                statements[position] = parsed
                return
            }
            statements.append(parsed)
            if positions != nil {
                positions![parsed.name] = statements.count - 1
            } else if statements.count > 8 {
                positions = Dictionary(uniqueKeysWithValues: statements.indices.map { (statements[$0].name, $0) })
            }
        }

        /// A Close: the statement is gone at the batch's end, though the batch's later messages
        /// still find it (PostgreSQL answers them with an error, on the batch's nodes).
        mutating func close(_ name: String) {
            if let position = find(name) { statements[position].closed = true }
        }
    }
}

extension [DispatchMachine.UsedStatement] {
    /// The batch changed where `name` goes (a BOTH statement bound again): so do its mentions so far.
    mutating func retarget(_ name: String, to decision: RouteDecision) {
        for index in indices where self[index].name == name { self[index].decision = decision }
    }

    /// The batch dropped the placement of `name` (a Parse too large to hold took the name): its
    /// mentions so far find none, as later ones do.
    mutating func forget(_ name: String) {
        for index in indices where self[index].name == name {
            self[index].decision = nil
            self[index].nodes = nil
        }
    }
}
