// The policy file format: a strict TOML subset (Schemas/policy.md). Reading goes in two passes:
// the lines into (section.key → value, line), reporting syntax, unknown and duplicate keys; then
// the values into a `Policy`, reporting types, ranges and contradictions. Every problem is
// collected, so one run shows the author everything to fix.

/// One problem in a policy file, printed `file:line: field: message`.
///
/// `field` is the key with its section (`fix.critical`), a section's name for a problem with a
/// section header, or `-` for a line that is neither. A missing key is reported on its
/// section's header line, or on line 1 for a missing top-level key.
public struct PolicyIssue: Hashable, Sendable, CustomStringConvertible {
    /// The file name given to `Policy.parse(_:file:)`.
    public var file: String
    /// 1-based.
    public var line: Int
    /// `fix.critical`, `name`, a section name, or `-`.
    public var field: String
    /// What is wrong and what is allowed.
    public var message: String

    public init(file: String, line: Int, field: String, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String { "\(file):\(line): \(field): \(message)" }
}

/// Every problem found in a policy file, in line order.
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// At least one issue, sorted by line.
    public var issues: [PolicyIssue]

    public init(issues: [PolicyIssue]) { self.issues = issues }

    /// One issue per line.
    public var description: String { issues.map(\.description).joined(separator: "\n") }

    /// The first `limit` issues, one per line, and how many more there are: what a node answers,
    /// so that a file of nothing but errors does not make an answer many times its size.
    public func description(limit: Int) -> String {
        guard issues.count > limit else { return description }
        return (issues.prefix(limit).map(\.description) + ["… and \(issues.count - limit) more"]).joined(separator: "\n")
    }

    /// The same problems as a `CoreError` (code `invalid-policy`), for callers that report those.
    public var coreError: CoreError { CoreError(.invalidPolicy, description) }
}

extension Policy {
    /// Parses and validates a policy file; `file` names it in the issues.
    ///
    /// `adopting`: the text is a policy to adopt now (or to validate for adopting), so the checks
    /// added after policies were first recorded apply too (a time zone that names no place, a
    /// version past `maximumVersion`). Without it the text is one already in the log, read as it
    /// was accepted then: a view never drops an adoption the ledger took.
    ///
    /// `zoneProblem`, when adopting: what is wrong with a well-formed time-zone id where the policy
    /// will be adopted (no such zone in its tz database), or nil; reported with the file's other
    /// problems, so one run still shows the author everything to fix.
    public static func parse(
        _ text: String, file: String, adopting: Bool = false, zoneProblem: ((String) -> String?)? = nil
    ) throws(PolicyError) -> Policy {
        var parser = PolicyParser(file: file, adopting: adopting, zoneProblem: zoneProblem)
        parser.readLines(text)
        let policy = parser.build()
        guard let policy, parser.issues.isEmpty else {
            throw PolicyError(issues: parser.issues.enumerated().sorted { ($0.element.line, $0.offset) < ($1.element.line, $1.offset) }.map(\.element))
        }
        return policy
    }
}

struct PolicyParser {
    enum Value {
        case string(String)
        case integer(Int)
        case boolean(Bool)
        case array([String])

        var typeName: String {
            switch self {
            case .string: "a string"
            case .integer: "an integer"
            case .boolean: "true/false"
            case .array: "an array"
            }
        }
    }

    struct Entry {
        var value: Value
        var line: Int
    }

    /// Sections and their keys in schema order; "" is the top level.
    static let schema: [(section: String, keys: [String])] = [
        ("", ["name", "version", "models", "time-zone", "workweek", "holidays", "credit-default"]),
        ("acknowledge", ["within", "pause-while-waiting"]),
        ("triage", ["within", "pause-while-waiting"]),
        ("status-update", ["every"]),
        ("fix", ["from", "pause-while-waiting", "met-by-advisory", "critical", "high", "medium", "low"]),
        ("disclosure", ["from", "within", "earliest", "after-fix", "grace", "exploited", "exploited-grace", "max-extension", "grace-on-request", "workday-deadlines"]),
        ("needs-info", ["auto-close"]),
        ("scope", ["in", "out"]),
        ("support", ["window"]),
    ]

