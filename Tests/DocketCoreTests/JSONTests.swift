import DocketCore
import Testing

// RFC 8259 parsing and compact serialization of `Value`, without Foundation.

@Suite("JSON")
struct JSONTests {

    // MARK: Scalars and numbers

    struct Parsed: Sendable, CustomTestStringConvertible {
        let text: String
        let value: Value
        var testDescription: String { text }
        init(_ text: String, _ value: Value) {
            self.text = text
            self.value = value
        }
    }

    static let scalars: [Parsed] = [
        Parsed("null", .null),
        Parsed("true", true),
        Parsed("false", false),
        Parsed("0", 0),
        Parsed("-0", 0),  // integers have no negative zero
        Parsed("123", 123),
        Parsed("-123", -123),
        Parsed("9223372036854775807", .int(.max)),
        Parsed("-9223372036854775808", .int(.min)),
        Parsed("1.5", 1.5),
        Parsed("-0.0", .double(-0.0)),
        Parsed("0.0", .double(0)),
        Parsed("1.0", .double(1)),  // a decimal point makes a double, even when integral
        Parsed("0e0", .double(0)),
        Parsed("1e2", .double(100)),
        Parsed("1E2", .double(100)),
        Parsed("1e+2", .double(100)),
        Parsed("1e-2", .double(0.01)),
        Parsed("-2.5E-3", .double(-0.0025)),
        Parsed("1.7976931348623157e308", .double(.greatestFiniteMagnitude)),
        Parsed("4.9406564584124654e-324", .double(.leastNonzeroMagnitude)),
        // Integers beyond Int64 become the nearest double (lossy, but never an error).
        Parsed("9223372036854775808", .double(9_223_372_036_854_775_808)),
        Parsed("-9223372036854775809", .double(-9_223_372_036_854_775_808)),
        Parsed("18446744073709551616", .double(18_446_744_073_709_551_616)),
        Parsed("100000000000000000000000000000", .double(1e29)),
        // Underflow rounds to zero rather than failing.
        Parsed("1e-400", .double(0)),
        Parsed("\"\"", ""),
        Parsed("\"plain\"", "plain"),
        Parsed(" \t\r\n 42 \t\r\n ", 42),
    ]

    @Test("scalars and numbers parse to the expected Value", arguments: scalars)
    func parseScalar(_ p: Parsed) throws {
        let value = try JSON.parse(p.text)
        #expect(identical(value, p.value), "parsed \(value)")
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        let text: String
        /// The whole error message, location included.
        let message: String
        var testDescription: String { text.debugDescription }
        init(_ text: String, _ message: String) {
            self.text = text
            self.message = message
        }
    }

    static let badNumbers: [Bad] = [
        Bad("01", "invalid JSON at line 1, column 2: leading zeros are not allowed in numbers"),
        Bad("-01", "invalid JSON at line 1, column 3: leading zeros are not allowed in numbers"),
        Bad("00", "invalid JSON at line 1, column 2: leading zeros are not allowed in numbers"),
        Bad("-", "invalid JSON at line 1, column 2: expected a digit"),
        Bad("- 1", "invalid JSON at line 1, column 2: expected a digit"),
        Bad("-Infinity", "invalid JSON at line 1, column 2: expected a digit"),
        Bad("1.", "invalid JSON at line 1, column 3: expected a digit after '.'"),
        Bad("1.e5", "invalid JSON at line 1, column 3: expected a digit after '.'"),
        Bad("1e", "invalid JSON at line 1, column 3: expected a digit in exponent"),
        Bad("1e+", "invalid JSON at line 1, column 4: expected a digit in exponent"),
        Bad(".5", "invalid JSON at line 1, column 1: unexpected character '.', expected a value"),
        Bad("+1", "invalid JSON at line 1, column 1: unexpected character '+', expected a value"),
        Bad("NaN", "invalid JSON at line 1, column 1: unexpected character 'N', expected a value"),
        Bad("Infinity", "invalid JSON at line 1, column 1: unexpected character 'I', expected a value"),
        Bad("0x10", "invalid JSON at line 1, column 2: unexpected content after the JSON value"),
        Bad("1.5.2", "invalid JSON at line 1, column 4: unexpected content after the JSON value"),
        Bad("1_000", "invalid JSON at line 1, column 2: unexpected content after the JSON value"),
        Bad("1e400", "invalid JSON at line 1, column 6: number 1e400 is out of range"),
        Bad("-1e400", "invalid JSON at line 1, column 7: number -1e400 is out of range"),
        Bad("1" + String(repeating: "0", count: 400), "is out of range"),
    ]

