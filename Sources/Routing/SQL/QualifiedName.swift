/// A possibly schema-qualified name as the parser sees it (`public.orders`, `nextval`).
///
/// Each part is normalized the way PostgreSQL's parser does it: unquoted parts in ASCII lower
/// case, quoted parts as written without their quotes.
public struct QualifiedName: Sendable, Hashable, CustomStringConvertible {
    /// The parts, outermost first (`["public", "orders"]`).
    public var parts: [String]

    /// Creates a name from its parts.
    public init(_ parts: [String]) { self.parts = parts }

    /// Creates a name from dotted text without quoting (`"public.orders"`), for tests and lists.
    public init(dotted: String) {
        self.parts = dotted.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    /// The last part: the object's own name.
    public var name: String { parts.last ?? "" }

    /// The part before the name (the schema for tables and functions), if written.
    public var schema: String? { parts.count >= 2 ? parts[parts.count - 2] : nil }

    /// The parts joined with `.`, as Pgpool-II compares function names with its lists.
    public var description: String { parts.joined(separator: ".") }

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
