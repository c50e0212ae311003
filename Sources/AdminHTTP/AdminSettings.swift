import Configuration
import Foundation

/// Settings of the HTTP admin surface that a reload may change, read from the configuration in
/// effect for every request.
public struct AdminSettings: Sendable {
    public var authenticator: AdminAuthenticator
    public var metricsNeedAuthentication: Bool
    public var pgpool2Metrics: Bool
    /// `num_init_children × max_pool`.
    public var poolCapacity: Int

    public init(authenticator: AdminAuthenticator, metricsNeedAuthentication: Bool, pgpool2Metrics: Bool, poolCapacity: Int) {
        self.authenticator = authenticator
        self.metricsNeedAuthentication = metricsNeedAuthentication
        self.pgpool2Metrics = pgpool2Metrics
        self.poolCapacity = poolCapacity
    }

    /// The settings of a configuration: pcp.conf's users and the bearer token from its file.
    public init(config: PoolConfig, users: PCPUsers) {
        let http = config.http
        var token: String?
        if !http.bearerTokenFile.isEmpty {
            token = (try? String(contentsOfFile: http.bearerTokenFile, encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        self.init(
            authenticator: AdminAuthenticator(users: users, bearerToken: token),
            metricsNeedAuthentication: http.metricsNeedAuthentication, pgpool2Metrics: http.pgpool2Metrics,
            poolCapacity: config.numInitChildren * config.maxPool)
    }
}
