/// One `name = value` line of pgpool.conf, after quoting has been removed.
public struct ConfigFileEntry: Sendable, Equatable {
    /// The parameter name as written (case preserved).
    public var name: String
    /// The value with its quotes removed.
    public var value: String
    /// Whether the value was written in single quotes.
    public var quoted: Bool
    /// The 1-based line number.
    public var line: Int

    /// Creates an entry.
    public init(name: String, value: String, quoted: Bool, line: Int) {
        self.name = name
        self.value = value
        self.quoted = quoted
        self.line = line
    }
}

/// Splits the text of a pgpool.conf into entries, with the syntax Pgpool-II 4.3 reads.
///
/// - One setting per line: `name = value`, `name value` (the `=` is optional, as in PostgreSQL),
///   blank lines and `#` comments, also after a value.
/// - A value is either quoted in single quotes or a bare word (a number with an optional unit,
///   `on`, a path …). A bare word ends at white space or `#`.
/// - In a quoted value `''` stands for one quote. A backslash and the character after it are kept
///   as written, as Pgpool-II does (so `\'` does not end the value and regular expressions in the
///   `*_list` parameters keep their escapes).
/// - Names are kept as written; matching them is the parameter table's job.
public enum ConfigFileLexer {
    /// Parses `text`; `fileName` is only used in error messages.
    public static func parse(text: String, fileName: String) throws(ConfigError) -> [ConfigFileEntry] {
        var entries: [ConfigFileEntry] = []
        var lineNumber = 0
        for rawLine in text.configLines {
            lineNumber += 1
            var scanner = LineScanner(Array(rawLine.unicodeScalars))
            if let entry = try scanner.entry(line: lineNumber, fileName: fileName) {
                entries.append(entry)
            }
        }
        return entries
    }
}

/// Reads one line of pgpool.conf.
private struct LineScanner {
    let chars: [Unicode.Scalar]
    var position = 0

    init(_ chars: [Unicode.Scalar]) { self.chars = chars }

    var atEndOrComment: Bool { position >= chars.count || chars[position] == "#" }

    mutating func skipSpaces() {
        while position < chars.count, chars[position].isConfigSpace { position += 1 }
    }

    /// The text from `position` up to the next white space, for error messages.
    func tokenHere() -> String {
        var end = position
        while end < chars.count, !chars[end].isConfigSpace { end += 1 }
        return String(String.UnicodeScalarView(chars[position..<end]))
    }

    mutating func entry(line: Int, fileName: String) throws(ConfigError) -> ConfigFileEntry? {
        skipSpaces()
        if atEndOrComment { return nil }
        guard chars[position].isNameStart else {
            throw ConfigError.syntax(file: fileName, line: line, near: tokenHere())
        }
        let nameStart = position
        while position < chars.count, chars[position].isNamePart { position += 1 }
        let name = String(String.UnicodeScalarView(chars[nameStart..<position]))
        if position < chars.count, !chars[position].isConfigSpace, chars[position] != "=",
            chars[position] != "#", chars[position] != "'"
        {
            throw ConfigError.syntax(file: fileName, line: line, near: String(name) + tokenHere())
        }
        skipSpaces()
        if position < chars.count, chars[position] == "=" {
            position += 1
            skipSpaces()
        }
        if atEndOrComment {
            throw ConfigError(
                kind: .syntax, file: fileName, line: line, parameter: name,
                message: "syntax error near end of line: parameter \"\(name)\" has no value")
        }
        let value: String
        let quoted: Bool
        if chars[position] == "'" {
            value = try quotedValue(line: line, fileName: fileName)
            quoted = true
        } else if chars[position] == "=" {
            throw ConfigError.syntax(file: fileName, line: line, near: "=")
        } else {
            value = bareValue()
            quoted = false
        }
        skipSpaces()
        guard atEndOrComment else {
            throw ConfigError.syntax(file: fileName, line: line, near: tokenHere())
        }
        return ConfigFileEntry(name: name, value: value, quoted: quoted, line: line)
    }

    mutating func quotedValue(line: Int, fileName: String) throws(ConfigError) -> String {
        let start = position
        position += 1
        var value = String.UnicodeScalarView()
        while position < chars.count {
            let c = chars[position]
            if c == "\\", position + 1 < chars.count {
                value.append(c)
                value.append(chars[position + 1])
                position += 2
            } else if c == "'" {
                if position + 1 < chars.count, chars[position + 1] == "'" {
                    value.append("'")
                    position += 2
                } else {
                    position += 1
                    return String(value)
                }
            } else {
                value.append(c)
                position += 1
            }
        }
        var shown = String(String.UnicodeScalarView(chars[start...]))
        while shown.last?.isWhitespace == true { shown.removeLast() }
        throw ConfigError(
            kind: .syntax, file: fileName, line: line,
            message: "syntax error near \"\(shown)\": unterminated quoted value")
    }

    mutating func bareValue() -> String {
        let start = position
        while position < chars.count, !chars[position].isConfigSpace, chars[position] != "#" {
            position += 1
        }
        return String(String.UnicodeScalarView(chars[start..<position]))
    }
}

extension Unicode.Scalar {
    fileprivate var isConfigSpace: Bool {
        self == " " || self == "\t" || self == "\r" || self == "\u{0B}" || self == "\u{0C}"
    }

    fileprivate var isNameStart: Bool {
        (self >= "a" && self <= "z") || (self >= "A" && self <= "Z") || self == "_" || value >= 0x80
    }

    fileprivate var isNamePart: Bool { isNameStart || (self >= "0" && self <= "9") }
}
