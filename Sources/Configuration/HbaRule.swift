/// The first column of a pool_hba.conf line.
public enum HbaConnectionType: String, Sendable, Equatable {
    /// Unix-domain socket connections.
    case local
    /// TCP connections, with or without SSL.
    case host
    /// TCP connections with SSL only.
    case hostssl
    /// TCP connections without SSL only.
    case hostnossl
}

/// One item of the database column.
public enum HbaDatabase: Sendable, Equatable {
    /// `all`.
    case all
    /// `sameuser`: the database named like the user.
    case sameUser
    /// A database name (a quoted keyword is a name too).
    case name(String)
}

/// One item of the user column.
public enum HbaUser: Sendable, Equatable {
    /// `all`.
    case all
    /// A user name.
    case name(String)
    /// `+group`: membership needs the catalog, so the item never matches (with a diagnostic).
    case groupMembers(String)
}

/// The address column of a `host*` line.
public enum HbaAddress: Sendable, Equatable {
    /// `all`.
    case all
    /// `samehost`: matches loopback clients and clients connecting from the server's own address.
    case sameHost
    /// `samenet`: treated like `samehost` (interface netmasks are not looked up).
    case sameNet
    /// A CIDR network or an address with a netmask.
    case network(IPNetwork)
    /// A host name: not supported, never matches (with a diagnostic).
    case hostname(String)
}

/// The authentication method of a line.
public enum HbaMethod: String, Sendable, Equatable {
    /// Accept without a password.
    case trust
    /// Refuse the connection.
    case reject
    /// MD5 challenge.
    case md5
    /// SCRAM-SHA-256.
    case scramSHA256 = "scram-sha-256"
    /// Clear-text password.
    case password
    /// A TLS client certificate signed by `ssl_ca_cert` whose common name is the user
    /// (`hostssl` lines only).
    case cert
}

/// One rule of pool_hba.conf.
public struct HbaRule: Sendable, Equatable {
    /// The file the rule came from (an `@file` include does not change it).
    public var file: String
    /// The 1-based line number.
    public var line: Int
    /// The connection type.
    public var connectionType: HbaConnectionType
    /// Databases the rule applies to (any of them).
    public var databases: [HbaDatabase]
    /// Users the rule applies to (any of them).
    public var users: [HbaUser]
    /// Client addresses; nil for `local` rules.
    public var address: HbaAddress?
    /// The authentication method.
    public var method: HbaMethod
    /// `name=value` options after the method; they are ignored.
    public var options: [String]

    /// Creates a rule.
    public init(
        file: String, line: Int, connectionType: HbaConnectionType, databases: [HbaDatabase], users: [HbaUser],
        address: HbaAddress?, method: HbaMethod, options: [String] = []
    ) {
        self.file = file
        self.line = line
        self.connectionType = connectionType
        self.databases = databases
        self.users = users
        self.address = address
        self.method = method
        self.options = options
    }

    /// Whether the rule applies to `connection`.
    public func matches(_ connection: HbaConnection) -> Bool {
        switch (connectionType, connection.kind) {
        case (.local, .local): break
        case (.host, .host): break
        case (.hostssl, .host): guard connection.isSSL else { return false }
        case (.hostnossl, .host): guard !connection.isSSL else { return false }
        default: return false
        }
        guard databases.contains(where: { $0.matches(database: connection.database, user: connection.user) }),
            users.contains(where: { $0.matches(connection.user) })
        else { return false }
        guard case .host(let clientText) = connection.kind, let address else { return true }
        return address.matches(client: clientText, serverAddress: connection.serverAddress)
    }
}

/// The facts about a client connection that pool_hba.conf rules look at.
public struct HbaConnection: Sendable, Equatable {
    /// How the client is connected.
    public enum Kind: Sendable, Equatable {
        /// Through the Unix-domain socket.
        case local
        /// Over TCP from `address` (IPv4 or IPv6 text).
        case host(address: String)
    }

    /// How the client is connected.
    public var kind: Kind
    /// Whether the connection uses SSL.
    public var isSSL: Bool
    /// The database from the startup packet.
    public var database: String
    /// The user from the startup packet.
    public var user: String
    /// The local address the client connected to, for `samehost` / `samenet`.
    public var serverAddress: String?

    /// Creates a connection description.
    public init(kind: Kind, isSSL: Bool = false, database: String, user: String, serverAddress: String? = nil) {
        self.kind = kind
        self.isSSL = isSSL
        self.database = database
        self.user = user
        self.serverAddress = serverAddress
    }
}

extension HbaDatabase {
    func matches(database: String, user: String) -> Bool {
        switch self {
        case .all: true
        case .sameUser: database.hasSameBytes(as: user)
        case .name(let name): name.hasSameBytes(as: database)
        }
    }
}

extension HbaUser {
    func matches(_ user: String) -> Bool {
        switch self {
        case .all: true
        case .name(let name): name.hasSameBytes(as: user)
        case .groupMembers: false
        }
    }
}

extension HbaAddress {
    func matches(client text: String, serverAddress: String?) -> Bool {
        guard let client = IPAddress(text) else { return false }
        switch self {
        case .all:
            return true
        case .sameHost, .sameNet:
            if client.isLoopback { return true }
            guard let serverAddress, let server = IPAddress(serverAddress) else { return false }
            let width = server.bytes.count * 8
            return IPNetwork(address: server, prefixLength: width)?.contains(client) ?? false
        case .network(let network):
            return network.contains(client)
        case .hostname:
            return false
        }
    }
}
