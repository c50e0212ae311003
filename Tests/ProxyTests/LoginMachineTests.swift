import PostgresWire
import Testing
@testable import Proxy

@Suite("Login order")
struct LoginMachineTests {
    let node = BackendNode(id: 0, host: "127.0.0.1", port: 5432)
    let who = "host \"10.0.0.1\", user \"alice\", database \"app\""

    func isLease(_ action: LoginMachine.Action, password: String? = nil) -> Bool {
        if case .leaseBackend(let given) = action { return given == password }
        return false
    }

    func isFinish(_ action: LoginMachine.Action) -> Bool {
        if case .finishLogin = action { return true }
        return false
    }

    @Test func withPoolHbaTheClientComesFirst() {
        var login = LoginMachine()
        guard case .authenticateClient(.scramSHA256) = login.slotGranted(verdict: .authenticate(.scramSHA256), capturesClearText: false, who: who)
        else { Issue.record("the client is authenticated first"); return }
        #expect(isLease(login.clientAuthenticated()))
        #expect(isFinish(login.backendLeased(askedFor: .md5)))
    }

    @Test func poolHbaRefusalsNameTheConnection() {
        var login = LoginMachine()
        guard case .reject(let error) = login.slotGranted(verdict: .noEntry, capturesClearText: false, who: who) else {
            Issue.record("refused"); return
        }
        #expect(error.sqlState == "28000")
        #expect(error.message == "no pool_hba.conf entry for \(who), no encryption")
        var other = LoginMachine()
        guard case .reject(let rejected) = other.slotGranted(verdict: .reject, capturesClearText: false, who: who) else {
            Issue.record("refused"); return
        }
        #expect(rejected.message == "pool_hba.conf rejects connection for \(who), no encryption")
    }

    @Test func poolHbaRefusalsOfTLSConnectionsSaySo() {
        var login = LoginMachine()
        guard case .reject(let error) = login.slotGranted(verdict: .noEntry, capturesClearText: false, who: who, encrypted: true) else {
            Issue.record("refused"); return
        }
        #expect(error.message == "no pool_hba.conf entry for \(who), SSL encryption")
    }

    @Test func withoutPoolHbaTheClientIsAskedWhatTheBackendAsked() {
        var login = LoginMachine()
        #expect(isLease(login.slotGranted(verdict: nil, capturesClearText: false, who: who)))
        guard case .authenticateClient(.md5) = login.backendLeased(askedFor: .md5) else {
            Issue.record("the client is asked for md5"); return
        }
        #expect(isFinish(login.clientAuthenticated()))
    }

    @Test func aRefusedBackendLoginIsReportedOnlyAfterTheClientAnswered() {
        var login = LoginMachine()
        _ = login.slotGranted(verdict: nil, capturesClearText: false, who: who)
        let refusal = ErrorFields(severity: .fatal, sqlState: "28P01", message: "password authentication failed")
        let failure = BackendConnectError.loginFailed(node, .rejected(refusal), askedMethod: .scramSHA256)
        guard case .authenticateClient(.scramSHA256) = login.backendFailed(failure) else {
            Issue.record("the client is asked what a successful login asks"); return
        }
        guard case .reportBackendFailure(.loginFailed) = login.clientAuthenticated() else {
            Issue.record("then the failure is reported"); return
        }
    }

    @Test func anUnreachableBackendIsReportedAtOnce() {
        var login = LoginMachine()
        _ = login.slotGranted(verdict: nil, capturesClearText: false, who: who)
        guard case .reportBackendFailure(.timedOut) = login.backendFailed(.timedOut(node)) else {
            Issue.record("reported"); return
        }
        // With pool_hba (client first) a refused backend login is reported at once too.
        var hba = LoginMachine()
        _ = hba.slotGranted(verdict: .authenticate(.trust), capturesClearText: false, who: who)
        _ = hba.clientAuthenticated()
        let failure = BackendConnectError.loginFailed(node, .noUsablePassword(.md5), askedMethod: .md5)
        guard case .reportBackendFailure = hba.backendFailed(failure) else { Issue.record("reported"); return }
    }

    @Test func aClearTextPasswordIsTakenToTheBackend() {
        var login = LoginMachine()
        guard case .captureClearTextPassword = login.slotGranted(verdict: nil, capturesClearText: true, who: who) else {
            Issue.record("captured"); return
        }
        #expect(isLease(login.passwordCaptured("secret"), password: "secret"))
        #expect(isFinish(login.backendLeased(askedFor: .password)))
    }

    @Test func stepsOutOfOrderAreRefused() {
        var login = LoginMachine()
        guard case .reject(let error) = login.clientAuthenticated() else { Issue.record("refused"); return }
        #expect(error.sqlState == "XX000")
    }
}
