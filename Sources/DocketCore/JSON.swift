/// RFC 8259 JSON to and from `Value`, without Foundation: integers stay integers, key order is
/// kept, duplicate keys and trailing garbage are errors that name the byte offset, line and column.
public enum JSON {
    /// Deepest nesting the parser accepts.
    public static let maximumDepth = Value.maximumDepth

    /// Parses one JSON text.
    public static func parse(_ text: String) throws(CoreError) -> Value {
        var copy = text
        // `withUTF8` rethrows untyped errors, so the typed result is carried out in a `Result`.
        let result = copy.withUTF8 { utf8 -> Result<Value, CoreError> in
            var parser = Parser(bytes: UnsafeRawBufferPointer(utf8))
            return Result { () throws(CoreError) -> Value in
                parser.skipWhitespace()
                let value = try parser.parseValue(depth: 0)
                parser.skipWhitespace()
                guard parser.index == parser.bytes.count else {
                    throw parser.error("unexpected content after the JSON value")
                }
                return value
            }
        }
        return try result.get()
    }

    /// Serializes a value as compact JSON (no whitespace), keys in stored order.
    public static func serialize(_ value: Value) -> String {
        var out = ""
        out.reserveCapacity(128)
        write(value, to: &out)
        return out
    }

    static func write(_ value: Value, to out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isFinite {
                // Keep a decimal point so the value parses back as a double.
                let s = String(d)
                out += s
                if !s.contains(".") && !s.contains("e") { out += ".0" }
            } else {
                out += "null"  // JSON has no NaN or infinity; the parser never produces them.
            }
        case .string(let s): writeString(s, to: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                write(v, to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { out += "," }
                writeString(k, to: &out)
                out += ":"
                write(v, to: &out)
            }
            out += "}"
        }
    }

    /// Appends `s` as a JSON string literal. Every character that could change how the text
    /// around it shows (`UntrustedText.isDisruptive`: controls, DEL, C1 controls, line separators,
    /// bidirectional overrides and isolates) is written as a `\u` escape, so JSON printed to a
    /// terminal or pasted elsewhere shows what it holds; parsed, it is the same string.
    public static func writeString(_ s: String, to out: inout String) {
        out += "\""
        // Most strings need no escape: append them whole. 0xC2 leads the C1 controls and 0xE2 the
        // separators, overrides and isolates (with other characters, which take the careful path).
        var text = s
        let plain = text.withUTF8 { u in !u.contains { $0 == 0x22 || $0 == 0x5C || $0 < 0x20 || $0 == 0x7F || $0 == 0xC2 || $0 == 0xE2 } }
        if plain {
            out += text
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where UntrustedText.isDisruptive(scalar):
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func error(_ message: String) -> CoreError {
            var line = 1
            var column = 1
            for i in 0..<min(index, bytes.count) {
                if bytes[i] == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            }
            return CoreError(.invalidJSON, "invalid JSON at line \(line), column \(column): \(message)")
        }

        var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let c = peek, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { index += 1 }
        }

        mutating func expect(_ literal: StaticString, value: Value) throws(CoreError) -> Value {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw error("unexpected end of input") }
            for i in 0..<count where bytes[index + i] != literal.utf8Start[i] {
                throw error("unexpected character")
            }
            index += count
            return value
        }

        mutating func parseValue(depth: Int) throws(CoreError) -> Value {
            guard depth < JSON.maximumDepth else { throw error("nesting deeper than \(JSON.maximumDepth) levels") }
            guard let c = peek else { throw error("unexpected end of input, expected a value") }
            switch c {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): return try expect("true", value: .bool(true))
            case UInt8(ascii: "f"): return try expect("false", value: .bool(false))
            case UInt8(ascii: "n"): return try expect("null", value: .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw error("unexpected \(describeByte(c)), expected a value")
            }
        }

