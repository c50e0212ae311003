/// Classifies one statement (a run of tokens without its `;`) by its leading words.
struct StatementClassifier {
    let view: TokenView
    /// Whether a backslash escapes the next byte in plain `'…'` strings
    /// (`standard_conforming_strings` off).
    let backslashEscapes: Bool

    /// The classification of the statement. Byte range and malformed flag are filled in here;
    /// the leading-comment flag is the caller's.
    func classify() -> StatementClassification {
        guard !view.isEmpty else {
            return StatementClassification(kind: .unknown, destination: .primary)
        }
        var result = classifyByLeadingWord()
        let first = view.tokens[view.lowerBound]
        let last = view.tokens[view.upperBound - 1]
        result.byteRange = first.start..<last.end
        for index in view.range where view.tokens[index].isUnterminated {
            result.markMalformed()
            break
        }
        return result
    }

    /// A classification of the tokens in `range` (the inner statement of `EXPLAIN`, `PREPARE`,
    /// `DECLARE` or `COPY (…)`).
    func classifyInner(_ range: Range<Int>) -> StatementClassification {
        StatementClassifier(view: view.restricted(to: range), backslashEscapes: backslashEscapes).classify()
    }

    private func classifyByLeadingWord() -> StatementClassification {
        let i = view.lowerBound
        if view.isKind(i, .leftParen) { return classifyQuery() }
        guard view.isKind(i, .identifier) else { return unknown() }
        switch view.tokens[i].length {
        case 2:
            if view.isWord(i, "do") { return primary(.doBlock) }
        case 3:
            if view.isWord(i, "set") { return classifySet() }
            if view.isWord(i, "end") { return classifyCommit() }
        case 4:
            if view.isWord(i, "with") { return classifyQuery() }
            if view.isWord(i, "copy") { return classifyCopy() }
            if view.isWord(i, "show") { return classifyShow() }
            if view.isWord(i, "lock") { return classifyLock() }
            if view.isWord(i, "drop") { return classifyDDL(command: "drop") }
            if view.isWord(i, "move") { return classifyCursorCommand() }
            if view.isWord(i, "call") { return withNames(primary(.call)) }
            if view.isWord(i, "load") { return primary(.other(command: "load")) }
        case 5:
            if view.isWord(i, "begin") { return classifyBegin(modesFrom: i + 1) }
            if view.isWord(i, "start") { return classifyStart() }
            if view.isWord(i, "table") { return classifyQuery() }
            if view.isWord(i, "reset") { return classifyReset() }
            if view.isWord(i, "abort") { return classifyRollback() }
            if view.isWord(i, "fetch") { return classifyCursorCommand() }
            if view.isWord(i, "close") { return classifyClose() }
            if view.isWord(i, "merge") { return classifyQuery() }
            if view.isWord(i, "alter") { return classifyDDL(command: "alter") }
            if view.isWord(i, "grant") { return primary(.ddl(DDLStatement(command: "grant"))) }
        case 6:
            if view.isWord(i, "select") { return classifyQuery() }
            if view.isWord(i, "insert") { return classifyQuery() }
            if view.isWord(i, "update") { return classifyQuery() }
            if view.isWord(i, "delete") { return classifyQuery() }
            if view.isWord(i, "values") { return classifyQuery() }
            if view.isWord(i, "commit") { return classifyCommit() }
            if view.isWord(i, "create") { return classifyDDL(command: "create") }
            if view.isWord(i, "listen") { return classifyListen() }
            if view.isWord(i, "notify") { return classifyNotify() }
            if view.isWord(i, "vacuum") { return primary(.vacuum) }
            if view.isWord(i, "revoke") { return primary(.ddl(DDLStatement(command: "revoke"))) }
            if view.isWord(i, "import") { return primary(.ddl(DDLStatement(command: "import foreign schema"))) }
            if view.isWord(i, "pgpool") { return primary(.pgpoolCommand) }
        case 7:
            if view.isWord(i, "explain") { return classifyExplain() }
            if view.isWord(i, "prepare") { return classifyPrepare() }
            if view.isWord(i, "execute") { return classifyExecute() }
            if view.isWord(i, "declare") { return classifyDeclare() }
            if view.isWord(i, "discard") { return both(.discard) }
            if view.isWord(i, "release") { return classifyRelease() }
            if view.isWord(i, "analyze") || view.isWord(i, "analyse") { return primary(.analyze) }
            if view.isWord(i, "comment") { return primary(.ddl(DDLStatement(command: "comment"))) }
            if view.isWord(i, "cluster") { return primary(.ddl(DDLStatement(command: "cluster"))) }
            if view.isWord(i, "refresh") { return primary(.ddl(DDLStatement(command: "refresh"))) }
            if view.isWord(i, "reindex") { return primary(.ddl(DDLStatement(command: "reindex"))) }
        case 8:
            if view.isWord(i, "rollback") { return classifyRollback() }
            if view.isWord(i, "truncate") { return classifyTruncate() }
            if view.isWord(i, "unlisten") { return classifyUnlisten() }
            if view.isWord(i, "security") { return primary(.ddl(DDLStatement(command: "security label"))) }
            if view.isWord(i, "reassign") { return primary(.ddl(DDLStatement(command: "reassign owned"))) }
        case 9:
            if view.isWord(i, "savepoint") { return classifySavepoint() }
        case 10:
            if view.isWord(i, "checkpoint") { return primary(.checkpoint) }
            if view.isWord(i, "deallocate") { return classifyDeallocate() }
        default:
            break
        }
        return unknown()
    }

    // MARK: Building results

    func unknown() -> StatementClassification {
        StatementClassification(kind: .unknown, destination: .primary)
    }

    func primary(_ kind: StatementKind) -> StatementClassification {
        StatementClassification(kind: kind, destination: .primary)
    }

    func both(_ kind: StatementKind) -> StatementClassification {
        StatementClassification(kind: kind, destination: .both)
    }

    /// `result` with the function calls and relations found in the whole statement added.
    func withNames(_ result: consuming StatementClassification) -> StatementClassification {
        var collector = NameCollector(view: view)
        collector.collect()
        result.functionCalls.appendNew(unique: collector.functions)
        result.relations.appendNew(unique: collector.relations)
        result.writtenRelations.appendNew(unique: collector.written)
        return result
    }

    // MARK: Reading names

    /// The possibly qualified name starting at `index` and the index after it.
    func qualifiedName(at index: Int) -> (name: QualifiedName, next: Int)? {
        view.qualifiedName(at: index)
    }

    /// The name at `index` (identifier or quoted identifier), or nil.
    func simpleName(at index: Int) -> String? {
        view.isName(index) ? view.name(at: index) : nil
    }

    /// The index after any of `words` at `index`, in order and each optional.
    func skipping(_ words: [StaticString], from index: Int) -> Int {
        var i = index
        for word in words where view.isWord(i, word) { i += 1 }
        return i
    }
}

extension Array where Element == QualifiedName {
    /// Appends the names not already present.
    mutating func appendNew(_ names: [QualifiedName]) {
        for name in names where !contains(name) { append(name) }
    }

    /// Appends the names of `names`, a list without repeats, not already present; an empty
    /// array takes the list as it is (no copy, for the usual statement that names nothing else).
    mutating func appendNew(unique names: [QualifiedName]) {
        if isEmpty { self = names } else { appendNew(names) }
    }

    /// Appends the name if not already present.
    mutating func appendNew(_ name: QualifiedName) {
        if !contains(name) { append(name) }
    }
}
