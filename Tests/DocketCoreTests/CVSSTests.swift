import DocketCore
import DocketTestSupport
import Foundation
import Testing

// CVSS scoring is checked against every line of the published vector files (FIRST calculator
// results, as shipped in RedHatProductSecurity/cvss `tests/`), plus each malformed-vector path.

/// Where the published vector files live: `../shared/external/cvss` (`sharedFile`).
private enum PublishedVectors {
    static var directory: URL { sharedFile("external/cvss") }

    struct Line {
        let number: Int
        let vector: String
        /// Expected scores in tenths: one for v4.0, (base, temporal, environmental) for v3.1.
        let expected: [Int]
    }

    /// Reads `file` and returns its lines, plus the count of non-empty lines for cross-checking.
    static func lines(of file: String) throws -> (lines: [Line], nonEmpty: Int) {
        let url = directory.appendingPathComponent(file)
        let text = try String(contentsOf: url, encoding: .utf8)
        var lines: [Line] = []
        var nonEmpty = 0
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !line.isEmpty else { continue }
            nonEmpty += 1
            // "VECTOR - (b, t, e)", "VECTOR - (score,)" or "VECTOR - score"
            let parts = line.components(separatedBy: " - ")
            guard parts.count == 2 else {
                Issue.record("\(file):\(offset + 1): cannot parse line \"\(line)\"")
                continue
            }
            let scores = parts[1]
                .trimmingCharacters(in: CharacterSet(charactersIn: "() "))
                .split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            var expected: [Int] = []
            for score in scores {
                guard let tenths = tenths(score) else {
                    Issue.record("\(file):\(offset + 1): cannot parse score \"\(score)\"")
                    continue
                }
                expected.append(tenths)
            }
            lines.append(Line(number: offset + 1, vector: parts[0], expected: expected))
        }
        return (lines, nonEmpty)
    }

    /// "9.8" → 98, "10" → 100, without going through floating point.
    static func tenths(_ text: String) -> Int? {
        let pieces = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(pieces.count), let whole = Int(pieces[0]) else { return nil }
        guard pieces.count == 2 else { return whole * 10 }
        let decimals = pieces[1]
        guard let first = decimals.first, let digit = first.wholeNumberValue,
            decimals.dropFirst().allSatisfy({ $0 == "0" })
        else { return nil }
        return whole * 10 + digit
    }
}

@Suite("CVSS")
struct CVSSTests {
    // MARK: Published vectors

    @Test("every CVSS 3.1 vector of vectors_simple31 scores as published")
    func published31() throws {
        let (lines, nonEmpty) = try PublishedVectors.lines(of: "vectors_simple31")
        var checked = 0
        for line in lines {
            guard line.expected.count == 3 else {
                Issue.record("vectors_simple31:\(line.number): expected 3 scores, found \(line.expected)")
                continue
            }
            do {
                let score = try CVSS.score(line.vector)
                let actual = [score.baseScoreTenths, score.temporalScoreTenths ?? -1, score.environmentalScoreTenths ?? -1]
                #expect(actual == line.expected, "\(line.vector): expected (base, temporal, environmental) \(line.expected), got \(actual)")
                #expect(score.version == .v3_1)
                #expect(score.severity == CVSSSeverity(scoreTenths: line.expected[0]), "\(line.vector)")
                #expect(score.vector == line.vector, "\(line.vector) normalizes to \(score.vector)")
            } catch {
                Issue.record("\(line.vector): \(error)")
            }
            checked += 1
        }
        #expect(checked > 0)
        #expect(checked == nonEmpty)
    }

