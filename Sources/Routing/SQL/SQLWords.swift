/// Word lists the name collector uses to tell function calls from SQL syntax. They are
/// PostgreSQL keywords; lookups build the lower-cased word as a small (inline) string.
enum SQLWords {
    /// Words followed by `(` that are syntax, not function calls (`IN (`, `EXISTS (`,
    /// `COALESCE (`, type names with a type modifier …).
    static let notFunctions: Set<String> = [
        "all", "and", "any", "array", "as", "between", "bigint", "bit", "boolean", "by", "case", "cast",
        "char", "character", "check", "coalesce", "conflict", "constraint", "dec", "decimal", "default",
        "delete", "distinct", "do", "double", "else", "end", "escape", "except", "exists", "filter", "float",
        "for", "foreign", "from", "greatest", "group", "grouping", "having", "ilike", "in", "insert", "int",
        "integer", "intersect", "interval", "into", "is", "join", "lateral", "least", "like", "limit",
        "materialized", "merge", "national", "nchar", "not", "nullif", "numeric", "of", "offset", "on", "only",
        "operator", "or", "order", "over", "overlaps", "precision", "primary", "real", "references",
        "repeatable", "return", "returning", "returns", "row", "select", "set", "similar", "smallint", "some",
        "table", "tablesample", "then", "time", "timestamp", "to", "treat", "union", "unique", "update",
        "using", "values", "varchar", "varying", "when", "where", "window", "with", "xmlconcat", "xmlelement",
        "xmlexists", "xmlforest", "xmlparse", "xmlpi", "xmlroot", "xmlserialize", "xmltable", "zone",
    ]

    /// Words after which a name followed by `(` is an object being named (a table with a column
    /// list, a type, a prepared statement …), not a call.
    static let nameIntroducers: Set<String> = [
        "aggregate", "as", "cursor", "domain", "execute", "function", "index", "into", "only", "prepare",
        "procedure", "recursive", "references", "routine", "sequence", "statistics", "table", "trigger", "type", "view",
        "with",
    ]

    /// Keywords after which an expression (and so a call) may follow. After any other plain
    /// word, `name(` is an alias with column names (`FROM t x(a)`).
    static let expressionLeaders: Set<String> = [
        "all", "and", "any", "array", "asymmetric", "at", "between", "both", "by", "call", "case", "check",
        "default", "distinct", "do", "else", "escape", "except", "exists", "fetch", "filter", "first",
        "following", "for", "from", "group", "groups", "having", "ilike", "in", "intersect", "is", "isnull",
        "join", "lateral", "leading", "like", "limit", "next", "not", "notnull", "of", "offset", "on", "or",
        "order", "over", "overlaps", "partition", "placing", "preceding", "range", "return", "returning", "row",
        "rows", "select", "set", "similar", "some", "symmetric", "tablesample", "then", "to", "trailing",
        "union", "unique", "using", "values", "when", "where", "window", "zone",
    ]

    static func isNotAFunction(_ view: TokenView, _ index: Int) -> Bool {
        guard let word = lowered(view, index) else { return false }
        return notFunctions.contains(word)
    }

    static func isNameIntroducer(_ view: TokenView, _ index: Int) -> Bool {
        guard let word = lowered(view, index) else { return false }
        return nameIntroducers.contains(word)
    }

    static func precedesExpression(_ view: TokenView, _ index: Int) -> Bool {
        guard let word = lowered(view, index) else { return false }
        return expressionLeaders.contains(word)
    }

    /// The unquoted word at `index` in lower case, when it is short enough to be a keyword.
    private static func lowered(_ view: TokenView, _ index: Int) -> String? {
        guard view.isKind(index, .identifier) else { return nil }
        let token = view.tokens[index]
        guard token.length <= 15 else { return nil }
        return view.lowercased(token.range)
    }
}
