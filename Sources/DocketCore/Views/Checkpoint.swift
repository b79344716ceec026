/// Projection checkpoints: the whole fold in one compact binary encoding, so a restart (or a
/// local view command) resumes from the sequence it reached instead of replaying the log. The
/// format is internal and versioned; a checkpoint of another version, or one that does not read
/// to its last byte, is ignored (the views are rebuilt), never misread.
///
/// Every field is written in a fixed order, with `BinaryWriter`'s varints and length-prefixed
/// UTF-8: no names, no tags. Enumerations are written as their raw values (text), so reordering
/// a case cannot change what a checkpoint means. Reading one makes each report directly, with no
/// tree of values in between: for a log of 100,000 reports that tree was most of a local view
/// command's time and memory.
extension Projection {
    /// 3: embargo extensions carry their event time. 4: reports list their late entries.
    /// 5: embargo extensions carry their recorded time. 6: a wait says whether a closing ended it.
    /// 7: fix events after the advisory leave a report disclosed (a checkpoint folded before
    /// would hold another state for them). 8: so do a wont-fix closing and its reopening, and
    /// that closing is no pause. 9: the binary encoding (formats up to 8 were a `Value` tree).
    /// 10: credits list the types offered after acceptance that await it. 11: people in credits
    /// are told apart without an `@` in front and with fullwidth forms read as ASCII
    /// (`Report.personKey`), so a report whose credits name "@x" and "x" folds to one record
    /// where format 10 held two. (Any change to what folding makes of the same events must
    /// raise the format: a node upgraded, or downgraded, would otherwise serve the other
    /// build's views.) 12: lookalike forms too, the mathematical alphanumerics and circled
    /// letters ("𝚊𝚍𝚊", "ⓐⓓⓐ"), are read as ASCII. 13: reports are told apart by the bytes of
    /// their ids, as the log tells streams apart (two spellings of one canonical form, "é" as one
    /// code point or as "e" and an accent, were one report), in order of those bytes; and a
    /// report stream whose name is not UTF-8, or project stream whose name is not ASCII, is in no
    /// view, nor a submission whose project name is not ASCII.
    public static let checkpointFormat: UInt64 = 13

    /// The projection as checkpoint bytes (reports and projects in order of their names, so the
    /// same projection always gives the same bytes).
    public func checkpoint() -> [UInt8] {
        var w = BinaryWriter(capacity: (1 << 16) + reports.count * 512)
        w.writeVarint(Self.checkpointFormat)
        w.writeVarint(lastSequence)
        w.writeOptional(lastOccurredAt)
        w.writeOptional(lastRecordedAt)
        w.writeVarint(UInt64(undecodable))
        w.writeVarint(UInt64(projects.count))
        for name in projects.keys.sorted() { projects[name]!.writeCheckpoint(to: &w) }
        w.writeVarint(UInt64(reports.count))
        // By their bytes: ids equal as `String`s may be two reports (`ReportTable`). (For ids all
        // ASCII, as every id the ledger takes is, `String`'s own order is that, and quicker.)
        let ids = reports.keys
        for id in ids.allSatisfy(isASCII) ? ids.sorted() : ids.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            reports[id]!.box.withFields { $0.pointee.writeCheckpoint(to: &w) }
        }
        return w.bytes
    }

    /// Restores a projection from `checkpoint()`; nil if it is of another format or damaged.
    public init?(checkpoint bytes: some Collection<UInt8>) {
        guard let restored = bytes.withContiguousStorageIfAvailable({ Self.read(checkpoint: UnsafeRawBufferPointer($0)) })
            ?? Array(bytes).withUnsafeBytes({ Self.read(checkpoint: $0) })
        else { return nil }
        self = restored
    }

    private static func read(checkpoint raw: UnsafeRawBufferPointer) -> Projection? {
        var r = BinaryReader(raw)
        do throws(CoreError) {
            guard try r.readVarint() == checkpointFormat else { return nil }
            var p = Projection()
            p.lastSequence = try r.readTally()
            p.lastOccurredAt = try r.readOptionalTimestamp()
            p.lastRecordedAt = try r.readOptionalTimestamp()
            p.undecodable = Int(try r.readTally())
            let projectCount = try r.readCount(eachAtLeast: 3)
            p.projects.reserveCapacity(projectCount)
            for _ in 0..<projectCount {
                let project = try ProjectState(checkpoint: &r)
                guard p.projects.updateValue(project, forKey: project.name) == nil else { return nil }
            }
            let reportCount = try r.readCount(eachAtLeast: 40)
            p.reports.reserveCapacity(reportCount)
            for _ in 0..<reportCount {
                let fields = try Report.Fields(checkpoint: &r)
                guard p.reports.updateValue(Report(fields), forKey: fields.id) == nil else { return nil }
            }
            guard r.remaining == 0 else { return nil }
            return p
        } catch {
            return nil
        }
    }
}

