// The admin HTTP surface behind libmicrohttpd: the request as HTTPServer hands it over (method,
// path, query arguments, lower-cased headers, body) goes through AdminAuthenticator (Basic against
// pcp.conf users, bearer token), CrossSiteGuard and AdminRouter.handle with real cluster state, a
// failover coordinator whose node searches answer at once, and stub proxy views. Checks that
// unauthenticated API calls never succeed and that every answer is a well-formed JSON or text reply.
//
// Input: "METHOD /path?query" on the first line, "Name: value" header lines, an empty line, the body.
import AdminCore
import AdminHTTP
import Cluster
import Configuration
import Foundation
import FuzzSupport
import Logging
import Proxy

// pcpadmin / pcpadminpass, and a bearer token.
let users = try! PCPUsers.parse(text: "pcpadmin:9e5cc4cae447769a19c378d7da878eab\n", fileName: "pcp.conf")
let bearerToken = "fuzz-token"
let bearerTokenFile: String = {
    let path = NSTemporaryDirectory() + "/swiftpool-fuzz-admin-http-\(getpid()).token"
    try! bearerToken.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}()
let config = try! ConfigLoader.parse(
    text: """
        backend_hostname0 = '127.0.0.1'
        backend_port0 = 15501
        backend_hostname1 = '127.0.0.1'
        backend_port1 = 15502
        search_primary_node_timeout = 1
        num_init_children = 8
        max_pool = 1
        http_metrics_auth = on
        http_pgpool2_metrics = off
        http_bearer_token_file = '\(bearerTokenFile)'
        """, fileName: "pgpool.conf", configDirectory: NSTemporaryDirectory()).config
let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })

func makeRouter() -> AdminRouter {
    let cluster = ClusterState(nodes: [
        NodeInfo(id: 0, host: "127.0.0.1", port: 15501, weight: 1, role: .primary, status: .up),
        NodeInfo(id: 1, host: "127.0.0.1", port: 15502, weight: 1, role: .standby, status: .up),
    ])
    let hooks = FailoverCoordinator.Hooks(
        endSessions: { _ in }, primaryChanged: { _ in }, probe: { _ in true },
        findPrimary: { nodes in nodes.first { $0.status.isUsable }?.id })
    let coordinator = FailoverCoordinator(cluster: cluster, settings: config.failover, hooks: hooks, logger: logger)
    let runtime = ProxyRuntime(
        settings: ProxySettings(), credentials: CredentialStore(passwords: [:]), authPolicy: nil, routing: nil,
        cluster: cluster, catalog: CatalogFactsCache(lookup: nil, logger: logger), logger: logger,
        primaryNode: { nil })
    // The HTTP settings come from the configuration: metrics need authentication, the bearer
    // token is read from its file, 8 × 1 pooled connections.
    let services = AdminServices(
        version: "fuzz", startTime: 0, cluster: cluster, coordinator: coordinator, runtime: runtime,
        healthStatistics: { _ in HealthCheckStatistics() }, proxySnapshot: { ProxySnapshot() },
        reload: { ReloadReport(reloaded: false, error: "not in a fuzzer") }, config: { config }, pcpUsers: { users })
    return AdminRouter(services: services, logger: logger)
}

/// The request libmicrohttpd would hand over for these bytes (its own parsing is not Swift's).
func request(from bytes: [UInt8]) -> HTTPRequest {
    var lines = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 64, omittingEmptySubsequences: false)[...]
    let first = String(fuzz: lines.popFirst() ?? [])
    let words = first.split(separator: " ", maxSplits: 1).map(String.init)
    let method = words.first ?? ""
    let target = words.count > 1 ? words[1] : "/"
    let pathEnd = target.firstIndex(of: "?") ?? target.endIndex
    let path = String(target[..<pathEnd])
    var query: [String: String] = [:]
    if pathEnd < target.endIndex {
        for argument in target[target.index(after: pathEnd)...].split(separator: "&") {
            let pair = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]).removingPercentEncoding ?? String(pair[0])
            query[name] = pair.count > 1 ? (String(pair[1]).removingPercentEncoding ?? String(pair[1])) : ""
        }
    }
    var headers: [String: String] = [:]
    while let line = lines.popFirst() {
        let text = String(fuzz: line).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
        if text.isEmpty { break }
        guard let colon = text.firstIndex(of: ":") else { continue }
        headers[text[..<colon].lowercased()] = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let body = Array(lines.joined(separator: [UInt8(ascii: "\n")]))
    return HTTPRequest(method: method, path: path, query: query, headers: headers, body: body)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let request = request(from: bytes(start, count))
    let authenticator = AdminAuthenticator(users: users, bearerToken: bearerToken)
    let verdict = authenticator.check(request.header("authorization"))
    if case .allowed(let who) = verdict {
        check(who == "token" || who == "pcpadmin", "allowed \(who)")
    }
    let refusal = CrossSiteGuard.refusal(request)
    if request.method == "GET" || request.method == "HEAD" {
        check(refusal == nil, "a read was refused as cross-site")
    }

    let response = makeRouter().handle(request)
    check((200...599).contains(response.status), "status \(response.status)")
    // The router ignores empty segments ("/api/v1//watchdog/leader" is the leader check, which
    // asks for no credentials on purpose).
    let segments = request.path.split(separator: "/").map(String.init)
    if segments.count >= 2, segments[0] == "api", segments[1] == "v1", segments != ["api", "v1", "watchdog", "leader"] {
        if case .allowed = verdict {} else {
            check(response.status == 401, "an unauthenticated API call got \(response.status)")
        }
        if case .allowed = verdict, refusal != nil {
            check(response.status == 403, "a cross-site API call got \(response.status)")
        }
    }
    if response.contentType == "application/json" {
        check((try? JSONSerialization.jsonObject(with: Data(response.body))) != nil, "a JSON reply that is not JSON")
    }
    return 0
}
