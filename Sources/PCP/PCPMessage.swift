import NIOCore

/// One PCP packet: a type byte, then an int32 length that counts itself, then the payload.
public struct PCPMessage: Sendable, Equatable {
    public var type: UInt8
    public var payload: [UInt8]

    /// Pgpool-II refuses a packet whose length is not in 1..<260.
    public static let maxLength = 260

    public init(type: UInt8, payload: [UInt8] = []) {
        self.type = type
        self.payload = payload
    }

    /// A reply made of NUL-terminated strings (`"CommandComplete"`, values…).
    public static func strings(_ type: Character, _ strings: [String], then raw: [UInt8] = []) -> PCPMessage {
        var payload: [UInt8] = []
        for string in strings {
            payload += Array(string.utf8)
            payload.append(0)
        }
        return PCPMessage(type: type.asciiValue!, payload: payload + raw)
    }

    /// An `E` (or `N`) packet with PostgreSQL-style fields.
    public static func error(severity: String, message: String, detail: String? = nil) -> PCPMessage {
        var fields: [(Character, String)] = [("S", severity), ("C", "XX000"), ("M", message)]
        if let detail { fields.append(("D", detail)) }
        fields += [("F", "pcp"), ("L", "0")]
        var payload: [UInt8] = []
        for (code, value) in fields {
            payload.append(code.asciiValue!)
            payload += Array(value.utf8)
            payload.append(0)
        }
        payload.append(0)
        return PCPMessage(type: UInt8(ascii: "E"), payload: payload)
    }

    /// The payload split at NULs (a trailing NUL ends the last string).
    public var strings: [String] {
        var result: [String] = []
        var current: [UInt8] = []
        for byte in payload {
            if byte == 0 {
                result.append(String(decoding: current, as: UTF8.self))
                current = []
            } else {
                current.append(byte)
            }
        }
        if !current.isEmpty { result.append(String(decoding: current, as: UTF8.self)) }
        return result
    }

    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(type)
        buffer.writeInteger(Int32(payload.count + 4))
        buffer.writeBytes(payload)
    }
}

/// Why a PCP byte stream cannot be read further.
public enum PCPFramingError: Error, Equatable {
    case invalidLength(Int)
}

/// Splits a PCP byte stream into packets, refusing Pgpool-II's invalid lengths.
public struct PCPMessageDecoder: ByteToMessageDecoder {
    public typealias InboundOut = PCPMessage

    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = try Self.next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(NIOAny(message))
        return .continue
    }

    /// The next whole packet, or nil when more bytes are needed.
    public static func next(from buffer: inout ByteBuffer) throws -> PCPMessage? {
        guard buffer.readableBytes >= 5,
              let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 1, as: Int32.self) else { return nil }
        guard length >= 4, length < PCPMessage.maxLength else { throw PCPFramingError.invalidLength(Int(length)) }
        guard buffer.readableBytes >= 1 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 5)
        let payload = buffer.readBytes(length: Int(length) - 4) ?? []
        return PCPMessage(type: type, payload: payload)
    }
}