    let file: String
    private(set) var issues: [PolicyIssue] = []
    /// Values by field (`name`, `fix.critical`).
    private var entries: [String: Entry] = [:]
    /// The header line of each section that appears.
    private var sectionLines: [String: Int] = [:]

    /// Whether the checks for a policy adopted now apply (`Policy.parse`).
    let adopting: Bool
    /// `Policy.parse`'s `zoneProblem`.
    let zoneProblem: ((String) -> String?)?

    init(file: String, adopting: Bool, zoneProblem: ((String) -> String?)? = nil) {
        self.file = file
        self.adopting = adopting
        self.zoneProblem = zoneProblem
    }

    /// Fields whose line could not be read; they are not reported as missing as well.
    private var unreadable: Set<String> = []

    private mutating func report(_ line: Int, _ field: String, _ message: String) {
        // Both may quote the file (a section's name, a bare word): shown, not obeyed, by a terminal.
        issues.append(PolicyIssue(file: file, line: line, field: UntrustedText.displayable(field), message: UntrustedText.displayable(message)))
    }

    /// The line a field's problem is reported on: its own, else its section's header, else 1.
    private func line(of field: String) -> Int {
        if let entry = entries[field] { return entry.line }
        let section = field.split(separator: ".", maxSplits: 1).count == 2 ? String(field.split(separator: ".")[0]) : ""
        return sectionLines[section] ?? 1
    }

    // MARK: Pass 1: lines

