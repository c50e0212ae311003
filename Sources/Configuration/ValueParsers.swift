/// A parsed parameter value. Numbers with units are stored in the parameter's base unit.
public enum ConfigValue: Sendable, Equatable, Hashable {
    /// A boolean.
    case bool(Bool)
    /// An integer, in the parameter's base unit.
    case integer(Int64)
    /// A floating-point number.
    case real(Double)
    /// Free text, or the canonical spelling of an enumeration value.
    case string(String)
    /// The items of a list, trimmed, without empty ones.
    case list([String])
}

/// Turns the text of a value into a `ConfigValue` with PostgreSQL's (and Pgpool-II's) rules.
public enum ValueParser {
    /// Parses `text` as a value of `definition`; nil when it is not valid (type or range).
    public static func parse(_ text: String, as definition: ParameterDefinition) -> ConfigValue? {
        switch definition.type {
        case .bool:
            return parseBool(text).map(ConfigValue.bool)
        case .integer:
            guard let value = parseInteger(text, unit: definition.unit),
                inRange(Double(value), definition)
            else { return nil }
            return .integer(value)
        case .real:
            guard let value = Double(text.trimmingConfigSpaces()), value.isFinite,
                inRange(value, definition)
            else { return nil }
            return .real(value)
        case .string:
            return .string(text)
        case .enumeration(let values):
            let wanted = text.trimmingConfigSpaces().lowercased()
            return values.first { $0.lowercased() == wanted }.map(ConfigValue.string)
        case .list(let separator):
            return .list(splitList(text, separator: separator))
        }
    }

    /// PostgreSQL's boolean words: on/off, true/false, yes/no, 1/0, any case, and unique prefixes
    /// (`t`, `fa`, `y`, `of` …; `o` alone is ambiguous).
    public static func parseBool(_ text: String) -> Bool? {
        let word = text.trimmingConfigSpaces().lowercased()
        guard !word.isEmpty else { return nil }
        if word == "1" { return true }
        if word == "0" { return false }
        if "true".hasPrefix(word) || "yes".hasPrefix(word) { return true }
        if "false".hasPrefix(word) || "no".hasPrefix(word) { return false }
        if word.count >= 2 {
            if "on".hasPrefix(word) { return true }
            if "off".hasPrefix(word) { return false }
        }
        return nil
    }

    /// Parses an integer the way Pgpool-II does: decimal, `0x` hexadecimal or leading-zero octal,
    /// or a decimal fraction; then an optional unit (case-sensitive: `us ms s min h d` for times,
    /// `B kB MB GB TB` for sizes) converted to `unit`, and rounded. A unit is an error for a
    /// parameter without one.
    public static func parseInteger(_ text: String, unit: ParameterUnit) -> Int64? {
        guard let (number, rest) = leadingNumber(Substring(text)) else { return nil }
        var value = number
        let unitText = rest.trimmingConfigSpaces()
        if !unitText.isEmpty {
            guard let factor = conversionFactor(from: unitText, to: unit) else { return nil }
            value = number * factor.numerator / factor.denominator
        }
        value = value.rounded(.toNearestOrEven)
        guard value.isFinite, value >= -9.223_372_036_854_775_808e18, value < 9.223_372_036_854_775_808e18 else {
            return nil
        }
        return Int64(value)
    }

    /// Splits a list value at `separator`, trimming items and dropping empty ones. A separator
    /// right after a backslash does not split (Pgpool-II's rule for pattern lists); the backslash
    /// stays in the item.
    public static func splitList(_ text: String, separator: Character) -> [String] {
        var items: [String] = []
        var current = ""
        var previousWasBackslash = false
        for character in text {
            if character == separator, !previousWasBackslash {
                items.append(current)
                current = ""
            } else {
                current.append(character)
            }
            previousWasBackslash = character == "\\" && !previousWasBackslash
        }
        items.append(current)
        return items.map { $0.trimmingConfigSpaces() }.filter { !$0.isEmpty }
    }

    /// What a valid value of `definition` looks like, for error messages.
    public static func expectation(for definition: ParameterDefinition) -> String {
        switch definition.type {
        case .bool:
            return "a boolean: on, off, true, false, yes, no, 1 or 0"
        case .integer:
            let range = rangeText(definition)
            switch definition.unit {
            case .none:
                return "an integer \(range)"
            case .milliseconds, .seconds, .minutes:
                return "a time \(range) \(definition.unit.word) (a bare number is in \(definition.unit.word); "
                    + "units: us, ms, s, min, h, d)"
            case .bytes, .kilobytes:
                return "a size \(range) \(definition.unit.word) (a bare number is in \(definition.unit.word); "
                    + "units: B, kB, MB, GB, TB)"
            }
        case .real:
            return "a number \(rangeText(definition))"
        case .enumeration(let values):
            return "one of: " + values.joined(separator: ", ")
        case .string, .list:
            return "a string"
        }
    }

    // MARK: - Parsing details

    private static func inRange(_ value: Double, _ definition: ParameterDefinition) -> Bool {
        if let minimum = definition.minimum, value < minimum { return false }
        if let maximum = definition.maximum, value > maximum { return false }
        return true
    }

