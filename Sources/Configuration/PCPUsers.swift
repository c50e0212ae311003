/// One `username:md5hex` line of pcp.conf.
public struct PCPUser: Sendable, Equatable {
    /// The PCP user name.
    public var user: String
    /// md5 of the password, 32 lower-case hex digits (as `pg_md5 password` prints it).
    public var passwordMD5: String
    /// The 1-based line number.
    public var line: Int

    /// Creates an entry.
    public init(user: String, passwordMD5: String, line: Int) {
        self.user = user
        self.passwordMD5 = passwordMD5
        self.line = line
    }
}

/// pcp.conf: the users of the PCP administration protocol.
///
/// Lines are `username:md5hex` where md5hex is the md5 of the password (not salted with the user
/// name, unlike pool_passwd). Blank lines and lines starting with `#` are skipped; anything else
/// that is not a user name, a colon and 32 hex digits is an error.
public struct PCPUsers: Sendable, Equatable {
    /// The users in file order.
    public var users: [PCPUser]

    /// Creates the user list.
    public init(users: [PCPUser]) {
        self.users = users
    }

    /// The md5 of `user`'s password, if the user exists (the first entry wins).
    public func passwordMD5(for user: String) -> String? {
        users.first { $0.user.hasSameBytes(as: user) }?.passwordMD5
    }

    /// Reads the file at `path`.
    public static func load(path: String) throws(ConfigError) -> PCPUsers {
        try parse(text: readConfigText(path, what: "pcp.conf file"), fileName: path)
    }

    /// Parses `text`; `fileName` is used in messages.
    public static func parse(text: String, fileName: String) throws(ConfigError) -> PCPUsers {
        var users: [PCPUser] = []
        for (offset, rawLine) in text.configLines.enumerated() {
            let content = rawLine.trimmingConfigSpaces()
            if content.isEmpty || content.hasPrefix("#") { continue }
            guard let (user, stored) = content.splitOnce(atScalar: ":"), !user.isEmpty else {
                throw ConfigError(
                    kind: .malformedEntry, file: fileName, line: offset + 1,
                    message: "malformed pcp.conf entry: expected \"username:md5hex\"")
            }
            let hash = stored.trimmingConfigSpaces()
            guard hash.count == 32, hash.allSatisfy(\.isHexDigit) else {
                throw ConfigError(
                    kind: .malformedEntry, file: fileName, line: offset + 1,
                    message: "malformed pcp.conf entry for user \"\(user)\": the password must be "
                        + "32 hex digits of md5 (pg_md5 prints them)")
            }
            users.append(PCPUser(user: user, passwordMD5: hash.lowercased(), line: offset + 1))
        }
        return PCPUsers(users: users)
    }
}
