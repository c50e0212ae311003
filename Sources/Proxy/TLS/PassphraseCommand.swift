import Foundation

/// `ssl_passphrase_command`: a shell command whose first line of output is the passphrase of an
/// encrypted private key. `%p` in it is replaced by a prompt naming the key file (quoted for the
/// shell), `%%` by `%`, as in PostgreSQL and Pgpool-II.
enum PassphraseCommand {
    /// Runs `command` and returns the passphrase (the first line of its output, without the end of
    /// line). The command's failure names the command's exit status, never its output.
    static func run(_ command: String, keyFile: String) throws(TLSFileError) -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", expand(command, prompt: "Enter PEM pass phrase for \(keyFile):")]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw TLSFileError(file: keyFile, problem: "ssl_passphrase_command cannot be started (\(error))")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TLSFileError(file: keyFile, problem: "ssl_passphrase_command exited with status \(process.terminationStatus)")
        }
        return Array(data.prefix { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") })
    }

    /// `command` with `%p` replaced by `prompt` in single quotes and `%%` by `%`.
    static func expand(_ command: String, prompt: String) -> String {
        var result = ""
        var characters = command.makeIterator()
        while let character = characters.next() {
            guard character == "%" else { result.append(character); continue }
            switch characters.next() {
            case "p"?: result += "'" + prompt.replacingOccurrences(of: "'", with: "'\\''") + "'"
            case "%"?: result.append("%")
            case let other?: result += "%" + String(other)
            case nil: result.append("%")
            }
        }
        return result
    }
}

/// Carries an error out of the passphrase callback, which cannot throw.
final class PassphraseFailure: @unchecked Sendable {
    var error: TLSFileError?
}
