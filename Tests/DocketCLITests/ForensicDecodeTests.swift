import DocketStore
import DocketTestSupport
import Foundation
import Testing

/// `Tools/forensic-decode.py` (mdb_dump + zstd CLI only, Schemas/storage.md) must print exactly
/// what `docket read` prints and find the first bad sequence exactly where `docket verify` does.
@Suite("Forensic decoder (mdb_dump + zstd)", .enabled(if: ForensicHarness.toolsAvailable, "needs mdb_dump, zstd and python3"))
struct ForensicDecodeTests {
    @Test("decodes every record, with and without a dictionary, byte-identical to docket read; the chain holds")
    func decodesLikeDocketRead() async throws {
        let dir = try ForensicHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)

        // Records written before any dictionary exists: plain zstd frames (dictionary 0).
        let odd = [
            #"{"text":"héllo \"wörld\" \n\t\u0001 \u2028 😀 \\ / end","ctl":"\u007f\b\f\u009b\u0085","bidi":"\u202eevil\u2066x\u2069","emoji":"👩‍👩‍👧"}"#,
            #"{"a":{"b":{"c":[1,[2,[3,{"d":null}]],true,false]}},"e":[],"f":{}}"#,
            #"{"max":9223372036854775807,"min":-9223372036854775808,"over":9223372036854775808,"huge":12345678901234567890123}"#,
            #"{"pi":3.141592653589793,"tiny":1e-7,"big":1e300,"mid":9450851793905648.0,"z":-0.0,"one":1.0,"e":1E2,"small":0.0001}"#,
            "{}", "[]", #""just a string""#, "null", "true", "0",
        ]
        for (i, json) in odd.enumerated() {
            var args = ["append", "--data-dir", data, "--stream", i % 2 == 0 ? "report-ünïcødé ✓" : "odd", "--type", "NoteAdded", "--data=\(json)"]
            switch i % 4 {
            case 0: args += ["--id", "text-id:\(i).x_y", "--actor", "Zoë <z@example.org>"]
            case 1: args += ["--id", "0190F0E1-2A3B-7C4D-8E5F-0123456789A\(i % 10)", "--at", "2024-02-29T23:59:59.000001+05:30"]
            case 2: args += ["--at", "0001-01-01T00:00:00Z", "--schema-version", "7"]
            default: break
            }
            try await ForensicHarness.docket(args).expectSuccess()
        }
        // Enough synthetic events for a dictionary: it is trained in the background once the log
        // holds 1024 records, and closing the store waits for the training and installs it.
        try await ForensicHarness.docket(["bench", "append", "--warmup", "0", "--events", "1100", "--batch", "100", "--data-dir", data]).expectSuccess()
        let versions = try await ForensicHarness.dictionaryVersions(data)
        try #require(versions == [1], "one `bench append` past 1024 records should leave dictionary v1, not \(versions)")
        // And records compressed with the dictionary, through the CLI.
        for (i, json) in odd.prefix(4).enumerated() {
            try await ForensicHarness.docket(["append", "--data-dir", data, "--stream", "after-dictionary", "--type", "Late", "--data=\(json)", "--actor", "late-\(i)"]).expectSuccess()
        }

        // The dictionaries as `docket dict export` writes them; the decoder uses only these.
        let dicts = dir.appendingPathComponent("dicts")
        try FileManager.default.createDirectory(at: dicts, withIntermediateDirectories: true)
        for v in versions {
            try await ForensicHarness.docket([
                "dict", "export", "--data-dir", data, "--version", String(v), "--out", dicts.appendingPathComponent("dict-v\(v).zdict").path,
            ]).expectSuccess()
        }
        let report = dir.appendingPathComponent("report.json").path
        let decoded = try await ForensicHarness.decoder([data, "--dict-dir", dicts.path, "--no-stored-dicts", "--report", report])
        let read = try await ForensicHarness.docket(["read", "--data-dir", data])
        try read.expectSuccess()
        #expect(decoded.status == 0, "decoder: \(decoded.stderr)")

        let mine = decoded.lines
        let theirs = read.lines
        #expect(mine.count == theirs.count)
        #expect(theirs.count == odd.count + 1100 + 4)
        if let i = (0..<min(mine.count, theirs.count)).first(where: { mine[$0] != theirs[$0] }) {
            Issue.record("line \(i + 1) differs:\n decoder: \(mine[i])\n docket:  \(theirs[i])")
        }
        let identical = decoded.stdout == read.stdout  // (not inside #expect: it would print both outputs)
        #expect(identical, "the decoder's output is not byte-identical to docket read")

        // Records of both kinds were decoded: some name dictionary 0, some a trained one.
        let header = try ForensicHarness.recordHeaders(data)
        #expect(header.contains(0))
        #expect(header.contains { $0 != 0 })

