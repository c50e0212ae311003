import Cluster
import Configuration
import Foundation
import Logging
import NIOCore
import PostgresWire
import Proxy

/// Every configuration file SwiftPool reads, loaded and turned into the types the components
/// take. Loading never half-succeeds: any error throws a `StartupError` naming file and line.
struct ConfigBundle {
    var config: PoolConfig
    var settings: ProxySettings
    var passwords: [String: PasswordCredential]
    /// Users whose pool_passwd entry was ignored, and why.
    var unusablePasswords: [String: String]
    var authPolicy: ClientAuthPolicy?
    /// The certificate presented to clients, loaded and checked; nil when `ssl` is off.
    var clientTLS: ClientTLS?
    /// TLS to the nodes (`backend_sslmode`, `ssl_ca_cert`).
    var backendTLS: BackendTLS
    /// The admin HTTP server's certificate and key (`http_ssl_cert`, `http_ssl_key`); nil for HTTP.
    var httpTLS: TLSPEM?
    var routing: RoutingConfiguration?
    var nodes: [NodeInfo]
    var primaryDetector: PrimaryDetector
    /// pcp.conf's users: the admin API's and PCP's accounts.
    var pcpUsers: PCPUsers
    /// Warnings to log (unknown parameters, unusable entries), as `file:line: message`.
    var diagnostics: [String]
    /// Parameters set in the file that SwiftPool does not implement yet.
    var notSupportedYet: [String]

    var pidFilePath: String { config.pidFilePath }
    var eventLoopCount: Int { Self.eventLoops(config) }

    /// `num_event_loops`, where zero means one per core.
    static func eventLoops(_ config: PoolConfig) -> Int { config.numEventLoops > 0 ? config.numEventLoops : System.coreCount }
    var logLevel: Logger.Level { Logger.Level(rawValue: config.logMinMessages.logLevelName) ?? .info }

    /// The pid file named by pgpool.conf (for `stop` and `reload`).
    static func pidFilePath(_ files: ConfigFiles) throws -> String {
        try load(files).pidFilePath
    }

    static func load(_ files: ConfigFiles) throws -> ConfigBundle {
        do {
            return try loadOrThrow(files)
        } catch let error as ConfigError {
            throw StartupError(error.description)
        }
    }

