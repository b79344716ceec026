// CVSS v4.0 scoring: the macrovector algorithm of FIRST's specification
// (https://www.first.org/cvss/v4.0/specification-document, section 8) as implemented by its
// reference calculator (cvss_score.js) and RedHat's `cvss` library (cvss4.py).
//
// The reference implementations work in floating point and add 1e-6 before rounding half up.
// Every quantity here is a multiple of 0.1 divided by small integers, so this file works in
// exact integer tenths instead: the result is the exactly rounded value, which agrees with the
// reference because exact results never fall within 1e-6 below a rounding boundary (their
// denominators divide 84 000, so they are at least 1.2e-5 away from one).

enum CVSS40 {
    /// The environmental metrics' keys (CVSS-BE, CVSS-BTE).
    static let environmentalMetrics: Set<String> = ["CR", "IR", "AR", "MAV", "MAC", "MAT", "MPR", "MUI", "MVC", "MVI", "MVA", "MSC", "MSI", "MSA"]

    /// Metrics in the order the specification requires in vector strings (section 7).
    static let definitions: [CVSSMetricDefinition] = [
        // Base
        .init(key: "AV", name: "Attack Vector", values: ["N", "A", "L", "P"], isMandatory: true),
        .init(key: "AC", name: "Attack Complexity", values: ["L", "H"], isMandatory: true),
        .init(key: "AT", name: "Attack Requirements", values: ["N", "P"], isMandatory: true),
        .init(key: "PR", name: "Privileges Required", values: ["N", "L", "H"], isMandatory: true),
        .init(key: "UI", name: "User Interaction", values: ["N", "P", "A"], isMandatory: true),
        .init(key: "VC", name: "Vulnerable System Confidentiality", values: ["H", "L", "N"], isMandatory: true),
        .init(key: "VI", name: "Vulnerable System Integrity", values: ["H", "L", "N"], isMandatory: true),
        .init(key: "VA", name: "Vulnerable System Availability", values: ["H", "L", "N"], isMandatory: true),
        .init(key: "SC", name: "Subsequent System Confidentiality", values: ["H", "L", "N"], isMandatory: true),
        .init(key: "SI", name: "Subsequent System Integrity", values: ["H", "L", "N"], isMandatory: true),
        .init(key: "SA", name: "Subsequent System Availability", values: ["H", "L", "N"], isMandatory: true),
        // Threat
        .init(key: "E", name: "Exploit Maturity", values: ["X", "A", "P", "U"], isMandatory: false),
        // Environmental
        .init(key: "CR", name: "Confidentiality Requirement", values: ["X", "H", "M", "L"], isMandatory: false),
        .init(key: "IR", name: "Integrity Requirement", values: ["X", "H", "M", "L"], isMandatory: false),
        .init(key: "AR", name: "Availability Requirement", values: ["X", "H", "M", "L"], isMandatory: false),
        .init(key: "MAV", name: "Modified Attack Vector", values: ["X", "N", "A", "L", "P"], isMandatory: false),
        .init(key: "MAC", name: "Modified Attack Complexity", values: ["X", "L", "H"], isMandatory: false),
        .init(key: "MAT", name: "Modified Attack Requirements", values: ["X", "N", "P"], isMandatory: false),
        .init(key: "MPR", name: "Modified Privileges Required", values: ["X", "N", "L", "H"], isMandatory: false),
        .init(key: "MUI", name: "Modified User Interaction", values: ["X", "N", "P", "A"], isMandatory: false),
        .init(key: "MVC", name: "Modified Vulnerable System Confidentiality", values: ["X", "H", "L", "N"], isMandatory: false),
        .init(key: "MVI", name: "Modified Vulnerable System Integrity", values: ["X", "H", "L", "N"], isMandatory: false),
        .init(key: "MVA", name: "Modified Vulnerable System Availability", values: ["X", "H", "L", "N"], isMandatory: false),
        .init(key: "MSC", name: "Modified Subsequent System Confidentiality", values: ["X", "H", "L", "N"], isMandatory: false),
        // Only the modified subsequent integrity/availability metrics can express Safety (S).
        .init(key: "MSI", name: "Modified Subsequent System Integrity", values: ["X", "S", "H", "L", "N"], isMandatory: false),
        .init(key: "MSA", name: "Modified Subsequent System Availability", values: ["X", "S", "H", "L", "N"], isMandatory: false),
        // Supplemental: informative only, they never change the score.
        .init(key: "S", name: "Safety", values: ["X", "N", "P"], isMandatory: false),
        .init(key: "AU", name: "Automatable", values: ["X", "N", "Y"], isMandatory: false),
        .init(key: "R", name: "Recovery", values: ["X", "A", "U", "I"], isMandatory: false),
        .init(key: "V", name: "Value Density", values: ["X", "D", "C"], isMandatory: false),
        .init(key: "RE", name: "Vulnerability Response Effort", values: ["X", "L", "M", "H"], isMandatory: false),
        .init(key: "U", name: "Provider Urgency", values: ["X", "Clear", "Green", "Amber", "Red"], isMandatory: false),
    ]