        let chain = try ForensicHarness.json(atPath: report)
        #expect(chain["intact"] as? Bool == true, "\(chain)")
        #expect(chain["records"] as? Int == theirs.count)
        // Records compressed with the altered dictionary may also fail to decompress to a valid
        // envelope (it depends on where the flipped byte is used): the only problem allowed.
        let stored = chain["problems"] as? [String] ?? []
        #expect(stored.allSatisfy { $0.hasSuffix("record(s) could not be decoded in full") } && stored.count <= 1, "\(chain)")
        let verify = try await ForensicHarness.docket(["verify", "--json", "--data-dir", data])
        let verified = try ForensicHarness.json(verify.stdout)
        #expect(chain["head_hash"] as? String == verified["head_hash"] as? String)
        #expect(chain["anchors_checked"] as? Int == verified["anchors_checked"] as? Int)
    }

    @Test("a byte flipped inside one stored record is reported at that sequence, as docket verify reports it")
    func reportsTamperedRecord() async throws {
        let dir = try ForensicHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
        try await ForensicHarness.docket(["bench", "append", "--warmup", "0", "--events", "40", "--batch", "10", "--data-dir", data]).expectSuccess()
        let target: UInt64 = 23

        // The stored bytes of record 23, found in a copy of the data file.
        let record: [UInt8] = try {
            var configuration = EventStore.Configuration()
            configuration.readOnly = true
            let store = try EventStore.open(directory: data, configuration: configuration)
            defer { store.close() }
            return try #require(try store.rawRecord(at: target))
        }()
        let copy = dir.appendingPathComponent("copy")
        try FileManager.default.createDirectory(at: copy.appendingPathComponent("ledger"), withIntermediateDirectories: true)
        let file = copy.appendingPathComponent("ledger/data.mdb")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: data + "/ledger/data.mdb"))
        // LMDB is copy-on-write: besides the live leaf page, freed older copies of it may still
        // hold the record. Flip the byte in every copy, so the live one is surely changed.
        var copies: [Range<Data.Index>] = []
        var from = bytes.startIndex
        while let found = bytes.range(of: Data(record), in: from..<bytes.endIndex) {
            copies.append(found)
            from = found.upperBound
        }
        try #require(!copies.isEmpty, "record \(target) is not stored contiguously in data.mdb")
        for found in copies {
            // A byte inside the zstd frame, past the 11-byte header.
            bytes[found.lowerBound + record.count - 3] ^= 0x20
        }
        try bytes.write(to: file)

        let report = dir.appendingPathComponent("report.json").path
        let decoded = try await ForensicHarness.decoder([copy.path, "--report", report, "--check-only"])
        #expect(decoded.status == 3, "decoder: \(decoded.stderr)")
        let chain = try ForensicHarness.json(atPath: report)
        #expect(chain["intact"] as? Bool == false)
        #expect(chain["first_bad_sequence"] as? Int == Int(target), "\(chain)")
        #expect(chain["records"] as? Int == Int(target) - 1)
        #expect((chain["reason"] as? String)?.contains("chain hash mismatch") == true, "\(chain)")

        // Docket itself agrees on the copy.
        let verify = try await ForensicHarness.docket(["verify", "--json", "--data-dir", copy.path])
        #expect(verify.status == 3)
        let verified = try ForensicHarness.json(verify.stdout)
        #expect(verified["first_bad_sequence"] as? Int == Int(target))
        #expect(verified["head_hash"] as? String == chain["head_hash"] as? String)

        // The untouched original is intact.
        let clean = try await ForensicHarness.decoder([data, "--check-only"])
        #expect(clean.status == 0, "decoder: \(clean.stderr)")

        // Tools/forensic-check.sh, which runs both and compares them, says the same.
        let checked = try await ForensicHarness.checkScript([copy.path])
        #expect(checked.status == 3 && checked.stdout.contains("DAMAGE OR TAMPERING"), "\(checked.stdout)\(checked.stderr)")
        let intact = try await ForensicHarness.checkScript([data])
        #expect(intact.status == 0 && intact.stdout.contains("forensic-check: OK"), "\(intact.stdout)\(intact.stderr)")
    }
}

