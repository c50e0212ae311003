/// Byte classes of PostgreSQL's SQL scanner, on UTF-8 bytes.
enum ASCII {
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let newline: UInt8 = 0x0A
    static let verticalTab: UInt8 = 0x0B
    static let formFeed: UInt8 = 0x0C
    static let carriageReturn: UInt8 = 0x0D
    static let singleQuote: UInt8 = 0x27  // '
    static let doubleQuote: UInt8 = 0x22  // "
    static let dollar: UInt8 = 0x24  // $
    static let backslash: UInt8 = 0x5C  // \
    static let slash: UInt8 = 0x2F  // /
    static let star: UInt8 = 0x2A  // *
    static let minus: UInt8 = 0x2D  // -
    static let plus: UInt8 = 0x2B  // +
    static let dot: UInt8 = 0x2E  // .
    static let colon: UInt8 = 0x3A  // :
    static let equals: UInt8 = 0x3D  // =
    static let ampersand: UInt8 = 0x26  // &
    static let underscore: UInt8 = 0x5F  // _
    static let leftParen: UInt8 = 0x28
    static let rightParen: UInt8 = 0x29
    static let leftBracket: UInt8 = 0x5B
    static let rightBracket: UInt8 = 0x5D
    static let comma: UInt8 = 0x2C
    static let semicolon: UInt8 = 0x3B

    /// White space as PostgreSQL's scanner (and C's `isspace`) sees it.
    @inline(__always) static func isSpace(_ b: UInt8) -> Bool {
        b == space || (b >= tab && b <= carriageReturn)
    }

    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }

    @inline(__always) static func isHexDigit(_ b: UInt8) -> Bool {
        isDigit(b) || (b | 0x20) &- 0x61 < 6
    }

    @inline(__always) static func isLetter(_ b: UInt8) -> Bool { (b | 0x20) &- 0x61 < 26 }

    /// First byte of an unquoted identifier: a letter, `_` or any non-ASCII byte.
    @inline(__always) static func isIdentifierStart(_ b: UInt8) -> Bool {
        isLetter(b) || b == underscore || b >= 0x80
    }

    /// Later byte of an unquoted identifier: also digits and `$`.
    @inline(__always) static func isIdentifierPart(_ b: UInt8) -> Bool {
        isIdentifierStart(b) || isDigit(b) || b == dollar
    }

    /// A byte of a dollar-quote tag (like an identifier, but without `$`).
    @inline(__always) static func isDollarTagPart(_ b: UInt8) -> Bool {
        isIdentifierStart(b) || isDigit(b)
    }

    /// A byte that can be part of an operator.
    @inline(__always) static func isOperatorChar(_ b: UInt8) -> Bool {
        switch b {
        case 0x7E, 0x21, 0x40, 0x23, 0x5E, 0x26, 0x7C, 0x60, 0x3F, 0x2B, 0x2D, 0x2A, 0x2F, 0x25, 0x3C,
            0x3E, 0x3D:
            // ~ ! @ # ^ & | ` ? + - * / % < > =
            return true
        default:
            return false
        }
    }

    /// ASCII lower case; other bytes unchanged (PostgreSQL folds only ASCII in UTF-8 databases).
    @inline(__always) static func lower(_ b: UInt8) -> UInt8 {
        b &- 0x41 < 26 ? b | 0x20 : b
    }
}
