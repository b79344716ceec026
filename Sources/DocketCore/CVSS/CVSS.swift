// Shared CVSS API: version dispatch, the score value type, severity bands and the vector
// grammar both versions have in common (`CVSS:<version>/KEY:VALUE/KEY:VALUE...`).

/// The CVSS versions Docket can score.
public enum CVSSVersion: String, Sendable, Hashable, CaseIterable {
    /// CVSS v3.1 (FIRST, June 2019).
    case v3_1 = "3.1"
    /// CVSS v4.0 (FIRST, November 2023).
    case v4_0 = "4.0"

    /// The prefix every vector string of this version starts with, slash included.
    public var prefix: String { "CVSS:\(rawValue)/" }
}

/// The qualitative severity rating scale shared by CVSS v3.1 and v4.0.
///
/// Bands: 0.0 none, 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0 critical.
/// Cases are declared from least to most severe, and compare in that order.
public enum CVSSSeverity: String, Sendable, Hashable, Comparable, CaseIterable, CustomStringConvertible {
    case none
    case low
    case medium
    case high
    case critical

    /// The rating for a score given in tenths (`75` for 7.5).
    ///
    /// Scores are never negative or above 10.0; out-of-range input is clamped into the
    /// nearest band rather than trapping, because a rating is only ever a summary.
    public init(scoreTenths: Int) {
        switch scoreTenths {
        case ...0: self = .none
        case 1...39: self = .low
        case 40...69: self = .medium
        case 70...89: self = .high
        default: self = .critical
        }
    }

    /// The rating's name as the CVSS specifications spell it ("None", "Low", ...).
    public var description: String {
        switch self {
        case .none: "None"
        case .low: "Low"
        case .medium: "Medium"
        case .high: "High"
        case .critical: "Critical"
        }
    }

    public static func < (lhs: CVSSSeverity, rhs: CVSSSeverity) -> Bool {
        lhs.rank < rhs.rank
    }

    // Raw values are strings (for stable serialisation), so Comparable is not synthesised.
    /// 0 for none to 4 for critical (also an index for tables by rating, which a dictionary
    /// would look up by hashing the raw value).
    var rank: Int {
        switch self {
        case .none: 0
        case .low: 1
        case .medium: 2
        case .high: 3
        case .critical: 4
        }
    }
}

/// The scores of one CVSS vector.
///
/// Scores are kept as integer tenths so they are exact; the `Double` accessors return the
/// one-decimal value exactly as the specifications print it (`Double(tenths) / 10`).
public struct CVSSScore: Sendable, Hashable {
    /// The CVSS version of the vector.
    public let version: CVSSVersion
    /// The vector in normalized form: the version prefix, then every metric that is not
    /// "Not Defined" (`X`) in the order the specification lists them.
    public let vector: String
    /// The base score in tenths (0...100).
    ///
    /// For v3.1 this is the Base score. For v4.0 it is the one score v4.0 defines, computed
    /// from every metric present: CVSS-B for a base-only vector, CVSS-BT / CVSS-BE / CVSS-BTE
    /// when threat or environmental metrics are given (supplemental metrics never change it).
    public let baseScoreTenths: Int
    /// The v3.1 Temporal score in tenths; `nil` for v4.0, which has no separate temporal score.
    /// Equals the base score when no temporal metric is given.
    public let temporalScoreTenths: Int?
    /// The v3.1 Environmental score in tenths; `nil` for v4.0, whose environmental metrics
    /// feed `baseScoreTenths`. Equals the temporal score when no environmental metric is given.
    public let environmentalScoreTenths: Int?
    /// The v4.0 score of the base metrics alone (CVSS-B), in tenths: `baseScoreTenths` with any
    /// threat or environmental metric left out; `nil` for v3.1, whose base score is that already.
    public let baseMetricsScoreTenths: Int?

