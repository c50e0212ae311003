import Routing

/// The tokens of `query` as (kind, text) pairs.
func lexed(_ query: String, standardConformingStrings: Bool = true) -> [(SQLTokenKind, String)] {
    let bytes = Array(query.utf8)
    return SQLLexer.tokenize(query, standardConformingStrings: standardConformingStrings).map {
        ($0.kind, String(decoding: bytes[$0.range], as: UTF8.self))
    }
}

/// The kinds of the tokens of `query`.
func kinds(_ query: String, standardConformingStrings: Bool = true) -> [SQLTokenKind] {
    SQLLexer.tokenize(query, standardConformingStrings: standardConformingStrings).map(\.kind)
}

/// The texts of the tokens of `query`.
func texts(_ query: String, standardConformingStrings: Bool = true) -> [String] {
    lexed(query, standardConformingStrings: standardConformingStrings).map(\.1)
}

/// The classification of a single-statement query (fails the test when there is not exactly one).
func classify(_ query: String, standardConformingStrings: Bool = true) -> StatementClassification {
    let result = SQLClassifier.classify(query: query, standardConformingStrings: standardConformingStrings)
    precondition(result.statements.count == 1, "expected one statement in \(query), got \(result.statements.count)")
    return result.statements[0]
}

/// The destination of a single-statement query.
func destination(_ query: String) -> StatementDestination {
    classify(query).destination
}

func names(_ list: [QualifiedName]) -> [String] { list.map(\.description) }
