/// Finds, best effort, the functions a statement calls and the relations it names, in one pass
/// over its tokens.
///
/// - A function call is a possibly qualified name followed by `(`, unless the name is SQL
///   syntax rather than a function (`IN (`, `EXISTS (`, `COALESCE (`, type names …) or the
///   position says it is not a call: after `::` or `AS`, a table with a column list after
///   `INTO`, an alias with column names (`FROM f() AS t(a)`), a `WITH` query's column list.
/// - A relation is a name after `FROM` / `JOIN` / a comma in a `FROM` list / `USING` of a
///   query, after `INTO`, after a leading `UPDATE`, or after a leading `TABLE`. The targets of
///   `INSERT`, `UPDATE`, `DELETE`, `MERGE` and `SELECT INTO` are also written relations.
struct NameCollector {
    let view: TokenView
    private(set) var functions: [QualifiedName] = []
    private(set) var relations: [QualifiedName] = []
    private(set) var written: [QualifiedName] = []

    init(view: TokenView) { self.view = view }

    /// What the scan knows about one parenthesis level.
    private struct Level {
        /// A `SELECT`, `DELETE`, `UPDATE` or `MERGE` started at this level.
        var isQuery = false
        /// Inside a `FROM` list at this level.
        var inFromList = false
    }

    mutating func collect() {
        var levels = [Level()]
        /// The `(` that opens a parenthesized `FROM` item.
        var fromItemParen = -1
        var i = view.lowerBound
        while i < view.upperBound {
            switch view.tokens[i].kind {
            case .leftParen:
                recordCall(openingAt: i)
                var level = Level()
                if i == fromItemParen {
                    level.inFromList = true
                    fromItemParen = readFromItem(at: i + 1) ?? fromItemParen
                }
                levels.append(level)
            case .rightParen:
                if levels.count > 1 { levels.removeLast() }
            case .comma:
                if levels[levels.count - 1].inFromList { fromItemParen = readFromItem(at: i + 1) ?? fromItemParen }
            case .identifier:
                handleWord(at: i, level: &levels[levels.count - 1], fromItemParen: &fromItemParen)
            default:
                break
            }
            i += 1
        }
    }

    private mutating func handleWord(at i: Int, level: inout Level, fromItemParen: inout Int) {
        let token = view.tokens[i]
        switch token.length {
        case 4:
            if view.isWord(i, "from") {
                guard level.isQuery, !isDistinctFrom(i) else { return }
                level.inFromList = true
                if view.isWord(i - 1, "delete") {
                    readTarget(at: i + 1)
                } else {
                    fromItemParen = readFromItem(at: i + 1) ?? fromItemParen
                }
            } else if view.isWord(i, "join") {
                if level.inFromList { fromItemParen = readFromItem(at: i + 1) ?? fromItemParen }
            } else if view.isWord(i, "into") {
                if view.isWord(i - 1, "insert") || view.isWord(i - 1, "merge") || level.isQuery {
                    readTarget(at: i + 1)
                }
            }
        case 5:
            if view.isWord(i, "using") {
                if level.isQuery, view.isName(i + 1) {
                    level.inFromList = true
                    fromItemParen = readFromItem(at: i + 1) ?? fromItemParen
                }
            } else if view.isWord(i, "table") {
                if isCommandPosition(i), let found = view.qualifiedName(at: i + 1) {
                    relations.appendNew(found.name)
                }
            } else if view.isWord(i, "where") || view.isWord(i, "group") || view.isWord(i, "order")
                || view.isWord(i, "limit") || view.isWord(i, "fetch") || view.isWord(i, "union")
            {
                level.inFromList = false
            } else if view.isWord(i, "merge") {
                level.isQuery = true
            }
        case 6:
            if view.isWord(i, "select") {
                level.isQuery = true
                level.inFromList = false
            } else if view.isWord(i, "delete") {
                level.isQuery = true
            } else if view.isWord(i, "update") {
                if isCommandPosition(i) {
                    level.isQuery = true
                    readTarget(at: i + 1)
                }
            } else if view.isWord(i, "having") || view.isWord(i, "window") || view.isWord(i, "offset")
                || view.isWord(i, "except") || view.isWord(i, "values")
            {
                level.inFromList = false
            }
        case 3:
            if view.isWord(i, "for") || view.isWord(i, "set") { level.inFromList = false }
        case 9:
            if view.isWord(i, "intersect") || view.isWord(i, "returning") { level.inFromList = false }
        default:
            break
        }
    }