    // Internal: a score only comes from `CVSS.score`, so vector and numbers always agree.
    init(
        version: CVSSVersion,
        vector: String,
        baseScoreTenths: Int,
        temporalScoreTenths: Int? = nil,
        environmentalScoreTenths: Int? = nil,
        baseMetricsScoreTenths: Int? = nil
    ) {
        precondition(
            [baseScoreTenths, temporalScoreTenths ?? 0, environmentalScoreTenths ?? 0, baseMetricsScoreTenths ?? 0].allSatisfy { (0...100).contains($0) },
            "CVSS score out of range"
        )
        self.version = version
        self.vector = vector
        self.baseScoreTenths = baseScoreTenths
        self.temporalScoreTenths = temporalScoreTenths
        self.environmentalScoreTenths = environmentalScoreTenths
        self.baseMetricsScoreTenths = baseMetricsScoreTenths
    }

    /// The base score, 0.0...10.0, with exactly one decimal.
    public var baseScore: Double { Double(baseScoreTenths) / 10 }
    /// The v3.1 temporal score, or `nil` for v4.0.
    public var temporalScore: Double? { temporalScoreTenths.map { Double($0) / 10 } }
    /// The v3.1 environmental score, or `nil` for v4.0.
    public var environmentalScore: Double? { environmentalScoreTenths.map { Double($0) / 10 } }
    /// The qualitative severity of `baseScore`.
    public var severity: CVSSSeverity { CVSSSeverity(scoreTenths: baseScoreTenths) }

    /// The score of every metric the vector gives, in tenths: for v3.1 the environmental score
    /// where it gives an environmental metric, else the temporal score where it gives a temporal
    /// one, else the base score (3.1 always computes an environmental score, whose formula for a
    /// changed scope differs from the base one: of a base-only vector it is not the score); for
    /// v4.0 its one score. A vector that lowers or raises its base score in its own metrics rates
    /// the flaw by them, in both versions alike.
    public var ratedScoreTenths: Int {
        switch version {
        case .v4_0: return baseScoreTenths
        case .v3_1:
            if gives(CVSS31.environmentalMetrics), let e = environmentalScoreTenths { return e }
            if gives(CVSS31.temporalMetrics), let t = temporalScoreTenths { return t }
            return baseScoreTenths
        }
    }

    /// Which of v3.1's scores `ratedScoreTenths` is: "environmental", "temporal" or "base" (for v4.0, "score").
    public var ratedScoreName: String {
        guard version == .v3_1 else { return "score" }
        return gives(CVSS31.environmentalMetrics) ? "environmental" : gives(CVSS31.temporalMetrics) ? "temporal" : "base"
    }

    /// `ratedScoreTenths`, 0.0...10.0.
    public var ratedScore: Double { Double(ratedScoreTenths) / 10 }
    /// The qualitative severity of `ratedScore`: the severity a triage takes from the vector.
    public var ratedSeverity: CVSSSeverity { CVSSSeverity(scoreTenths: ratedScoreTenths) }

    /// The v4.0 name of the score (FIRST's nomenclature): CVSS-B for base metrics alone, CVSS-BT
    /// with threat metrics, CVSS-BE with environmental ones, CVSS-BTE with both; nil for v3.1.
    public var nomenclature: String? {
        guard version == .v4_0 else { return nil }
        return "CVSS-B" + (gives(["E"]) ? "T" : "") + (gives(CVSS40.environmentalMetrics) ? "E" : "")
    }

    /// Whether the vector gives a metric of `keys` (a value other than X: the normalized vector leaves those out).
    func gives(_ keys: Set<String>) -> Bool {
        vector.split(separator: "/").dropFirst().contains { keys.contains(String($0.prefix { $0 != ":" })) }
    }
}

/// Entry point for scoring CVSS vector strings.
public enum CVSS {
    /// The longest vector taken, in characters: a v4.0 vector with every metric, supplemental
    /// ones included, is about 250.
    public static let maximumLength = 512

