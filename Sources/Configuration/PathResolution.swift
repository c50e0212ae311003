import Foundation

/// `path` if it is absolute, else `path` inside `directory`, with `.` and `..` resolved.
func resolvePath(_ path: String, against directory: String) -> String {
    if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL.path }
    let base = URL(fileURLWithPath: directory, isDirectory: true)
    return URL(fileURLWithPath: path, relativeTo: base).standardizedFileURL.path
}

/// The absolute directory that contains `file` (relative names are taken from the working directory).
func directoryOf(_ file: String) -> String {
    URL(fileURLWithPath: file).standardizedFileURL.deletingLastPathComponent().path
}

/// The text of `path`, or a `ConfigError` that names the file and says what it is.
func readConfigText(_ path: String, what: String) throws(ConfigError) -> String {
    do {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError.unreadable(file: path, what: what, reason: "the file is not valid UTF-8")
        }
        return text
    } catch let error as ConfigError {
        throw error
    } catch {
        let reason: String
        if !FileManager.default.fileExists(atPath: path) {
            reason = "no such file"
        } else if !FileManager.default.isReadableFile(atPath: path) {
            reason = "permission denied"
        } else {
            reason = error.localizedDescription
        }
        throw ConfigError.unreadable(file: path, what: what, reason: reason)
    }
}
