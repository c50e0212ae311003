/// A possibly schema-qualified name as the parser sees it (`public.orders`, `nextval`).
///
/// Each part is normalized the way PostgreSQL's parser does it: unquoted parts in ASCII lower
/// case, quoted parts as written without their quotes.
public struct QualifiedName: Sendable, Hashable, CustomStringConvertible {
    /// The last part: the object's own name.
    public var name: String
    /// The parts before the name, outermost first; empty for an unqualified name, the usual
    /// case, which then costs no array of its own.
    public var qualifiers: [String]

    /// Creates a name from its qualifiers and its own name.
    public init(name: String, qualifiers: [String] = []) {
        self.name = name
        self.qualifiers = qualifiers
    }

    /// Creates a name from its parts, outermost first (`["public", "orders"]`).
    public init(_ parts: [String]) {
        self.init(name: parts.last ?? "", qualifiers: Array(parts.dropLast()))
    }

    /// Creates a name from dotted text without quoting (`"public.orders"`), for tests and lists.
    public init(dotted: String) {
        self.init(dotted.split(separator: ".", omittingEmptySubsequences: false).map(String.init))
    }

    /// The parts, outermost first (`["public", "orders"]`).
    public var parts: [String] { qualifiers + [name] }

    /// The part before the name (the schema for tables and functions), if written.
    public var schema: String? { qualifiers.last }

    /// The parts joined with `.`, as Pgpool-II compares function names with its lists.
    public var description: String {
        qualifiers.isEmpty ? name : (qualifiers + [name]).joined(separator: ".")
    }

    /// The name with every part double-quoted, safe to hand back to PostgreSQL
    /// (for example to `to_regclass`).
    public var quotedSQL: String {
        parts.map { part in
            var quoted = "\""
            for character in part {
                if character == "\"" { quoted.append("\"\"") } else { quoted.append(character) }
            }
            quoted.append("\"")
            return quoted
        }.joined(separator: ".")
    }
}
