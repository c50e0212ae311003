import Foundation
import NIOCore

/// The first packet a client sends, before any typed message.
public enum StartupPacket: Equatable, Sendable {
    case startup(StartupParameters)
    case sslRequest
    case gssEncRequest
    case cancel(BackendKey)
}

/// Parameters of a StartupMessage, in the order the client sent them.
public struct StartupParameters: Equatable, Hashable, Sendable {
    public var protocolVersion: Int32
    public var pairs: [(String, String)]

    public init(protocolVersion: Int32 = ProtocolCode.protocolVersion3, pairs: [(String, String)]) {
        self.protocolVersion = protocolVersion
        self.pairs = pairs
    }

    /// The value of `name`; its last one if it was given twice, as PostgreSQL reads it.
    public subscript(name: String) -> String? {
        pairs.last(where: { Self.sameBytes($0.0, name) })?.1
    }

    public var user: String? { self["user"] }
    /// The database; PostgreSQL defaults it to the user name.
    public var database: String? { self["database"] ?? self["user"] }

    /// Byte for byte, as PostgreSQL compares names: Swift's `==` on strings would take the roles
    /// "é" and "e\u{301}" for one, and let them share pooled connections.
    public static func == (lhs: StartupParameters, rhs: StartupParameters) -> Bool {
        lhs.protocolVersion == rhs.protocolVersion && (lhs.sharesPairs(with: rhs) || lhs.pairs.elementsEqual(rhs.pairs) { left, right in
            sameBytes(left.0, right.0) && sameBytes(left.1, right.1)
        })
    }

    /// Whether both hold one and the same array of pairs (copies of one packet, as the keys of a
    /// loop's pool are): then they are equal without a look at the bytes.
    public func sharesPairs(with other: StartupParameters) -> Bool {
        pairs.withUnsafeBufferPointer { mine in
            other.pairs.withUnsafeBufferPointer { theirs in mine.baseAddress == theirs.baseAddress && mine.count == theirs.count }
        }
    }

    /// Whether two strings hold the same UTF-8 bytes, compared in place for native strings (pool
    /// keys are compared at every hand-over of a transaction-mode connection).
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        let contiguous = a.utf8.withContiguousStorageIfAvailable { left in
            b.utf8.withContiguousStorageIfAvailable { right in
                left.count == right.count && (left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0)
            }
        }
        if let contiguous, let result = contiguous { return result }
        return a.utf8.elementsEqual(b.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(protocolVersion)
        for (name, value) in pairs {
            Self.combineBytes(of: name, into: &hasher)
            Self.combineBytes(of: value, into: &hasher)
        }
    }

    private static func combineBytes(of text: String, into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { bytes in
            hasher.combine(bytes.count)
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        }
    }
}

/// Errors found while reading a startup packet.
public enum StartupPacketError: Error, Equatable, Sendable {
    case invalidLength(Int)
    case unsupportedProtocol(major: Int32, minor: Int32)
    case malformed(String)
}

