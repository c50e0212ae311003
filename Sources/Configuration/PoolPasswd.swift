/// A password as pool_passwd (or `health_check_password`, `sr_check_password`) stores it; the
/// kind is told by the prefix.
public enum StoredPassword: Sendable, Equatable {
    /// Clear text: no prefix, or the `TEXT` prefix (removed here).
    case plain(String)
    /// `md5` followed by 32 hex digits: md5(password ‖ user name), as `pg_md5 -m` writes it.
    /// Enough for md5 authentication on both sides; not for SCRAM.
    case md5(String)
    /// A `SCRAM-SHA-256$…` verifier: recognised, but it cannot log in to a backend.
    case scramSHA256(String)
    /// `AES` followed by base64 text, as `pg_enc -m` writes it; decrypted with the key from
    /// `$PGPOOLKEYFILE` or `~/.pgpoolkey` by the executable (this library only parses).
    case aesEncrypted(String)

    /// Classifies a stored password by its prefix, as Pgpool-II's `get_password_type` does.
    public init(stored text: String) {
        if text.hasPrefix("md5"), text.count == 35, text.dropFirst(3).allSatisfy(\.isHexDigit) {
            self = .md5(text)
        } else if let base64 = text.droppingScalarPrefix("AES") {
            self = .aesEncrypted(base64)
        } else if let password = text.droppingScalarPrefix("TEXT") {
            self = .plain(password)
        } else if text.unicodeScalars.starts(with: "SCRAM-SHA-256$".unicodeScalars) {
            self = .scramSHA256(text)
        } else {
            self = .plain(text)
        }
    }

    /// The clear-text password, when it is stored in clear.
    public var plainText: String? {
        if case .plain(let password) = self { return password }
        return nil
    }
}

/// One `user:password` line of pool_passwd.
public struct PoolPasswdEntry: Sendable, Equatable {
    /// The user name.
    public var user: String
    /// The stored password.
    public var password: StoredPassword
    /// The 1-based line number.
    public var line: Int

    /// Creates an entry.
    public init(user: String, password: StoredPassword, line: Int) {
        self.user = user
        self.password = password
        self.line = line
    }
}

/// The pool_passwd file: the passwords SwiftPool uses to authenticate to the backends on a
/// client's behalf (and to check the client's password).
///
/// Lines are `user:password`; the password is everything after the first colon. Blank lines and
/// lines starting with `#` are skipped. When a user appears twice the first line counts, as in
/// Pgpool-II, and a warning is returned.
public struct PoolPasswd: Sendable, Equatable {
    /// The entries in file order (duplicates removed).
    public var entries: [PoolPasswdEntry]
    /// Remarks to log once: duplicate users.
    public var diagnostics: [ConfigDiagnostic]

    /// Creates a password file from entries.
    public init(entries: [PoolPasswdEntry], diagnostics: [ConfigDiagnostic] = []) {
        self.entries = entries
        self.diagnostics = diagnostics
    }

    /// The stored password of `user`, if the file has one.
    public func password(for user: String) -> StoredPassword? {
        entries.first { $0.user.hasSameBytes(as: user) }?.password
    }

    /// Reads the file at `path`.
    public static func load(path: String) throws(ConfigError) -> PoolPasswd {
        try parse(text: readConfigText(path, what: "pool_passwd file"), fileName: path)
    }

    /// Parses `text`; `fileName` is used in messages.
    public static func parse(text: String, fileName: String) throws(ConfigError) -> PoolPasswd {
        var entries: [PoolPasswdEntry] = []
        var diagnostics: [ConfigDiagnostic] = []
        var seen: [String: Int] = [:]
        for (offset, rawLine) in text.configLines.enumerated() {
            let line = offset + 1
            var content = Substring(rawLine)
            if content.last == "\r" { content.removeLast() }
            let trimmed = content.trimmingConfigSpaces()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let (user, stored) = content.splitOnce(atScalar: ":"), !user.isEmpty else {
                throw ConfigError(
                    kind: .malformedEntry, file: fileName, line: line,
                    message: "malformed pool_passwd entry: expected \"user:password\"")
            }
            let password = StoredPassword(stored: stored)
            if let index = seen.index(forKey: user) {
                // Swift's String equality also merges canonically equivalent names, which
                // PostgreSQL holds apart; the first one wins and lookups need its exact bytes.
                let (earlier, first) = seen[index]
                let form = earlier.hasSameBytes(as: user) ? "" : " (the same name in another Unicode normalization form)"
                diagnostics.append(
                    ConfigDiagnostic(
                        severity: .warning, kind: .ignoredSetting, file: fileName, line: line,
                        message: "user \"\(user)\" already has an entry on line \(first)\(form); this one is ignored"))
                continue
            }
            seen[user] = line
            entries.append(PoolPasswdEntry(user: user, password: password, line: line))
        }
        return PoolPasswd(entries: entries, diagnostics: diagnostics)
    }
}
