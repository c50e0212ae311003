import Testing
@testable import Routing

@Suite("Load-balance node selection")
struct LoadBalanceSelectorTests {
    let reference: [LoadBalanceSelector.Candidate] = [
        .init(id: 0, weight: 0, isUp: true, isPrimary: true),
        .init(id: 1, weight: 1, isUp: true, isPrimary: false),
        .init(id: 2, weight: 1, isUp: true, isPrimary: false),
        .init(id: 3, weight: 1, isUp: true, isPrimary: false),
    ]

    func counts(_ selector: LoadBalanceSelector, _ nodes: [LoadBalanceSelector.Candidate],
                database: String = "app", applicationName: String? = nil, draws: Int = 30_000) -> [Int: Int] {
        var random = SplitMix64(seed: 42)
        var counts: [Int: Int] = [:]
        for _ in 0..<draws {
            let node = selector.select(among: nodes, database: database, applicationName: applicationName, using: &random)
            counts[node ?? -1, default: 0] += 1
        }
        return counts
    }

    @Test func weightsSplitReadsAndZeroExcludes() {
        let result = counts(LoadBalanceSelector(), reference)
        #expect(result[0] == nil)
        for id in 1...3 { #expect(abs(Double(result[id] ?? 0) / 30_000 - 1.0 / 3) < 0.02, "node \(id): \(result)") }
    }

    @Test func unequalWeights() {
        let nodes: [LoadBalanceSelector.Candidate] = [
            .init(id: 0, weight: 1, isUp: true, isPrimary: true),
            .init(id: 1, weight: 3, isUp: true, isPrimary: false),
        ]
        let result = counts(LoadBalanceSelector(), nodes)
        #expect(abs(Double(result[1] ?? 0) / 30_000 - 0.75) < 0.02)
    }

    @Test func downNodesAreSkippedAndPrimaryIsTheLastResort() {
        var nodes = reference
        nodes[1].isUp = false
        nodes[2].isUp = false
        #expect(counts(LoadBalanceSelector(), nodes) == [3: 30_000])
        nodes[3].isUp = false
        #expect(counts(LoadBalanceSelector(), nodes) == [0: 30_000])
        for index in nodes.indices { nodes[index].isUp = false }
        #expect(counts(LoadBalanceSelector(), nodes) == [-1: 30_000])
    }

    @Test func databaseRedirectToANodeWithRatio() throws {
        let selector = LoadBalanceSelector(databaseRedirects: try RedirectPreferenceList("postgres:primary,mydb\\d:2(0.5)"))
        #expect(counts(selector, reference, database: "postgres") == [0: 30_000])
        let mydb = counts(selector, reference, database: "mydb1")
        #expect(abs(Double(mydb[2] ?? 0) / 30_000 - 0.5) < 0.02, "\(mydb)")
        #expect(mydb[0] == nil)
        // Whole-name match only.
        #expect(counts(selector, reference, database: "xmydb1x")[0] == nil)
    }

    @Test func standbyTargetAndApplicationNameWins() throws {
        let selector = LoadBalanceSelector(
            databaseRedirects: try RedirectPreferenceList("app:primary"),
            applicationNameRedirects: try RedirectPreferenceList("batch.*:standby(0.0), report:standby"))
        #expect(counts(selector, reference, database: "app") == [0: 30_000])
        #expect(counts(selector, reference, database: "app", applicationName: "batch-7") == [0: 30_000])
        let report = counts(selector, reference, database: "app", applicationName: "report")
        #expect(report[0] == nil && report.count == 3)
    }

    @Test func listSyntaxErrors() throws {
        #expect(throws: RedirectPreferenceList.ParseError.self) { try RedirectPreferenceList("nocolon") }
        #expect(throws: RedirectPreferenceList.ParseError.self) { try RedirectPreferenceList("db:2(1.5)") }
        #expect(throws: RedirectPreferenceList.ParseError.self) { try RedirectPreferenceList("db:somewhere") }
        #expect(throws: RedirectPreferenceList.ParseError.self) { try RedirectPreferenceList("(:1") }
        #expect(try RedirectPreferenceList("").entries.isEmpty)
        #expect(try RedirectPreferenceList(" a:1 , b:standby(0.3) ").entries.map(\.ratio) == [1.0, 0.3])
    }

    @Test func leastDelayedStandbyWinsAndTiesAreDrawnByWeight() {
        var random = SplitMix64(seed: 7)
        let delays: [Int: Double] = [1: 5_000, 2: 300, 3: 12]
        let selector = LoadBalanceSelector()
        for _ in 0..<100 { #expect(selector.leastDelayed(among: reference, delay: { delays[$0] }, using: &random) == 3) }
        // Node 3 cannot take reads: the next least delayed.
        var nodes = reference
        nodes[3].isUp = false
        #expect(selector.leastDelayed(among: nodes, delay: { delays[$0] }, using: &random) == 2)
        // A tie between 1 and 2: both are drawn, never the more delayed 3.
        let tied: [Int: Double] = [1: 0, 2: 0, 3: 40]
        var seen: [Int: Int] = [:]
        for _ in 0..<1_000 { seen[selector.leastDelayed(among: reference, delay: { tied[$0] }, using: &random) ?? -1, default: 0] += 1 }
        #expect(Set(seen.keys) == [1, 2])
        // Unknown delays count as the most delayed.
        #expect(selector.leastDelayed(among: reference, delay: { $0 == 2 ? 100 : nil }, using: &random) == 2)
        // No standby can take reads.
        #expect(selector.leastDelayed(among: [reference[0]], delay: { _ in 0 }, using: &random) == nil)
    }
}