    private static func loadOrThrow(_ files: ConfigFiles) throws -> ConfigBundle {
        let loaded = try ConfigLoader.load(path: files.config)
        let config = loaded.config
        var diagnostics: [String] = []
        var notSupported: [String] = []
        for diagnostic in loaded.diagnostics {
            if diagnostic.kind == .notSupportedYet {
                notSupported.append(diagnostic.parameter ?? diagnostic.message)
            } else {
                diagnostics.append(diagnostic.description)
            }
        }
        guard !config.backends.isEmpty else {
            throw StartupError("\(files.config): no backend is configured (set backend_hostname0 and backend_port0)")
        }

        var passwords: [String: PasswordCredential] = [:]
        var unusablePasswords: [String: String] = [:]
        let poolKey = PoolKeyFile.read()
        if case .success = poolKey, let warning = PoolKeyFile.permissionWarning() { diagnostics.append(warning) }
        if let path = config.poolPasswdPath {
            let passwd = try PoolPasswd.load(path: path)
            diagnostics += passwd.diagnostics.map(\.description)
            for entry in passwd.entries {
                switch entry.password {
                case .plain(let text): passwords[entry.user] = .plain(text)
                case .md5(let hash): passwords[entry.user] = .md5(hash)
                case .scramSHA256(let verifier):
                    if let keys = SCRAMKeys(verifier: verifier) {
                        passwords[entry.user] = .scram(keys)
                    } else {
                        diagnostics.append("\(path):\(entry.line): malformed SCRAM-SHA-256 verifier for user \"\(entry.user)\"; entry ignored")
                    }
                case .aesEncrypted(let text):
                    switch poolKey {
                    case .success(let key):
                        do {
                            passwords[entry.user] = .plain(try AESPassword.decrypt(base64: text, key: key))
                        } catch {
                            diagnostics.append("\(path):\(entry.line): cannot decrypt the AES password of user \"\(entry.user)\" (wrong key or damaged entry); entry ignored")
                            unusablePasswords[entry.user] = "the AES password in pool_passwd cannot be decrypted with the key in .pgpoolkey (wrong key or damaged entry)"
                        }
                    case .failure(let problem):
                        diagnostics.append("\(path):\(entry.line): AES password of user \"\(entry.user)\" ignored: \(problem.description)")
                        unusablePasswords[entry.user] = "the AES password in pool_passwd cannot be decrypted: \(problem.description)"
                    }
                }
            }
        }

        var authPolicy: ClientAuthPolicy?
        if config.enablePoolHba {
            let path = files.hba ?? config.defaultPoolHbaPath
            let hba = try PoolHba.load(path: path)
            diagnostics += hba.diagnostics.map(\.description)
            authPolicy = HbaPolicy.make(hba)
        }
        var pcpUsers = PCPUsers(users: [])
        if let pcp = files.pcp ?? (FileManager.default.fileExists(atPath: config.defaultPCPConfigPath) ? config.defaultPCPConfigPath : nil) {
            pcpUsers = try PCPUsers.load(path: pcp)
        }

        let nodes = config.backends.map {
            NodeInfo(id: $0.index, host: $0.hostname, port: $0.port, weight: $0.weight, dataDirectory: $0.dataDirectory,
                     applicationName: $0.applicationName, flags: $0.flags)
        }
        let check = config.streamingReplicationCheck
        let detectorPassword = resolvePassword(check.password, user: check.user, passwords: passwords)
        let detector = PrimaryDetector(
            user: check.user, password: detectorPassword, database: check.database,
            connectTimeoutSeconds: Int(config.healthCheckDefaults.connectTimeout.components.seconds))

        let routing = try RoutingConfig.make(config, file: files.config)
        var settings = settings(from: config)
        settings.poolModeRules = try poolModeRules(config, file: files.config)
        settings.transactionPoolSizeRules = try userDatabaseRules("transaction_pool_size_list", config, file: files.config) {
            (text) throws(PoolModeRulesError) in try PoolSizeRules(text)
        }
        if let warning = settings.transactionPoolSizeWarning(eventLoops: eventLoops(config)) { diagnostics.append("\(files.config): \(warning)") }
        return ConfigBundle(
            config: config, settings: settings, passwords: passwords, unusablePasswords: unusablePasswords, authPolicy: authPolicy,
            clientTLS: try clientTLS(config.ssl, file: files.config), backendTLS: try backendTLS(config.ssl, file: files.config),
            httpTLS: try httpTLS(config.http, file: files.config),
            routing: routing, nodes: nodes, primaryDetector: detector, pcpUsers: pcpUsers, diagnostics: diagnostics,
            notSupportedYet: notSupported)
    }

    /// Loads the client certificate when `ssl` is on; an unusable file is a start-up error that
    /// names it.
    static func clientTLS(_ ssl: SSLConfig, file: String) throws -> ClientTLS? {
        guard ssl.enabled else { return nil }
        do {
            return try ClientTLS(files: TLSFiles(certificate: ssl.certificateFile, key: ssl.keyFile, ciphers: ssl.ciphers,
                                                 clientCA: ssl.caFile, clientCADirectory: ssl.caDirectory,
                                                 revocationList: ssl.crlFile, passphraseCommand: ssl.passphraseCommand,
                                                 curves: ssl.ecdhCurve))
        } catch {
            throw StartupError("\(file): ssl is on but \(error.description)")
        }
    }

    /// The HTTP server's certificate when `http_ssl_cert` or `http_ssl_key` is set (both are
    /// needed).
    static func httpTLS(_ http: HTTPConfig, file: String) throws -> TLSPEM? {
        guard !http.certificateFile.isEmpty || !http.keyFile.isEmpty else { return nil }
        do {
            return try TLSPEM(files: TLSFiles(certificate: http.certificateFile, key: http.keyFile))
        } catch {
            throw StartupError("\(file): http_ssl_cert/http_ssl_key: \(error.description)")
        }
    }