    @Test(
        "every CVSS 4.0 vector of the published files scores as published",
        arguments: ["vectors_simple4", "vectors_supplemental4", "vectors_security4", "vectors_threat4"]
    )
    func published40(file: String) throws {
        let (lines, nonEmpty) = try PublishedVectors.lines(of: file)
        var checked = 0
        for line in lines {
            guard line.expected.count == 1 else {
                Issue.record("\(file):\(line.number): expected 1 score, found \(line.expected)")
                continue
            }
            do {
                let score = try CVSS.score(line.vector)
                #expect(score.baseScoreTenths == line.expected[0], "\(line.vector): expected \(line.expected[0]) tenths, got \(score.baseScoreTenths)")
                #expect(score.version == .v4_0)
                #expect(score.temporalScoreTenths == nil && score.environmentalScoreTenths == nil)
                #expect(score.severity == CVSSSeverity(scoreTenths: line.expected[0]), "\(line.vector)")
                #expect(score.vector == line.vector, "\(line.vector) normalizes to \(score.vector)")
                // CVSS-B: the score of the eleven base metrics alone, as published for the vector cut to them.
                let base = line.vector.split(separator: "/").prefix(12).joined(separator: "/")
                #expect(score.baseMetricsScoreTenths == (try CVSS.score(base)).baseScoreTenths, "\(line.vector)")
            } catch {
                Issue.record("\(line.vector): \(error)")
            }
            checked += 1
        }
        #expect(checked > 0)
        #expect(checked == nonEmpty)
    }

    // MARK: Threat, temporal and environmental metrics beyond the published files

    struct Expected: Sendable, CustomTestStringConvertible {
        let vector: String
        let tenths: [Int]
        var testDescription: String { vector }
    }

