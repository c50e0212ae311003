import Synchronization

/// A pgpool.conf list of regular expressions (`primary_routing_query_pattern_list`,
/// `write_function_list`, `read_only_function_list`), compiled once when the settings are made
/// rather than for every statement. A pattern that does not compile never matches.
///
/// `@unchecked Sendable`: the list is immutable after `init`, and the only state a `Regex`
/// changes after it is made — its lowered program, built on first use — is published by the
/// standard library with an atomic compare-and-swap, so sessions on several event loops may
/// match against one shared list.
public struct PatternList: @unchecked Sendable, Equatable, ExpressibleByArrayLiteral {
    /// The patterns as written.
    public let patterns: [String]
    private let compiled: [Regex<AnyRegexOutput>]

    /// How many patterns have been compiled in this process (for tests).
    static let compilations = Atomic<Int>(0)

    public init(_ patterns: [String]) {
        self.patterns = patterns
        compiled = patterns.compactMap { try? Regex($0) }
        Self.compilations.wrappingAdd(patterns.count, ordering: .relaxed)
    }

    public init(arrayLiteral patterns: String...) {
        self.init(patterns)
    }

    public var isEmpty: Bool { patterns.isEmpty }

    /// Whether one of the patterns matches all of `text`.
    public func matchesWhole(_ text: String) -> Bool {
        compiled.contains { (try? $0.wholeMatch(in: text)) != nil }
    }

    public static func == (lhs: PatternList, rhs: PatternList) -> Bool { lhs.patterns == rhs.patterns }
}