extension ForensicDecodeTests {
    @Test("one byte changed in a stored dictionary fails the chain at the first record that names it, for docket verify and the decoder")
    func reportsTamperedDictionary() async throws {
        let dir = try ForensicHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
        // Dictionary v1 is trained past 1024 records and installed when the store closes; the
        // second run writes records compressed with it.
        try await ForensicHarness.docket(["bench", "append", "--warmup", "0", "--events", "1100", "--batch", "100", "--data-dir", data]).expectSuccess()
        try await ForensicHarness.docket(["bench", "append", "--warmup", "0", "--events", "30", "--batch", "10", "--data-dir", data]).expectSuccess()
        try #require(try await ForensicHarness.dictionaryVersions(data) == [1])
        let firstUse = try #require(try ForensicHarness.firstSequence(naming: 1, data), "no record names dictionary v1")

        // The dictionary as `docket dict export` writes it: the bytes stored in `dicts`.
        let exported = dir.appendingPathComponent("trusted/dict-v1.zdict")
        try FileManager.default.createDirectory(at: exported.deletingLastPathComponent(), withIntermediateDirectories: true)
        try await ForensicHarness.docket(["dict", "export", "--data-dir", data, "--version", "1", "--out", exported.path]).expectSuccess()
        let dictionary = try Data(contentsOf: exported)
        try #require(dictionary.count > 64)
        // Trained on payloads, it holds pieces of them: readable by its owner only.
        #expect(try FileManager.default.attributesOfItem(atPath: exported.path)[.posixPermissions] as? Int == 0o600)

        // A copy of data.mdb with one byte of the stored dictionary flipped (in every copy of it
        // in the file, so the live one is surely changed; LMDB is copy-on-write).
        let copy = dir.appendingPathComponent("copy")
        try FileManager.default.createDirectory(at: copy.appendingPathComponent("ledger"), withIntermediateDirectories: true)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: data + "/ledger/data.mdb"))
        var found = 0
        var from = bytes.startIndex
        while let range = bytes.range(of: dictionary, in: from..<bytes.endIndex) {
            bytes[range.lowerBound + dictionary.count / 2] ^= 0x01
            found += 1
            from = range.upperBound
        }
        try #require(found > 0, "dictionary v1 is not stored contiguously in data.mdb")
        try bytes.write(to: copy.appendingPathComponent("ledger/data.mdb"))

        // docket verify: exit 3 at the first record compressed with the altered dictionary.
        let verify = try await ForensicHarness.docket(["verify", "--json", "--data-dir", copy.path])
        #expect(verify.status == 3, "docket verify: \(verify.stdout) \(verify.stderr)")
        let verified = try ForensicHarness.json(verify.stdout)
        #expect(verified["intact"] as? Bool == false)
        #expect(verified["first_bad_sequence"] as? Int == Int(firstUse), "\(verified)")
        #expect(verified["records"] as? Int == Int(firstUse) - 1)
        #expect((verified["reason"] as? String)?.hasPrefix("chain hash mismatch: the record or the dictionary it names was altered") == true, "\(verified)")

        // The decoder, with the stored (altered) dictionary: the same sequence, reason and hash.
        let report = dir.appendingPathComponent("report.json").path
        let decoded = try await ForensicHarness.decoder([copy.path, "--check-only", "--report", report])
        #expect(decoded.status == 3, "decoder: \(decoded.stderr)")
        let chain = try ForensicHarness.json(atPath: report)
        #expect(chain["intact"] as? Bool == false)
        #expect(chain["first_bad_sequence"] as? Int == Int(firstUse), "\(chain)")
        #expect(chain["records"] as? Int == Int(firstUse) - 1)
        #expect(chain["reason"] as? String == verified["reason"] as? String)
        #expect(chain["head_hash"] as? String == verified["head_hash"] as? String)
        #expect(chain["anchors_checked"] as? Int == verified["anchors_checked"] as? Int)
        // Records compressed with the altered dictionary may also fail to decompress to a valid
        // envelope (it depends on where the flipped byte is used): the only problem allowed.
        let stored = chain["problems"] as? [String] ?? []
        #expect(stored.allSatisfy { $0.hasSuffix("record(s) could not be decoded in full") } && stored.count <= 1, "\(chain)")

        // Given the dictionary exported before the tampering, the decoder still reports what
        // verify reports, and the chain tells which of the two dictionaries is authentic.
        let trusted = dir.appendingPathComponent("trusted-report.json").path
        let withTrusted = try await ForensicHarness.decoder([
            copy.path, "--check-only", "--dict-dir", exported.deletingLastPathComponent().path, "--report", trusted,
        ])
        #expect(withTrusted.status == 3, "decoder: \(withTrusted.stderr)")
        let trustedChain = try ForensicHarness.json(atPath: trusted)
        #expect(trustedChain["first_bad_sequence"] as? Int == Int(firstUse), "\(trustedChain)")
        let problems = trustedChain["problems"] as? [String] ?? []
        #expect(problems.count == 1 && problems[0].contains("confirms the supplied one"), "\(problems)")

        // The untouched original is intact for both.
        #expect(try await ForensicHarness.docket(["verify", "--data-dir", data]).status == 0)
        let clean = try await ForensicHarness.decoder([data, "--check-only"])
        #expect(clean.status == 0, "decoder: \(clean.stderr)")
    }
}

