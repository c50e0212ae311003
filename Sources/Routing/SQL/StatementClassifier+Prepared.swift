/// SQL-level prepared statements and cursors: `PREPARE`, `EXECUTE`, `DEALLOCATE`, `DECLARE`,
/// `FETCH`, `MOVE`, `CLOSE`.
extension StatementClassifier {
    /// `PREPARE name [(types)] AS statement`, classified as its inner statement (Pgpool-II
    /// recurses), but never a select query: Pgpool-II's `is_select_query` is false for it.
    /// `PREPARE TRANSACTION 'gid'` is two-phase commit.
    func classifyPrepare() -> StatementClassification {
        if let twoPhase = classifyPrepareTransaction() { return twoPhase }
        var i = view.lowerBound + 1
        guard let name = simpleName(at: i) else { return unknown() }
        i += 1
        if view.isKind(i, .leftParen) { i = view.matchingParen(i) + 1 }
        guard view.isWord(i, "as") else { return unknown() }
        let inner = classifyInner((i + 1)..<view.upperBound)
        var result = StatementClassification(
            kind: .prepare(name: name, statement: inner), destination: inner.destination)
        result.hasSelectInto = inner.hasSelectInto
        result.hasLockingClause = inner.hasLockingClause
        result.hasDataModifyingCTE = inner.hasDataModifyingCTE
        result.adoptNames(of: inner)
        return result
    }

    /// `EXECUTE name [(params)]`: goes where `name` was prepared; to the primary when unknown.
    func classifyExecute() -> StatementClassification {
        guard let name = simpleName(at: view.lowerBound + 1) else { return unknown() }
        return withNames(primary(.execute(name: name)))
    }

    /// `DEALLOCATE [PREPARE] name | ALL`: goes where `name` was prepared; to both nodes for
    /// `ALL` or an unknown name (Pgpool-II's `where_to_send_deallocate`).
    func classifyDeallocate() -> StatementClassification {
        var i = view.lowerBound + 1
        if view.isWord(i, "prepare"), view.isName(i + 1) { i += 1 }
        if view.isWord(i, "all") { return both(.deallocate(name: nil)) }
        guard let name = simpleName(at: i) else { return unknown() }
        return both(.deallocate(name: name))
    }

    /// `DECLARE name [BINARY] [ASENSITIVE | INSENSITIVE] [[NO] SCROLL] CURSOR [WITH[OUT] HOLD]
    /// FOR query`: to the primary, as in Pgpool-II; the query's classification is kept for a
    /// policy that balances cursors over reads.
    func classifyDeclare() -> StatementClassification {
        let i = view.lowerBound + 1
        guard let name = simpleName(at: i) else { return unknown() }
        var k = i + 1
        while view.contains(k), !view.isWord(k, "cursor") { k += 1 }
        while view.contains(k), !view.isWord(k, "for") { k += 1 }
        guard view.contains(k) else { return unknown() }
        let inner = classifyInner((k + 1)..<view.upperBound)
        var result = primary(.declareCursor(name: name, statement: inner))
        result.hasSelectInto = inner.hasSelectInto
        result.hasLockingClause = inner.hasLockingClause
        result.hasDataModifyingCTE = inner.hasDataModifyingCTE
        result.adoptNames(of: inner)
        return result
    }

    /// `FETCH [direction] [FROM | IN] cursor` and `MOVE …`: the cursor is the last name.
    func classifyCursorCommand() -> StatementClassification {
        let last = view.upperBound - 1
        guard last > view.lowerBound, let cursor = simpleName(at: last) else { return unknown() }
        let isFetch = view.isWord(view.lowerBound, "fetch")
        return primary(isFetch ? .fetch(cursor: cursor) : .move(cursor: cursor))
    }

    /// `CLOSE cursor` or `CLOSE ALL`.
    func classifyClose() -> StatementClassification {
        let i = view.lowerBound + 1
        if view.isWord(i, "all") { return primary(.close(cursor: nil)) }
        guard let cursor = simpleName(at: i) else { return unknown() }
        return primary(.close(cursor: cursor))
    }
}
