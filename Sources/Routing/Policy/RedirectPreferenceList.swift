/// `database_redirect_preference_list` / `app_name_redirect_preference_list`:
/// `'pattern:node(ratio),…'`, where node is a node id, `primary` or `standby`, and the ratio
/// (0–1, default 1) is the share of sessions sent there. Patterns are regular expressions that
/// must match the whole name; the first matching entry wins.
public struct RedirectPreferenceList: Sendable {
    /// Where an entry sends sessions.
    public enum Target: Sendable, Equatable {
        case node(Int)
        case primary
        case standby
    }

    /// One `pattern:target(ratio)` entry.
    public struct Entry: Sendable {
        public var pattern: String
        public var target: Target
        public var ratio: Double
        /// `pattern`, compiled once with the list.
        let compiled: PatternList

        init(pattern: String, target: Target, ratio: Double) {
            self.pattern = pattern
            self.target = target
            self.ratio = ratio
            self.compiled = PatternList([pattern])
        }
    }

    /// A list entry that cannot be read.
    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        public var entry: String
        public var reason: String
        public var description: String { "invalid redirect preference \"\(entry)\": \(reason)" }
    }

    public private(set) var entries: [Entry]

    /// Parses the parameter's value; an empty value is an empty list.
    public init(_ text: String) throws(ParseError) {
        var entries: [Entry] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: true) {
            let raw = item.trimmingSpaces()
            guard !raw.isEmpty else { continue }
            guard let colon = raw.lastIndex(of: ":") else { throw ParseError(entry: raw, reason: "expected pattern:node") }
            let pattern = String(raw[..<colon]).trimmingSpaces()
            var targetText = String(raw[raw.index(after: colon)...]).trimmingSpaces()
            var ratio = 1.0
            if let open = targetText.firstIndex(of: "("), targetText.hasSuffix(")") {
                let number = targetText[targetText.index(after: open)..<targetText.index(before: targetText.endIndex)]
                guard let value = Double(number), value >= 0, value <= 1 else {
                    throw ParseError(entry: raw, reason: "the ratio must be a number between 0 and 1")
                }
                ratio = value
                targetText = String(targetText[..<open]).trimmingSpaces()
            }
            let target: Target
            switch targetText.lowercased() {
            case "primary": target = .primary
            case "standby": target = .standby
            default:
                guard let id = Int(targetText), id >= 0 else {
                    throw ParseError(entry: raw, reason: "the node must be a node id, primary or standby")
                }
                target = .node(id)
            }
            guard !pattern.isEmpty, (try? Regex(pattern)) != nil else {
                throw ParseError(entry: raw, reason: "invalid regular expression \"\(pattern)\"")
            }
            entries.append(Entry(pattern: pattern, target: target, ratio: ratio))
        }
        self.entries = entries
    }

    /// The first entry whose pattern matches all of `name`.
    public func match(_ name: String) -> Entry? {
        entries.first { $0.compiled.matchesWhole(name) }
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while slice.first?.isWhitespace == true { slice.removeFirst() }
        while slice.last?.isWhitespace == true { slice.removeLast() }
        return String(slice)
    }
}