/// Runs `docket` and the decoder as child processes. Names are prefixed so they cannot clash
/// with the other helpers of this test target.
enum ForensicHarness {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) }

        func expectSuccess(sourceLocation: SourceLocation = #_sourceLocation) throws {
            try #require(status == 0, "exit \(status): \(stderr)", sourceLocation: sourceLocation)
        }
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }

    /// The package root, from this file's path (Tests/DocketCLITests/ForensicDecodeTests.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var decoderScript: URL { packageRoot.appendingPathComponent("Tools/forensic-decode.py") }

    static func which(_ tool: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(dir)).appendingPathComponent(tool)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    static var toolsAvailable: Bool {
        ["mdb_dump", "zstd", "python3"].allSatisfy { which($0) != nil }
    }

    /// The `docket` executable: next to the test bundle (walking up from the running test
    /// binary), else this package's .build/debug/docket.
    static let docketExecutable: URL? = {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for _ in 0..<6 {
            dir = dir.deletingLastPathComponent()
            let candidate = dir.appendingPathComponent("docket")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate.path)
            {
                return candidate
            }
        }
        let fallback = packageRoot.appendingPathComponent(".build/debug/docket")
        return FileManager.default.isExecutableFile(atPath: fallback.path) ? fallback : nil
    }()

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("docket-forensic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func docket(_ arguments: [String]) async throws -> Run {
        guard let docketExecutable else {
            throw Missing(description: "no docket executable next to \(CommandLine.arguments[0]); run swift build first")
        }
        return try await offPool { try run(docketExecutable, arguments) }
    }

    static func decoder(_ arguments: [String]) async throws -> Run {
        guard let python = which("python3") else { throw Missing(description: "python3 is not installed") }
        return try await offPool { try run(python, [decoderScript.path] + arguments) }
    }

    /// `Tools/forensic-check.sh` with `arguments`, checking with the docket built beside the tests.
    static func checkScript(_ arguments: [String]) async throws -> Run {
        guard let docketExecutable else { throw Missing(description: "no docket executable next to \(CommandLine.arguments[0]); run swift build first") }
        let script = packageRoot.appendingPathComponent("Tools/forensic-check.sh").path
        return try await offPool { try run(URL(fileURLWithPath: "/bin/sh"), [script] + arguments, environment: ["DOCKET": docketExecutable.path]) }
    }

    /// Runs a program to completion (`SpawnedChild`, which reads both pipes as they fill).
    static func run(_ executable: URL, _ arguments: [String], environment extra: [String: String] = [:]) throws -> Run {
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "DOCKET_DATA_DIR")
        environment.merge(extra) { _, given in given }
        let (status, stdout, stderr) = try SpawnedChild(path: executable.path, arguments: arguments, environment: environment).finish()
        return Run(status: status, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func dictionaryVersions(_ data: String) async throws -> [Int] {
        let stats = try await docket(["stats", "--json", "--data-dir", data])
        try stats.expectSuccess()
        let dictionaries = try json(stats.stdout)["dictionaries"] as? [[String: Any]] ?? []
        return dictionaries.compactMap { $0["version"] as? Int }
    }

    /// The first sequence whose record header names dictionary `version`.
    static func firstSequence(naming version: UInt16, _ data: String) throws -> UInt64? {
        var configuration = EventStore.Configuration()
        configuration.readOnly = true
        let store = try EventStore.open(directory: data, configuration: configuration)
        defer { store.close() }
        var seq: UInt64 = 1
        while let raw = try store.rawRecord(at: seq) {
            if UInt16(raw[1]) << 8 | UInt16(raw[2]) == version { return seq }
            seq += 1
        }
        return nil
    }

    /// The dictionary version named in each record's header (bytes 1–2, big-endian).
    static func recordHeaders(_ data: String) throws -> Set<UInt16> {
        var configuration = EventStore.Configuration()
        configuration.readOnly = true
        let store = try EventStore.open(directory: data, configuration: configuration)
        defer { store.close() }
        var versions = Set<UInt16>()
        var seq: UInt64 = 1
        while let raw = try store.rawRecord(at: seq) {
            versions.insert(UInt16(raw[1]) << 8 | UInt16(raw[2]))
            seq += 1
        }
        return versions
    }

    static func json(_ text: String) throws -> [String: Any] {
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw Missing(description: "not a JSON object: \(text)")
        }
        return object
    }

    static func json(atPath path: String) throws -> [String: Any] {
        try json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self))
    }
}