extension ProjectState {
    fileprivate func writeCheckpoint(to w: inout BinaryWriter) {
        w.writeString(name)
        w.writeStrings(maintainers)
        w.writeVarint(UInt64(policies.count))
        for p in policies {
            w.writeString(p.policy.encodeCanonical())
            w.writeString(p.calendar.zone.identifier)
            w.writeStrings(p.calendar.zone.encodedTransitions)
            w.writeTimestamp(p.adoptedAt)
            w.writeVarint(p.sequence)
        }
    }

    fileprivate init(checkpoint r: inout BinaryReader) throws(CoreError) {
        self.init(name: try r.readString())
        maintainers = try r.readStrings()
        for _ in 0..<(try r.readCount()) {
            let text = try r.readString()
            let policy: Policy
            do { policy = try Policy.parse(text, file: "checkpoint") } catch { throw CoreError(.invalidValue, "a checkpointed policy does not parse") }
            let zone = try ZoneRules(identifier: try r.readString(), encodedTransitions: try r.readStrings())
            let adoptedAt = try r.readTimestamp()
            policies.append(AdoptedPolicy(policy: policy, calendar: BusinessCalendar(policy: policy, zone: zone), adoptedAt: adoptedAt, sequence: try r.readVarint()))
        }
    }
}

extension Report.Fields {
    /// Every field, in the order `init(checkpoint:)` reads them.
    fileprivate func writeCheckpoint(to w: inout BinaryWriter) {
        w.writeString(id)
        w.writeString(project)
        w.writeString(title)
        w.writeOptional(component)
        w.writeString(reporter.handle)
        w.writeOptional(reporter.name)
        w.writeOptional(reporter.contact)
        w.writeEnum(reporter.credit)
        w.writeEnum(state)
        w.writeVarint(version)
        w.writeOptional(severity)
        w.writeOptional(claimedSeverity)
        w.writeOptional(cvss31)
        w.writeOptional(cvss40)
        w.writeStrings(cwes)
        w.writeStrings(affected)
        w.writeStrings(fixedVersions)
        w.writeStrings(commits)
        w.writeOptional(assignee)
        w.writeBool(cveRequested)
        w.writeOptional(cve)
        w.writeOptional(ghsa)
        w.writeOptional(advisoryURL)
        w.writeOptional(scheduledDisclosure)
        w.writeVarint(UInt64(embargoExtensions.count))
        for e in embargoExtensions {
            w.writeTimestamp(e.extended.until)
            w.writeString(e.extended.reason)
            w.writeBool(e.extended.reporterAgreed)
            w.writeTimestamp(e.at)
            w.writeOptional(e.recordedAt)
        }
        w.writeOptional(exploitedAt)
        w.writeVarint(UInt64(credits.count))
        for c in credits {
            w.writeString(c.person)
            w.writeVarint(UInt64(c.types.count))
            for t in c.types { w.writeEnum(t) }
            w.writeEnum(c.status)
            w.writeOptional(c.displayName)
            w.writeEnum(c.preference)
            w.writeVarint(UInt64(c.awaiting.count))
            for t in c.awaiting { w.writeEnum(t) }
        }
        w.writeOptional(resolution)
        w.writeOptional(duplicateOf)
        w.writeOptional(withdrawalReason)
        w.writeVarint(UInt64(notes))
        w.writeTimestamp(submittedAt)
        for t in [acknowledgedAt, acceptedAt, fixStartedAt, fixReleasedAt, disclosedAt, closedAt, withdrawnAt] { w.writeOptional(t) }
        for intervals in [waits, closures] {
            w.writeVarint(UInt64(intervals.count))
            for i in intervals {
                w.writeTimestamp(i.start)
                w.writeOptional(i.end)
                w.writeBool(i.endedByClosing)
            }
        }
        w.writeVarint(UInt64(severityHistory.count))
        for a in severityHistory {
            w.writeTimestamp(a.at)
            w.writeEnum(a.severity)
        }
        w.writeVarint(UInt64(statusUpdates.count))
        for t in statusUpdates { w.writeTimestamp(t) }
        w.writeTimestamp(lastEventAt)
        w.writeVarint(UInt64(lateEntries.count))
        for e in lateEntries {
            w.writeString(e.type)
            w.writeTimestamp(e.occurredAt)
            w.writeTimestamp(e.recordedAt)
        }
    }

