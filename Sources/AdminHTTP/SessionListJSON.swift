/// The session list written as JSON directly: `/api/v1/sessions` lists every client connection,
/// a thousand or more, and `JSONEncoder` takes most of a request's time for that many. The
/// output is byte for byte what `HTTPResponse.json` gives (keys sorted, slashes unescaped), which
/// a unit test checks.
extension AdminAPIModels.SessionList {
    /// `{"sessions":[…]}` and a newline.
    func jsonBody() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + sessions.count * 200)
        out.append(contentsOf: #"{"sessions":["#.utf8)
        for (index, session) in sessions.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"application_name":"#.utf8)
            Self.write(session.applicationName, into: &out)
            out.append(contentsOf: #","backend_nodes":["#.utf8)
            for (n, node) in session.backendNodes.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: String(node).utf8)
            }
            out.append(contentsOf: #"],"client_address":"#.utf8)
            Self.write(session.clientAddress, into: &out)
            out.append(contentsOf: #","database":"#.utf8)
            Self.write(session.database, into: &out)
            out.append(contentsOf: #","id":"#.utf8)
            out.append(contentsOf: String(session.id).utf8)
            out.append(contentsOf: #","pinned":["#.utf8)
            for (n, reason) in session.pinned.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                Self.write(reason, into: &out)
            }
            out.append(contentsOf: #"],"pool_mode":"#.utf8)
            Self.write(session.poolMode, into: &out)
            out.append(contentsOf: #","prepared_statements":"#.utf8)
            out.append(contentsOf: String(session.preparedStatements).utf8)
            out.append(contentsOf: #","since":"#.utf8)
            Self.write(session.since, into: &out)
            out.append(contentsOf: #","state":"#.utf8)
            Self.write(session.state, into: &out)
            out.append(contentsOf: #","user":"#.utf8)
            Self.write(session.user, into: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "]}\n".utf8)
        return out
    }

    /// A JSON string: quotes, backslashes and control characters escaped as JSONEncoder does.
    static func write(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