extension StartupPacket {
    /// Reads one startup packet from the front of `buffer` if it is complete.
    /// Returns nil (and consumes nothing) when more bytes are needed.
    public static func decode(from buffer: inout ByteBuffer) throws(StartupPacketError) -> StartupPacket? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        guard length >= 8, length <= ProtocolCode.maxStartupPacketLength else {
            throw .invalidLength(Int(length))
        }
        guard buffer.readableBytes >= Int(length) else { return nil }
        var packet = buffer.readSlice(length: Int(length))!
        packet.moveReaderIndex(forwardBy: 4)
        let code = packet.readInteger(as: Int32.self)!
        switch code {
        case ProtocolCode.sslRequest:
            return .sslRequest
        case ProtocolCode.gssEncRequest:
            return .gssEncRequest
        case ProtocolCode.cancelRequest:
            guard let pid = packet.readInteger(as: Int32.self), let secret = packet.readInteger(as: Int32.self) else {
                throw .malformed("cancel request too short")
            }
            return .cancel(BackendKey(processID: pid, secretKey: secret))
        default:
            let major = code >> 16
            guard major == 3 else {
                throw .unsupportedProtocol(major: major, minor: code & 0xFFFF)
            }
            var pairs: [(String, String)] = []
            while true {
                guard let (name, _) = readCString(&packet) else {
                    throw .malformed("startup packet has no terminator")
                }
                if name.isEmpty { break }
                guard let (value, isUTF8) = readCString(&packet) else {
                    throw .malformed("startup parameter \"\(name)\" has no value")
                }
                // A name read with replacement characters would log in as another role.
                if !isUTF8, name == "user" || name == "database" {
                    throw .malformed("the \(name) name is not valid UTF-8")
                }
                pairs.append((name, value))
            }
            return .startup(StartupParameters(protocolVersion: code, pairs: asPostgreSQLReads(pairs)))
        }
    }

    /// The parameters as PostgreSQL takes them: a parameter given twice has its last value (the
    /// backend, which gets the packet, would use it), and user and database names longer than a
    /// PostgreSQL name are cut to ``ProtocolCode/maxNameLength`` bytes (at a character boundary),
    /// so that pool_hba.conf and pool_passwd see the role and database the backend will use.
    static func asPostgreSQLReads(_ pairs: [(String, String)]) -> [(String, String)] {
        // From the end, keeping each name's first sighting: linear, whatever a client sends.
        var seen = Set<[UInt8]>()
        var result: [(String, String)] = []
        result.reserveCapacity(pairs.count)
        for (name, value) in pairs.reversed() where seen.insert(Array(name.utf8)).inserted {
            let isName = name == "user" || name == "database"
            result.append((name, isName ? truncatedToNameLength(value) : value))
        }
        result.reverse()
        return result
    }

    /// `text` cut to at most ``ProtocolCode/maxNameLength`` UTF-8 bytes without splitting a character.
    static func truncatedToNameLength(_ text: String) -> String {
        guard text.utf8.count > ProtocolCode.maxNameLength else { return text }
        var length = 0
        var end = text.unicodeScalars.startIndex
        for index in text.unicodeScalars.indices {
            let size = UTF8.width(text.unicodeScalars[index])
            if length + size > ProtocolCode.maxNameLength { break }
            length += size
            end = text.unicodeScalars.index(after: index)
        }
        return String(text.unicodeScalars[..<end])
    }

    /// A NUL-terminated string, and whether its bytes were valid UTF-8 (if not, invalid bytes
    /// read as U+FFFD); nil without a terminator.
    private static func readCString(_ packet: inout ByteBuffer) -> (String, Bool)? {
        guard let length = packet.withUnsafeReadableBytes({ $0.firstIndex(of: 0) }),
              let bytes = packet.readBytes(length: length) else { return nil }
        packet.moveReaderIndex(forwardBy: 1)
        if let text = String(validating: bytes, as: UTF8.self) { return (text, true) }
        return (String(decoding: bytes, as: UTF8.self), false)
    }

    /// Encodes the packet as a frontend would send it.
    public func encode(into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(Int32(0))
        switch self {
        case .sslRequest:
            buffer.writeInteger(ProtocolCode.sslRequest)
        case .gssEncRequest:
            buffer.writeInteger(ProtocolCode.gssEncRequest)
        case .cancel(let key):
            buffer.writeInteger(ProtocolCode.cancelRequest)
            buffer.writeInteger(key.processID)
            buffer.writeInteger(key.secretKey)
        case .startup(let parameters):
            buffer.writeInteger(parameters.protocolVersion)
            for (name, value) in parameters.pairs {
                buffer.writeNullTerminatedString(name)
                buffer.writeNullTerminatedString(value)
            }
            buffer.writeInteger(UInt8(0))
        }
        buffer.setInteger(Int32(buffer.writerIndex - start), at: start)
    }
}

/// The process id and secret key that identify a session for CancelRequest.
public struct BackendKey: Hashable, Sendable {
    public var processID: Int32
    public var secretKey: Int32

    public init(processID: Int32, secretKey: Int32) {
        self.processID = processID
        self.secretKey = secretKey
    }
}