    fileprivate init(checkpoint r: inout BinaryReader) throws(CoreError) {
        let id = try r.readString()
        let (project, title, component) = (try r.readString(), try r.readString(), try r.readOptionalString())
        let reporter = Reporter(handle: try r.readString(), name: try r.readOptionalString(), contact: try r.readOptionalString(), credit: try r.readEnum())
        let submitted = ReportSubmitted(project: project, title: title, reporter: reporter, component: component)
        let state: ReportState = try r.readEnum()
        let version = try r.readTally()
        let severity: CVSSSeverity? = try r.readOptionalEnum()
        let claimedSeverity: CVSSSeverity? = try r.readOptionalEnum()
        let (cvss31, cvss40) = (try r.readOptionalString(), try r.readOptionalString())
        let (cwes, affected, fixedVersions, commits) = (try r.readStrings(), try r.readStrings(), try r.readStrings(), try r.readStrings())
        let assignee = try r.readOptionalString()
        let cveRequested = try r.readBool()
        let (cve, ghsa, advisoryURL) = (try r.readOptionalString(), try r.readOptionalString(), try r.readOptionalString())
        let scheduledDisclosure = try r.readOptionalTimestamp()
        var embargoExtensions: [EmbargoExtension] = []
        for _ in 0..<(try r.readCount()) {
            let extended = EmbargoExtended(until: try r.readTimestamp(), reason: try r.readString(), reporterAgreed: try r.readBool())
            embargoExtensions.append(EmbargoExtension(extended, at: try r.readTimestamp(), recordedAt: try r.readOptionalTimestamp()))
        }
        let exploitedAt = try r.readOptionalTimestamp()
        var credits: [CreditRecord] = []
        for _ in 0..<(try r.readCount()) {
            let person = try r.readString()
            var types: [CreditType] = []
            for _ in 0..<(try r.readCount()) { types.append(try r.readEnum()) }
            var credit = CreditRecord(person: person, types: types, status: try r.readEnum(), displayName: try r.readOptionalString(), preference: try r.readEnum())
            for _ in 0..<(try r.readCount()) { credit.awaiting.append(try r.readEnum()) }
            credits.append(credit)
        }
        let resolution: Resolution? = try r.readOptionalEnum()
        let (duplicateOf, withdrawalReason) = (try r.readOptionalString(), try r.readOptionalString())
        let notes = Int(try r.readTally())
        let submittedAt = try r.readTimestamp()

        self.init(id: id, submitted: submitted, at: submittedAt)
        (self.state, self.version, self.severity) = (state, version, severity)
        (self.cvss31, self.cvss40, self.cwes, self.fixedVersions, self.commits) = (cvss31, cvss40, cwes, fixedVersions, commits)
        // The submission's claimed severity and affected versions, as triage may since have changed them.
        (self.claimedSeverity, self.affected) = (claimedSeverity, affected)
        (self.assignee, self.cveRequested, self.cve, self.ghsa, self.advisoryURL) = (assignee, cveRequested, cve, ghsa, advisoryURL)
        (self.scheduledDisclosure, self.embargoExtensions, self.exploitedAt, self.credits) = (scheduledDisclosure, embargoExtensions, exploitedAt, credits)
        (self.resolution, self.duplicateOf, self.withdrawalReason, self.notes) = (resolution, duplicateOf, withdrawalReason, notes)
        acknowledgedAt = try r.readOptionalTimestamp()
        acceptedAt = try r.readOptionalTimestamp()
        fixStartedAt = try r.readOptionalTimestamp()
        fixReleasedAt = try r.readOptionalTimestamp()
        disclosedAt = try r.readOptionalTimestamp()
        closedAt = try r.readOptionalTimestamp()
        withdrawnAt = try r.readOptionalTimestamp()
        for _ in 0..<(try r.readCount()) {
            waits.append(WaitInterval(start: try r.readTimestamp(), end: try r.readOptionalTimestamp(), endedByClosing: try r.readBool()))
        }
        for _ in 0..<(try r.readCount()) {
            closures.append(WaitInterval(start: try r.readTimestamp(), end: try r.readOptionalTimestamp(), endedByClosing: try r.readBool()))
        }
        for _ in 0..<(try r.readCount()) {
            severityHistory.append(SeverityAssessment(at: try r.readTimestamp(), severity: try r.readEnum()))
        }
        for _ in 0..<(try r.readCount()) { statusUpdates.append(try r.readTimestamp()) }
        lastEventAt = try r.readTimestamp()
        for _ in 0..<(try r.readCount()) {
            lateEntries.append(LateEntry(type: try r.readString(), occurredAt: try r.readTimestamp(), recordedAt: try r.readTimestamp()))
        }
    }
}

