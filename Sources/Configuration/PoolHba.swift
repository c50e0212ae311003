/// pool_hba.conf: which clients may connect to which databases as which users, and how they
/// authenticate. The syntax is PostgreSQL's pg_hba.conf; the first matching line decides.
///
/// Supported: `local`, `host`, `hostssl`, `hostnossl`; databases `all`, `sameuser`, names, comma
/// lists, quoted names and `@file` includes; users `all`, names, lists and `@file`; addresses
/// `all`, `samehost`, `samenet`, CIDR and address-plus-netmask (IPv4 and IPv6); methods `trust`,
/// `reject`, `md5`, `scram-sha-256` and `password`. Other methods and `samerole`/`samegroup` are
/// errors; `+group` users and host names are accepted but never match (with a diagnostic).
public struct PoolHba: Sendable, Equatable {
    /// The rules in file order.
    public var rules: [HbaRule]
    /// Remarks to log once (ignored options, items that never match).
    public var diagnostics: [ConfigDiagnostic]

    /// Creates a rule set.
    public init(rules: [HbaRule], diagnostics: [ConfigDiagnostic] = []) {
        self.rules = rules
        self.diagnostics = diagnostics
    }

    /// The first rule that applies to `connection`, or nil: then the connection must be refused
    /// (`no pool_hba.conf entry for host …`).
    public func match(connection: HbaConnection) -> HbaRule? {
        rules.first { $0.matches(connection) }
    }

    /// Reads the file at `path`; `@file` includes are relative to its directory.
    public static func load(path: String) throws(ConfigError) -> PoolHba {
        let text = try readConfigText(path, what: "pool_hba.conf file")
        return try parse(text: text, fileName: path, includeDirectory: directoryOf(path))
    }

    /// Parses `text`. `@file` includes are read from `includeDirectory` (by default the directory
    /// of `fileName`) with `readFile`, by default from disk.
    public static func parse(
        text: String, fileName: String, includeDirectory: String? = nil,
        readFile: ((String) throws(ConfigError) -> String)? = nil
    ) throws(ConfigError) -> PoolHba {
        let reader: (String) throws(ConfigError) -> String
        if let readFile {
            reader = readFile
        } else {
            reader = readIncludeFile
        }
        var parser = HbaParser(
            fileName: fileName, directory: includeDirectory ?? directoryOf(fileName), readFile: reader)
        var rules: [HbaRule] = []
        for (offset, rawLine) in text.configLines.enumerated() {
            if let rule = try parser.rule(from: rawLine, line: offset + 1) { rules.append(rule) }
        }
        return PoolHba(rules: rules, diagnostics: parser.diagnostics)
    }
}

extension PoolHba {
    /// Reads an `@file` include from disk.
    static func readIncludeFile(_ path: String) throws(ConfigError) -> String {
        try readConfigText(path, what: "pool_hba.conf include file")
    }
}

/// A word of pool_hba.conf; quoting takes a keyword's meaning away (`"all"` is a name).
struct HbaToken: Equatable {
    var text: String
    var quoted: Bool

    func isKeyword(_ word: String) -> Bool { !quoted && text == word }
}

/// Parses pool_hba.conf lines into rules.
private struct HbaParser {
    let fileName: String
    let directory: String
    let readFile: (String) throws(ConfigError) -> String
    var diagnostics: [ConfigDiagnostic] = []

    init(fileName: String, directory: String, readFile: @escaping (String) throws(ConfigError) -> String) {
        self.fileName = fileName
        self.directory = directory
        self.readFile = readFile
    }