    // Scores cross-checked against RedHatProductSecurity/cvss 3.6 (Decimal arithmetic), which
    // agreed with this implementation on 60 000 random vectors per version.
    @Test(arguments: [
        Expected(vector: "CVSS:3.1/AV:P/AC:L/PR:L/UI:R/S:C/C:H/I:L/A:H/RC:U/MS:U/MC:L", tenths: [71, 66, 48]),
        Expected(vector: "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:L/A:H/RC:R/CR:H/AR:X/MPR:L/MA:L", tenths: [73, 71, 74]),
        Expected(vector: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:L/A:H/E:U/RL:X/RC:X/MAV:P/MS:X/MC:N", tenths: [77, 71, 44]),
        Expected(vector: "CVSS:3.1/AV:L/AC:H/PR:H/UI:N/S:C/C:L/I:H/A:L/E:F/RC:R/IR:M/AR:X/MPR:H/MC:H/MA:N", tenths: [67, 63, 68]),
        Expected(
            vector: "CVSS:3.1/AV:P/AC:L/PR:L/UI:R/S:U/C:L/I:N/A:N/RC:R/CR:X/IR:M/AR:L/MAV:N/MAC:X/MPR:N/MUI:N/MS:C/MC:L/MI:X/MA:H",
            tenths: [19, 19, 73]
        ),
    ])
    func temporalAndEnvironmental31(_ expected: Expected) throws {
        let score = try CVSS.score(expected.vector)
        #expect([score.baseScoreTenths, score.temporalScoreTenths, score.environmentalScoreTenths] == expected.tenths.map(Optional.some))
    }

    @Test(arguments: [
        Expected(vector: "CVSS:4.0/AV:L/AC:H/AT:P/PR:N/UI:N/VC:N/VI:N/VA:N/SC:H/SI:L/SA:N/CR:H/MAC:L/MVA:L/MSI:S/V:C", tenths: [67]),
        Expected(vector: "CVSS:4.0/AV:P/AC:H/AT:N/PR:L/UI:A/VC:L/VI:L/VA:L/SC:H/SI:N/SA:H/E:X/MAV:X/MVA:H/MSA:S/RE:H", tenths: [72]),
        Expected(vector: "CVSS:4.0/AV:P/AC:L/AT:P/PR:H/UI:P/VC:L/VI:H/VA:L/SC:H/SI:N/SA:N/AR:L/MVC:L/MSC:H/MSI:S/S:N", tenths: [70]),
        Expected(vector: "CVSS:4.0/AV:A/AC:L/AT:N/PR:N/UI:A/VC:L/VI:L/VA:N/SC:N/SI:N/SA:L/E:U/MAV:X/MVA:H/S:P/AU:Y/RE:M", tenths: [45]),
        Expected(
            vector: "CVSS:4.0/AV:N/AC:H/AT:P/PR:H/UI:N/VC:N/VI:N/VA:H/SC:L/SI:L/SA:L/E:U/IR:L/MAV:P/MVA:L/MSC:H/S:X/R:I/V:X/RE:M",
            tenths: [3]
        ),
        Expected(vector: "CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:N/VC:L/VI:L/VA:L/SC:L/SI:N/SA:N/E:U/CR:L/MAT:P/MSC:N/MSI:L/S:P", tenths: [1]),
        Expected(vector: "CVSS:4.0/AV:P/AC:H/AT:P/PR:N/UI:P/VC:N/VI:L/VA:H/SC:H/SI:L/SA:N/E:P/MSC:H/MSA:X", tenths: [39]),
    ])
    func threatAndEnvironmental40(_ expected: Expected) throws {
        let score = try CVSS.score(expected.vector)
        #expect([score.baseScoreTenths] == expected.tenths)
    }

    // MARK: Accepted forms and normalization

    @Test("CVSS 3.1 metrics may come in any order; the normalized vector uses the spec's order")
    func anyOrder31() throws {
        let shuffled = try CVSS.score("CVSS:3.1/A:H/I:H/C:H/S:U/UI:N/PR:N/AC:L/AV:N")
        #expect(shuffled.baseScoreTenths == 98)
        #expect(shuffled.vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    }

    @Test("Not Defined (X) metrics are accepted and dropped from the normalized vector")
    func notDefinedDropped() throws {
        let v31 = try CVSS.score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:X/RL:X/RC:X/MAV:X")
        #expect(v31.vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
        #expect([v31.baseScoreTenths, v31.temporalScoreTenths, v31.environmentalScoreTenths] == [98, 98, 98])
        let v40 = try CVSS.score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:X/CR:X/MSI:X/U:X")
        #expect(v40.vector == "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
        #expect(v40.baseScoreTenths == 93)
    }

    @Test("supplemental metrics never change a CVSS 4.0 score")
    func supplementalIsInformative() throws {
        let base = try CVSS.score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
        let supplemented = try CVSS.score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/S:P/AU:Y/R:I/V:C/RE:H/U:Red")
        #expect(base.baseScoreTenths == supplemented.baseScoreTenths)
        #expect(supplemented.vector.hasSuffix("/S:P/AU:Y/R:I/V:C/RE:H/U:Red"))
    }

    @Test("baseScore is exactly the one-decimal value")
    func doubleIsExact() throws {
        let score = try CVSS.score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
        #expect(score.baseScoreTenths == 98)
        #expect(score.baseScore == 9.8)
        #expect("\(score.baseScore)" == "9.8")
        #expect(score.temporalScore == 9.8)
        #expect(score.environmentalScore == 9.8)
        let v40 = try CVSS.score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
        #expect(v40.baseScore == 9.3)
        #expect(v40.temporalScore == nil && v40.environmentalScore == nil)
    }

    // MARK: Malformed vectors

    struct Malformed: Sendable, CustomTestStringConvertible {
        let vector: String
        /// Fragments the error message must contain (the offending metric, value, ...).
        let mentions: [String]
        var testDescription: String { vector.isEmpty ? "(empty)" : vector }
    }

    static let base31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    static let base40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"

    @Test(arguments: [
        // empty string, prefix and version
        Malformed(vector: "", mentions: ["empty"]),
        Malformed(vector: "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", mentions: ["CVSS:3.1/", "CVSS:4.0/"]),
        Malformed(vector: "cvss:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", mentions: ["CVSS:3.1/", "upper case, like \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\""]),
        Malformed(vector: "CVSS:3.1/av:n/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", mentions: ["unknown metric \"av\"", "written in upper case"]),
        Malformed(vector: "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", mentions: ["CVSS:3.0", "unsupported"]),
        Malformed(vector: "CVSS:2.0/AV:N/AC:L/Au:N/C:C/I:C/A:C", mentions: ["CVSS:2.0", "unsupported"]),
        Malformed(vector: "CVSS:4.1/AV:N", mentions: ["CVSS:4.1"]),
        // trailing and doubled slashes
        Malformed(vector: CVSSTests.base31 + "/", mentions: ["trailing slash"]),
        Malformed(vector: CVSSTests.base40 + "/", mentions: ["trailing slash"]),
        Malformed(vector: "CVSS:3.1/", mentions: ["trailing slash"]),
        Malformed(vector: "CVSS:3.1/AV:N//AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", mentions: ["//"]),
        // missing base metrics
        Malformed(vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H", mentions: ["missing", "A (Availability)"]),
        Malformed(vector: "CVSS:3.1/AV:N/UI:N/S:U/C:H/I:H/A:H", mentions: ["AC (Attack Complexity)", "PR (Privileges Required)"]),
        Malformed(vector: "CVSS:3.1", mentions: ["missing", "AV (Attack Vector)"]),
        Malformed(vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N", mentions: ["missing", "SA (Subsequent System Availability)"]),
        Malformed(vector: "CVSS:4.0/AV:N/AC:L/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A", mentions: ["missing", "AT (Attack Requirements)"]),
        // unknown metrics
        Malformed(vector: CVSSTests.base31 + "/XX:Y", mentions: ["unknown metric", "\"XX\""]),
        Malformed(vector: CVSSTests.base31 + "/AT:N", mentions: ["unknown metric", "\"AT\""]),
        Malformed(vector: CVSSTests.base40 + "/MS:U", mentions: ["unknown metric", "\"MS\""]),
        Malformed(vector: CVSSTests.base40 + "/e:A", mentions: ["unknown metric", "\"e\""]),
        // metric without value / invalid values
        Malformed(vector: "CVSS:3.1/AV/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", mentions: ["\"AV\"", "without a value"]),
        Malformed(vector: "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", mentions: ["AV (Attack Vector)", "\"Q\"", "N, A, L, P"]),
        Malformed(vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:P/S:U/C:H/I:H/A:H", mentions: ["UI (User Interaction)", "\"P\"", "N, R"]),
        Malformed(vector: "CVSS:3.1/AV:/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", mentions: ["AV (Attack Vector)", "\"\""]),
        Malformed(vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:X/C:H/I:H/A:H", mentions: ["S (Scope)", "\"X\"", "U, C"]),
        Malformed(vector: CVSSTests.base31 + "/E:Z", mentions: ["E (Exploit Code Maturity)", "\"Z\"", "X, H, F, P, U"]),
        Malformed(vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N", mentions: ["SI (Subsequent System Integrity)", "\"S\"", "H, L, N"]),
        Malformed(vector: CVSSTests.base40 + "/U:red", mentions: ["U (Provider Urgency)", "\"red\"", "Clear, Green, Amber, Red"]),
        Malformed(vector: CVSSTests.base40 + "/MSC:S", mentions: ["MSC", "\"S\""]),
        // duplicates
        Malformed(vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:N", mentions: ["AV (Attack Vector)", "more than once"]),
        Malformed(vector: CVSSTests.base31 + "/E:H/E:U", mentions: ["E (Exploit Code Maturity)", "more than once"]),
        Malformed(vector: CVSSTests.base40 + "/E:A/E:A", mentions: ["E (Exploit Maturity)", "more than once"]),
        Malformed(vector: "CVSS:4.0/AV:N/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", mentions: ["AV (Attack Vector)", "more than once"]),
        // not printable ASCII: named, never echoed; too long: not repeated back
        Malformed(vector: CVSSTests.base31 + "\r", mentions: ["CVSS vector holds U+000D at character 45", "printable ASCII"]),
        Malformed(vector: " " + CVSSTests.base31, mentions: ["holds U+0020 at character 1"]),
        Malformed(vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:\u{FF28}", mentions: ["holds \"\u{FF28}\" (U+FF28) at character 44"]),
        Malformed(vector: "CVSS:3.1/\u{1B}[2J", mentions: ["holds U+001B at character 10"]),
        Malformed(vector: CVSSTests.base31 + String(repeating: "/AV:N", count: 200), mentions: ["is 1044 characters long", "at most 512"]),
        // v4.0 order
        Malformed(vector: "CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", mentions: ["AV (Attack Vector) after AC", "order"]),
        Malformed(vector: CVSSTests.base40 + "/CR:H/E:A", mentions: ["E (Exploit Maturity) after CR", "order"]),
        Malformed(vector: CVSSTests.base40 + "/U:Red/S:P", mentions: ["S (Safety) after U", "order"]),
    ])
    func malformed(_ example: Malformed) {
        do {
            let score = try CVSS.score(example.vector)
            Issue.record("\"\(example.vector)\" was accepted with score \(score.baseScore)")
        } catch {
            #expect(error.code == .invalidValue)
            for fragment in example.mentions {
                #expect(error.message.contains(fragment), "message \"\(error.message)\" should mention \(fragment)")
            }
        }
    }

    // MARK: The score a severity is derived from

    @Test("a v3.1 vector's rated score is its environmental score only where it gives environmental metrics, its temporal score only where it gives temporal ones, else its base score (whose formula differs for a changed scope)")
    func ratedScore() throws {
        // Base-only, scope changed: 3.1 computes 7.0 base, 7.0 temporal, 6.9 environmental.
        let changed = try CVSS.score("CVSS:3.1/AV:P/AC:H/PR:L/UI:N/S:C/C:H/I:H/A:L")
        #expect(changed.baseScoreTenths == 70 && changed.environmentalScoreTenths == 69)
        #expect(changed.ratedScoreTenths == 70 && changed.ratedSeverity == .high && changed.ratedScoreName == "base")
        let temporal = try CVSS.score(Self.base31 + "/E:U/RL:O/RC:U")
        #expect(temporal.ratedScoreTenths == 78 && temporal.ratedScoreName == "temporal")
        let environmental = try CVSS.score(Self.base31 + "/E:U/RL:O/RC:U/CR:L/IR:L/AR:L")
        #expect(environmental.ratedScoreTenths == 64 && environmental.ratedScoreName == "environmental")
        // X is not given.
        #expect(try CVSS.score(Self.base31 + "/E:X/CR:X").ratedScoreName == "base")
        // v4.0: its one score, named as FIRST does.
        let threat = try CVSS.score(Self.base40 + "/E:U")
        #expect(threat.ratedScoreTenths == 81 && threat.nomenclature == "CVSS-BT" && threat.baseMetricsScoreTenths == 93)
        #expect(try CVSS.score(Self.base40 + "/CR:L").nomenclature == "CVSS-BE" && CVSS.score(Self.base40 + "/E:U/CR:L").nomenclature == "CVSS-BTE")
        #expect(try CVSS.score(Self.base40 + "/S:P").nomenclature == "CVSS-B")  // supplemental metrics change nothing
    }

    // MARK: Severity bands

    @Test(arguments: [
        (0, CVSSSeverity.none),
        (1, .low), (39, .low),
        (40, .medium), (69, .medium),
        (70, .high), (89, .high),
        (90, .critical), (100, .critical),
    ])
    func severityBand(tenths: Int, severity: CVSSSeverity) {
        #expect(CVSSSeverity(scoreTenths: tenths) == severity)
    }

    // Real vectors on each side of every band boundary (scores from the published files).
    @Test(arguments: [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:N/I:N/A:N", 0, CVSSSeverity.none),
        ("CVSS:4.0/AV:P/AC:H/AT:N/PR:H/UI:A/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0, .none),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:N/VC:L/VI:L/VA:L/SC:L/SI:N/SA:N/E:U/CR:L/MAT:P/MSC:N/MSI:L/S:P", 1, .low),
        ("CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:L/A:L", 39, .low),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:L/I:N/A:N", 40, .medium),
        ("CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:A/VC:N/VI:N/VA:N/SC:N/SI:H/SA:N", 40, .medium),
        ("CVSS:3.1/AV:N/AC:L/PR:H/UI:R/S:C/C:H/I:L/A:N", 69, .medium),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:N/SC:N/SI:L/SA:N", 69, .medium),
        ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:L/A:L", 70, .high),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:P/VC:H/VI:L/VA:L/SC:L/SI:L/SA:L", 70, .high),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:H/I:H/A:L", 89, .high),
        ("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:N/VA:N/SC:H/SI:N/SA:N", 89, .high),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:H/I:H/A:H", 90, .critical),
        ("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:N/VA:N/SC:L/SI:L/SA:H", 90, .critical),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 100, .critical),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 100, .critical),
    ])
    func severityOfVector(vector: String, tenths: Int, severity: CVSSSeverity) throws {
        let score = try CVSS.score(vector)
        #expect(score.baseScoreTenths == tenths)
        #expect(score.severity == severity)
    }

    @Test func severityOrder() {
        #expect(CVSSSeverity.allCases == [.none, .low, .medium, .high, .critical])
        #expect(CVSSSeverity.allCases.sorted() == CVSSSeverity.allCases)
        let ascending: [CVSSSeverity] = [.none, .low, .medium, .high, .critical]
        for (lower, higher) in zip(ascending, ascending.dropFirst()) {
            #expect(lower < higher)
            #expect(!(higher < lower))
        }
        #expect(CVSSSeverity.critical.description == "Critical")
    }
}
