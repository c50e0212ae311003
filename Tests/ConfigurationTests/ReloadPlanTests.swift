import Configuration
import Foundation
import Testing

@Suite("Reload versus restart")
struct ReloadPlanTests {
    let base = """
        port = 15432
        num_init_children = 32
        backend_hostname0 = 'a'
        backend_port0 = 5432
        backend_weight0 = 0
        health_check_period = 10
        child_life_time = 300
        """

    @Test func identicalConfigurationsChangeNothing() throws {
        let old = try loadConfig(base).config
        #expect(ReloadPlan(from: old, to: old).isEmpty)
    }

    @Test func equivalentSpellingsAreNotChanges() throws {
        let old = try loadConfig(base).config
        let new = try loadConfig(base.replacingOccurrences(of: "child_life_time = 300", with: "child_life_time = 5min")).config
        #expect(ReloadPlan(from: old, to: new).isEmpty)
        let withDefaultSpelledOut = try loadConfig(base + "\nmax_pool = 4\nload_balance_mode = on").config
        #expect(ReloadPlan(from: old, to: withDefaultSpelledOut).isEmpty)
    }

    @Test func separatesRestartFromReload() throws {
        let old = try loadConfig(base).config
        let new = try loadConfig(
            """
            port = 15433
            num_init_children = 64
            backend_hostname0 = 'a'
            backend_port0 = 5432
            backend_weight0 = 1
            health_check_period = 20
            child_life_time = 300
            client_idle_limit = 30
            backend_hostname1 = 'b'
            backend_port1 = 5432
            wd_priority = 5
            """
        ).config
        let plan = ReloadPlan(from: old, to: new)
        #expect(plan.restartRequired == ["num_init_children", "port", "wd_priority"])
        #expect(
            plan.reloadable == [
                "backend_hostname1", "backend_weight0", "client_idle_limit", "health_check_period",
            ])
    }

    @Test func movingAnExistingBackendNeedsARestart() throws {
        let old = try loadConfig(base).config
        let new = try loadConfig(base.replacingOccurrences(of: "backend_hostname0 = 'a'", with: "backend_hostname0 = 'z'"))
            .config
        #expect(ReloadPlan(from: old, to: new) == ReloadPlan(reloadable: [], restartRequired: ["backend_hostname0"]))
    }

    @Test func removedSettingsFallBackToDefaults() throws {
        let old = try loadConfig(base + "\nlog_connections = on").config
        let new = try loadConfig(base).config
        #expect(ReloadPlan(from: old, to: new) == ReloadPlan(reloadable: ["log_connections"], restartRequired: []))
    }
}