    static let index = CVSSVectorParser.index(of: definitions)

    /// Scores the metrics after the `CVSS:4.0/` prefix; `vector` is the whole string, for messages.
    static func score(fields: Substring, vector: String) throws(CoreError) -> CVSSScore {
        let metrics = try CVSSVectorParser.parse(
            fields: fields, vector: vector, version: .v4_0,
            definitions: definitions, index: index,
            requireOrder: true  // section 7: metrics "MUST be listed in the order shown"
        )
        return CVSSScore(
            version: .v4_0,
            vector: metrics.normalized(prefix: CVSSVersion.v4_0.prefix),
            baseScoreTenths: scoreTenths(EffectiveMetrics(metrics)),
            baseMetricsScoreTenths: scoreTenths(EffectiveMetrics(metrics, baseOnly: true))
        )
    }

    /// The values the equations use: a modified metric overrides its base metric, and
    /// unspecified threat/requirement metrics take their worst case (E:A, CR/IR/AR:H), as the
    /// specification's "Not Defined" defaults say. `baseOnly` reads every metric but the base
    /// ones as not defined (CVSS-B).
    struct EffectiveMetrics {
        let values: [String: String]

        init(_ metrics: CVSSParsedMetrics, baseOnly: Bool = false) {
            func given(_ key: String) -> String { baseOnly ? "X" : metrics.valueOrX(key) }
            var values: [String: String] = [:]
            for key in ["AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA"] {
                let modified = given("M" + key)
                values[key] = modified == "X" ? metrics[key]! : modified
            }
            let exploitMaturity = given("E")
            values["E"] = exploitMaturity == "X" ? "A" : exploitMaturity
            for key in ["CR", "IR", "AR"] {
                let requirement = given(key)
                values[key] = requirement == "X" ? "H" : requirement
            }
            self.values = values
        }

        subscript(_ key: String) -> String { values[key]! }
    }

    /// The six equivalence-class levels (section 8.1): together they name the macrovector.
    static func macrovector(_ m: EffectiveMetrics) -> [Int] {
        let eq1: Int
        if m["AV"] == "N" && m["PR"] == "N" && m["UI"] == "N" {
            eq1 = 0
        } else if (m["AV"] == "N" || m["PR"] == "N" || m["UI"] == "N") && m["AV"] != "P" {
            eq1 = 1
        } else {
            eq1 = 2
        }
        let eq2 = m["AC"] == "L" && m["AT"] == "N" ? 0 : 1
        let eq3: Int
        if m["VC"] == "H" && m["VI"] == "H" {
            eq3 = 0
        } else if m["VC"] == "H" || m["VI"] == "H" || m["VA"] == "H" {
            eq3 = 1
        } else {
            eq3 = 2
        }
        let eq4: Int
        if m["SI"] == "S" || m["SA"] == "S" {
            eq4 = 0
        } else if m["SC"] == "H" || m["SI"] == "H" || m["SA"] == "H" {
            eq4 = 1
        } else {
            eq4 = 2
        }
        let eq5 = switch m["E"] {
        case "A": 0
        case "P": 1
        default: 2  // "U"
        }
        let eq6 =
            (m["CR"] == "H" && m["VC"] == "H") || (m["IR"] == "H" && m["VI"] == "H")
                || (m["AR"] == "H" && m["VA"] == "H") ? 0 : 1
        return [eq1, eq2, eq3, eq4, eq5, eq6]
    }

    /// The table score of a macrovector, or `nil` when it does not exist.
    static func lookup(_ eqs: [Int]) -> Int? {
        macrovectorScores[eqs.map(String.init).joined()]
    }

    /// Severity level of a metric value in tenths: 0 is the most severe value, and each step
    /// down is 0.1. These are the distances the interpolation measures.
    static func level(_ key: String, _ value: String) -> Int {
        switch (key, value) {
        case ("AV", "N"), ("PR", "N"), ("UI", "N"), ("AC", "L"), ("AT", "N"): 0
        case ("AV", "A"), ("PR", "L"), ("UI", "P"), ("AC", "H"), ("AT", "P"): 1
        case ("AV", "L"), ("PR", "H"), ("UI", "A"): 2
        case ("AV", "P"): 3
        case ("VC", "H"), ("VI", "H"), ("VA", "H"), ("CR", "H"), ("IR", "H"), ("AR", "H"): 0
        case ("VC", "L"), ("VI", "L"), ("VA", "L"), ("CR", "M"), ("IR", "M"), ("AR", "M"): 1
        case ("VC", "N"), ("VI", "N"), ("VA", "N"), ("CR", "L"), ("IR", "L"), ("AR", "L"): 2
        // Subsequent-system impacts start at 0.1 so that Safety (S) can sit above High.
        case ("SI", "S"), ("SA", "S"): 0
        case ("SC", "H"), ("SI", "H"), ("SA", "H"): 1
        case ("SC", "L"), ("SI", "L"), ("SA", "L"): 2
        case ("SC", "N"), ("SI", "N"), ("SA", "N"): 3
        default: preconditionFailure("no CVSS 4.0 severity level for \(key):\(value)")
        }
    }

