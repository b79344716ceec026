// CVSS v3.1 scoring, following section 7 of FIRST's specification
// (https://www.first.org/cvss/v3.1/specification-document) and its reference calculator.
//
// The equations are evaluated in Double, in the same operation order as FIRST's calculator,
// because the published scores are defined by that floating-point evaluation; the one step
// where floating-point error would change a result, Roundup, is done with integers as
// Appendix A of the specification prescribes.

enum CVSS31 {
    /// The temporal metrics' keys.
    static let temporalMetrics: Set<String> = ["E", "RL", "RC"]
    /// The environmental metrics' keys.
    static let environmentalMetrics: Set<String> = ["CR", "IR", "AR", "MAV", "MAC", "MPR", "MUI", "MS", "MC", "MI", "MA"]

    /// Metrics in the order of the specification's vector-string table (section 6).
    static let definitions: [CVSSMetricDefinition] = [
        .init(key: "AV", name: "Attack Vector", values: ["N", "A", "L", "P"], isMandatory: true),
        .init(key: "AC", name: "Attack Complexity", values: ["L", "H"], isMandatory: true),
        .init(key: "PR", name: "Privileges Required", values: ["N", "L", "H"], isMandatory: true),
        .init(key: "UI", name: "User Interaction", values: ["N", "R"], isMandatory: true),
        .init(key: "S", name: "Scope", values: ["U", "C"], isMandatory: true),
        .init(key: "C", name: "Confidentiality", values: ["H", "L", "N"], isMandatory: true),
        .init(key: "I", name: "Integrity", values: ["H", "L", "N"], isMandatory: true),
        .init(key: "A", name: "Availability", values: ["H", "L", "N"], isMandatory: true),
        .init(key: "E", name: "Exploit Code Maturity", values: ["X", "H", "F", "P", "U"], isMandatory: false),
        .init(key: "RL", name: "Remediation Level", values: ["X", "U", "W", "T", "O"], isMandatory: false),
        .init(key: "RC", name: "Report Confidence", values: ["X", "C", "R", "U"], isMandatory: false),
        .init(key: "CR", name: "Confidentiality Requirement", values: ["X", "H", "M", "L"], isMandatory: false),
        .init(key: "IR", name: "Integrity Requirement", values: ["X", "H", "M", "L"], isMandatory: false),
        .init(key: "AR", name: "Availability Requirement", values: ["X", "H", "M", "L"], isMandatory: false),
        .init(key: "MAV", name: "Modified Attack Vector", values: ["X", "N", "A", "L", "P"], isMandatory: false),
        .init(key: "MAC", name: "Modified Attack Complexity", values: ["X", "L", "H"], isMandatory: false),
        .init(key: "MPR", name: "Modified Privileges Required", values: ["X", "N", "L", "H"], isMandatory: false),
        .init(key: "MUI", name: "Modified User Interaction", values: ["X", "N", "R"], isMandatory: false),
        .init(key: "MS", name: "Modified Scope", values: ["X", "U", "C"], isMandatory: false),
        .init(key: "MC", name: "Modified Confidentiality", values: ["X", "H", "L", "N"], isMandatory: false),
        .init(key: "MI", name: "Modified Integrity", values: ["X", "H", "L", "N"], isMandatory: false),
        .init(key: "MA", name: "Modified Availability", values: ["X", "H", "L", "N"], isMandatory: false),
    ]

    static let index = CVSSVectorParser.index(of: definitions)

    /// Scores the metrics after the `CVSS:3.1/` prefix; `vector` is the whole string, for messages.
    static func score(fields: Substring, vector: String) throws(CoreError) -> CVSSScore {
        let metrics = try CVSSVectorParser.parse(
            fields: fields, vector: vector, version: .v3_1,
            definitions: definitions, index: index,
            requireOrder: false  // section 6: metrics "can be specified in any order"
        )
        // Mandatory metrics are present once parse returns.
        func base(_ key: String) -> String { metrics[key]! }
        // A modified metric left out or "X" takes the value of its base metric.
        func modified(_ key: String) -> String {
            let value = metrics.valueOrX("M" + key)
            return value == "X" ? base(key) : value
        }

        let scopeChanged = base("S") == "C"
        let baseTenths = computeBase(
            av: base("AV"), ac: base("AC"), pr: base("PR"), ui: base("UI"),
            scopeChanged: scopeChanged, c: base("C"), i: base("I"), a: base("A")
        )

        let temporalFactor = (
            e: exploitCodeMaturity(metrics.valueOrX("E")),
            rl: remediationLevel(metrics.valueOrX("RL")),
            rc: reportConfidence(metrics.valueOrX("RC"))
        )
        let temporalTenths = roundUp(
            Double(baseTenths) / 10 * temporalFactor.e * temporalFactor.rl * temporalFactor.rc
        )

        let modifiedScopeChanged = modified("S") == "C"
        let miss = min(
            1 - (1 - impact(modified("C")) * requirement(metrics.valueOrX("CR")))
                * (1 - impact(modified("I")) * requirement(metrics.valueOrX("IR")))
                * (1 - impact(modified("A")) * requirement(metrics.valueOrX("AR"))),
            0.915
        )
        let modifiedImpact =
            modifiedScopeChanged
            ? 7.52 * (miss - 0.029) - 3.25 * power(miss * 0.9731 - 0.02, 13)
            : 6.42 * miss
        let modifiedExploitability =
            8.22 * attackVector(modified("AV")) * attackComplexity(modified("AC"))
            * privilegesRequired(modified("PR"), scopeChanged: modifiedScopeChanged)
            * userInteraction(modified("UI"))
        let environmentalTenths: Int
        if modifiedImpact <= 0 {
            environmentalTenths = 0
        } else {
            let sum = modifiedScopeChanged
                ? 1.08 * (modifiedImpact + modifiedExploitability)
                : modifiedImpact + modifiedExploitability
            let modifiedBase = Double(roundUp(min(sum, 10))) / 10
            environmentalTenths = roundUp(modifiedBase * temporalFactor.e * temporalFactor.rl * temporalFactor.rc)
        }

        return CVSSScore(
            version: .v3_1,
            vector: metrics.normalized(prefix: CVSSVersion.v3_1.prefix),
            baseScoreTenths: baseTenths,
            temporalScoreTenths: temporalTenths,
            environmentalScoreTenths: environmentalTenths
        )
    }

