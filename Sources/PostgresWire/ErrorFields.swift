import NIOCore

/// The fields of an ErrorResponse or NoticeResponse.
public struct ErrorFields: Equatable, Sendable {
    public enum Severity: String, Sendable {
        case error = "ERROR"
        case fatal = "FATAL"
        case panic = "PANIC"
        case warning = "WARNING"
        case notice = "NOTICE"
        case log = "LOG"
    }

    /// Raw fields by their one-byte code ('S', 'V', 'C', 'M', 'D', 'H', …).
    public var fields: [UInt8: String]

    public init(fields: [UInt8: String]) {
        self.fields = fields
    }

    public init(severity: Severity, sqlState: String, message: String, detail: String? = nil, hint: String? = nil) {
        var fields: [UInt8: String] = [
            UInt8(ascii: "S"): severity.rawValue,
            UInt8(ascii: "V"): severity.rawValue,
            UInt8(ascii: "C"): sqlState,
            UInt8(ascii: "M"): message,
        ]
        if let detail { fields[UInt8(ascii: "D")] = detail }
        if let hint { fields[UInt8(ascii: "H")] = hint }
        self.fields = fields
    }

    public var severity: String? { fields[UInt8(ascii: "V")] ?? fields[UInt8(ascii: "S")] }
    public var sqlState: String? { fields[UInt8(ascii: "C")] }
    public var message: String? { fields[UInt8(ascii: "M")] }
    public var detail: String? { fields[UInt8(ascii: "D")] }

    /// Decodes the body of an ErrorResponse/NoticeResponse (after type and length).
    public static func decode(body: ByteBuffer) -> ErrorFields {
        var body = body
        var fields: [UInt8: String] = [:]
        while let code = body.readInteger(as: UInt8.self), code != 0 {
            guard let value = body.readNullTerminatedString() else { break }
            fields[code] = value
        }
        return ErrorFields(fields: fields)
    }

    /// Decodes the ErrorResponse or NoticeResponse at the front of `bytes` (type and length
    /// included); nil when no whole one is there.
    public static func decode(messageAtFrontOf bytes: ByteBuffer) -> ErrorFields? {
        var bytes = bytes
        guard let type = bytes.readInteger(as: UInt8.self),
              type == BackendMessageType.errorResponse || type == BackendMessageType.noticeResponse,
              let length = bytes.readInteger(as: Int32.self), length >= 4,
              let body = bytes.readSlice(length: Int(length) - 4) else { return nil }
        return decode(body: body)
    }

    /// Encodes the fields as a message body, in PostgreSQL's order.
    public func encodeBody(into buffer: inout ByteBuffer) {
        let order: [UInt8] = Array("SVCMDH".utf8)
        for code in order {
            if let value = fields[code] {
                buffer.writeInteger(code)
                buffer.writeNullTerminatedString(value)
            }
        }
        for (code, value) in fields.sorted(by: { $0.key < $1.key }) where !order.contains(code) {
            buffer.writeInteger(code)
            buffer.writeNullTerminatedString(value)
        }
        buffer.writeInteger(UInt8(0))
    }
}

extension ErrorFields: CustomStringConvertible {
    public var description: String {
        "\(severity ?? "ERROR"): \(message ?? "") (SQLSTATE \(sqlState ?? "?????"))"
    }
}
