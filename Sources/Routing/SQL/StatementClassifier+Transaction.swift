/// `BEGIN`, `START TRANSACTION`, `COMMIT`, `ROLLBACK`, savepoints and two-phase commit.
extension StatementClassifier {
    /// `BEGIN [WORK | TRANSACTION] [modes]`, with `index` after `BEGIN`; also the tail of
    /// `START TRANSACTION`.
    func classifyBegin(modesFrom index: Int) -> StatementClassification {
        var i = index
        if view.isWord(i, "work") || view.isWord(i, "transaction") { i += 1 }
        let modes = transactionModes(from: i)
        var result = both(.transaction(.begin(modes)))
        result.transactionModes = modes
        result.sendsPlainBeginToStandby = modes.readOnly == false || modes.isolationLevel == .serializable
        return result
    }

    /// `START TRANSACTION [modes]`.
    func classifyStart() -> StatementClassification {
        let i = view.lowerBound + 1
        guard view.isWord(i, "transaction") else { return unknown() }
        return classifyBegin(modesFrom: i)
    }

    /// `COMMIT [WORK | TRANSACTION] [AND [NO] CHAIN]`, `END …`, `COMMIT PREPARED 'gid'`.
    func classifyCommit() -> StatementClassification {
        var i = view.lowerBound + 1
        if view.isWord(view.lowerBound, "commit"), view.isWord(i, "prepared") {
            return primary(.transaction(.commitPrepared(literal(at: i + 1))))
        }
        if view.isWord(i, "work") || view.isWord(i, "transaction") { i += 1 }
        return both(.transaction(.commit(chain: hasAndChain(from: i))))
    }

    /// `ROLLBACK [WORK | TRANSACTION] [AND [NO] CHAIN]`, `ABORT …`,
    /// `ROLLBACK … TO [SAVEPOINT] name`, `ROLLBACK PREPARED 'gid'`.
    func classifyRollback() -> StatementClassification {
        var i = view.lowerBound + 1
        let isRollback = view.isWord(view.lowerBound, "rollback")
        if isRollback, view.isWord(i, "prepared") {
            return primary(.transaction(.rollbackPrepared(literal(at: i + 1))))
        }
        if view.isWord(i, "work") || view.isWord(i, "transaction") { i += 1 }
        if isRollback, view.isWord(i, "to") {
            i += 1
            if view.isWord(i, "savepoint") { i += 1 }
            guard let name = simpleName(at: i) else { return unknown() }
            return both(.transaction(.rollbackToSavepoint(name)))
        }
        return both(.transaction(.rollback(chain: hasAndChain(from: i))))
    }

    /// `SAVEPOINT name`.
    func classifySavepoint() -> StatementClassification {
        guard let name = simpleName(at: view.lowerBound + 1) else { return unknown() }
        return both(.transaction(.savepoint(name)))
    }

    /// `RELEASE [SAVEPOINT] name`.
    func classifyRelease() -> StatementClassification {
        var i = view.lowerBound + 1
        if view.isWord(i, "savepoint"), view.isName(i + 1) { i += 1 }
        guard let name = simpleName(at: i) else { return unknown() }
        return both(.transaction(.releaseSavepoint(name)))
    }

    /// `PREPARE TRANSACTION 'gid'`; `nil` when the statement is a SQL `PREPARE name AS …`.
    func classifyPrepareTransaction() -> StatementClassification? {
        let i = view.lowerBound + 1
        guard view.isWord(i, "transaction"), view.isKind(i + 1, .string) else { return nil }
        return primary(.transaction(.prepareTransaction(literal(at: i + 1))))
    }

    /// Transaction modes starting at `index`, separated by commas or spaces.
    func transactionModes(from index: Int) -> TransactionModes {
        var modes = TransactionModes()
        var i = index
        while view.contains(i) {
            if view.isKind(i, .comma) {
                i += 1
            } else if view.isWord(i, "isolation"), view.isWord(i + 1, "level") {
                i += 2
                if view.isWord(i, "serializable") {
                    modes.isolationLevel = .serializable
                    i += 1
                } else if view.isWord(i, "repeatable"), view.isWord(i + 1, "read") {
                    modes.isolationLevel = .repeatableRead
                    i += 2
                } else if view.isWord(i, "read"), view.isWord(i + 1, "committed") {
                    modes.isolationLevel = .readCommitted
                    i += 2
                } else if view.isWord(i, "read"), view.isWord(i + 1, "uncommitted") {
                    modes.isolationLevel = .readUncommitted
                    i += 2
                } else {
                    break
                }
            } else if view.isWord(i, "read"), view.isWord(i + 1, "only") {
                modes.readOnly = modes.readOnly ?? true
                i += 2
            } else if view.isWord(i, "read"), view.isWord(i + 1, "write") {
                modes.readOnly = modes.readOnly ?? false
                i += 2
            } else if view.isWord(i, "deferrable") {
                modes.deferrable = true
                i += 1
            } else if view.isWord(i, "not"), view.isWord(i + 1, "deferrable") {
                modes.deferrable = false
                i += 2
            } else {
                break
            }
        }
        return modes
    }

    private func hasAndChain(from index: Int) -> Bool {
        view.isWord(index, "and") && view.isWord(index + 1, "chain")
    }

    /// The value of the string literal at `index`, or "" when there is none.
    func literal(at index: Int) -> String {
        view.isKind(index, .string) ? view.stringValue(at: index, backslashEscapes: backslashEscapes) : ""
    }
}