    /// At the start of the statement, of a parenthesized query, or right after a `WITH` list.
    private func isCommandPosition(_ i: Int) -> Bool {
        i == view.lowerBound || view.isKind(i - 1, .leftParen) || view.isKind(i - 1, .rightParen)
    }

    /// `IS [NOT] DISTINCT FROM` is an operator, not a `FROM` clause.
    private func isDistinctFrom(_ i: Int) -> Bool {
        view.isWord(i - 1, "distinct") && (view.isWord(i - 2, "is") || view.isWord(i - 2, "not"))
    }

    /// Reads the relation of a `FROM` item at `index`. Returns the index of a `(` that opens a
    /// parenthesized item (a subquery or a join), if that is what is there.
    private mutating func readFromItem(at index: Int) -> Int? {
        var i = index
        while view.isWord(i, "only") || view.isWord(i, "lateral") { i += 1 }
        if view.isKind(i, .leftParen) { return i }
        guard view.isName(i), !view.isWord(i, "select"), !view.isWord(i, "values"), !view.isWord(i, "rows"),
            let found = view.qualifiedName(at: i), !view.isKind(found.next, .leftParen)
        else { return nil }
        relations.appendNew(found.name)
        return nil
    }

    /// Reads a written relation after `INTO`, `UPDATE` or `DELETE FROM`.
    private mutating func readTarget(at index: Int) {
        var i = index
        while view.isWord(i, "only") || view.isWord(i, "temp") || view.isWord(i, "temporary")
            || view.isWord(i, "unlogged") || view.isWord(i, "local") || view.isWord(i, "global")
            || view.isWord(i, "table")
        {
            i += 1
        }
        guard let found = view.qualifiedName(at: i) else { return }
        relations.appendNew(found.name)
        written.appendNew(found.name)
    }

    // MARK: Function calls

    /// Records the function whose argument list opens at `paren`, if it is one.
    private mutating func recordCall(openingAt paren: Int) {
        var start = paren - 1
        guard view.contains(start), view.isName(start) else { return }
        while view.isKind(start - 1, .dot), view.contains(start - 2), view.isName(start - 2) { start -= 2 }
        if start == paren - 1, view.tokens[start].kind == .identifier, SQLWords.isNotAFunction(view, start) { return }
        guard start > view.lowerBound else { return }
        let previous = start - 1
        switch view.tokens[previous].kind {
        case .typeCast, .quotedIdentifier:
            return
        case .rightParen, .rightBracket:
            // `f() AS t(a)` or `t x(a)`: an alias's column names; but `DISTINCT ON (…) f(x)` is a call.
            guard closesDistinctOn(previous) else { return }
        case .identifier:
            if SQLWords.isNameIntroducer(view, previous) { return }
            if !SQLWords.precedesExpression(view, previous) { return }
        case .comma:
            // `WITH a AS (…), b(x) AS (…)`: a WITH query's column list.
            let close = view.matchingParen(paren)
            if view.isWord(close + 1, "as"),
                view.isKind(close + 2, .leftParen) || view.isWord(close + 2, "not")
                    || view.isWord(close + 2, "materialized")
            {
                return
            }
        default:
            break
        }
        // `start` is the first part of the `a.b.f` that ends right before the parenthesis.
        guard let call = view.qualifiedName(at: start) else { return }
        functions.appendNew(call.name)
    }

    /// Whether the `)` at `index` closes the list of `DISTINCT ON (…)`.
    private func closesDistinctOn(_ index: Int) -> Bool {
        var depth = 0
        var i = index
        while i >= view.lowerBound {
            switch view.tokens[i].kind {
            case .rightParen: depth += 1
            case .leftParen:
                depth -= 1
                if depth == 0 { return view.isWord(i - 1, "on") && view.isWord(i - 2, "distinct") }
            default: break
            }
            i -= 1
        }
        return false
    }
}
