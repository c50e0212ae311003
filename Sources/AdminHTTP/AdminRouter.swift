import AdminCore
import Cluster
import Dispatch
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import Proxy

/// Routes the HTTP server's requests: `/metrics`, `/healthz`, `/readyz` and the JSON admin API
/// under `/api/v1`. Runs on the HTTP server's threads; waits there for async work.
public final class AdminRouter: Sendable {
    let services: AdminServices
    private let logger: Logger
    private let scrapes = NIOLockedValueBox<(count: Int, lastDuration: Double)>((0, 0))

    public init(services: AdminServices, logger: Logger) {
        self.services = services
        self.logger = logger
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch segments.first {
        case nil:
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET") }
            // The page holds no data; it reads the API with the credentials the operator enters.
            return HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: Array(StatusPage.html.utf8),
                                headers: [("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"),
                                          ("X-Frame-Options", "DENY")])
        case "metrics" where segments.count == 1:
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET") }
            if settings().metricsNeedAuthentication, let refusal = authenticate(request) { return refusal }
            return metrics()
        case "healthz" where segments.count == 1:
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET") }
            return .json(AdminAPIModels.Health(status: "ok"))
        case "readyz" where segments.count == 1:
            guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET") }
            let snapshot = services.cluster.snapshot
            let ready = snapshot.primary?.status.isUsable ?? false
            return .json(AdminAPIModels.Readiness(ready: ready, primaryNodeId: ready ? snapshot.primaryNodeID : nil), status: ready ? 200 : 503)
        case "api" where segments == ["api", "v1", "watchdog", "leader"]:
            return leaderCheck(request)
        case "api" where segments.count >= 2 && segments[1] == "v1":
            if let refusal = authenticate(request) { return refusal }
            if let reason = CrossSiteGuard.refusal(request) {
                logger.warning("admin API request refused", metadata: ["path": "\(request.path)", "reason": "\(reason)"])
                return .error(403, "forbidden", reason)
            }
            return api(request, Array(segments.dropFirst(2)))
        default:
            return .error(404, "not_found", "no such resource: \(request.path)")
        }
    }

    /// The HTTP settings in effect (a reload may change them).
    private func settings() -> AdminSettings {
        AdminSettings(config: services.config(), users: services.pcpUsers())
    }

    // MARK: Authentication

    private func authenticate(_ request: HTTPRequest) -> HTTPResponse? {
        // The status page signs in itself; a challenge would make the browser ask on its own.
        let challenge = request.header("x-swiftpool-client") == nil
            ? [("WWW-Authenticate", "Basic realm=\"SwiftPool\", charset=\"UTF-8\"")] : []
        switch settings().authenticator.check(request.header("authorization")) {
        case .allowed:
            return nil
        case .missing:
            return .error(401, "unauthorized", "authentication required (HTTP Basic with a pcp.conf user, or a bearer token)", headers: challenge)
        case .denied(let user):
            logger.warning("admin API authentication failed", metadata: ["user": "\(user ?? "-")", "path": "\(request.path)"])
            return .error(401, "unauthorized", "wrong user name, password or token", headers: challenge)
        }
    }

    // MARK: /api/v1

    private func api(_ request: HTTPRequest, _ path: [String]) -> HTTPResponse {
        switch (path.first, path.count) {
        case ("status", 1):
            return get(request) { status() }
        case ("nodes", 1):
            return get(request) { .json(AdminAPIModels.NodeList(nodes: services.cluster.snapshot.nodes.map(nodeModel))) }
        case ("nodes", 2):
            guard let id = Int(path[1]) else { return badNodeID(path[1]) }
            return get(request) {
                guard let node = services.cluster.snapshot.node(id) else { return .error(404, "not_found", "backend node \(id) does not exist") }
                return .json(nodeModel(node))
            }
        case ("nodes", 3):
            guard let id = Int(path[1]) else { return badNodeID(path[1]) }
            guard ["attach", "detach", "promote"].contains(path[2]) else { return .error(404, "not_found", "no such resource: \(request.path)") }
            guard request.method == "POST" else { return methodNotAllowed("POST") }
            return nodeOperation(path[2], id: id, request: request)
        case ("reload", 1):
            guard request.method == "POST" else { return methodNotAllowed("POST") }
            let report = services.reload()
            if !report.reloaded {
                return .error(400, "invalid_configuration", report.error ?? "the configuration was refused")
            }
            logger.warning("configuration reloaded through the admin API")
            return .json(report)
        case ("pool", 1):
            return get(request) { pool() }
        case ("sessions", 1):
            return get(request) {
                let sessions = wait { await self.services.proxySnapshot() }.sessions.map {
                    AdminAPIModels.Session(id: $0.id, user: $0.user, database: $0.database, applicationName: $0.applicationName,
                                           clientAddress: $0.clientAddress, state: $0.state,
                                           since: AdminAPIModels.timestamp($0.since) ?? "", backendNodes: $0.backendNodes,
                                           poolMode: $0.poolMode, pinned: $0.pinned, preparedStatements: $0.preparedStatements)
                }
                return HTTPResponse(status: 200, contentType: "application/json",
                                    body: AdminAPIModels.SessionList(sessions: sessions).jsonBody())
            }
        case ("watchdog", 1):
            return get(request) { .json(Self.watchdogModel(services.watchdogReport)) }
        case ("watchdog", 4) where path[1] == "members" && path[3] == "lifecheck":
            return externalLifecheck(request, memberText: path[2])
        case ("config", 1):
            return get(request) { .json(AdminAPIModels.Configuration(parameters: services.configuration())) }
        default:
            return .error(404, "not_found", "no such resource: \(request.path)")
        }
    }

    /// An integer too large for any node is simply not a node; anything else is malformed.
    private func badNodeID(_ text: String) -> HTTPResponse {
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) { return .error(404, "not_found", "backend node \(text) does not exist") }
        return .error(400, "bad_request", "node id must be an integer: \(text)")
    }

    private func get(_ request: HTTPRequest, _ body: () -> HTTPResponse) -> HTTPResponse {
        guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET") }
        return body()
    }

    private func methodNotAllowed(_ allowed: String) -> HTTPResponse {
        .error(405, "method_not_allowed", "use \(allowed)", headers: [("Allow", allowed == "GET" ? "GET, HEAD" : allowed)])
    }

    private func nodeOperation(_ operation: String, id: Int, request: HTTPRequest) -> HTTPResponse {
        let options: [String: String]
        switch Self.options(request) {
        case .success(let parsed): options = parsed
        case .failure(let message): return .error(400, "bad_request", message)
        }
        let coordinator = services.coordinator
        var outcome: NodeOperationRefusal?
        switch operation {
        case "attach":
            outcome = wait { await Self.refusal { try await coordinator.attach(id) } }
        case "detach":
            for mode in [request.query["mode"], options["mode"]].compactMap({ $0 }) where mode != "immediate" && mode != "graceful" {
                return .error(400, "bad_request", "mode must be \"immediate\" or \"graceful\", not \"\(mode)\"")
            }
            let mode = options["mode"] ?? "immediate"
            outcome = wait { await Self.refusal { try await coordinator.detach(id, immediate: mode == "immediate") } }
        default:
            for text in [request.query["switchover"], options["switchover"]].compactMap({ $0 }) where Bool(text) == nil {
                return .error(400, "bad_request", "switchover must be true or false, not \"\(text)\"")
            }
            let switchover = Bool(options["switchover"] ?? "false") ?? false
            outcome = wait { await Self.refusal { try await coordinator.promote(id, switchover: switchover) } }
        }
        if let outcome {
            if case .noSuchNode = outcome { return .error(404, "not_found", outcome.description) }
            if case .noCoordinator = outcome { return .error(503, "no_watchdog_leader", outcome.description) }
            return .error(409, "conflict", outcome.description)
        }
        logger.warning("admin API: \(operation) of backend node \(id)")
        guard let node = services.cluster.snapshot.node(id) else { return .error(404, "not_found", "backend node \(id) does not exist") }
        return .json(AdminAPIModels.NodeOperation(result: "ok", node: nodeModel(node)))
    }

    /// Options from the query string or a JSON object body (the body wins).
    static func options(_ request: HTTPRequest) -> OptionsResult {
        var options = request.query
        guard !request.body.isEmpty else { return .success(options) }
        struct Body: Decodable {
            var mode: String?
            var switchover: Bool?
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(request.body)) else {
            return .failure("the body must be a JSON object such as {\"mode\": \"graceful\"} or {\"switchover\": true}")
        }
        if let mode = body.mode { options["mode"] = mode }
        if let switchover = body.switchover { options["switchover"] = switchover ? "true" : "false" }
        return .success(options)
    }

    enum OptionsResult {
        case success([String: String])
        case failure(String)
    }

    static func refusal(_ body: () async throws -> Void) async -> NodeOperationRefusal? {
        do {
            try await body()
            return nil
        } catch let refusal as NodeOperationRefusal {
            return refusal
        } catch {
            return nil
        }
    }

    private func nodeModel(_ node: NodeInfo) -> AdminAPIModels.Node {
        AdminAPIModels.node(node, selects: services.runtime.statistics.counters(for: node.id).value(.select),
                            health: services.healthStatistics(node.id).snapshot)
    }

    private func status() -> HTTPResponse {
        let snapshot = services.cluster.snapshot
        let sessions = wait { await self.services.proxySnapshot() }.sessions
        let now = Date().timeIntervalSince1970
        let failovers = services.coordinator.statistics
        return .json(AdminAPIModels.Status(
            version: services.version, startedAt: AdminAPIModels.timestamp(services.startTime) ?? "",
            uptimeSeconds: (now - services.startTime).rounded(), primaryNodeId: snapshot.primaryNodeID,
            nodesUp: snapshot.nodes.filter(\.status.isUsable).count, nodesDown: snapshot.nodes.filter { $0.status == .down }.count,
            nodesTotal: snapshot.nodes.count, clients: clients(sessions),
            failovers: AdminAPIModels.Failovers(
                total: failovers.total,
                byReason: Dictionary(uniqueKeysWithValues: FailoverReason.allCases.map { ($0.rawValue, failovers.byReason[$0] ?? 0) }),
                lastAt: AdminAPIModels.timestamp(failovers.lastFailover))))
    }

    private func clients(_ sessions: [ProxySnapshot.Session]) -> AdminAPIModels.Clients {
        AdminAPIModels.Clients(
            active: sessions.filter { $0.state == "active" }.count, idle: sessions.filter { $0.state == "idle" }.count,
            idleInTransaction: sessions.filter { $0.state.hasPrefix("idle in transaction") }.count,
            waiting: services.runtime.admission.waitingCount, max: services.runtime.settings.numInitChildren)
    }

    private func pool() -> HTTPResponse {
        let proxy = wait { await self.services.proxySnapshot() }
        let capacity = settings().poolCapacity
        let inUse = proxy.connectionsInUse
        let held = inUse.values.reduce(0, +) + proxy.idleConnections.values.reduce(0, +)
        return .json(AdminAPIModels.Pool(
            clientSlotsUsed: services.runtime.admission.activeCount, clientSlotsMax: services.runtime.settings.numInitChildren,
            clientsWaiting: services.runtime.admission.waitingCount, backendConnectionsMax: capacity,
            occupancyRatio: capacity > 0 ? Double(held) / Double(capacity) : 0,
            nodes: services.cluster.snapshot.nodes.map {
                AdminAPIModels.PoolNode(nodeId: $0.id, inUse: inUse[$0.id] ?? 0, idle: proxy.idleConnections[$0.id] ?? 0,
                                        waiting: proxy.transactionPool[$0.id]?.waiting ?? 0)
            }))
    }

    // MARK: /metrics

    private func metrics() -> HTTPResponse {
        let started = ContinuousClock.now
        let settings = settings()
        let proxy = wait { await self.services.proxySnapshot() }
        let snapshot = services.cluster.snapshot
        let (count, last) = scrapes.withLockedValue { $0 }
        let input = MetricsInput(
            version: services.version, snapshot: snapshot, queries: services.runtime.statistics.all,
            health: Dictionary(uniqueKeysWithValues: snapshot.nodes.map { ($0.id, services.healthStatistics($0.id)) }),
            failovers: services.coordinator.statistics, connections: services.runtime.connections, proxy: proxy,
            maxClients: services.runtime.settings.numInitChildren, waitingClients: services.runtime.admission.waitingCount,
            poolCapacity: settings.poolCapacity, process: ProcessStats.current(startTime: services.startTime),
            pgpool2: settings.pgpool2Metrics, scrapes: count, lastScrapeDuration: last, watchdog: services.watchdogReport,
            walPositions: services.runtime.walPositions, transactionPool: services.runtime.transactionPool,
            transactionPoolSize: services.runtime.settings.transactionPoolSize)
        let text = MetricsRenderer.render(input)
        let elapsed = ContinuousClock.now - started
        scrapes.withLockedValue { $0 = ($0.count + 1, AdminAPIModels.seconds(elapsed)) }
        return .text(text, contentType: "text/plain; version=0.0.4; charset=utf-8")
    }

    /// Runs async work and blocks this HTTP thread until it is done.
    func wait<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
        let result = NIOLockedValueBox<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await body()
            result.withLockedValue { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLockedValue { $0! }
    }
}