    mutating func rule(from text: Substring, line: Int) throws(ConfigError) -> HbaRule? {
        let fields = try Self.fields(of: text, file: fileName, line: line)
        guard let typeField = fields.first else { return nil }
        let typeWord = typeField.first?.text ?? ""
        guard typeField.count == 1, let type = HbaConnectionType(rawValue: typeWord), !typeField[0].quoted else {
            if typeWord == "hostgssenc" || typeWord == "hostnogssenc" {
                throw error(line, .unsupported, "connection type \"\(typeWord)\" is not supported")
            }
            throw error(line, .malformedEntry, "invalid connection type \"\(typeWord)\"")
        }
        var index = 1
        func next(_ what: String) throws(ConfigError) -> [HbaToken] {
            guard index < fields.count else {
                throw error(line, .malformedEntry, "incomplete line: the \(what) column is missing")
            }
            defer { index += 1 }
            return fields[index]
        }
        let databases = try expand(next("database"), line: line).map { token throws(ConfigError) in
            try database(token, line: line)
        }
        let users = try expand(next("user"), line: line).map { token throws(ConfigError) in
            user(token, line: line)
        }
        var address: HbaAddress?
        if type != .local {
            address = try self.address(next("address"), fields: fields, index: &index, line: line)
        }
        let methodField = try next("authentication method")
        let method = try self.method(methodField, line: line)
        if method == .cert, type != .hostssl {
            throw error(line, .malformedEntry, "cert authentication is only supported on hostssl connections")
        }
        let options = fields[index...].flatMap { $0.map(\.text) }
        if !options.isEmpty {
            note(
                .notice, .ignoredSetting, line,
                "authentication options are ignored: \(options.map { "\"\($0)\"" }.joined(separator: ", "))")
        }
        return HbaRule(
            file: fileName, line: line, connectionType: type, databases: databases, users: users, address: address,
            method: method, options: options)
    }

    // MARK: - Columns

    private func database(_ token: HbaToken, line: Int) throws(ConfigError) -> HbaDatabase {
        if token.isKeyword("all") { return .all }
        if token.isKeyword("sameuser") { return .sameUser }
        if token.isKeyword("samerole") || token.isKeyword("samegroup") {
            throw error(line, .unsupported, "\"\(token.text)\" is not supported in the database column")
        }
        return .name(token.text)
    }

    private mutating func user(_ token: HbaToken, line: Int) -> HbaUser {
        if token.isKeyword("all") { return .all }
        if !token.quoted, token.text.hasPrefix("+"), token.text.count > 1 {
            note(
                .warning, .ignoredSetting, line,
                "group membership \"\(token.text)\" cannot be checked; this item never matches")
            return .groupMembers(String(token.text.dropFirst()))
        }
        return .name(token.text)
    }

    private mutating func address(
        _ field: [HbaToken], fields: [[HbaToken]], index: inout Int, line: Int
    ) throws(ConfigError) -> HbaAddress {
        guard field.count == 1 else {
            throw error(line, .malformedEntry, "the address column must hold a single address")
        }
        let token = field[0]
        if token.isKeyword("all") { return .all }
        if token.isKeyword("samehost") { return .sameHost }
        if token.isKeyword("samenet") {
            note(
                .notice, .ignoredSetting, line,
                "samenet matches loopback clients and the server's own address only (interface netmasks are not looked up)")
            return .sameNet
        }
        if token.text.contains("/") {
            guard let network = IPNetwork(cidr: token.text) else {
                throw error(line, .malformedEntry, "invalid CIDR address \"\(token.text)\"")
            }
            return .network(network)
        }
        if let host = IPAddress(token.text) {
            guard index < fields.count, fields[index].count == 1, let mask = IPAddress(fields[index][0].text),
                let network = IPNetwork(address: host, mask: mask)
            else {
                throw error(
                    line, .malformedEntry,
                    "address \"\(token.text)\" needs a prefix length (\(token.text)/32) or a netmask column")
            }
            index += 1
            return .network(network)
        }
        note(
            .warning, .notSupportedYet, line,
            "host names in pool_hba.conf are not supported yet; the rule for \"\(token.text)\" never matches")
        return .hostname(token.text)
    }

    private func method(_ field: [HbaToken], line: Int) throws(ConfigError) -> HbaMethod {
        let word = field.first?.text.lowercased() ?? ""
        if field.count == 1, let method = HbaMethod(rawValue: word) { return method }
        let unsupported = ["pam", "ldap", "gss", "sspi", "ident", "peer", "radius", "bsd", "krb5", "crypt"]
        if unsupported.contains(word) {
            throw error(line, .unsupported, "authentication method \"\(word)\" is not supported")
        }
        throw error(line, .malformedEntry, "invalid authentication method \"\(field.map(\.text).joined(separator: ","))\"")
    }

    // MARK: - Includes

    /// Replaces `@file` tokens by the words of that file (relative to the directory of pool_hba.conf).
    private func expand(_ tokens: [HbaToken], line: Int, depth: Int = 0) throws(ConfigError) -> [HbaToken] {
        var result: [HbaToken] = []
        for token in tokens {
            guard !token.quoted, token.text.hasPrefix("@"), token.text.count > 1 else {
                result.append(token)
                continue
            }
            guard depth < 10 else {
                throw error(line, .malformedEntry, "@ includes are nested too deeply at \"\(token.text)\"")
            }
            let path = resolvePath(String(token.text.dropFirst()), against: directory)
            let text = try readFile(path)
            var included: [HbaToken] = []
            for (offset, includedLine) in text.configLines.enumerated() {
                let fields = try Self.fields(of: includedLine, file: path, line: offset + 1)
                included += fields.flatMap { $0 }
            }
            result += try expand(included, line: line, depth: depth + 1)
        }
        return result
    }

    // MARK: - Tokens

    /// Splits a line into columns; a column is a comma-separated list of words.
    static func fields(of text: Substring, file: String, line: Int) throws(ConfigError) -> [[HbaToken]] {
        let chars = Array(text.unicodeScalars)
        var index = 0
        var fields: [[HbaToken]] = []
        var current: [HbaToken] = []
        func skipSpaces() {
            while index < chars.count, chars[index] == " " || chars[index] == "\t" || chars[index] == "\r" {
                index += 1
            }
        }
        while true {
            skipSpaces()
            if index >= chars.count || chars[index] == "#" { break }
            var word = String.UnicodeScalarView()
            var quoted = false
            var inQuotes = false
            while index < chars.count {
                let c = chars[index]
                if inQuotes {
                    if c == "\"" {
                        if index + 1 < chars.count, chars[index + 1] == "\"" {
                            word.append("\"")
                            index += 2
                            continue
                        }
                        inQuotes = false
                    } else {
                        word.append(c)
                    }
                    index += 1
                    continue
                }
                if c == " " || c == "\t" || c == "\r" || c == "," || c == "#" { break }
                if c == "\"" {
                    inQuotes = true
                    quoted = true
                } else {
                    word.append(c)
                }
                index += 1
            }
            if inQuotes {
                throw ConfigError(
                    kind: .malformedEntry, file: file, line: line, message: "unterminated quoted string")
            }
            current.append(HbaToken(text: String(word), quoted: quoted))
            if index < chars.count, chars[index] == "," {
                index += 1
                skipSpaces()
                if index < chars.count, chars[index] != "#" { continue }
            }
            fields.append(current)
            current = []
        }
        if !current.isEmpty { fields.append(current) }
        return fields
    }

    // MARK: - Messages

    private func error(_ line: Int, _ kind: ConfigError.Kind, _ message: String) -> ConfigError {
        ConfigError(kind: kind, file: fileName, line: line, message: message)
    }

    private mutating func note(
        _ severity: ConfigDiagnostic.Severity, _ kind: ConfigDiagnostic.Kind, _ line: Int, _ message: String
    ) {
        diagnostics.append(ConfigDiagnostic(severity: severity, kind: kind, file: fileName, line: line, message: message))
    }
}