    /// Parses and scores a CVSS v3.1 or v4.0 vector string.
    ///
    /// The version is taken from the prefix (`CVSS:3.1/` or `CVSS:4.0/`). v3.1 metrics may
    /// appear in any order (the v3.1 specification allows it); v4.0 metrics must appear in the
    /// order the v4.0 specification lists them. Optional metrics may be omitted or given as `X`.
    ///
    /// - Throws: `CoreError` with code `.invalidValue` for an empty string, an unknown prefix or
    ///   version, a trailing or doubled `/`, an unknown metric, a value a metric does not allow,
    ///   a duplicated metric, a missing base metric, or (v4.0) metrics out of order. The message
    ///   names the offending metric and, for bad values, the allowed ones.
    public static func score(_ vector: String) throws(CoreError) -> CVSSScore {
        guard !vector.isEmpty else {
            throw CoreError(.invalidValue, "CVSS vector is empty; expected e.g. \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"")
        }
        // A vector is printable ASCII, and short: what is not is named, not echoed (a carriage
        // return, an escape sequence, a look-alike letter would make the message nonsense or
        // act on the terminal), and a long one is not repeated back in full.
        if let i = vector.unicodeScalars.firstIndex(where: { !(0x21...0x7E).contains($0.value) }) {
            let position = vector.unicodeScalars.distance(from: vector.unicodeScalars.startIndex, to: i) + 1
            let c = vector.unicodeScalars[i]
            let visible: Set<Unicode.GeneralCategory> = [.uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .otherLetter, .decimalNumber]
            let shown = visible.contains(c.properties.generalCategory) ? "\"\(Character(c))\" (\(UntrustedText.name(c)))" : UntrustedText.name(c)
            throw CoreError(.invalidValue, "CVSS vector holds \(shown) at character \(position): a vector is written in printable ASCII (its metrics like AV:N, separated by '/'), without spaces")
        }
        guard vector.utf8.count <= maximumLength else {
            throw CoreError(.invalidValue, "CVSS vector is \(vector.utf8.count) characters long; one may be at most \(maximumLength) (a vector of every metric is about 250): \"\(vector.prefix(40))…\"")
        }
        let prefixEnd = vector.firstIndex(of: "/") ?? vector.endIndex
        let prefix = vector[..<prefixEnd]
        guard prefix.hasPrefix("CVSS:") else {
            // (The prefix, metrics and values are upper case: one in lower case is told so.)
            let lower = prefix.uppercased().hasPrefix("CVSS:") ? ": a vector is written in upper case, like \"\(vector.uppercased())\"" : ""
            throw CoreError(
                .invalidValue,
                "CVSS vector \"\(vector)\" does not start with a version prefix; expected \"CVSS:3.1/\" or \"CVSS:4.0/\"\(lower)"
            )
        }
        guard let version = CVSSVersion(rawValue: String(prefix.dropFirst("CVSS:".count))) else {
            throw CoreError(
                .invalidValue,
                "CVSS vector \"\(vector)\" has unsupported version prefix \"\(prefix)\"; supported versions are 3.1 (\"CVSS:3.1/\") and 4.0 (\"CVSS:4.0/\")"
            )
        }
        guard !vector.hasSuffix("/") else {
            throw CoreError(.invalidValue, "CVSS \(version.rawValue) vector \"\(vector)\" ends with \"/\"; remove the trailing slash")
        }
        let body = prefixEnd < vector.endIndex ? vector[vector.index(after: prefixEnd)...] : ""
        switch version {
        case .v3_1: return try CVSS31.score(fields: body, vector: vector)
        case .v4_0: return try CVSS40.score(fields: body, vector: vector)
        }
    }
}

// MARK: - Shared vector grammar

/// One metric of a version's vector grammar.
struct CVSSMetricDefinition: Sendable {
    /// The abbreviation used in vectors ("AV").
    let key: String
    /// The specification's name ("Attack Vector"), used in error messages.
    let name: String
    /// Allowed value abbreviations, in the specification's order; optional metrics include "X".
    let values: [String]
    /// Whether the metric is a mandatory base metric.
    let isMandatory: Bool
}

/// The metrics of one parsed vector, indexed like the version's definition table.
struct CVSSParsedMetrics: Sendable {
    let definitions: [CVSSMetricDefinition]
    let index: [String: Int]
    let values: [String?]