    /// The TLS policy to the nodes; a CA file that cannot be read is a start-up error.
    static func backendTLS(_ ssl: SSLConfig, file: String) throws -> BackendTLS {
        let mode = BackendTLS.Mode(rawValue: ssl.effectiveBackendMode) ?? .disable
        do {
            return try BackendTLS(mode: mode, caFile: ssl.caFile, caDirectory: ssl.caDirectory)
        } catch {
            throw StartupError("\(file): backend_sslmode = \(mode.rawValue) but \(error.description)")
        }
    }

    /// What the health checker checks, with passwords resolved (`''` looks in pool_passwd).
    func healthCheckTargets(cluster: ClusterState) -> [HealthChecker.Target] {
        config.backends.compactMap { backend in
            guard let node = cluster.snapshot.nodes.first(where: { $0.id == backend.index }) else { return nil }
            let settings = backend.healthCheck
            return HealthChecker.Target(node: node, settings: settings,
                                        password: Self.resolvePassword(settings.password, user: settings.user, passwords: passwords))
        }
    }

    /// A check user's password as pgpool.conf gives it: `''` looks in pool_passwd, `TEXT` and
    /// `AES` prefixes as there; an md5 hash cannot log in and gives nil.
    static func resolvePassword(_ setting: String, user: String, passwords: [String: PasswordCredential]) -> String? {
        if setting.isEmpty { return passwords[exactly: user]?.plainText }
        switch StoredPassword(stored: setting) {
        case .plain(let text): return text
        case .aesEncrypted(let text):
            return (try? PoolKeyFile.read().get()).flatMap { try? AESPassword.decrypt(base64: text, key: $0) }
        default: return nil
        }
    }

    /// The streaming-replication check's settings.
    var replicationCheck: ReplicationChecker.Settings {
        ReplicationChecker.Settings(
            check: config.streamingReplicationCheck, password: primaryDetector.password,
            connectTimeoutSeconds: primaryDetector.connectTimeoutSeconds, failover: config.failover)
    }

    /// read_your_writes' position reads (as sr_check_user); off without read/write splitting.
    var walPositionCheck: WALPositionTracker.Settings {
        var period = Duration.milliseconds(50)
        if case .integer(let milliseconds)? = config.typedValue("read_your_writes_check_period") { period = .milliseconds(milliseconds) }
        return WALPositionTracker.Settings(enabled: routing?.settings.readYourWrites ?? false, period: period,
                                           connection: replicationCheck)
    }

    /// The credentials SwiftPool's own catalog look-ups use (sr_check_user, as Pgpool-II does).
    func catalogLookup(primary: NodeInfo?) -> CatalogLookup? {
        guard let primary else { return nil }
        return CatalogLookup(host: primary.host, port: primary.port, user: primaryDetector.user,
                             password: primaryDetector.password,
                             connectTimeoutSeconds: primaryDetector.connectTimeoutSeconds)
    }

