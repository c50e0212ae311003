import ArgumentParser
import Foundation

/// `swiftpool -f pgpool.conf [-a pool_hba.conf] [-F pcp.conf] [-n] [stop|reload|check]`, the
/// command line of Pgpool-II's `pgpool`.
@main
struct SwiftPoolCommand: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "swiftpool",
        abstract: "A PostgreSQL connection pooler and load balancer that reads Pgpool-II's configuration.",
        discussion: """
            Without an action SwiftPool runs in the foreground until SIGTERM (smart shutdown), \
            SIGINT (fast) or SIGQUIT (immediate); SIGHUP reloads the configuration.
            Actions: stop (signal the running instance, see -m), reload, check (validate the \
            configuration files and exit).
            """,
        version: version)

    enum Action: String, ExpressibleByArgument, CaseIterable {
        case stop, reload, check
    }

    @Option(name: .customShort("f"), help: "Path to pgpool.conf.")
    var configFile = "/etc/pgpool2/pgpool.conf"

    @Option(name: .customShort("a"), help: "Path to pool_hba.conf (default: pool_hba.conf beside pgpool.conf).")
    var hbaFile: String?

    @Option(name: .customShort("F"), help: "Path to pcp.conf (default: pcp.conf beside pgpool.conf).")
    var pcpFile: String?

    @Flag(name: .customShort("n"), help: "Do not detach from the terminal (SwiftPool always runs in the foreground).")
    var noDaemon = false

    @Flag(name: .customShort("d"), help: "Debug logging.")
    var debug = false

    @Flag(name: .customShort("D"), help: "Discard the pgpool_status file: start with every node attached.")
    var discardStatus = false

    @Option(name: .customShort("m"), help: "Shutdown mode for stop: smart, fast or immediate.")
    var mode: String = "smart"

    @Argument(help: "stop, reload or check; nothing to run the proxy.")
    var action: Action?

    func validate() throws {
        guard ["smart", "fast", "immediate", "s", "f", "i"].contains(mode) else {
            throw ValidationError("invalid shutdown mode \"\(mode)\": use smart, fast or immediate")
        }
    }

    func run() async throws {
        let files = ConfigFiles(config: configFile, hba: hbaFile, pcp: pcpFile)
        do {
            switch action {
            case .check:
                let loaded = try ConfigBundle.load(files)
                for line in loaded.diagnostics { FileHandle.standardError.write(Data((line + "\n").utf8)) }
                for name in loaded.notSupportedYet {
                    FileHandle.standardError.write(Data("parameter \"\(name)\" is not supported yet and is ignored\n".utf8))
                }
                print("configuration is valid: \(files.config)")
            case .stop:
                try ProcessControl.stop(files: files, mode: mode)
            case .reload:
                try ProcessControl.reload(files: files)
            case nil:
                try await ProxyMain(files: files, debug: debug, discardStatus: discardStatus).run()
            }
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("swiftpool: \(error.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// A fatal start-up or control error, printed on one line.
struct StartupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The configuration files named on the command line.
struct ConfigFiles: Sendable {
    var config: String
    var hba: String?
    var pcp: String?
}
