import Configuration
import Foundation

/// Parses pgpool.conf text as the file "pgpool.conf" in /etc/swiftpool.
func loadConfig(_ text: String) throws(ConfigError) -> LoadedConfig {
    try ConfigLoader.parse(text: text, fileName: "pgpool.conf", configDirectory: "/etc/swiftpool")
}

/// The error `text` produces, or nil when it loads.
func configError(_ text: String) -> ConfigError? {
    do {
        _ = try loadConfig(text)
        return nil
    } catch {
        return error
    }
}

/// The repository root, found from this file's location (through the symlinks of a scratch package).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A fresh empty directory under the system temporary directory.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("cfgtests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
