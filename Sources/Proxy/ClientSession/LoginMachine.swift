import PostgresWire

/// The order of a client's login, as a value: which side is authenticated first, and what
/// follows each step. With pool_hba the client is authenticated first (by the method
/// pool_hba.conf names), then the backend connection is leased. Without it the backend comes
/// first and the client is asked for what the backend asked for, as Pgpool-II does; when the
/// backend refuses SwiftPool's login, the client is still asked exactly what a successful login
/// would have asked before it is told the error, so the exchange does not reveal which users
/// exist. With allow_clear_text_frontend_auth and no pool_passwd entry, the client's clear-text
/// password is taken to the backend.
///
/// Pure: the handler runs the steps (``ClientAuthMachine`` for the client's messages, the pool
/// for the lease) and reports their outcomes here.
struct LoginMachine {
    /// What the handler must do next.
    enum Action {
        /// Authenticate the client with `method` (``ClientAuthMachine``).
        case authenticateClient(AuthMethod)
        /// Ask the client for its clear-text password, to log in to the backend with it.
        case captureClearTextPassword
        /// Lease a connection to the primary (logging in with the client's password if given).
        case leaseBackend(clientPassword: String?)
        /// Both sides are authenticated: send the login reply and start forwarding.
        case finishLogin
        /// Tell the client why the backend refused the login, and close.
        case reportBackendFailure(BackendConnectError)
        /// Refuse the client (pool_hba.conf), and close.
        case reject(ErrorFields)
    }

    private enum State {
        case start
        /// The client is being authenticated; then `next`.
        case authenticatingClient(then: AfterClient)
        /// The backend connection is being leased; then `next`.
        case leasingBackend(then: AfterBackend)
        case finished
    }

    private enum AfterClient {
        case leaseBackend
        case finishLogin
        case reportBackendFailure(BackendConnectError)
    }

    private enum AfterBackend: Equatable {
        case finishLogin
        case authenticateClientLikeBackend
    }

    private var state = State.start

    /// The client got its slot: the first step.
    /// - Parameters:
    ///   - verdict: pool_hba.conf's verdict, nil without pool_hba.
    ///   - capturesClearText: allow_clear_text_frontend_auth is on and the user has no
    ///     pool_passwd entry.
    ///   - who: the connection as pool_hba errors describe it (`host "…", user "…", database "…"`).
    ///   - encrypted: the connection is TLS (the errors say so, as PostgreSQL's do).
    mutating func slotGranted(verdict: ClientAuthDecision?, capturesClearText: Bool, who: String, encrypted: Bool = false) -> Action {
        let encryption = encrypted ? "SSL encryption" : "no encryption"
        guard case .start = state else { return .reject(Self.outOfOrder) }
        switch verdict {
        case nil where capturesClearText:
            state = .authenticatingClient(then: .leaseBackend)
            return .captureClearTextPassword
        case nil:
            state = .leasingBackend(then: .authenticateClientLikeBackend)
            return .leaseBackend(clientPassword: nil)
        case .noEntry?:
            state = .finished
            return .reject(ErrorFields(severity: .fatal, sqlState: "28000", message: "no pool_hba.conf entry for \(who), \(encryption)"))
        case .reject?:
            state = .finished
            return .reject(ErrorFields(severity: .fatal, sqlState: "28000", message: "pool_hba.conf rejects connection for \(who), \(encryption)"))
        case .failed(let message)?:
            state = .finished
            return .reject(ErrorFields(severity: .fatal, sqlState: "28000", message: message))
        case .authenticate(let method)?:
            state = .authenticatingClient(then: .leaseBackend)
            return .authenticateClient(method)
        }
    }

    /// The client proved who it is.
    mutating func clientAuthenticated() -> Action {
        guard case .authenticatingClient(let next) = state else { return .reject(Self.outOfOrder) }
        switch next {
        case .leaseBackend:
            state = .leasingBackend(then: .finishLogin)
            return .leaseBackend(clientPassword: nil)
        case .finishLogin:
            state = .finished
            return .finishLogin
        case .reportBackendFailure(let failure):
            state = .finished
            return .reportBackendFailure(failure)
        }
    }

    /// The client sent its clear-text password (``Action/captureClearTextPassword``).
    mutating func passwordCaptured(_ password: String) -> Action {
        guard case .authenticatingClient = state else { return .reject(Self.outOfOrder) }
        state = .leasingBackend(then: .finishLogin)
        return .leaseBackend(clientPassword: password)
    }

    /// The backend connection is leased; `askedFor` is how the backend authenticated SwiftPool.
    mutating func backendLeased(askedFor: AuthMethod) -> Action {
        guard case .leasingBackend(let next) = state else { return .reject(Self.outOfOrder) }
        switch next {
        case .finishLogin:
            state = .finished
            return .finishLogin
        case .authenticateClientLikeBackend:
            state = .authenticatingClient(then: .finishLogin)
            return .authenticateClient(askedFor)
        }
    }

    /// No backend connection could be leased.
    mutating func backendFailed(_ failure: BackendConnectError) -> Action {
        guard case .leasingBackend(let next) = state else { return .reject(Self.outOfOrder) }
        guard case .loginFailed(_, let reason, let askedMethod) = failure, next == .authenticateClientLikeBackend else {
            state = .finished
            return .reportBackendFailure(failure)
        }
        // The backend refused SwiftPool's login before the client proved anything: ask the
        // client what a successful login would have asked; the error comes after that.
        switch reason {
        case .noUsablePassword(let method):
            state = .authenticatingClient(then: .reportBackendFailure(failure))
            return .authenticateClient(method)
        case .rejected:
            state = .authenticatingClient(then: .reportBackendFailure(failure))
            return .authenticateClient(askedMethod)
        case .protocolViolation:
            state = .finished
            return .reportBackendFailure(failure)
        }
    }

    private static let outOfOrder = ErrorFields(severity: .fatal, sqlState: "XX000", message: "login step out of order")
}