    private static func rangeText(_ definition: ParameterDefinition) -> String {
        let low = definition.minimum.map(formatNumber) ?? "any"
        if let maximum = definition.maximum, maximum < ParameterTable.intMax {
            return "between \(low) and \(formatNumber(maximum))"
        }
        return "of at least \(low)"
    }

    static func formatNumber(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// The number at the start of `text` (after white space) and what follows it, with C's
    /// strtol(…, 0) rules, falling back to a decimal fraction at `.`, `e` or `E`.
    private static func leadingNumber(_ text: Substring) -> (Double, Substring)? {
        let chars = Array(text.unicodeScalars)
        var index = 0
        while index < chars.count, chars[index] == " " || chars[index] == "\t" { index += 1 }
        let start = index
        var negative = false
        if index < chars.count, chars[index] == "+" || chars[index] == "-" {
            negative = chars[index] == "-"
            index += 1
        }
        var value = 0.0
        var digitsEnd = index
        if index + 2 < chars.count, chars[index] == "0", chars[index + 1] == "x" || chars[index + 1] == "X",
            chars[index + 2].hexValue != nil
        {
            digitsEnd = index + 2
            while digitsEnd < chars.count, let digit = chars[digitsEnd].hexValue {
                value = value * 16 + Double(digit)
                digitsEnd += 1
            }
        } else if index < chars.count, chars[index] == "0" {
            digitsEnd = index + 1
            while digitsEnd < chars.count, let digit = chars[digitsEnd].decimalValue, digit < 8 {
                value = value * 8 + Double(digit)
                digitsEnd += 1
            }
        } else {
            while digitsEnd < chars.count, let digit = chars[digitsEnd].decimalValue {
                value = value * 10 + Double(digit)
                digitsEnd += 1
            }
        }
        let next = digitsEnd < chars.count ? chars[digitsEnd] : nil
        if next == "." || next == "e" || next == "E" {
            return decimalFraction(chars, from: start)
        }
        guard digitsEnd > index else { return nil }
        let rest = Substring(String(String.UnicodeScalarView(chars[digitsEnd...])))
        return (negative ? -value : value, rest)
    }

    private static func decimalFraction(_ chars: [Unicode.Scalar], from start: Int) -> (Double, Substring)? {
        var index = start
        if index < chars.count, chars[index] == "+" || chars[index] == "-" { index += 1 }
        var digits = 0
        while index < chars.count, chars[index].decimalValue != nil {
            index += 1
            digits += 1
        }
        if index < chars.count, chars[index] == "." {
            index += 1
            while index < chars.count, chars[index].decimalValue != nil {
                index += 1
                digits += 1
            }
        }
        guard digits > 0 else { return nil }
        if index < chars.count, chars[index] == "e" || chars[index] == "E" {
            var exponentEnd = index + 1
            if exponentEnd < chars.count, chars[exponentEnd] == "+" || chars[exponentEnd] == "-" {
                exponentEnd += 1
            }
            let exponentDigitsStart = exponentEnd
            while exponentEnd < chars.count, chars[exponentEnd].decimalValue != nil { exponentEnd += 1 }
            if exponentEnd > exponentDigitsStart { index = exponentEnd }
        }
        let numberText = String(String.UnicodeScalarView(chars[start..<index]))
        guard let value = Double(numberText) else { return nil }
        return (value, Substring(String(String.UnicodeScalarView(chars[index...]))))
    }

    /// Factor that converts a value written in `unitText` to `unit`, as a fraction to keep
    /// conversions like 90s → 1.5min exact.
    private static func conversionFactor(
        from unitText: String, to unit: ParameterUnit
    ) -> (numerator: Double, denominator: Double)? {
        if unit.isTime {
            let microseconds: [String: Double] = [
                "us": 1, "ms": 1_000, "s": 1_000_000, "min": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000,
            ]
            guard let given = microseconds[unitText], let base = microseconds[unit.rawValue] else { return nil }
            return (given, base)
        }
        if unit.isSize {
            let bytes: [String: Double] = [
                "B": 1, "kB": 1_024, "MB": 1_048_576, "GB": 1_073_741_824, "TB": 1_099_511_627_776,
            ]
            guard let given = bytes[unitText], let base = bytes[unit.rawValue] else { return nil }
            return (given, base)
        }
        return nil
    }
}

extension ParameterUnit {
    /// The unit spelled out, for messages and documentation.
    public var word: String {
        switch self {
        case .none: ""
        case .milliseconds: "milliseconds"
        case .seconds: "seconds"
        case .minutes: "minutes"
        case .bytes: "bytes"
        case .kilobytes: "kilobytes"
        }
    }
}

extension Unicode.Scalar {
    fileprivate var decimalValue: Int? {
        (self >= "0" && self <= "9") ? Int(value - 48) : nil
    }

    fileprivate var hexValue: Int? {
        if let digit = decimalValue { return digit }
        if self >= "a" && self <= "f" { return Int(value - 87) }
        if self >= "A" && self <= "F" { return Int(value - 55) }
        return nil
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs, CR and LF.
    func trimmingConfigSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" || first == "\r" || first == "\n" {
            slice.removeFirst()
        }
        while let last = slice.last, last == " " || last == "\t" || last == "\r" || last == "\n" {
            slice.removeLast()
        }
        return String(slice)
    }
}