    mutating func readLines(_ text: String) {
        var section: String? = ""  // nil while inside an unknown section: its keys are not checked
        // Split bytes, not Characters: "\r\n" is one Character and would hide the line break.
        for (index, raw) in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            var b = Array(raw)
            if index == 0, b.starts(with: [0xEF, 0xBB, 0xBF]) { b.removeFirst(3) }  // byte order mark
            if b.last == UInt8(ascii: "\r") { b.removeLast() }
            var lexer = Lexer(b: b)
            lexer.skipSpace()
            if lexer.atEndOrComment { continue }
            if lexer.peek == UInt8(ascii: "[") {
                section = readHeader(&lexer, line: index + 1, current: section)
            } else {
                readKeyValue(&lexer, line: index + 1, section: section)
            }
        }
    }

    private mutating func readHeader(_ lexer: inout Lexer, line: Int, current: String?) -> String? {
        lexer.i += 1
        if lexer.peek == UInt8(ascii: "[") {
            report(line, "-", "arrays of tables ([[...]]) are not part of the policy format; use a [section]")
            return nil
        }
        guard let close = lexer.b[lexer.i...].firstIndex(of: UInt8(ascii: "]")) else {
            report(line, "-", "section header is missing its closing ']'")
            return nil
        }
        let name = String(decoding: lexer.b[lexer.i..<close], as: UTF8.self).trimmingSpaces
        lexer.i = close + 1
        lexer.skipSpace()
        let field = name.isEmpty ? "-" : name
        if !lexer.atEndOrComment { report(line, field, "unexpected text after the section header") }
        guard let known = Self.schema.first(where: { $0.section == name && !name.isEmpty }) else {
            let sections = Self.schema.dropFirst().map(\.section)
            if let close = Self.closest(to: name, among: sections) {
                report(line, field, "unknown section; did you mean [\(close)]?")
            } else {
                report(line, field, "unknown section; the sections are " + sections.map { "[\($0)]" }.joined(separator: ", "))
            }
            return nil
        }
        if let first = sectionLines[known.section] {
            report(line, field, "section already started on line \(first); each section appears once")
        } else {
            sectionLines[known.section] = line
        }
        return known.section
    }

    private mutating func readKeyValue(_ lexer: inout Lexer, line: Int, section: String?) {
        let keyStart = lexer.i
        while let c = lexer.peek, Lexer.isBareKey(c) { lexer.i += 1 }
        let key = String(decoding: lexer.b[keyStart..<lexer.i], as: UTF8.self)
        let field = section.map { $0.isEmpty ? key : $0 + "." + key } ?? key
        guard !key.isEmpty else {
            let rest = lexer.b[lexer.i...]
            let quoted = lexer.peek == UInt8(ascii: "\"") || lexer.peek == UInt8(ascii: "'")
            let what =
                quoted && !rest.contains(UInt8(ascii: "="))
                ? "this looks like the rest of an array begun on an earlier line: an array is written on one line (holidays = [\"2026-12-25\", \"2026-12-26\"])"
                : quoted
                ? "quoted keys are not part of the policy format; write the key bare (within = \"48h\")"
                : "expected key = value, a [section] header or a # comment"
            report(line, "-", what)
            return
        }
        lexer.skipSpace()
        if lexer.peek == UInt8(ascii: ".") {
            report(line, field, "dotted keys are not part of the policy format; put the key under its [section] header")
            return
        }
        guard lexer.peek == UInt8(ascii: "=") else {
            report(line, field, "expected '=' after the key")
            unreadable.insert(field)
            return
        }
        lexer.i += 1
        lexer.skipSpace()
        let value: Value
        do throws(Lexer.Problem) {
            value = try lexer.value()
            lexer.skipSpace()
            guard lexer.atEndOrComment else { throw Lexer.Problem("unexpected text after the value (start a comment with #)") }
        } catch {
            report(line, field, error.message)
            unreadable.insert(field)
            return
        }
        guard let section else { return }
        let keys = Self.schema.first { $0.section == section }!.keys
        guard keys.contains(key) else {
            report(line, field, Self.unknownKeyMessage(key, section: section, keys: keys))
            return
        }
        if let first = entries[field] {
            report(line, field, "duplicate key; first set on line \(first.line)")
            return
        }
        entries[field] = Entry(value: value, line: line)
    }

    private static func unknownKeyMessage(_ key: String, section: String, keys: [String]) -> String {
        if let close = closest(to: key, among: keys) { return "unknown key; did you mean \"\(close)\"?" }
        if section.isEmpty, let s = schema.first(where: { $0.section == key && !key.isEmpty }) {
            return "\"\(key)\" is a section: write [\(key)] on its own line, then its keys (\(s.keys.joined(separator: ", ")))"
        }
        let elsewhere = schema.filter { $0.section != section && $0.keys.contains(key) }.map { $0.section.isEmpty ? "the top level" : "[\($0.section)]" }
        if !elsewhere.isEmpty {
            return "unknown key here; \"\(key)\" belongs in " + elsewhere.joined(separator: " or ")
        }
        let place = section.isEmpty ? "the top-level keys are" : "the keys of [\(section)] are"
        return "unknown key; \(place) " + keys.joined(separator: ", ")
    }

    /// The candidate nearest to `word` when it is near enough to be a likely typo.
    static func closest(to word: String, among candidates: [String]) -> String? {
        let normalized = String(word.lowercased().map { $0 == "_" || $0 == " " ? "-" : $0 })
        if let exact = candidates.first(where: { $0 == normalized }) { return exact }
        let scored = candidates.map { ($0, editDistance(Array(normalized.utf8), Array($0.utf8))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        if best.1 <= min(3, (normalized.count + 2) / 3) { return best.0 }
        // "crit" for "critical", "fixes" for "fix".
        return candidates.first { normalized.count >= 3 && ($0.hasPrefix(normalized) || normalized.hasPrefix($0)) }
    }

    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }

    // MARK: Pass 2: values

    /// The policy, or nil when a required field is missing or a value is unusable (all reported).
    mutating func build() -> Policy? {
        var policy = Policy(name: "", version: 0)
        var complete = true

        func require<T>(_ field: String, _ value: T?, example: String) -> T? {
            if value == nil, entries[field] == nil, !unreadable.contains(field) {
                let section = field.contains(".") ? String(field.split(separator: ".")[0]) : ""
                let hint = section.isEmpty ? "add \(example) before the first [section]" : "[\(section)] needs \(example)"
                report(line(of: field), field, "missing; \(hint)")
            }
            if value == nil { complete = false }
            return value
        }

        if let name = require("name", string("name"), example: "name = \"Project name\"") {
            if name.trimmingSpaces.isEmpty || name.count > 200 {
                report(line(of: "name"), "name", "must be 1–200 characters and not blank")
            } else {
                policy.name = name
            }
        }
        if let version = require("version", integer("version"), example: "version = 1") {
            if version < 1 || (adopting && version > Policy.maximumVersion) {
                report(line(of: "version"), "version", "must be 1 to \(Policy.maximumVersion), got \(version) (each adoption needs a higher one: count up from 1)")
            } else {
                policy.version = version
            }
        }
        if let models = string("models") {
            if models.isEmpty || models.count > 200 { report(line(of: "models"), "models", "must be 1–200 characters") } else { policy.models = models }
        }
        if let zone = string("time-zone") {
            if adopting, let why = ZoneRules.notAPlace(zone) {
                report(line(of: "time-zone"), "time-zone", "\"\(zone)\" is \(why); name the zone, like \"Europe/Berlin\", or write \"UTC\" or an offset such as \"+05:30\"")
            } else if ZoneRules.isValidTimeZone(zone) {
                if adopting, let problem = zoneProblem?(zone) {
                    report(line(of: "time-zone"), "time-zone", problem)
                } else {
                    policy.timeZone = zone
                }
            } else {
                report(line(of: "time-zone"), "time-zone", "\"\(zone)\" is not a time zone; write \"UTC\", an offset such as \"+05:30\", or an IANA id such as \"Europe/Berlin\"")
            }
        }
        if let days = strings("workweek") { policy.workweek = workweek(days) }
        if let dates = strings("holidays") { policy.holidays = holidays(dates) }
        if let credit: CreditDefault = enumeration("credit-default") { policy.creditDefault = credit }

        for (section, path) in [("acknowledge", \Policy.acknowledge), ("triage", \Policy.triage)] where sectionLines[section] != nil {
            let within = require("\(section).within", duration("\(section).within"), example: "within = \"48h\"")
            let pause = bool("\(section).pause-while-waiting") ?? false
            if let within { policy[keyPath: path] = ResponseClock(within: within, pausedWhileWaiting: pause) }
        }
        if sectionLines["status-update"] != nil {
            policy.statusUpdateEvery = require("status-update.every", duration("status-update.every"), example: "every = \"7d\"")
        }
        if sectionLines["fix"] != nil {
            var fix = FixPolicy(targets: [:])
            if let from: FixClockStart = enumeration("fix.from") { fix.from = from }
            fix.pausedWhileWaiting = bool("fix.pause-while-waiting") ?? false
            fix.metByAdvisory = bool("fix.met-by-advisory") ?? false
            for severity in FixPolicy.severities {
                if let target = fixTarget("fix.\(severity.rawValue)"), target != .none { fix.targets[severity] = target }
            }
            policy.fix = fix
        }
        if sectionLines["disclosure"] != nil {
            let anchor: DisclosureAnchor? = enumeration("disclosure.from")
            let within = require("disclosure.within", duration("disclosure.within"), example: "within = \"90d\"")
            // (Without a `within` that parsed, one in its place: the rule is not kept, but its other
            // problems are told now rather than once `within` is mended.)
            let rule = DisclosurePolicy(
                anchor: anchor ?? .report, within: within ?? PolicyDuration(90, .days), earliest: duration("disclosure.earliest"),
                afterFix: duration("disclosure.after-fix"), grace: duration("disclosure.grace"),
                exploited: duration("disclosure.exploited"), exploitedGrace: duration("disclosure.exploited-grace"),
                maxExtension: duration("disclosure.max-extension"), graceOnRequest: bool("disclosure.grace-on-request") ?? false,
                workdayDeadlines: bool("disclosure.workday-deadlines") ?? false)
            if within != nil {
                policy.disclosure = rule
            } else {
                for (field, message) in rule.contradictions(checkingWithin: false) { report(line(of: field), field, message) }
            }
        }
        if sectionLines["needs-info"] != nil {
            policy.needsInfoAutoClose = require("needs-info.auto-close", duration("needs-info.auto-close"), example: "auto-close = \"14d\"")
        }
        if sectionLines["scope"] != nil {
            policy.scopeIn = scopeEntries("scope.in")
            policy.scopeOut = scopeEntries("scope.out")
            // (Checked for policies adopted from now on: one already in the log is read as recorded.)
            if adopting {
                let inScope = Set(policy.scopeIn.map(Self.scopeKey))
                var named = Set<String>()
                for entry in policy.scopeOut where inScope.contains(Self.scopeKey(entry)) && named.insert(Self.scopeKey(entry)).inserted {
                    report(
                        line(of: "scope.out"), "scope.out",
                        "\"\(entry)\" is in scope.in too: a component or kind of issue is in scope or out of it; keep it in one list (a narrower entry, such as its one endpoint out of scope, can say what is meant)")
                }
            }
        }
        if sectionLines["support"] != nil {
            policy.supportWindow = require("support.window", duration("support.window"), example: "window = \"90d\"")
        }

        for (field, message) in policy.contradictions() { report(line(of: field), field, message) }
        return complete ? policy : nil
    }

    // MARK: Typed access (each reports a wrong type and returns nil)

    private mutating func typed<T>(_ field: String, expected: String, _ extract: (Value) -> T?) -> T? {
        guard let entry = entries[field] else { return nil }
        guard let value = extract(entry.value) else {
            report(entry.line, field, "expected \(expected), got \(entry.value.typeName)")
            return nil
        }
        return value
    }

    private mutating func string(_ field: String) -> String? {
        let value = typed(field, expected: "a string") { if case .string(let s) = $0 { s } else { nil } }
        if let value { refuseDisruptive(value, field) }
        return value
    }

    /// A policy to adopt holds no text that changes how what is around it is shown (an escape
    /// sequence, a carriage return, a bidirectional override, more than 16 combining marks on one
    /// character): its name and entries are printed
    /// in tables, messages and clock notes. Policies already in the log are read as they are.
    private mutating func refuseDisruptive(_ value: String, _ field: String, entry: Int? = nil) {
        guard adopting else { return }
        let named = entry.map { "entry \($0)" } ?? field
        // (A stack of combining marks runs over the lines around it, as in a command's texts.)
        guard let why = UntrustedText.refusal(value, field: named, multiLine: false) ?? UntrustedText.stackRefusal(value, field: named) else { return }
        report(line(of: field), field, "\(why); policy text is shown in tables and messages: remove it")
    }

    private mutating func integer(_ field: String) -> Int? {
        typed(field, expected: "an integer") { if case .integer(let n) = $0 { n } else { nil } }
    }

    private mutating func bool(_ field: String) -> Bool? {
        typed(field, expected: "true or false") { if case .boolean(let v) = $0 { v } else { nil } }
    }

    private mutating func strings(_ field: String) -> [String]? {
        let values = typed(field, expected: "an array of strings, e.g. [\"a\", \"b\"]") { if case .array(let a) = $0 { a } else { nil } }
        for (i, value) in (values ?? []).enumerated() { refuseDisruptive(value, field, entry: i + 1) }
        return values
    }

    private mutating func duration(_ field: String) -> PolicyDuration? {
        guard let text = typed(field, expected: "a duration string such as \"48h\", \"7d\", \"2w\" or \"5bd\"", { v in
            if case .string(let s) = v { s } else { nil }
        }) else { return nil }
        do {
            return try PolicyDuration(text)
        } catch {
            report(line(of: field), field, error.message)
            return nil
        }
    }

    private mutating func fixTarget(_ field: String) -> FixTarget? {
        guard let text = typed(field, expected: "a duration, \"next-release\" or \"none\"", { v in
            if case .string(let s) = v { s } else { nil }
        }) else { return nil }
        do {
            return try FixTarget(text)
        } catch {
            report(line(of: field), field, error.message)
            return nil
        }
    }

    private mutating func enumeration<T: RawRepresentable & CaseNamed>(_ field: String) -> T? where T.RawValue == String {
        guard let text = string(field) else { return nil }
        guard let value = T(rawValue: text) else {
            let names = T.names.map { "\"\($0)\"" }
            let list = names.dropLast().joined(separator: ", ") + (names.count > 1 ? " or " : "") + names.last!
            report(line(of: field), field, "\"\(text)\" is not allowed here; write \(list)\(T.hint)")
            return nil
        }
        return value
    }

    private mutating func workweek(_ names: [String]) -> [Weekday] {
        var days: [Weekday] = []
        for name in names {
            guard let day = Weekday(abbreviation: name) else {
                report(line(of: "workweek"), "workweek", "\"\(name)\" is not a weekday; write mon, tue, wed, thu, fri, sat or sun")
                continue
            }
            if days.contains(day) { report(line(of: "workweek"), "workweek", "\"\(name)\" is listed twice") } else { days.append(day) }
        }
        return days
    }

    private mutating func holidays(_ texts: [String]) -> [CivilDate] {
        var dates: [CivilDate] = []
        var seen = Set<CivilDate>()
        for text in texts {
            do {
                let date = try CivilDate(text)
                if !seen.insert(date).inserted { report(line(of: "holidays"), "holidays", "\(date) is listed twice") } else { dates.append(date) }
            } catch {
                report(line(of: "holidays"), "holidays", error.message)
            }
        }
        return dates
    }

    /// A scope entry as the overlap check compares it: case and surrounding and repeated white
    /// space aside.
    static func scopeKey(_ entry: String) -> String {
        entry.lowercased().split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    private mutating func scopeEntries(_ field: String) -> [String] {
        let items = strings(field) ?? []
        if items.contains(where: { $0.trimmingSpaces.isEmpty }) { report(line(of: field), field, "entries must not be empty") }
        return items
    }
}

/// The allowed spellings of a string-valued enumeration, for error messages.
protocol CaseNamed {
    static var names: [String] { get }
    static var hint: String { get }
}

extension CaseNamed {
    static var hint: String { "" }
}

extension CreditDefault: CaseNamed {
    static let names = ["named", "handle", "anonymous", "none"]
}

extension FixClockStart: CaseNamed {
    static let names = ["report", "acceptance"]
    static let hint = " (acceptance: when the report is confirmed valid)"
}

extension DisclosureAnchor: CaseNamed {
    static let names = ["report", "fix-release"]
}

// MARK: - Lexing one line

/// Reads the values of the TOML subset from one line's bytes.
private struct Lexer {
    struct Problem: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    let b: [UInt8]
    var i = 0

    init(b: [UInt8]) { self.b = b }

    var peek: UInt8? { i < b.count ? b[i] : nil }
    var atEndOrComment: Bool { i == b.count || b[i] == UInt8(ascii: "#") }

    mutating func skipSpace() {
        while let c = peek, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { i += 1 }
    }

    static func isBareKey(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || ((c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z"))
            || c == UInt8(ascii: "_") || c == UInt8(ascii: "-")
    }

    mutating func value() throws(Problem) -> PolicyParser.Value {
        switch peek {
        case UInt8(ascii: "\""), UInt8(ascii: "'"): return .string(try string())
        case UInt8(ascii: "["): return .array(try array())
        case UInt8(ascii: "{"): throw Problem("inline tables are not part of the policy format; put the keys on lines of their own under a [section] header")
        default: break
        }
        let start = i
        while let c = peek, c != UInt8(ascii: " "), c != UInt8(ascii: "\t"), c != UInt8(ascii: "#"), c != UInt8(ascii: ",") { i += 1 }
        let token = String(decoding: b[start..<i], as: UTF8.self)
        switch token {
        case "": throw Problem("missing value after '='")
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        default: break
        }
        var digits = Substring(token)
        if digits.first == "+" || digits.first == "-" { digits = digits.dropFirst() }
        if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard digits == "0" || digits.first != "0" else { throw Problem("integers are written without leading zeros") }
            guard let n = Int(token) else { throw Problem("integer \(token) is out of range") }
            return .integer(n)
        }
        throw Problem("\(token) is not a value; strings are quoted: \"\(token)\"")
    }

    /// A basic ("…", with escapes) or literal ('…', without) string on this line.
    mutating func string() throws(Problem) -> String {
        let quote = b[i]
        i += 1
        var out: [UInt8] = []
        while true {
            guard let c = peek else { throw Problem("unterminated string; a string ends with \(quote == 34 ? "\"" : "'") on the same line") }
            i += 1
            if c == quote { return String(decoding: out, as: UTF8.self) }
            if c < 0x20 && c != UInt8(ascii: "\t") || c == 0x7F {
                throw Problem("control character U+\(hex(UInt32(c), 4)) in a string: remove it (TOML takes one only written as an escape, \\u\(hex(UInt32(c), 4)), and a policy's texts, shown in tables and messages, hold none)")
            }
            if c == UInt8(ascii: "\\") && quote == UInt8(ascii: "\"") {
                try escape(into: &out)
            } else {
                out.append(c)
            }
        }
    }

    private mutating func escape(into out: inout [UInt8]) throws(Problem) {
        guard let e = peek else { throw Problem("unterminated string") }
        i += 1
        let simple: [UInt8: UInt8] = [
            UInt8(ascii: "b"): 0x08, UInt8(ascii: "t"): 0x09, UInt8(ascii: "n"): 0x0A, UInt8(ascii: "f"): 0x0C,
            UInt8(ascii: "r"): 0x0D, UInt8(ascii: "\""): 0x22, UInt8(ascii: "\\"): 0x5C,
        ]
        if let byte = simple[e] {
            out.append(byte)
            return
        }
        let length = e == UInt8(ascii: "u") ? 4 : e == UInt8(ascii: "U") ? 8 : 0
        guard length > 0 else {
            throw Problem("unknown escape \\\(String(decoding: [e], as: UTF8.self)); use \\b \\t \\n \\f \\r \\\" \\\\ \\uXXXX or \\UXXXXXXXX")
        }
        guard i + length <= b.count, let v = UInt32(String(decoding: b[i..<i + length], as: UTF8.self), radix: 16),
            let scalar = Unicode.Scalar(v)
        else { throw Problem("\\\(e == UInt8(ascii: "u") ? "u" : "U") needs \(length) hex digits naming a Unicode scalar value") }
        i += length
        out.append(contentsOf: String(Character(scalar)).utf8)
    }

    /// `["a", "b"]` on one line; a trailing comma is allowed.
    mutating func array() throws(Problem) -> [String] {
        i += 1
        var items: [String] = []
        while true {
            skipSpace()
            guard let c = peek else { throw Problem("an array is written on one line and closed with ']'") }
            if c == UInt8(ascii: "]") {
                i += 1
                return items
            }
            guard c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") else {
                let start = i
                while let c = peek, c != UInt8(ascii: ","), c != UInt8(ascii: "]"), c != UInt8(ascii: "#") { i += 1 }
                let item = String(decoding: b[start..<i], as: UTF8.self).trimmingSpaces
                throw Problem(item.isEmpty ? "expected a quoted string in the array" : "arrays hold only quoted strings; quote \(item): \"\(item)\"")
            }
            items.append(try string())
            skipSpace()
            if peek == UInt8(ascii: ",") {
                i += 1
            } else if peek != UInt8(ascii: "]") {
                throw Problem(peek == nil ? "an array is written on one line and closed with ']'" : "expected ',' or ']' in the array")
            }
        }
    }

    private func hex(_ v: UInt32, _ width: Int) -> String {
        let s = String(v, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
