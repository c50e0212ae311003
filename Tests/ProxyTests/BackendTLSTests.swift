import Testing
@testable import Proxy

@Suite("TLS policy towards the nodes")
struct BackendTLSTests {
    @Test func libpqChecksGetTheSamePolicy() throws {
        #expect(try BackendTLS(mode: .disable, caFile: "").libpqParameters == ["sslmode": "disable"])
        #expect(try BackendTLS(mode: .prefer, caFile: "").libpqParameters == ["sslmode": "prefer"])
        #expect(try BackendTLS(mode: .require, caFile: "").libpqParameters == ["sslmode": "require"])
        #expect(try !BackendTLS(mode: .disable, caFile: "").asksForTLS)
        #expect(try BackendTLS(mode: .prefer, caFile: "").asksForTLS)
    }

    @Test func verifyFullNeedsAReadableCAFile() {
        #expect(throws: TLSFileError.self) { try BackendTLS(mode: .verifyFull, caFile: "") }
        do {
            _ = try BackendTLS(mode: .verifyFull, caFile: "/nonexistent/ca.crt")
            Issue.record("a missing CA file is refused")
        } catch {
            #expect(error.file == "/nonexistent/ca.crt")
        }
    }
}
