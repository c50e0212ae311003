import Logging
import NIOConcurrencyHelpers
import Proxy
import ServiceLifecycle
import UnixSignals

/// SwiftPool's signals, as Pgpool-II reads them: SIGHUP reloads the configuration; SIGTERM
/// (smart), SIGINT (fast) and SIGQUIT (immediate) end this service, which makes the service group
/// shut down with that mode. One sequence traps all four, so the mode is known before anything
/// stops; it is created before anything starts, so no signal is lost.
struct SignalHandler: Service, CustomStringConvertible {
    let signals: UnixSignalsSequence
    let reload: @Sendable () -> Void
    let shutdown: ShutdownRequest
    let logger: Logger

    var description: String { "signals" }

    func run() async {
        for await signal in signals.cancelOnGracefulShutdown() {
            let mode: ProxyServer.ShutdownMode
            switch signal {
            case .sighup:
                reload()
                continue
            case .sigint: mode = .fast
            case .sigquit: mode = .immediate
            default: mode = .smart
            }
            shutdown.request(mode)
            logger.info("shutting down", metadata: ["mode": "\(mode.rawValue)"])
            return
        }
    }
}

/// How the proxy server ends its sessions when the group stops it: as the shutdown signal asked,
/// immediately when a component could not start.
final class ShutdownRequest: Sendable {
    private let requested = NIOLockedValueBox(ProxyServer.ShutdownMode.immediate)

    var mode: ProxyServer.ShutdownMode { requested.withLockedValue { $0 } }

    func request(_ mode: ProxyServer.ShutdownMode) {
        requested.withLockedValue { $0 = mode }
    }
}
