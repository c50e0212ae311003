extension StringProtocol {
    /// The lines of a configuration file: split at LF and CR LF (a CR LF pair is one `Character`
    /// in Swift, so splitting at "\n" alone would miss it); a final newline gives a last empty line.
    var configLines: [SubSequence] {
        split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
    }
}