        mutating func parseObject(depth: Int) throws(CoreError) -> Value {
            index += 1
            var members: [(key: String, value: Value)] = []
            var seen = Set<String>()
            skipWhitespace()
            if peek == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try parseString()
                guard seen.insert(key).inserted else { throw error("duplicate key \"\(key)\"") }
                skipWhitespace()
                guard peek == UInt8(ascii: ":") else { throw error("expected ':' after key \"\(key)\"") }
                index += 1
                skipWhitespace()
                members.append((key: key, value: try parseValue(depth: depth + 1)))
                skipWhitespace()
                switch peek {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return .object(members)
                default: throw error("expected ',' or '}' in object")
                }
            }
        }

        mutating func parseArray(depth: Int) throws(CoreError) -> Value {
            index += 1
            var items: [Value] = []
            skipWhitespace()
            if peek == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                switch peek {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return .array(items)
                default: throw error("expected ',' or ']' in array")
                }
            }
        }

        mutating func parseHex4() throws(CoreError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[index]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw error("invalid hex digit in \\u escape")
                }
                v = v << 4 | d
                index += 1
            }
            return v
        }

        mutating func parseString() throws(CoreError) -> String {
            index += 1  // opening quote
            let start = index
            // Fast path: no escapes.
            while let c = peek, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\") {
                guard c >= 0x20 else { throw error("unescaped control character in string") }
                index += 1
            }
            guard let c = peek else { throw error("unterminated string") }
            var scalars = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            if c == UInt8(ascii: "\"") {
                index += 1
                return try validated(scalars)
            }
            while true {
                guard let c = peek else { throw error("unterminated string") }
                index += 1
                switch c {
                case UInt8(ascii: "\""):
                    return try validated(scalars)
                case UInt8(ascii: "\\"):
                    guard let e = peek else { throw error("unterminated escape") }
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""): scalars.append(0x22)
                    case UInt8(ascii: "\\"): scalars.append(0x5C)
                    case UInt8(ascii: "/"): scalars.append(0x2F)
                    case UInt8(ascii: "b"): scalars.append(0x08)
                    case UInt8(ascii: "f"): scalars.append(0x0C)
                    case UInt8(ascii: "n"): scalars.append(0x0A)
                    case UInt8(ascii: "r"): scalars.append(0x0D)
                    case UInt8(ascii: "t"): scalars.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try parseHex4()
                        if (0xD800...0xDBFF).contains(code) {
                            guard index + 6 <= bytes.count, bytes[index] == UInt8(ascii: "\\"),
                                bytes[index + 1] == UInt8(ascii: "u")
                            else { throw error("unpaired surrogate in \\u escape") }
                            index += 2
                            let low = try parseHex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid low surrogate") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(code) {
                            throw error("unpaired surrogate in \\u escape")
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                        scalars.append(contentsOf: String(Character(scalar)).utf8)
                    default: throw error("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
                    }
                default:
                    guard c >= 0x20 else { throw error("unescaped control character in string") }
                    scalars.append(c)
                }
            }
        }

        func validated(_ bytes: [UInt8]) throws(CoreError) -> String {
            guard let s = bytes.withUnsafeBytes({ utf8String($0) }) else { throw error("string is not valid UTF-8") }
            return s
        }

        mutating func parseNumber() throws(CoreError) -> Value {
            let start = index
            var isInteger = true
            if peek == UInt8(ascii: "-") { index += 1 }
            guard let first = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
                throw error("expected a digit")
            }
            if first == UInt8(ascii: "0") {
                index += 1
                if let c = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) {
                    throw error("leading zeros are not allowed in numbers")
                }
            } else {
                while let c = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { index += 1 }
            }
            if peek == UInt8(ascii: ".") {
                isInteger = false
                index += 1
                guard let c = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else {
                    throw error("expected a digit after '.'")
                }
                while let c = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { index += 1 }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                isInteger = false
                index += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
                guard let c = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else {
                    throw error("expected a digit in exponent")
                }
                while let c = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { index += 1 }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if isInteger, let i = Int64(text) { return .int(i) }
            guard let d = Double(text), d.isFinite else { throw error("number \(text) is out of range") }
            return .double(d)
        }
    }
}

/// A byte of JSON input for an error message: the character for ASCII, the byte otherwise (a
/// multi-byte character's first byte alone is not a character).
func describeByte(_ c: UInt8) -> String {
    if c >= 0x20 && c < 0x7F { return "character '\(Character(Unicode.Scalar(c)))'" }
    return "byte 0x\(String(c, radix: 16, uppercase: true))"
}
