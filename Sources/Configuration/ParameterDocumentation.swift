import Foundation

extension ParameterTable {
    /// The parameter reference of docs/configuration.md, one Markdown table per group, generated
    /// from the table so the two cannot drift apart.
    public static func markdownReference() -> String {
        var out: [String] = []
        for group in ParameterGroup.allCases {
            let parameters = all.filter { $0.group == group }
            guard !parameters.isEmpty else { continue }
            out.append("### \(group.rawValue)")
            out.append("")
            out.append("| Parameter | Type | Default | Unit | Range | Change takes effect | SwiftPool | Meaning |")
            out.append("|---|---|---|---|---|---|---|---|")
            for parameter in parameters {
                let cells = [
                    "`\(displayName(parameter))`",
                    typeText(parameter),
                    parameter.defaultValue.isEmpty ? "`''`" : "`\(parameter.defaultValue)`",
                    parameter.unit.rawValue,
                    rangeText(parameter),
                    contextText(parameter.context),
                    parameter.isExtension ? "yes (extension)" : (parameter.implemented ? "yes" : "not supported yet"),
                    meaning(parameter),
                ]
                out.append("| " + cells.map(escapeCell).joined(separator: " | ") + " |")
            }
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    private static func displayName(_ parameter: ParameterDefinition) -> String {
        switch parameter.nodeSuffix {
        case .none: parameter.name
        case .required: parameter.name + "N"
        case .optional: parameter.name + "[N]"
        }
    }

    private static func typeText(_ parameter: ParameterDefinition) -> String {
        switch parameter.type {
        case .bool: "boolean"
        case .integer: "integer"
        case .real: "real"
        case .string: "string"
        case .enumeration: "enum"
        case .list(let separator): "list (`\(separator)`)"
        }
    }

    private static func rangeText(_ parameter: ParameterDefinition) -> String {
        guard let minimum = parameter.minimum else { return "" }
        let low = ValueParser.formatNumber(minimum)
        if let maximum = parameter.maximum, maximum < intMax {
            return "\(low) – \(ValueParser.formatNumber(maximum))"
        }
        return "≥ \(low)"
    }

    private static func contextText(_ context: ParameterContext) -> String {
        switch context {
        case .restart: "restart"
        case .reload: "reload"
        case .session: "reload (session)"
        }
    }

    private static func meaning(_ parameter: ParameterDefinition) -> String {
        guard case .enumeration(let values) = parameter.type else { return parameter.summary }
        return parameter.summary + " Values: " + values.map { "`\($0)`" }.joined(separator: ", ") + "."
    }

    private static func escapeCell(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|")
    }
}