    /// Parses "AV:N/PR:N/UI:N" from the max-composed tables.
    static func pairs(_ text: String) -> [(key: String, value: String)] {
        text.split(separator: "/").map { field in
            let parts = field.split(separator: ":")
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// The score in tenths (section 8.2).
    static func scoreTenths(_ m: EffectiveMetrics) -> Int {
        // No impact on any system means nothing to score, whatever the exploitability.
        if ["VC", "VI", "VA", "SC", "SI", "SA"].allSatisfy({ m[$0] == "N" }) { return 0 }

        let eqs = macrovector(m)
        let (eq1, eq2, eq3, eq4, eq6) = (eqs[0], eqs[1], eqs[2], eqs[3], eqs[5])
        guard let value = lookup(eqs) else {
            preconditionFailure("CVSS 4.0 macrovector \(eqs) missing from the lookup table")
        }

        func lowered(_ changes: (position: Int, by: Int)...) -> [Int] {
            var next = eqs
            for change in changes { next[change.position] += change.by }
            return next
        }
        // The next lower macrovector along each EQ. EQ3 and EQ6 are scored jointly; from
        // (0, 0) either may step down, and the higher of the two is the neighbour.
        let lowerEQ1 = lookup(lowered((0, 1)))
        let lowerEQ2 = lookup(lowered((1, 1)))
        let lowerEQ3EQ6: Int?
        switch (eq3, eq6) {
        case (0, 1), (1, 1): lowerEQ3EQ6 = lookup(lowered((2, 1)))
        case (1, 0): lowerEQ3EQ6 = lookup(lowered((5, 1)))
        case (0, 0):
            if let left = lookup(lowered((5, 1))), let right = lookup(lowered((2, 1))) {
                lowerEQ3EQ6 = max(left, right)
            } else {
                lowerEQ3EQ6 = nil
            }
        default: lowerEQ3EQ6 = lookup(lowered((2, 1), (5, 1)))
        }
        let lowerEQ4 = lookup(lowered((3, 1)))
        let lowerEQ5 = lookup(lowered((4, 1)))

        // Severity distances to the first max vector of this macrovector that the vector does
        // not exceed in any metric (the reference keeps the last candidate if none fits).
        let keys = ["AV", "PR", "UI", "AC", "AT", "VC", "VI", "VA", "SC", "SI", "SA", "CR", "IR", "AR"]
        var distance: [String: Int] = [:]
        candidates: for maxEQ1 in eq1Maxes[eq1] {
            for maxEQ2 in eq2Maxes[eq2] {
                for maxEQ3EQ6 in eq3eq6Maxes[eq3][eq6] {
                    for maxEQ4 in eq4Maxes[eq4] {
                        var maxVector: [String: String] = [:]
                        for part in [maxEQ1, maxEQ2, maxEQ3EQ6, maxEQ4] {
                            for (key, value) in pairs(part) { maxVector[key] = value }
                        }
                        distance = [:]
                        for key in keys {
                            distance[key] = level(key, m[key]) - level(key, maxVector[key]!)
                        }
                        if distance.values.allSatisfy({ $0 >= 0 }) { break candidates }
                    }
                }
            }
        }
        func sum(_ keys: String...) -> Int { keys.reduce(0) { $0 + distance[$1]! } }

        // Each EQ moves the score towards its next lower macrovector in proportion to how far
        // the vector sits below the macrovector's max: available × distance / maxSeverity.
        // The proportions have denominators in {1, 2, 4, 5, 6, 7, 8, 10}; scaling everything by
        // their least common multiple, 840, keeps the mean exact.
        let lcm = 840
        var scaledSum = 0
        var lowerCount = 0
        func add(lower: Int?, distance: Int, maxSeverity: Int) {
            guard let lower, value - lower >= 0 else { return }
            lowerCount += 1
            scaledSum += (value - lower) * distance * (lcm / maxSeverity)
        }
        add(lower: lowerEQ1, distance: sum("AV", "PR", "UI"), maxSeverity: eq1MaxSeverity[eq1])
        add(lower: lowerEQ2, distance: sum("AC", "AT"), maxSeverity: eq2MaxSeverity[eq2])
        add(
            lower: lowerEQ3EQ6, distance: sum("VC", "VI", "VA", "CR", "IR", "AR"),
            maxSeverity: eq3eq6MaxSeverity[eq3][eq6]
        )
        add(lower: lowerEQ4, distance: sum("SC", "SI", "SA"), maxSeverity: eq4MaxSeverity[eq4])
        // EQ5 counts towards the mean but its distance is always 0 (one value per level).
        add(lower: lowerEQ5, distance: 0, maxSeverity: 1)

        guard lowerCount > 0 else { return min(max(value, 0), 100) }
        // score = value − scaledSum / (lcm × count), clamped to 0...10, rounded half up.
        let denominator = lcm * lowerCount
        let numerator = min(max(value * denominator - scaledSum, 0), 100 * denominator)
        return (2 * numerator + denominator) / (2 * denominator)
    }
}
