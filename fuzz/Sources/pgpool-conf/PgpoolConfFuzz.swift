// pgpool.conf: ConfigFileLexer (the file syntax) and ConfigLoader.parse (parameter table, value
// parsers, PoolConfigBuilder with defaults, node families, watchdog members), as the executable
// loads a configuration. Checks that lexed entries survive being written back in quoted form.
//
// Input: the file's text. The configuration directory is a temporary one holding a
// pgpool_node_id, so watchdog settings are built too.
import Configuration
import Foundation
import FuzzSupport

let configDirectory: String = {
    let directory = NSTemporaryDirectory() + "swiftpool-fuzz-conf-\(getpid())"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    try? "0\n".write(toFile: directory + "/pgpool_node_id", atomically: true, encoding: .utf8)
    return directory
}()

/// A value in single quotes as the lexer reads it back: `''` for a quote; a backslash pair is
/// kept as it is (the lexer keeps both characters).
func quoted(_ value: String) -> String {
    var out = "'"
    let scalars = Array(value.unicodeScalars)
    var i = 0
    while i < scalars.count {
        if scalars[i] == "\\", i + 1 < scalars.count {
            out.unicodeScalars.append(scalars[i])
            out.unicodeScalars.append(scalars[i + 1])
            i += 2
            continue
        }
        if scalars[i] == "'" { out += "''" } else { out.unicodeScalars.append(scalars[i]) }
        i += 1
    }
    return out + "'"
}

/// Entries written back in quoted form lex to the same names and values. An unquoted value may
/// end in a lone backslash, which in quotes would escape the closing quote (the lexer keeps
/// backslash pairs): such a file has no quoted form to compare.
func checkWrittenBack(_ entries: [ConfigFileEntry]) {
    guard !entries.contains(where: { $0.value.reversed().prefix { $0 == "\\" }.count % 2 == 1 }) else { return }
    let written = entries.map { "\($0.name) = \(quoted($0.value))" }.joined(separator: "\n")
    do {
        let again = try ConfigFileLexer.parse(text: written, fileName: "written.conf")
        check(again.map(\.name) == entries.map(\.name), "names changed when written back")
        check(again.map(\.value) == entries.map(\.value), "values changed when written back: \(entries.map(\.value)) → \(again.map(\.value))")
    } catch {
        check(false, "the written-back file does not parse: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(fuzz: bytes(start, count))
    if let entries = try? ConfigFileLexer.parse(text: text, fileName: "pgpool.conf") {
        var previousLine = 0
        for entry in entries {
            check(entry.line > previousLine, "entries out of line order")
            check(!entry.name.isEmpty, "an entry without a name")
            previousLine = entry.line
        }
        checkWrittenBack(entries)
    }
    do {
        let loaded = try ConfigLoader.parse(text: text, fileName: "pgpool.conf", configDirectory: configDirectory)
        check(loaded.config.configDirectory == configDirectory, "configuration directory changed")
        for diagnostic in loaded.diagnostics { _ = diagnostic.message }
    } catch {
        _ = "\(error)"
    }
    return 0
}
