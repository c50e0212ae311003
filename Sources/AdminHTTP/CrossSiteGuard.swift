/// Refuses state-changing admin requests that a web page on another site could make a browser
/// send with the operator's stored Basic credentials (cross-site request forgery).
///
/// An HTML form can only POST with a "simple" content type and no custom headers; anything else
/// needs a CORS preflight that SwiftPool never grants. So a POST must carry a JSON content type or
/// an `X-SwiftPool-Client` header, or authenticate with a bearer token (which browsers never send
/// by themselves). A request whose `Origin` names another host than the one it was sent to is
/// refused too. Reads (GET, HEAD) are not affected.
public enum CrossSiteGuard {
    public static let clientHeader = "X-SwiftPool-Client"

    /// nil when the request may go on; else why it is refused.
    public static func refusal(_ request: HTTPRequest) -> String? {
        guard request.method != "GET", request.method != "HEAD" else { return nil }
        if let origin = request.header("origin"), !origin.isEmpty {
            // "scheme://host[:port]"; "null" (a sandboxed or local page) names no host and fails.
            let parts = origin.split(separator: "/", omittingEmptySubsequences: true)
            let originHost = parts.count == 2 ? parts[1].lowercased() : nil
            guard let originHost, originHost == request.header("host")?.lowercased() else {
                return "cross-origin request from \(origin) refused"
            }
        }
        let bearer = request.header("authorization")?.lowercased().hasPrefix("bearer ") == true
        let json = request.header("content-type")?.lowercased().hasPrefix("application/json") == true
        let marked = !(request.header(clientHeader.lowercased()) ?? "").isEmpty
        guard bearer || json || marked else {
            return "state-changing requests need a JSON body (Content-Type: application/json) or an \(clientHeader) header"
        }
        return nil
    }
}
