import Cluster
import Configuration
import Foundation
import Logging
import Metrics
import PostgresWire
import Proxy
import Testing
import Watchdog

@testable import AdminHTTP

@Suite struct PrometheusWriterTests {
    @Test func familiesSamplesAndEscaping() {
        var writer = PrometheusWriter()
        writer.family("x_total", .counter, "Help with \\ and\nnewline.")
        writer.sample("x_total", [("a", "q\"uote\\back\nline")], 3)
        writer.sample("x_total", [], 2.5)
        #expect(writer.text == """
            # HELP x_total Help with \\\\ and\\nnewline.
            # TYPE x_total counter
            x_total{a="q\\"uote\\\\back\\nline"} 3
            x_total 2.5

            """)
    }

    @Test func numberFormats() {
        #expect(PrometheusWriter.format(1) == "1")
        #expect(PrometheusWriter.format(0.25) == "0.25")
        #expect(PrometheusWriter.format(.infinity) == "+Inf")
        #expect(PrometheusWriter.format(.nan) == "NaN")
    }

    @Test func histogramsAreCumulative() {
        let histogram = AtomicHistogram(bounds: [0.001, 0.01, 0.1])
        histogram.record(microseconds: 500)
        histogram.record(microseconds: 5_000)
        histogram.record(microseconds: 5_000)
        histogram.record(.seconds(2))
        let snapshot = histogram.snapshot
        #expect(snapshot.cumulativeCounts == [1, 3, 3])
        #expect(snapshot.count == 4)
        #expect(abs(snapshot.sum - 2.0105) < 1e-9)
        var writer = PrometheusWriter()
        writer.histogram("h_seconds", [("n", "1")], snapshot)
        #expect(writer.text.contains("h_seconds_bucket{n=\"1\",le=\"0.01\"} 3\n"))
        #expect(writer.text.contains("h_seconds_bucket{n=\"1\",le=\"+Inf\"} 4\n"))
        #expect(writer.text.contains("h_seconds_count{n=\"1\"} 4\n"))
    }

    @Test func processStatsAreRead() {
        let stats = ProcessStats.current(startTime: 123)
        #expect(stats.residentBytes > 0)
        #expect(stats.openFileDescriptors > 0)
        #expect(stats.maxFileDescriptors >= stats.openFileDescriptors)
        #expect(stats.startTime == 123)
    }
}

@Suite struct AdminAuthenticatorTests {
    // pcpadmin / pcpadminpass
    let authenticator = AdminAuthenticator(
        users: PCPUsers(users: [PCPUser(user: "pcpadmin", passwordMD5: "9e5cc4cae447769a19c378d7da878eab", line: 1)]),
        bearerToken: "tok-123")

    func basic(_ text: String) -> String { "Basic " + Data(text.utf8).base64EncodedString() }

    @Test func verdicts() {
        #expect(authenticator.check(basic("pcpadmin:pcpadminpass")) == .allowed("pcpadmin"))
        #expect(authenticator.check(basic("pcpadmin:wrong")) == .denied(user: "pcpadmin"))
        #expect(authenticator.check(basic("ghost:pcpadminpass")) == .denied(user: "ghost"))
        #expect(authenticator.check(basic("no-colon")) == .denied(user: nil))
        #expect(authenticator.check("Basic !!!") == .denied(user: nil))
        #expect(authenticator.check("Bearer tok-123") == .allowed("token"))
        #expect(authenticator.check("bearer tok-1234") == .denied(user: nil))
        #expect(authenticator.check(nil) == .missing)
        #expect(authenticator.check("Negotiate abc") == .denied(user: nil))
        let noToken = AdminAuthenticator(users: PCPUsers(users: []), bearerToken: "")
        #expect(noToken.check("Bearer ") == .denied(user: nil))
    }

    /// A password that begins with a combining mark: the colon before it is one `Character` with it.
    @Test func basicCredentialsSplitAtTheColonBeforeACombiningMark() {
        let password = "\u{301}pass"
        let authenticator = AdminAuthenticator(
            users: PCPUsers(users: [PCPUser(user: "op", passwordMD5: MD5Password.plainHash(password), line: 1)]),
            bearerToken: nil)
        #expect(authenticator.check(basic("op:" + password)) == .allowed("op"))
        #expect(authenticator.check(basic("op:\u{301}wrong")) == .denied(user: "op"))
    }

    /// Credentials are decoded as they are, a leading byte order mark included (found by the
    /// pcp-conf fuzzer: the user could never log in).
    @Test func basicCredentialsKeepALeadingByteOrderMark() {
        let authenticator = AdminAuthenticator(
            users: PCPUsers(users: [PCPUser(user: "\u{FEFF}op", passwordMD5: MD5Password.plainHash("pw"), line: 1)]),
            bearerToken: nil)
        #expect(authenticator.check(basic("\u{FEFF}op:pw")) == .allowed("\u{FEFF}op"))
        #expect(authenticator.check(basic("op:pw")) == .denied(user: "op"))
        #expect(authenticator.check("Basic " + Data([0x6F, 0x70, 0x3A, 0xFF]).base64EncodedString()) == .denied(user: nil))
    }

    @Test func constantTimeComparison() {
        #expect(AdminAuthenticator.constantTimeEqual("abc", "abc"))
        #expect(!AdminAuthenticator.constantTimeEqual("abc", "abd"))
        #expect(!AdminAuthenticator.constantTimeEqual("abc", "abcd"))
        #expect(!AdminAuthenticator.constantTimeEqual("", "a"))
    }
}

@Suite struct MetricsRendererTests {
    func input(pgpool2: Bool) -> MetricsInput {
        var primary = NodeInfo(id: 0, host: "db0", port: 5432, weight: 0, role: .primary, status: .up)
        primary.replication = ReplicationInfo(delayBytes: 0, delaySeconds: 0)
        var standby = NodeInfo(id: 1, host: "db1", port: 5433, weight: 1, role: .standby, status: .down)
        standby.replication = ReplicationInfo(delayBytes: 4096, delaySeconds: 1.5, state: "streaming", syncState: "async")
        let statistics = QueryStatistics()
        statistics.counters(for: 1).count(.select)
        statistics.counters(for: 1).count(.select)
        statistics.counters(for: 0).count(ErrorSeverity.fatal)
        var proxy = ProxySnapshot()
        proxy.sessions = [ProxySnapshot.Session(id: 1, user: "u", database: "d", applicationName: "", clientAddress: "x",
                                                state: "idle in transaction", since: 0, backendNodes: [0, 1])]
        proxy.idleConnections = [0: 2]
        return MetricsInput(
            version: "9.9", snapshot: ClusterState.Snapshot(nodes: [primary, standby], primaryNodeID: 0),
            queries: statistics.all, health: [:], failovers: FailoverStatistics(), connections: ConnectionStatistics(),
            proxy: proxy, maxClients: 10, waitingClients: 3, poolCapacity: 40,
            process: ProcessStats(cpuSeconds: 1, residentBytes: 2, virtualBytes: 3, openFileDescriptors: 4, maxFileDescriptors: 5, startTime: 6),
            pgpool2: pgpool2, scrapes: 7, lastScrapeDuration: 0.5, watchdog: watchdog)
    }

    var watchdog: WatchdogReport {
        WatchdogReport(
            enabled: true,
            members: [
                .init(id: 0, name: "h0:9000", nodeName: "h0:9999 Linux h0", host: "h0", wdPort: 9000, pgpoolPort: 9999, priority: 2,
                      state: .leader, membership: .member, alive: true, isLocal: true, escalated: true, heartbeatAge: nil),
                .init(id: 1, name: "h1:9000", nodeName: "h1:9999 Linux h1", host: "h1", wdPort: 9000, pgpoolPort: 9999, priority: 1,
                      state: .lost, membership: .member, alive: false, isLocal: false, escalated: false, heartbeatAge: 31.5),
                .init(id: 2, name: "h2:9000", nodeName: "h2:9999 Linux h2", host: "h2", wdPort: 9000, pgpoolPort: 9999, priority: 0,
                      state: .dead, membership: .member, alive: false, isLocal: false, escalated: false, heartbeatAge: nil),
            ],
            state: .leader, leaderName: "h0:9000", quorum: .absent, votingMembers: 3, aliveMembers: 1, requiredMembers: 2,
            escalated: true, delegateIP: "10.0.0.9", elections: 2, vipUp: 1, vipDown: 0,
            rejected: ["heartbeat|authentication": 4], failoverRequests: ["quarantined": 1])
    }

    /// The same fleet, agreeing through etcd.
    var etcdInput: MetricsInput {
        var etcd = input(pgpool2: false)
        etcd.watchdog.backEnd = .etcd
        etcd.watchdog.etcdReachable = true
        etcd.watchdog.etcdRequests = ["renew|ok": 12, "grant|error": 1]
        return etcd
    }

    @Test func etcdSet() {
        let text = MetricsRenderer.render(etcdInput)
        #expect(text.contains("swiftpool_etcd_enabled 1\n"))
        #expect(text.contains("swiftpool_etcd_reachable 1\n"))
        #expect(text.contains("swiftpool_etcd_requests_total{kind=\"renew\",result=\"ok\"} 12\n"))
        #expect(text.contains("swiftpool_etcd_requests_total{kind=\"grant\",result=\"error\"} 1\n"))
        #expect(text.contains("swiftpool_etcd_requests_total{kind=\"campaign\",result=\"ok\"} 0\n"))
        #expect(text.contains("swiftpool_watchdog_enabled 1\n"))
        let watchdog = MetricsRenderer.render(input(pgpool2: false))
        #expect(watchdog.contains("swiftpool_etcd_enabled 0\n") && !watchdog.contains("swiftpool_etcd_reachable"))
    }

    @Test func watchdogSet() {
        let text = MetricsRenderer.render(input(pgpool2: false))
        #expect(text.contains("swiftpool_watchdog_enabled 1\n"))
        #expect(text.contains("swiftpool_watchdog_quorum_status -1\n"))
        #expect(text.contains("swiftpool_watchdog_member_state{member=\"1\",host=\"h1\",wd_port=\"9000\"} 8\n"))
        #expect(text.contains("swiftpool_watchdog_heartbeat_age_seconds{member=\"1\"} 31.5\n"))
        #expect(text.contains("swiftpool_watchdog_heartbeat_age_seconds{member=\"2\"} +Inf\n"))
        #expect(text.contains("swiftpool_watchdog_messages_rejected_total{port=\"heartbeat\",reason=\"authentication\"} 4\n"))
        #expect(text.contains("swiftpool_watchdog_vip_changes_total{action=\"up\"} 1\n"))
        var disabled = input(pgpool2: false)
        disabled.watchdog = .disabled
        let off = MetricsRenderer.render(disabled)
        #expect(off.contains("swiftpool_watchdog_enabled 0\n"))
        #expect(!off.contains("swiftpool_watchdog_is_leader"))
    }

    @Test func nativeSet() {
        let text = MetricsRenderer.render(input(pgpool2: false))
        #expect(!text.contains("pgpool2_"))
        #expect(text.contains("swiftpool_node_status{node_id=\"1\",host=\"db1\",port=\"5433\",status=\"down\"} 1\n"))
        #expect(text.contains("swiftpool_node_status{node_id=\"1\",host=\"db1\",port=\"5433\",status=\"up\"} 0\n"))
        #expect(text.contains("swiftpool_node_queries_total{node_id=\"1\",host=\"db1\",port=\"5433\",kind=\"select\"} 2\n"))
        #expect(text.contains("swiftpool_node_errors_total{node_id=\"0\",host=\"db0\",port=\"5432\",severity=\"fatal\"} 1\n"))
        #expect(text.contains("swiftpool_client_connections{state=\"idle_in_transaction\"} 1\n"))
        #expect(text.contains("swiftpool_client_connections{state=\"waiting\"} 3\n"))
        #expect(text.contains("swiftpool_backend_connections{node_id=\"0\",host=\"db0\",port=\"5432\",state=\"in_use\"} 1\n"))
        #expect(text.contains("swiftpool_backend_connections{node_id=\"0\",host=\"db0\",port=\"5432\",state=\"idle\"} 2\n"))
        #expect(text.contains("swiftpool_pool_occupancy_ratio 0.1\n"))
        #expect(text.contains("swiftpool_replication_delay_bytes{node_id=\"1\",host=\"db1\",port=\"5433\"} 4096\n"))
        #expect(text.contains("swiftpool_primary_node_id 0\n"))
        #expect(text.contains("process_open_fds 4\n"))
        // Every family is announced once, before its samples.
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        #expect(Set(types).count == types.count)
    }

    @Test func pgpool2Set() {
        let text = MetricsRenderer.render(input(pgpool2: true))
        #expect(text.contains("pgpool2_pool_nodes_status{hostname=\"db1\",port=\"5433\",role=\"standby\"} 0\n"))
        #expect(text.contains("pgpool2_pool_nodes_select_cnt{hostname=\"db1\",port=\"5433\",role=\"standby\"} 2\n"))
        #expect(text.contains("pgpool2_pool_nodes_replication_delay{hostname=\"db1\",port=\"5433\",role=\"standby\"} 4096\n"))
        #expect(text.contains("pgpool2_frontend_used{username=\"u\",database=\"d\"} 1\n"))
        #expect(text.contains("pgpool2_frontend_used_ratio 0.1\n"))
        #expect(text.contains("pgpool2_scrapes_total 7\n"))
        #expect(text.contains("pgpool2_pool_backend_stats_fatal_cnt{hostname=\"db0\",port=\"5432\",role=\"primary\"} 1\n"))
    }
}

@Suite struct AdminRouterOptionTests {
    @Test func bodyWinsOverQueryAndMustBeAnObject() {
        let request = HTTPRequest(method: "POST", path: "/", query: ["mode": "graceful"], body: Array(#"{"mode":"immediate"}"#.utf8))
        guard case .success(let options) = AdminRouter.options(request) else { Issue.record("refused"); return }
        #expect(options["mode"] == "immediate")
        let bad = HTTPRequest(method: "POST", path: "/", body: Array("[1]".utf8))
        guard case .failure = AdminRouter.options(bad) else { Issue.record("accepted a non-object body"); return }
        let boolean = HTTPRequest(method: "POST", path: "/", body: Array(#"{"switchover":true}"#.utf8))
        guard case .success(let parsed) = AdminRouter.options(boolean) else { Issue.record("refused"); return }
        #expect(parsed["switchover"] == "true")
    }
}

@Suite struct MetricsDocumentationTests {
    @Test func everyRenderedFamilyIsDocumentedWithItsType() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/metrics.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let rendered = MetricsRenderer.render(MetricsRendererTests().input(pgpool2: true))
            + MetricsRenderer.render(MetricsRendererTests().etcdInput)
        let families = rendered.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ") }
        #expect(families.count > 60)
        #expect(rendered.contains("# TYPE swiftpool_etcd_requests_total counter"))
        for family in families {
            let (name, type) = (family[2], family[3])
            #expect(text.contains("| `\(name)` | \(type) |"), "docs/metrics.md lacks \(name) (\(type))")
        }
    }
}

@Suite struct CrossSiteGuardTests {
    func post(_ headers: [String: String]) -> HTTPRequest {
        HTTPRequest(method: "POST", path: "/api/v1/reload", headers: headers)
    }

    @Test func formsCannotChangeState() {
        #expect(CrossSiteGuard.refusal(post(["authorization": "Basic eDp5"])) != nil)
        #expect(CrossSiteGuard.refusal(post(["authorization": "Basic eDp5", "content-type": "application/x-www-form-urlencoded"])) != nil)
        #expect(CrossSiteGuard.refusal(post(["authorization": "Basic eDp5", "content-type": "text/plain"])) != nil)
    }

    @Test func jsonHeaderOrBearerMayChangeState() {
        #expect(CrossSiteGuard.refusal(post(["authorization": "Basic eDp5", "content-type": "application/json"])) == nil)
        #expect(CrossSiteGuard.refusal(post(["authorization": "Basic eDp5", "x-swiftpool-client": "curl"])) == nil)
        #expect(CrossSiteGuard.refusal(post(["authorization": "Bearer t0ken"])) == nil)
        #expect(CrossSiteGuard.refusal(HTTPRequest(method: "GET", path: "/api/v1/nodes")) == nil)
    }

    @Test func originMustBeTheSameHost() {
        let same = post(["x-swiftpool-client": "status-page", "origin": "http://127.0.0.1:9719", "host": "127.0.0.1:9719"])
        #expect(CrossSiteGuard.refusal(same) == nil)
        let other = post(["content-type": "application/json", "origin": "https://evil.example", "host": "127.0.0.1:9719"])
        #expect(CrossSiteGuard.refusal(other)?.contains("cross-origin") == true)
        let sandboxed = post(["x-swiftpool-client": "x", "origin": "null", "host": "127.0.0.1:9719"])
        #expect(CrossSiteGuard.refusal(sandboxed) != nil)
    }
}

@Suite struct FrontendLabelTests {
    func session(_ id: Int, user: String, state: String) -> ProxySnapshot.Session {
        ProxySnapshot.Session(id: UInt64(id), user: user, database: "db", applicationName: "", clientAddress: "x", state: state,
                              since: 0, backendNodes: [])
    }

    @Test func onlyAuthenticatedSessionsBecomeLabels() {
        let used = MetricsRenderer.frontendUse([
            session(1, user: "app", state: "idle"), session(2, user: "app", state: "active"),
            session(3, user: "claimed-before-login", state: "starting"), session(4, user: "queued", state: "waiting"),
        ])
        #expect(used.map(\.user) == ["app"] && used.map(\.count) == [2])
    }

    @Test func labelSetsAreBounded() {
        let sessions = (0..<500).map { session($0, user: "user\($0)", state: "idle") } + [session(999, user: "user7", state: "idle")]
        let used = MetricsRenderer.frontendUse(sessions)
        #expect(used.count == MetricsRenderer.maxFrontendLabelSets + 1)
        #expect(used.contains { $0.user == "user7" && $0.count == 2 }, "the busiest pairs are kept")
        #expect(used.last?.user == "(other)" && used.reduce(0) { $0 + $1.count } == 501)
    }

    /// "josé" with a composed é and "jose" + U+0301 are two PostgreSQL roles: two series, each
    /// labelled with its own bytes.
    @Test func namesInTwoNormalizationFormsAreTwoLabelSets() {
        let used = MetricsRenderer.frontendUse([
            session(1, user: "jos\u{E9}", state: "idle"), session(2, user: "jose\u{301}", state: "idle"),
            session(3, user: "jose\u{301}", state: "active"),
        ])
        let counts = Dictionary(uniqueKeysWithValues: used.map { (Array($0.user.utf8), $0.count) })
        #expect(counts == [Array("jos\u{E9}".utf8): 1, Array("jose\u{301}".utf8): 2])
    }
}

@Suite struct AdminAPITimestampTests {
    @Test func timestampsAreUTCWithMilliseconds() {
        #expect(AdminAPIModels.timestamp(1_700_000_000.125) == "2023-11-14T22:13:20.125Z")
        #expect(AdminAPIModels.timestamp(0) == nil)
        #expect(AdminAPIModels.timestamp(nil) == nil)
    }
}

@Suite struct AdminAPISessionListTests {
    @Test func theWrittenJSONIsWhatJSONEncoderGives() {
        let list = AdminAPIModels.SessionList(sessions: [
            .init(id: 7, user: "alice", database: "app", applicationName: "psql", clientAddress: "127.0.0.1",
                  state: "idle", since: "2023-11-14T22:13:20.125Z", backendNodes: [0, 2], poolMode: "transaction",
                  pinned: ["advisory_lock", "listen"], preparedStatements: 12),
            .init(id: 18_446_744_073_709_551_615, user: "q\"uote\\back/slash\n\r\t\u{8}\u{C}\u{1}\u{1F}é✓",
                  database: "", applicationName: "", clientAddress: "local", state: "idle in transaction (aborted)",
                  since: "", backendNodes: [], poolMode: "session", pinned: [], preparedStatements: 0),
        ])
        #expect(list.jsonBody() == HTTPResponse.json(list).body)
        #expect(AdminAPIModels.SessionList(sessions: []).jsonBody() == HTTPResponse.json(AdminAPIModels.SessionList(sessions: [])).body)
    }
}
