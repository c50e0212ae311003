import NIOCore

/// Encoders for the backend messages a proxy writes to its clients itself.
public enum BackendMessageEncoder {
    public static func authenticationOk(into buffer: inout ByteBuffer) {
        authentication(AuthenticationCode.ok, into: &buffer)
    }

    public static func authenticationCleartextPassword(into buffer: inout ByteBuffer) {
        authentication(AuthenticationCode.cleartextPassword, into: &buffer)
    }

    public static func authenticationMD5Password(salt: [UInt8], into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.authentication) {
            $0.writeInteger(AuthenticationCode.md5Password)
            $0.writeBytes(salt)
        }
    }

    public static func authenticationSASL(mechanisms: [String], into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.authentication) {
            $0.writeInteger(AuthenticationCode.sasl)
            for mechanism in mechanisms { $0.writeNullTerminatedString(mechanism) }
            $0.writeInteger(UInt8(0))
        }
    }

    public static func authenticationSASLContinue(_ data: String, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.authentication) {
            $0.writeInteger(AuthenticationCode.saslContinue)
            $0.writeString(data)
        }
    }

    public static func authenticationSASLFinal(_ data: String, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.authentication) {
            $0.writeInteger(AuthenticationCode.saslFinal)
            $0.writeString(data)
        }
    }

    public static func parameterStatus(name: String, value: String, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.parameterStatus) {
            $0.writeNullTerminatedString(name)
            $0.writeNullTerminatedString(value)
        }
    }

    public static func backendKeyData(_ key: BackendKey, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.backendKeyData) {
            $0.writeInteger(key.processID)
            $0.writeInteger(key.secretKey)
        }
    }

    public static func readyForQuery(_ status: TransactionStatus, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.readyForQuery) {
            $0.writeInteger(status.rawValue)
        }
    }

    /// Tells a client asking for protocol 3.x (x > 0) or `_pq_.` options that the server speaks
    /// 3.`newestMinor` and does not know `unrecognizedOptions`.
    public static func negotiateProtocolVersion(newestMinor: Int32, unrecognizedOptions: [String], into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.negotiateProtocolVersion) {
            $0.writeInteger(newestMinor)
            $0.writeInteger(Int32(unrecognizedOptions.count))
            for option in unrecognizedOptions { $0.writeNullTerminatedString(option) }
        }
    }

    public static func commandComplete(_ tag: String, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: UInt8(ascii: "C")) { $0.writeNullTerminatedString(tag) }
    }

    /// ParseComplete, BindComplete, CloseComplete or NoData: a type with an empty body.
    public static func empty(_ type: Character, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: type.asciiValue!) { _ in }
    }

    public static func parameterDescription(_ types: [Int32], into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: UInt8(ascii: "t")) {
            $0.writeInteger(Int16(types.count))
            for type in types { $0.writeInteger(type) }
        }
    }

    /// A RowDescription of text columns in text format.
    public static func textRowDescription(_ columns: [String], into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: UInt8(ascii: "T")) {
            $0.writeInteger(Int16(columns.count))
            for column in columns {
                $0.writeNullTerminatedString(column)
                $0.writeInteger(Int32(0))   // table OID
                $0.writeInteger(Int16(0))   // column number
                $0.writeInteger(Int32(25))  // text
                $0.writeInteger(Int16(-1))
                $0.writeInteger(Int32(-1))
                $0.writeInteger(Int16(0))   // text format
            }
        }
    }

    public static func dataRow(_ values: [String], into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: UInt8(ascii: "D")) {
            $0.writeInteger(Int16(values.count))
            for value in values {
                $0.writeInteger(Int32(value.utf8.count))
                $0.writeString(value)
            }
        }
    }

    public static func errorResponse(_ fields: ErrorFields, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.errorResponse) { fields.encodeBody(into: &$0) }
    }

    public static func noticeResponse(_ fields: ErrorFields, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.noticeResponse) { fields.encodeBody(into: &$0) }
    }

    private static func authentication(_ code: Int32, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: BackendMessageType.authentication) { $0.writeInteger(code) }
    }
}

/// Encoders for the frontend messages a proxy writes to backends itself.
public enum FrontendMessageEncoder {
    public static func query(_ sql: String, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: FrontendMessageType.query) { $0.writeNullTerminatedString(sql) }
    }

    public static func password(_ password: String, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: FrontendMessageType.password) { $0.writeNullTerminatedString(password) }
    }

    public static func saslInitialResponse(mechanism: String, data: String, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: FrontendMessageType.password) {
            $0.writeNullTerminatedString(mechanism)
            $0.writeInteger(Int32(data.utf8.count))
            $0.writeString(data)
        }
    }

    public static func saslResponse(_ data: String, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: FrontendMessageType.password) { $0.writeString(data) }
    }

    public static func sync(into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: FrontendMessageType.sync) { _ in }
    }

    public static func copyFail(_ reason: String, into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: FrontendMessageType.copyFail) { $0.writeNullTerminatedString(reason) }
    }

    public static func terminate(into buffer: inout ByteBuffer) {
        buffer.writeMessage(type: FrontendMessageType.terminate) { _ in }
    }
}