// MARK: - The encoding's pieces

/// A value a checkpoint writes: `BinaryWriter.writeOptional` writes a presence byte before it.
private protocol CheckpointField {
    func write(to w: inout BinaryWriter)
}

extension String: CheckpointField {
    fileprivate func write(to w: inout BinaryWriter) { w.writeString(self) }
}

extension Timestamp: CheckpointField {
    fileprivate func write(to w: inout BinaryWriter) { w.writeTimestamp(self) }
}

/// An enumeration is written as its raw value (`BinaryWriter.writeEnum`).
extension CheckpointField where Self: RawRepresentable<String> {
    fileprivate func write(to w: inout BinaryWriter) { w.writeEnum(self) }
}

extension CVSSSeverity: CheckpointField {}
extension Resolution: CheckpointField {}

extension BinaryWriter {
    fileprivate mutating func writeOptional(_ value: (some CheckpointField)?) {
        if let value {
            writeByte(1)
            value.write(to: &self)
        } else {
            writeByte(0)
        }
    }

    fileprivate mutating func writeTimestamp(_ t: Timestamp) { writeZigzag(t.microseconds) }
    fileprivate mutating func writeBool(_ b: Bool) { writeByte(b ? 1 : 0) }
    fileprivate mutating func writeEnum<E: RawRepresentable<String>>(_ e: E) { writeString(e.rawValue) }

    fileprivate mutating func writeStrings(_ strings: [String]) {
        writeVarint(UInt64(strings.count))
        for s in strings { writeString(s) }
    }
}

extension BinaryReader {
    fileprivate mutating func readBool() throws(CoreError) -> Bool {
        switch try readByte() {
        case 0: return false
        case 1: return true
        case let b: throw CoreError(.invalidValue, "byte \(b) at \(offset - 1) is not a boolean")
        }
    }

    /// Whether an optional value follows (its presence byte).
    fileprivate mutating func readPresence() throws(CoreError) -> Bool { try readBool() }

    /// A time within `Timestamp.minimum...maximum`, as every event's is: views subtract times
    /// without checking for overflow, and the checkpoint is a file anyone who can write the data
    /// directory can edit.
    fileprivate mutating func readTimestamp() throws(CoreError) -> Timestamp {
        let t = Timestamp(microseconds: try readZigzag())
        guard t >= .minimum, t <= .maximum else { throw CoreError(.invalidValue, "a time before year 1 or after 9999 at byte \(offset)") }
        return t
    }

    /// A count the views go on adding to: one that could not be reached by folding a log
    /// (beyond 2^48) is damage, and would overflow.
    fileprivate mutating func readTally() throws(CoreError) -> UInt64 {
        let n = try readVarint()
        guard n < 1 << 48 else { throw CoreError(.invalidValue, "a count of \(n) at byte \(offset)") }
        return n
    }

    /// A count of items to follow, each at least `minimumSize` bytes: room is reserved for no more
    /// than the bytes left could hold.
    fileprivate mutating func readCount(eachAtLeast minimumSize: Int) throws(CoreError) -> Int {
        let n = try readCount()
        guard n <= remaining / minimumSize else { throw CoreError(.truncated, "\(n) items cannot fit in the \(remaining) bytes left at byte \(offset)") }
        return n
    }

    fileprivate mutating func readOptionalTimestamp() throws(CoreError) -> Timestamp? {
        try readPresence() ? try readTimestamp() : nil
    }

    fileprivate mutating func readOptionalString() throws(CoreError) -> String? {
        try readPresence() ? try readString() : nil
    }

    fileprivate mutating func readEnum<E: RawRepresentable<String>>() throws(CoreError) -> E {
        let raw = try readString()
        guard let value = E(rawValue: raw) else { throw CoreError(.invalidValue, "\"\(raw)\" is not a \(E.self)") }
        return value
    }

    fileprivate mutating func readOptionalEnum<E: RawRepresentable<String>>() throws(CoreError) -> E? {
        try readPresence() ? try readEnum() : nil
    }

    fileprivate mutating func readStrings() throws(CoreError) -> [String] {
        let n = try readCount(eachAtLeast: 1)
        var strings: [String] = []
        strings.reserveCapacity(n)
        for _ in 0..<n { strings.append(try readString()) }
        return strings
    }
}
