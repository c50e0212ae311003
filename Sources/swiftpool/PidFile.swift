import Foundation

/// The pid file that `swiftpool stop` and `swiftpool reload` use to find the running instance.
struct PidFile {
    let path: String

    /// The pid written in the file, if the file exists and holds a number.
    func readPID() -> pid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return pid_t(text.split(whereSeparator: \.isNewline).first.map(String.init) ?? "")
    }

    /// Writes this process's pid, refusing when a live instance already owns the file.
    func acquire() throws {
        if let pid = readPID(), pid != getpid(), kill(pid, 0) == 0 {
            throw StartupError("another swiftpool instance (pid \(pid)) is running; pid file \(path)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        do {
            try "\(getpid())\n".write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw StartupError("cannot write pid file \(path): \(error.localizedDescription)")
        }
    }

    func remove() {
        if readPID() == getpid() { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// `swiftpool stop` and `swiftpool reload`: signal the instance named by the pid file.
enum ProcessControl {
    static func stop(files: ConfigFiles, mode: String) throws {
        let pidFile = try PidFile(path: ConfigBundle.pidFilePath(files))
        guard let pid = pidFile.readPID() else {
            throw StartupError("pid file \(pidFile.path) does not exist or is empty; is swiftpool running?")
        }
        let signal: Int32
        switch mode {
        case "fast", "f": signal = SIGINT
        case "immediate", "i": signal = SIGQUIT
        default: signal = SIGTERM
        }
        guard kill(pid, signal) == 0 else {
            throw StartupError("could not signal swiftpool (pid \(pid)): \(String(cString: strerror(errno)))")
        }
        print("stopping swiftpool (pid \(pid), \(mode) shutdown)")
        // Wait as `pgpool stop` does, so scripts can rely on the port being free afterwards.
        let deadline = Date().addingTimeInterval(300)
        while isAlive(pid) {
            if Date() > deadline { throw StartupError("swiftpool (pid \(pid)) did not stop within 300 seconds") }
            usleep(100_000)
        }
        print("swiftpool stopped")
    }

    /// True while the process exists and is not a zombie (a parent that has not reaped it yet
    /// must not make `stop` wait forever).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].split(separator: " ").first
        return state != "Z" && state != "X"
    }

    static func reload(files: ConfigFiles) throws {
        let pidFile = try PidFile(path: ConfigBundle.pidFilePath(files))
        guard let pid = pidFile.readPID(), kill(pid, SIGHUP) == 0 else {
            throw StartupError("cannot signal the instance named by \(pidFile.path); is swiftpool running?")
        }
        print("reload requested (pid \(pid))")
    }
}