    /// Section 7.1: the base score in tenths.
    static func computeBase(
        av: String, ac: String, pr: String, ui: String,
        scopeChanged: Bool, c: String, i: String, a: String
    ) -> Int {
        let iss = 1 - ((1 - impact(c)) * (1 - impact(i)) * (1 - impact(a)))
        let impactScore =
            scopeChanged
            ? 7.52 * (iss - 0.029) - 3.25 * power(iss - 0.02, 15)
            : 6.42 * iss
        let exploitability =
            8.22 * attackVector(av) * attackComplexity(ac)
            * privilegesRequired(pr, scopeChanged: scopeChanged) * userInteraction(ui)
        guard impactScore > 0 else { return 0 }
        let sum = scopeChanged ? 1.08 * (impactScore + exploitability) : impactScore + exploitability
        return roundUp(min(sum, 10))
    }

    /// Appendix A's Roundup, returning tenths: the smallest one-decimal number that is at least
    /// `value`. Working on `value` × 100 000 rounded to an integer absorbs the floating-point
    /// error that makes, say, 4.000000000000001 round up to 4.1 with a naive ceiling.
    static func roundUp(_ value: Double) -> Int {
        let scaled = Int((value * 100_000).rounded(.toNearestOrAwayFromZero))
        if scaled % 10_000 == 0 { return scaled / 10_000 }
        // Callers never pass negative values, so integer division is floor here.
        return scaled / 10_000 + 1
    }

    /// `base` raised to a small positive integer power by repeated multiplication, so the
    /// module needs no libm import.
    ///
    /// Repeated multiplication can differ from `pow` in the last bits; Roundup's rounding to
    /// five decimals absorbs that (the published 3.1 vectors all match).
    static func power(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<exponent { result *= base }
        return result
    }

    // MARK: Metric weights (specification section 7.4)

    static func attackVector(_ value: String) -> Double {
        switch value {
        case "N": 0.85
        case "A": 0.62
        case "L": 0.55
        default: 0.2  // "P"
        }
    }

    static func attackComplexity(_ value: String) -> Double {
        value == "L" ? 0.77 : 0.44
    }

    /// Privileges Required weighs more when the scope changes, because the attacker's
    /// privileges then reach beyond the vulnerable component.
    static func privilegesRequired(_ value: String, scopeChanged: Bool) -> Double {
        switch value {
        case "N": 0.85
        case "L": scopeChanged ? 0.68 : 0.62
        default: scopeChanged ? 0.5 : 0.27  // "H"
        }
    }

    static func userInteraction(_ value: String) -> Double {
        value == "N" ? 0.85 : 0.62
    }

    static func impact(_ value: String) -> Double {
        switch value {
        case "H": 0.56
        case "L": 0.22
        default: 0  // "N"
        }
    }

    static func exploitCodeMaturity(_ value: String) -> Double {
        switch value {
        case "F": 0.97
        case "P": 0.94
        case "U": 0.91
        default: 1  // "X", "H"
        }
    }

    static func remediationLevel(_ value: String) -> Double {
        switch value {
        case "W": 0.97
        case "T": 0.96
        case "O": 0.95
        default: 1  // "X", "U"
        }
    }

    static func reportConfidence(_ value: String) -> Double {
        switch value {
        case "R": 0.96
        case "U": 0.92
        default: 1  // "X", "C"
        }
    }

    static func requirement(_ value: String) -> Double {
        switch value {
        case "H": 1.5
        case "L": 0.5
        default: 1  // "X", "M"
        }
    }
}
