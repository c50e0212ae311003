/// `SELECT`, `VALUES`, `TABLE`, `WITH` and the DML statements.
extension StatementClassifier {
    /// A query statement: its main command decides the kind; a `SELECT` is a write when it has
    /// `INTO`, a locking clause or a data-modifying `WITH`.
    func classifyQuery() -> StatementClassification {
        let shape = QueryShape.of(view, from: view.lowerBound)
        let main = shape.mainIndex
        var result: StatementClassification
        if view.isWord(main, "insert") {
            result = primary(.insert)
        } else if view.isWord(main, "update") {
            result = primary(.update)
        } else if view.isWord(main, "delete") {
            result = primary(.delete)
        } else if view.isWord(main, "merge") {
            result = primary(.merge)
        } else if view.isWord(main, "select") || view.isWord(main, "values") || view.isWord(main, "table") {
            result = StatementClassification(kind: .select, destination: .either)
            result.hasSelectInto = hasSelectInto()
            result.hasLockingClause = hasLockingClause()
            if result.hasSelectInto || result.hasLockingClause || shape.hasDataModifyingCTE {
                result.destination = .primary
            } else {
                result.isSelectQuery = true
            }
        } else {
            return unknown()
        }
        result.hasDataModifyingCTE = shape.hasDataModifyingCTE
        return withNames(consume result)
    }

    /// `FOR UPDATE`, `FOR NO KEY UPDATE`, `FOR SHARE` or `FOR KEY SHARE` anywhere.
    func hasLockingClause() -> Bool {
        for i in view.range where view.isWord(i, "for") {
            if view.isWord(i + 1, "update") || view.isWord(i + 1, "share") { return true }
            if view.isWord(i + 1, "no"), view.isWord(i + 2, "key"), view.isWord(i + 3, "update") { return true }
            if view.isWord(i + 1, "key"), view.isWord(i + 2, "share") { return true }
        }
        return false
    }

    /// An `INTO` that is not `INSERT INTO` or `MERGE INTO`: a `SELECT … INTO`.
    func hasSelectInto() -> Bool {
        for i in view.range where view.isWord(i, "into") {
            if !view.isWord(i - 1, "insert"), !view.isWord(i - 1, "merge") { return true }
        }
        return false
    }
}

/// Where the main command of a query is, past parentheses and `WITH` lists, and whether one
/// of its `WITH` queries modifies data.
struct QueryShape {
    /// Index of the main command's first word (`select`, `insert` …), or past the end.
    var mainIndex: Int
    /// A `WITH` query is an `INSERT`, `UPDATE`, `DELETE` or `MERGE`.
    var hasDataModifyingCTE: Bool

    static func of(_ view: TokenView, from start: Int) -> QueryShape {
        var i = start
        var modifying = false
        while view.isKind(i, .leftParen) { i += 1 }
        if view.isWord(i, "with") {
            i = skipWithList(view, from: i, modifying: &modifying)
            while view.isKind(i, .leftParen) { i += 1 }
        }
        return QueryShape(mainIndex: i, hasDataModifyingCTE: modifying)
    }

    static func isDataModifying(_ view: TokenView, _ index: Int) -> Bool {
        view.isWord(index, "insert") || view.isWord(index, "update") || view.isWord(index, "delete")
            || view.isWord(index, "merge")
    }

    /// Skips `WITH [RECURSIVE] name [(cols)] AS [[NOT] MATERIALIZED] (query) [SEARCH …] [CYCLE …], …`
    /// and returns the index of what follows.
    private static func skipWithList(_ view: TokenView, from start: Int, modifying: inout Bool) -> Int {
        var i = start + 1
        if view.isWord(i, "recursive") { i += 1 }
        while view.isName(i) {
            i += 1
            if view.isKind(i, .leftParen) { i = view.matchingParen(i) + 1 }
            guard view.isWord(i, "as") else { return i }
            i += 1
            if view.isWord(i, "not") { i += 1 }
            if view.isWord(i, "materialized") { i += 1 }
            guard view.isKind(i, .leftParen) else { return i }
            let close = view.matchingParen(i)
            let body = QueryShape.of(view.restricted(to: (i + 1)..<close), from: i + 1)
            if body.hasDataModifyingCTE || isDataModifying(view, body.mainIndex) { modifying = true }
            i = close + 1
            // SEARCH … SET … / CYCLE … USING … clauses, then `,` or the main statement.
            while view.contains(i), !view.isKind(i, .comma), !startsMainStatement(view, i) { i += 1 }
            guard view.isKind(i, .comma) else { return i }
            i += 1
        }
        return i
    }

    private static func startsMainStatement(_ view: TokenView, _ index: Int) -> Bool {
        view.isKind(index, .leftParen) || view.isWord(index, "select") || view.isWord(index, "values")
            || view.isWord(index, "table") || isDataModifying(view, index)
    }
}