    @Test("malformed and out-of-range numbers are refused", arguments: badNumbers)
    func badNumber(_ b: Bad) {
        expectCoreError(.invalidJSON, b.message) { _ = try JSON.parse(b.text) }
    }

    // MARK: Strings

    static let strings: [Parsed] = [
        Parsed(#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{C}\n\r\t"),
        Parsed(#""\u0041\u00e9\u00E9\u20AC""#, "Aéé€"),
        Parsed(#""\uD83D\uDE00""#, "😀"),  // surrogate pair
        Parsed(#""\ud83d\ude00""#, "😀"),  // lowercase hex
        Parsed(#""\uDBFF\uDFFF""#, "\u{10FFFF}"),  // highest pair
        Parsed(#""\uD800\uDC00""#, "\u{10000}"),  // lowest pair
        Parsed(#""\u0000""#, "\u{0}"),
        Parsed(#""a\u0000b""#, "a\u{0}b"),
        Parsed(#""\uFFFF\uFEFF""#, "\u{FFFF}\u{FEFF}"),
        Parsed(#""\u2028\u2029""#, "\u{2028}\u{2029}"),
        Parsed("\"raw é 日本 🙂 \u{2028} \u{7F}\"", "raw é 日本 🙂 \u{2028} \u{7F}"),  // DEL need not be escaped
        Parsed(#""mixed \u00e9 raw é""#, "mixed é raw é"),
        Parsed(#""e\u0301""#, "e\u{301}"),  // decomposed, kept as is
    ]

    @Test("string escapes and raw UTF-8", arguments: strings)
    func parseString(_ p: Parsed) throws {
        let value = try JSON.parse(p.text)
        #expect(identical(value, p.value), "parsed \(value)")
    }

    static let badStrings: [Bad] = [
        Bad(#""\uD800""#, "invalid JSON at line 1, column 8: unpaired surrogate in \\u escape"),
        Bad(#""\uD800x""#, "unpaired surrogate in \\u escape"),
        Bad(#""\uD800\n      ""#, "unpaired surrogate in \\u escape"),
        Bad(#""\uDC00""#, "invalid JSON at line 1, column 8: unpaired surrogate in \\u escape"),
        Bad(#""\uDE00\uD83D""#, "unpaired surrogate in \\u escape"),  // pair in the wrong order
        Bad(#""\uD800\u0041""#, "invalid JSON at line 1, column 14: invalid low surrogate"),
        Bad(#""\uD800\uD800""#, "invalid low surrogate"),
        Bad(#""\x""#, "invalid JSON at line 1, column 4: invalid escape '\\x'"),
        Bad(#""\'""#, "invalid escape '\\''"),
        Bad(#""\U0041""#, "invalid escape '\\U'"),
        Bad(#""\0""#, "invalid escape '\\0'"),
        Bad(#""\u12""#, "invalid JSON at line 1, column 4: truncated \\u escape"),
        Bad(#""\u12G4""#, "invalid JSON at line 1, column 6: invalid hex digit in \\u escape"),
        Bad("\"a\u{1}b\"", "invalid JSON at line 1, column 3: unescaped control character in string"),
        Bad("\"\\n\u{1F}\"", "invalid JSON at line 1, column 5: unescaped control character in string"),
        Bad("\"tab\there\"", "unescaped control character in string"),
        Bad("\"new\nline\"", "unescaped control character in string"),
        Bad("\"a\u{0}\"", "unescaped control character in string"),
        Bad(#""abc"#, "invalid JSON at line 1, column 5: unterminated string"),
        Bad(#""abc\"#, "invalid JSON at line 1, column 6: unterminated escape"),
        Bad(#""\n"#, "invalid JSON at line 1, column 4: unterminated string"),
        Bad(#"'single'"#, "unexpected character '''"),
    ]

    @Test("malformed strings and lone surrogates are refused", arguments: badStrings)
    func badString(_ b: Bad) {
        expectCoreError(.invalidJSON, b.message) { _ = try JSON.parse(b.text) }
    }

    // MARK: Structure

    @Test("arrays and objects keep their order and nesting")
    func structure() throws {
        let text = """
            {
              "zeta": [1, -2, 3.5, true, false, null, [], {}],
              "alpha": {"b": {"c": ["d"]}, "a": ""},
              "": 0,
              "ключ": "значение"
            }
            """
        let value = try JSON.parse(text)
        let expected: Value = [
            "zeta": [1, -2, 3.5, true, false, nil, [], .object([])],
            "alpha": ["b": ["c": ["d"]], "a": ""],
            "": 0,
            "ключ": "значение",
        ]
        #expect(identical(value, expected))
        guard case .object(let members) = value else {
            Issue.record("not an object")
            return
        }
        #expect(members.map(\.key) == ["zeta", "alpha", "", "ключ"])
    }

    @Test(
        "the four JSON whitespace characters are allowed between every token",
        arguments: ["[1,2,{\"a\":null}]", " [ 1 , 2 , { \"a\" : null } ] ", "\t[\n1\r,\r\n2,\t{\n\"a\"\n:\nnull\n}\n]\n"])
    func whitespace(_ text: String) throws {
        #expect(try JSON.parse(text) == [1, 2, ["a": nil]])
    }

    @Test(
        "other whitespace is not JSON whitespace",
        arguments: ["\u{C}1", "1\u{B}", "\u{A0}1", "\u{FEFF}1", "\u{2003}1", "[1,\u{85}2]"])
    func otherWhitespace(_ text: String) {
        expectCoreError(.invalidJSON, "invalid JSON at line 1") { _ = try JSON.parse(text) }
    }

    static let badStructure: [Bad] = [
        Bad("", "invalid JSON at line 1, column 1: unexpected end of input, expected a value"),
        Bad("   ", "invalid JSON at line 1, column 4: unexpected end of input, expected a value"),
        Bad("[", "invalid JSON at line 1, column 2: unexpected end of input, expected a value"),
        Bad("[1", "invalid JSON at line 1, column 3: expected ',' or ']' in array"),
        Bad("[1,]", "invalid JSON at line 1, column 4: unexpected character ']', expected a value"),
        Bad("[1 2]", "invalid JSON at line 1, column 4: expected ',' or ']' in array"),
        Bad("[,1]", "invalid JSON at line 1, column 2: unexpected character ',', expected a value"),
        Bad("[1]]", "invalid JSON at line 1, column 4: unexpected content after the JSON value"),
        Bad("{", "invalid JSON at line 1, column 2: expected a string key"),
        Bad("{\"a\":1,}", "invalid JSON at line 1, column 8: expected a string key"),
        Bad("{\"a\" 1}", "invalid JSON at line 1, column 6: expected ':' after key \"a\""),
        Bad("{\"a\":1 \"b\":2}", "invalid JSON at line 1, column 8: expected ',' or '}' in object"),
        Bad("{a:1}", "invalid JSON at line 1, column 2: expected a string key"),
        Bad("{1:1}", "invalid JSON at line 1, column 2: expected a string key"),
        Bad("{\"a\":}", "invalid JSON at line 1, column 6: unexpected character '}', expected a value"),
        Bad("{}x", "invalid JSON at line 1, column 3: unexpected content after the JSON value"),
        Bad("1 2", "invalid JSON at line 1, column 3: unexpected content after the JSON value"),
        Bad("null null", "invalid JSON at line 1, column 6: unexpected content after the JSON value"),
        Bad("nulll", "invalid JSON at line 1, column 5: unexpected content after the JSON value"),
        Bad("tru", "invalid JSON at line 1, column 1: unexpected end of input"),
        Bad("trux", "invalid JSON at line 1, column 1: unexpected character"),
        Bad("True", "invalid JSON at line 1, column 1: unexpected character 'T', expected a value"),
        Bad("[1] // comment", "unexpected content after the JSON value"),
        Bad("/* c */ 1", "unexpected character '/', expected a value"),
        Bad("\n\n   }", "invalid JSON at line 3, column 4: unexpected character '}', expected a value"),
    ]

    @Test("structural errors name the line and column", arguments: badStructure)
    func badStructureError(_ b: Bad) {
        expectCoreError(.invalidJSON, b.message) { _ = try JSON.parse(b.text) }
    }

    @Test(
        "line and column of errors deep in a document",
        arguments: [
            Bad("[1,\n  2,\n  x]", "invalid JSON at line 3, column 3: unexpected character 'x', expected a value"),
            Bad("{\n  \"a\": 1,\n  \"b\": tru\n}", "invalid JSON at line 3, column 8: unexpected character"),
            // CR counts as a column, LF starts a line.
            Bad("[1,\r\n x]", "invalid JSON at line 2, column 2: unexpected character 'x'"),
            Bad("[\n\n\n\n\n\n\n\n\n\n1 1]", "invalid JSON at line 11, column 3: expected ',' or ']' in array"),
            // Columns count UTF-8 bytes: "é" is two columns.
            Bad("[\"é\", x]", "invalid JSON at line 1, column 8: unexpected character 'x'"),
            // A duplicate key is reported just after the key.
            Bad("{\n  \"a\": 1,\n  \"a\": 2\n}", "invalid JSON at line 3, column 6: duplicate key \"a\""),
        ])
    func lineAndColumn(_ b: Bad) {
        expectCoreError(.invalidJSON, b.message) { _ = try JSON.parse(b.text) }
    }

    // MARK: Duplicate keys

    @Test(
        "duplicate keys are refused, also when spelled differently",
        arguments: [
            (#"{"a":1,"a":2}"#, "duplicate key \"a\""),
            (#"{"a":1,"a":1}"#, "duplicate key \"a\""),
            (#"{"a":1,"b":2,"a":3}"#, "duplicate key \"a\""),
            (#"{"a":1,"\u0061":2}"#, "duplicate key \"a\""),
            (#"{"x":{"k":null,"k":null}}"#, "duplicate key \"k\""),
            (#"[{},{"":1,"":2}]"#, "duplicate key \"\""),
            // Keys are compared as Swift strings, so canonically equivalent spellings collide.
            ("{\"\u{E9}\":1,\"e\u{301}\":2}", "duplicate key"),
        ])
    func duplicateKeys(_ text: String, _ message: String) {
        expectCoreError(.invalidJSON, message) { _ = try JSON.parse(text) }
    }

    @Test("the same key in different objects is fine")
    func sameKeyElsewhere() throws {
        #expect(try JSON.parse(#"[{"a":1},{"a":2}]"#) == [["a": 1], ["a": 2]])
        #expect(try JSON.parse(#"{"a":{"a":{"a":null}}}"#) == ["a": ["a": ["a": nil]]])
    }

    // MARK: Depth

    @Test("nesting is limited to 64 levels, like the binary encoding")
    func depthLimit() throws {
        #expect(JSON.maximumDepth == Value.maximumDepth)
        let arrays64 = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        let parsed = try JSON.parse(arrays64)
        // Whatever JSON accepts, the payload decoder accepts too.
        #expect(try decodeWhole(encodeValue(parsed)) == parsed)

        let scalarAt63 = String(repeating: "[", count: 63) + "1" + String(repeating: "]", count: 63)
        _ = try JSON.parse(scalarAt63)

        let arrays65 = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        expectCoreError(.invalidJSON, "invalid JSON at line 1, column 65: nesting deeper than 64 levels") {
            _ = try JSON.parse(arrays65)
        }
        let scalarAt64 = String(repeating: "[", count: 64) + "1" + String(repeating: "]", count: 64)
        expectCoreError(.invalidJSON, "nesting deeper than 64 levels") { _ = try JSON.parse(scalarAt64) }

        let objects64 = String(repeating: "{\"k\":", count: 63) + "{}" + String(repeating: "}", count: 63)
        _ = try JSON.parse(objects64)
        let objects65 = String(repeating: "{\"k\":", count: 64) + "{}" + String(repeating: "}", count: 64)
        expectCoreError(.invalidJSON, "nesting deeper than 64 levels") { _ = try JSON.parse(objects65) }
    }

    @Test("hostile nesting is refused without exhausting the stack")
    func hostileNesting() {
        let text = String(repeating: "[", count: 100_000)
        expectCoreError(.invalidJSON, "column 65: nesting deeper than 64 levels") { _ = try JSON.parse(text) }
    }

    // MARK: Serialization

    @Test("serializes compactly, keys in stored order")
    func compact() {
        let value: Value = [
            "z": 1, "a": [true, false, nil, 1.5, "x"], "o": .object([]), "e": [], "n": .int(.min), "m": .int(.max),
        ]
        #expect(
            JSON.serialize(value)
                == #"{"z":1,"a":[true,false,null,1.5,"x"],"o":{},"e":[],"n":-9223372036854775808,"m":9223372036854775807}"#)
    }

    @Test(
        "doubles keep a decimal point or exponent so they parse back as doubles",
        arguments: [
            (1.0, "1.0"), (-1.0, "-1.0"), (100.0, "100.0"), (0.0, "0.0"), (-0.0, "-0.0"), (0.1, "0.1"),
            (1.5, "1.5"), (1e16, "1e+16"), (1.5e-7, "1.5e-07"), (123_456.789, "123456.789"),
            (.leastNonzeroMagnitude, "5e-324"), (.greatestFiniteMagnitude, "1.7976931348623157e+308"),
            (9_007_199_254_740_992, "9007199254740992.0"),
        ] as [(Double, String)])
    func doubleText(_ d: Double, _ text: String) throws {
        #expect(JSON.serialize(.double(d)) == text)
        let back = try JSON.parse(text)
        guard case .double(let parsed) = back else {
            Issue.record("\(text) parsed as \(back)")
            return
        }
        #expect(parsed.bitPattern == d.bitPattern)
    }

    @Test("NaN and infinities, which JSON cannot say, are written as null", arguments: [Double.nan, .infinity, -.infinity])
    func nonFinite(_ d: Double) {
        #expect(JSON.serialize(.double(d)) == "null")
        #expect(JSON.serialize([.double(d)]) == "[null]")
    }

    @Test(
        "strings are escaped minimally: quotes, backslashes, and what would disrupt a terminal",
        arguments: [
            ("plain", #""plain""#),
            ("", #""""#),
            ("\"", #""\"""#),
            ("\\", #""\\""#),
            ("/", #""/""#),
            ("\n\r\t", #""\n\r\t""#),
            ("\u{8}\u{C}", #""\u0008\u000c""#),
            ("\u{0}", #""\u0000""#),
            ("a\u{1F}b", #""a\u001fb""#),
            // Not JSON's control characters, but a terminal's: DEL, the C1 controls (0x9B is CSI)
            // and the bidirectional overrides and isolates reach no terminal raw.
            ("\u{7F}", #""\u007f""#),
            ("a\u{9B}2Jb\u{85}", #""a\u009b2Jb\u0085""#),
            ("\u{202E}evil\u{2066}x\u{2069}", #""\u202eevil\u2066x\u2069""#),
            ("\u{2028}\u{2029}", #""\u2028\u2029""#),  // for JavaScript embedding too
            ("é日🙂\u{A0}\u{2014}", "\"é日🙂\u{A0}\u{2014}\""),
        ] as [(String, String)])
    func stringEscapes(_ s: String, _ json: String) throws {
        #expect(JSON.serialize(.string(s)) == json)
        var out = "prefix:"
        JSON.writeString(s, to: &out)
        #expect(out == "prefix:" + json)
        #expect(identical(try JSON.parse(json), .string(s)))
    }

    @Test("every control character is escaped in values and keys and parses back", arguments: 0..<0x20)
    func controlCharacters(_ code: Int) throws {
        let s = String(Unicode.Scalar(UInt8(code)))
        let value: Value = [s: .string("x\(s)y")]
        let text = JSON.serialize(value)
        #expect(!text.utf8.contains { $0 < 0x20 }, "\(text.debugDescription)")
        #expect(identical(try JSON.parse(text), value))
    }

    // MARK: Round trips

    @Test(
        "compact canonical texts survive parse → serialize unchanged",
        arguments: [
            "null", "true", "0", "-1", "[]", "{}", "\"\"", "-0.0", "1e+16", "0.5",
            #"{"a":[1,-2,3.5,true,false,null],"b":{"c":"d\n\u0001\"\\"},"":[[],{}]}"#,
            #"["\u2028","é","\u0000",9223372036854775807,-9223372036854775808]"#,
        ])
    func textRoundTrip(_ text: String) throws {
        #expect(JSON.serialize(try JSON.parse(text)) == text)
    }

    @Test("2,000 generated values survive Value → JSON → Value bit for bit")
    func generatedRoundTrip() throws {
        var generator = ValueGenerator(seed: 42, allowNonFinite: false)
        for n in 0..<2_000 {
            let value = generator.value()
            let text = JSON.serialize(value)
            let back = try JSON.parse(text)
            #expect(identical(back, value), "value #\(n): \(text)")
            #expect(JSON.serialize(back) == text)
        }
    }

    @Test("a value with duplicate keys serializes to JSON the parser refuses")
    func duplicateKeysDoNotRoundTrip() {
        let text = JSON.serialize(.object([(key: "a", value: 1), (key: "a", value: 2)]))
        #expect(text == #"{"a":1,"a":2}"#)
        expectCoreError(.invalidJSON, "duplicate key \"a\"") { _ = try JSON.parse(text) }
    }
}