    /// The value given for `key`, or `nil` when the vector omits it.
    subscript(_ key: String) -> String? {
        guard let position = index[key] else { preconditionFailure("unknown CVSS metric \(key)") }
        return values[position]
    }

    /// The value given for `key`, treating an omitted metric as "X" (Not Defined).
    func valueOrX(_ key: String) -> String { self[key] ?? "X" }

    /// `prefix` plus every defined metric in specification order, leaving out "X" values.
    func normalized(prefix: String) -> String {
        var parts: [String] = []
        for (definition, value) in zip(definitions, values) {
            if let value, value != "X" { parts.append("\(definition.key):\(value)") }
        }
        return prefix + parts.joined(separator: "/")
    }
}

enum CVSSVectorParser {
    /// Builds the key → position lookup for a definition table.
    static func index(of definitions: [CVSSMetricDefinition]) -> [String: Int] {
        var index: [String: Int] = [:]
        for (position, definition) in definitions.enumerated() { index[definition.key] = position }
        return index
    }

    /// Splits the part after the prefix into metrics and checks them against `definitions`.
    ///
    /// - Parameters:
    ///   - fields: the vector without its `CVSS:x.y/` prefix.
    ///   - vector: the whole vector, for messages.
    ///   - requireOrder: whether metrics must follow the order of `definitions`.
    static func parse(
        fields: Substring,
        vector: String,
        version: CVSSVersion,
        definitions: [CVSSMetricDefinition],
        index: [String: Int],
        requireOrder: Bool
    ) throws(CoreError) -> CVSSParsedMetrics {
        let label = "CVSS \(version.rawValue)"
        var values = [String?](repeating: nil, count: definitions.count)
        var previous: Int? = nil
        if !fields.isEmpty {
            for field in fields.split(separator: "/", omittingEmptySubsequences: false) {
                guard !field.isEmpty else {
                    throw CoreError(.invalidValue, "\(label) vector \"\(vector)\" has an empty metric (\"//\"); metrics are separated by a single \"/\"")
                }
                guard let colon = field.firstIndex(of: ":") else {
                    throw CoreError(.invalidValue, "\(label) vector \"\(vector)\" has metric \"\(field)\" without a value; expected \"\(field):<value>\"")
                }
                let key = String(field[..<colon])
                let value = String(field[field.index(after: colon)...])
                guard let position = index[key] else {
                    let known = definitions.map(\.key).joined(separator: ", ")
                    let upper = key != key.uppercased() ? " (metrics and their values are written in upper case)" : ""
                    throw CoreError(.invalidValue, "\(label) vector \"\(vector)\" has unknown metric \"\(key)\" in \"\(field)\"\(upper); known metrics are \(known)")
                }
                let definition = definitions[position]
                guard definition.values.contains(value) else {
                    let allowed = definition.values.joined(separator: ", ")
                    throw CoreError(.invalidValue, "\(label) metric \(key) (\(definition.name)) has invalid value \"\(value)\" in \"\(vector)\"; allowed values are \(allowed)")
                }
                guard values[position] == nil else {
                    throw CoreError(.invalidValue, "\(label) vector \"\(vector)\" gives metric \(key) (\(definition.name)) more than once")
                }
                if requireOrder, let previous, position < previous {
                    let order = definitions.map(\.key).joined(separator: "/")
                    throw CoreError(.invalidValue, "\(label) vector \"\(vector)\" has metric \(key) (\(definition.name)) after \(definitions[previous].key); the \(label) specification requires the order \(order)")
                }
                values[position] = value
                previous = position
            }
        }
        let missing = zip(definitions, values).filter { $0.0.isMandatory && $0.1 == nil }.map(\.0)
        if !missing.isEmpty {
            let names = missing.map { "\($0.key) (\($0.name))" }.joined(separator: ", ")
            let noun = missing.count == 1 ? "metric" : "metrics"
            throw CoreError(.invalidValue, "\(label) vector \"\(vector)\" is missing mandatory base \(noun) \(names)")
        }
        return CVSSParsedMetrics(definitions: definitions, index: index, values: values)
    }
}