    static func settings(from config: PoolConfig) -> ProxySettings {
        var settings = ProxySettings()
        settings.listenAddresses = config.listenAddresses
        settings.port = config.port
        settings.socketDirectory = config.socketDirectory.isEmpty ? nil : config.socketDirectory
        settings.numInitChildren = config.numInitChildren
        settings.reservedConnections = config.reservedConnections
        settings.listenBacklogMultiplier = config.listenBacklogMultiplier
        settings.maxPool = config.maxPool
        settings.connectionCache = config.connectionCache
        settings.connectionLifeTime = TimeAmount(config.connectionLifeTime)
        settings.clientIdleLimit = TimeAmount(config.clientIdleLimit)
        settings.authenticationTimeout = TimeAmount(config.authenticationTimeout)
        settings.clientWaitTimeout = TimeAmount(config.clientWaitTimeout)
        settings.resetQueries = config.resetQueryList
        settings.allowClearTextFrontendAuth = config.allowClearTextFrontendAuth
        settings.maxMessageLength = config.maxMessageLength
        settings.logConnections = config.logConnections
        settings.logDisconnections = config.logDisconnections
        if case .string(let mode)? = config.typedValue("pool_mode") { settings.poolMode = PoolMode(rawValue: mode) ?? .session }
        if case .integer(let size)? = config.typedValue("transaction_pool_size") { settings.transactionPoolSize = Int(size) }
        if case .integer(let seconds)? = config.typedValue("transaction_pool_timeout") {
            settings.transactionPoolTimeout = .seconds(seconds)
        }
        if case .integer(let count)? = config.typedValue("transaction_pool_prepared_statements") {
            settings.transactionPoolPreparedStatements = Int(count)
        }
        if case .bool(let on)? = config.typedValue("transaction_pool_pinning") { settings.transactionPoolPinning = on }
        if config.healthCheckDefaults.connectTimeout > .zero {
            settings.backendConnectTimeout = TimeAmount(config.healthCheckDefaults.connectTimeout)
        }
        return settings
    }

    /// `pool_mode_list`; a malformed entry is a configuration error naming file and line.
    static func poolModeRules(_ config: PoolConfig, file: String) throws -> PoolModeRules {
        try userDatabaseRules("pool_mode_list", config, file: file) { (text) throws(PoolModeRulesError) in try PoolModeRules(text) }
    }

    /// A `[user@]database:value` list parameter; a malformed entry is a configuration error
    /// naming file and line.
    static func userDatabaseRules<Value>(_ name: String, _ config: PoolConfig, file: String,
                                         parse: (String) throws(PoolModeRulesError) -> UserDatabaseRules<Value>) throws
        -> UserDatabaseRules<Value> {
        guard let text = config.value(name), !text.isEmpty else { return UserDatabaseRules() }
        do {
            return try parse(text)
        } catch {
            let line = config.settings[name].map { ":\($0.line)" } ?? ""
            throw StartupError("\(file)\(line): invalid value for parameter \"\(name)\": \(error.description)")
        }
    }

    /// Restart-only parameters whose value differs from the running configuration.
    func restartRequired(comparedWith running: ConfigBundle) -> [String] {
        ReloadPlan(from: running.config, to: config).restartRequired
    }
}

extension PasswordCredential {
    var plainText: String? {
        if case .plain(let text) = self { return text }
        return nil
    }
}

/// The key for AES entries in pool_passwd: the first line of `$PGPOOLKEYFILE` or `~/.pgpoolkey`,
/// as Pgpool-II reads it.
enum PoolKeyFile {
    static var path: String {
        if let path = ProcessInfo.processInfo.environment["PGPOOLKEYFILE"], !path.isEmpty { return path }
        return (ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()) + "/.pgpoolkey"
    }

    static func read() -> Result<String, StartupError> {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return .failure(StartupError("no key file \(path) (set PGPOOLKEYFILE)"))
        }
        guard let line = text.split(whereSeparator: \.isNewline).first, !line.isEmpty else {
            return .failure(StartupError("key file \(path) is empty"))
        }
        return .success(String(line))
    }

    /// Pgpool-II warns when the key file can be read by others.
    static func permissionWarning() -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 else { return nil }
        return "\(path): key file is readable by group or others; it should be mode 0600"
    }
}

extension ConfigBundle {
    /// Makes what a reload reports true: parameters that need a restart keep their running values,
    /// in the settings every report reads and in the node list (an existing node's host and port).
    mutating func keepRunningValues(of names: [String], from running: ConfigBundle) {
        for name in names {
            config.settings[name] = running.config.settings[name]
        }
        nodes = nodes.map { node in
            guard let old = running.nodes.first(where: { $0.id == node.id }),
                  names.contains("backend_hostname\(node.id)") || names.contains("backend_port\(node.id)")
            else { return node }
            var kept = node
            kept.host = old.host
            kept.port = old.port
            return kept
        }
    }
}
