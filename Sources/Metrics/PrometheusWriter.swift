/// Writes the Prometheus text exposition format (version 0.0.4): one `# HELP` and `# TYPE` per
/// family, then its samples. Label values are escaped; families must be written whole.
public struct PrometheusWriter: Sendable {
    public enum MetricType: String, Sendable {
        case counter, gauge, histogram
    }

    public private(set) var text = ""

    public init() {
        text.reserveCapacity(64 * 1024)
    }

    /// Starts a family.
    public mutating func family(_ name: String, _ type: MetricType, _ help: String) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(type.rawValue)\n"
    }

    /// One sample of the current family.
    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
        text += name
        appendLabels(labels)
        text += " "
        text += Self.format(value)
        text += "\n"
    }

    public mutating func sample(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        sample(name, labels, Double(value))
    }

    /// The `_bucket`, `_sum` and `_count` samples of a histogram.
    public mutating func histogram(_ name: String, _ labels: [(String, String)], _ snapshot: AtomicHistogram.Snapshot) {
        for (bound, count) in zip(snapshot.bounds, snapshot.cumulativeCounts) {
            sample(name + "_bucket", labels + [("le", Self.format(bound))], count)
        }
        sample(name + "_bucket", labels + [("le", "+Inf")], snapshot.count)
        sample(name + "_sum", labels, snapshot.sum)
        sample(name + "_count", labels, snapshot.count)
    }

    private mutating func appendLabels(_ labels: [(String, String)]) {
        guard !labels.isEmpty else { return }
        text += "{"
        for (index, (name, value)) in labels.enumerated() {
            if index > 0 { text += "," }
            text += name
            text += "=\""
            text += Self.escapeLabel(value)
            text += "\""
        }
        text += "}"
    }

    static func escapeLabel(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var escaped = ""
        for character in value {
            switch character {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case "\n": escaped += "\\n"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    static func escapeHelp(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Integers without a fraction, others in Swift's shortest round-trip form.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
