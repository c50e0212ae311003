/// `COPY`, `EXPLAIN`, `LOCK`, `TRUNCATE`, `LISTEN`/`UNLISTEN`/`NOTIFY`.
extension StatementClassifier {
    /// `COPY table [(cols)] FROM|TO …` and `COPY (query) TO …`.
    ///
    /// `FROM` goes to the primary. `TO` is a read when it copies a table or a `SELECT`, and a
    /// select query (load-balanceable) only when it goes to the client (`STDOUT`). A query that
    /// itself writes (locking clause, data-modifying `WITH`) or is not a `SELECT` keeps the
    /// statement on the primary.
    func classifyCopy() -> StatementClassification {
        var i = view.lowerBound + 1
        if view.isWord(i, "binary") { i += 1 }
        var query: StatementClassification?
        var table: QualifiedName?
        if view.isKind(i, .leftParen) {
            let close = view.matchingParen(i)
            query = classifyInner((i + 1)..<close)
            i = close + 1
        } else if let found = qualifiedName(at: i) {
            table = found.name
            i = found.next
            if view.isKind(i, .leftParen) { i = view.matchingParen(i) + 1 }
        } else {
            return unknown()
        }
        let direction: CopyStatement.Direction
        if view.isWord(i, "from") {
            direction = .from
        } else if view.isWord(i, "to") {
            direction = .to
        } else {
            return unknown()
        }
        i += 1
        let endpoint: CopyStatement.Endpoint
        if view.isWord(i, "stdin") || view.isWord(i, "stdout") {
            endpoint = .client
        } else if view.isWord(i, "program") {
            endpoint = .program
        } else {
            endpoint = .file
        }

        var result = primary(.copy(CopyStatement(direction: direction, endpoint: endpoint, query: query)))
        if direction == .to {
            if let query {
                if query.kind == .select, query.destination == .either {
                    result.destination = .either
                    result.isSelectQuery = endpoint == .client
                }
            } else {
                result.destination = .either
                result.isSelectQuery = endpoint == .client
            }
        }
        if let table {
            result.relations.append(table)
            if direction == .from { result.writtenRelations.append(table) }
        }
        if let query { result.adoptNames(of: query) }
        return result
    }

    /// `EXPLAIN [ANALYZE] [VERBOSE] statement` and `EXPLAIN (options) statement`.
    ///
    /// Pgpool-II's `send_to_where` has no rule for `EXPLAIN`, so it goes to the primary; its
    /// `is_select_query` still counts it as a read for the writing-transaction bookkeeping.
    func classifyExplain() -> StatementClassification {
        var i = view.lowerBound + 1
        var analyze = false
        while view.contains(i) {
            if view.isKind(i, .leftParen) {
                let close = view.matchingParen(i)
                var option = i + 1
                while option < close {
                    if view.isWord(option, "analyze") || view.isWord(option, "analyse") { analyze = true }
                    // Skip the option's value to the next top-level comma.
                    var k = option
                    while k < close, !view.isKind(k, .comma) {
                        if view.isKind(k, .leftParen) { k = view.matchingParen(k) }
                        k += 1
                    }
                    option = k + 1
                }
                i = close + 1
            } else if view.isWord(i, "analyze") || view.isWord(i, "analyse") {
                analyze = true
                i += 1
            } else if view.isWord(i, "verbose") {
                i += 1
            } else {
                break
            }
        }
        // An unclosed option list leaves `i` one past the end.
        let inner = classifyInner(min(i, view.upperBound)..<view.upperBound)
        var result = primary(.explain(analyze: analyze, statement: inner))
        result.isSelectQuery = inner.kind == .select || !analyze
        result.adoptNames(of: inner)
        return result
    }

    /// `LOCK [TABLE] [ONLY] name [*] [, …] [IN mode MODE] [NOWAIT]`: modes weaker than
    /// `ROW EXCLUSIVE` go to both nodes, the others to the primary.
    func classifyLock() -> StatementClassification {
        var i = view.lowerBound + 1
        if view.isWord(i, "table") { i += 1 }
        var tables: [QualifiedName] = []
        while view.contains(i) {
            if view.isWord(i, "only") { i += 1 }
            guard !view.isWord(i, "in"), !view.isWord(i, "nowait"), let found = qualifiedName(at: i) else { break }
            tables.appendNew(found.name)
            i = found.next
            if view.isOperator(i, ASCII.star) { i += 1 }
            guard view.isKind(i, .comma) else { break }
            i += 1
        }
        var mode = LockMode.accessExclusive
        if view.isWord(i, "in") { mode = lockMode(from: i + 1) }
        var result = StatementClassification(
            kind: .lock(mode), destination: mode >= .rowExclusive ? .primary : .both)
        result.relations = tables
        return result
    }

    private func lockMode(from i: Int) -> LockMode {
        if view.isWord(i, "access") {
            return view.isWord(i + 1, "share") ? .accessShare : .accessExclusive
        }
        if view.isWord(i, "row") {
            if view.isWord(i + 1, "share") { return .rowShare }
            return .rowExclusive
        }
        if view.isWord(i, "share") {
            if view.isWord(i + 1, "update") { return .shareUpdateExclusive }
            if view.isWord(i + 1, "row") { return .shareRowExclusive }
            return .share
        }
        if view.isWord(i, "exclusive") { return .exclusive }
        return .accessExclusive
    }

    /// `TRUNCATE [TABLE] [ONLY] name [*] [, …] …`.
    func classifyTruncate() -> StatementClassification {
        var i = skipping(["table"], from: view.lowerBound + 1)
        var result = primary(.truncate)
        while view.contains(i) {
            if view.isWord(i, "only") { i += 1 }
            guard let found = qualifiedName(at: i) else { break }
            result.relations.appendNew(found.name)
            result.writtenRelations.appendNew(found.name)
            i = found.next
            if view.isOperator(i, ASCII.star) { i += 1 }
            guard view.isKind(i, .comma) else { break }
            i += 1
        }
        return result
    }

    /// `LISTEN channel`.
    func classifyListen() -> StatementClassification {
        guard let channel = simpleName(at: view.lowerBound + 1) else { return unknown() }
        return primary(.listen(channel: channel))
    }

    /// `UNLISTEN channel` or `UNLISTEN *`.
    func classifyUnlisten() -> StatementClassification {
        let i = view.lowerBound + 1
        if view.isOperator(i, ASCII.star) { return primary(.unlisten(channel: nil)) }
        guard let channel = simpleName(at: i) else { return unknown() }
        return primary(.unlisten(channel: channel))
    }

    /// `NOTIFY channel [, 'payload']`.
    func classifyNotify() -> StatementClassification {
        guard let channel = simpleName(at: view.lowerBound + 1) else { return unknown() }
        return primary(.notify(channel: channel))
    }
}

extension StatementClassification {
    /// Takes over the function calls and relations of an inner statement.
    mutating func adoptNames(of inner: StatementClassification) {
        functionCalls.appendNew(inner.functionCalls)
        relations.appendNew(inner.relations)
        writtenRelations.appendNew(inner.writtenRelations)
    }
}
