/// Projection checkpoints: the whole fold as one binary `Value`, so a restart resumes from the
/// sequence it reached instead of replaying the log. The format is internal and versioned; a
/// checkpoint of another version is ignored (the views are rebuilt), never misread.
extension Projection {
    /// 3: embargo extensions carry their event time. 4: reports list their late entries.
    /// 5: embargo extensions carry their recorded time. 6: a wait says whether a closing ended it.
    /// 7: fix events after the advisory leave a report disclosed (a checkpoint folded before
    /// would hold another state for them). 8: so do a wont-fix closing and its reopening, and
    /// that closing is no pause.
    public static let checkpointFormat: Int64 = 8

    /// The projection as a checkpoint payload.
    public func checkpoint() -> Payload {
        var b = PayloadBuilder()
        b.set("format", Self.checkpointFormat)
        b.set("lastSequence", Int64(bitPattern: lastSequence))
        b.set("lastOccurredAt", lastOccurredAt)
        b.set("lastRecordedAt", lastRecordedAt)
        b.set("undecodable", Int64(undecodable))
        b.set("projects", value: .array(projects.keys.sorted().map { projects[$0]!.checkpointValue }))
        b.set("reports", value: .array(reports.keys.sorted().map { reports[$0]!.checkpointValue }))
        return Payload(b.value)
    }

    /// Restores a projection from `checkpoint()`; nil if it is of another format or damaged.
    public init?(checkpoint payload: Payload) {
        let v = payload.value
        guard v["format"]?.intValue == Self.checkpointFormat, let seq = v["lastSequence"]?.intValue else { return nil }
        self.init()
        lastSequence = UInt64(bitPattern: seq)
        lastOccurredAt = v["lastOccurredAt"]?.timestampValue
        lastRecordedAt = v["lastRecordedAt"]?.timestampValue
        undecodable = Int(v["undecodable"]?.intValue ?? 0)
        for p in v["projects"]?.arrayValue ?? [] {
            guard let project = ProjectState(checkpoint: p) else { return nil }
            projects[project.name] = project
        }
        for r in v["reports"]?.arrayValue ?? [] {
            guard let report = Report(checkpoint: r) else { return nil }
            reports[report.id] = report
        }
    }
}

extension ProjectState {
    var checkpointValue: Value {
        .object([
            ("name", .string(name)), ("maintainers", .array(maintainers.map { .string($0) })),
            ("policies", .array(policies.map { p in
                .object([
                    ("policy", .string(p.policy.encodeCanonical())), ("zone", .string(p.calendar.zone.identifier)),
                    ("zoneTransitions", .array(p.calendar.zone.encodedTransitions.map { .string($0) })),
                    ("adoptedAt", .string(p.adoptedAt.rfc3339)), ("sequence", .int(Int64(bitPattern: p.sequence))),
                ])
            })),
        ])
    }

    init?(checkpoint v: Value) {
        guard let name = v["name"]?.stringValue else { return nil }
        self.init(name: name)
        maintainers = v["maintainers"]?.arrayValue?.compactMap(\.stringValue) ?? []
        for p in v["policies"]?.arrayValue ?? [] {
            guard let text = p["policy"]?.stringValue, let policy = try? Policy.parse(text, file: "checkpoint"),
                let zone = try? ZoneRules(identifier: p["zone"]?.stringValue ?? "", encodedTransitions: p["zoneTransitions"]?.arrayValue?.compactMap(\.stringValue) ?? []),
                let at = p["adoptedAt"]?.timestampValue, let seq = p["sequence"]?.intValue
            else { return nil }
            policies.append(AdoptedPolicy(policy: policy, calendar: BusinessCalendar(policy: policy, zone: zone), adoptedAt: at, sequence: UInt64(bitPattern: seq)))
        }
    }
}

extension Report {
    var checkpointValue: Value { fields.checkpointValue }

    init?(checkpoint v: Value) {
        guard let fields = Fields(checkpoint: v) else { return nil }
        self.init(fields)
    }
}

extension Report.Fields {
    /// Every field, by name; the submission fields first so `init(checkpoint:)` can rebuild the base.
    var checkpointValue: Value {
        var b = PayloadBuilder()
        b.set("id", id)
        var submitted = PayloadBuilder()
        ReportSubmitted(project: project, title: title, reporter: reporter, component: component, affected: affected, claimedSeverity: claimedSeverity).build(into: &submitted)
        b.set("submitted", value: submitted.value)
        b.set("state", state)
        b.set("version", Int64(bitPattern: version))
        b.set("severity", severity)
        b.set("cvss31", cvss31)
        b.set("cvss40", cvss40)
        b.set("cwes", cwes)
        b.set("fixedVersions", fixedVersions)
        b.set("commits", commits)
        b.set("assignee", assignee)
        b.set("cveRequested", cveRequested)
        b.set("cve", cve)
        b.set("ghsa", ghsa)
        b.set("advisoryURL", advisoryURL)
        b.set("scheduledDisclosure", scheduledDisclosure)
        b.set("embargoExtensions", value: .array(embargoExtensions.map { e in
            var x = PayloadBuilder()
            e.extended.build(into: &x)
            var members: [(key: String, value: Value)] = [("extended", x.value), ("at", .string(e.at.rfc3339))]
            if let recorded = e.recordedAt { members.append(("recordedAt", .string(recorded.rfc3339))) }
            return .object(members)
        }))
        b.set("exploitedAt", exploitedAt)
        b.set("lateEntries", value: .array(lateEntries.map { e in
            .object([("type", .string(e.type)), ("occurredAt", .string(e.occurredAt.rfc3339)), ("recordedAt", .string(e.recordedAt.rfc3339))])
        }))
        b.set("credits", value: .array(credits.map { c in
            .object([
                ("person", .string(c.person)), ("types", .array(c.types.map { .string($0.rawValue) })), ("status", .string(c.status.rawValue)),
                ("displayName", c.displayName.map { .string($0) } ?? .null), ("preference", .string(c.preference.rawValue)),
            ])
        }))
        b.set("resolution", resolution)
        b.set("duplicateOf", duplicateOf)
        b.set("withdrawalReason", withdrawalReason)
        b.set("notes", Int64(notes))
        b.set("submittedAt", submittedAt)
        b.set("acknowledgedAt", acknowledgedAt)
        b.set("acceptedAt", acceptedAt)
        b.set("fixStartedAt", fixStartedAt)
        b.set("fixReleasedAt", fixReleasedAt)
        b.set("disclosedAt", disclosedAt)
        b.set("closedAt", closedAt)
        b.set("withdrawnAt", withdrawnAt)
        b.set("waits", value: .array(waits.map { w in .array([.string(w.start.rfc3339), w.end.map { .string($0.rfc3339) } ?? .null, .bool(w.endedByClosing)]) }))
        b.set("statusUpdates", value: .array(statusUpdates.map { .string($0.rfc3339) }))
        b.set("closures", value: .array(closures.map { w in .array([.string(w.start.rfc3339), w.end.map { .string($0.rfc3339) } ?? .null]) }))
        b.set("severityHistory", value: .array(severityHistory.map { .array([.string($0.at.rfc3339), .string($0.severity.rawValue)]) }))
        b.set("lastEventAt", lastEventAt)
        return b.value
    }

    init?(checkpoint v: Value) {
        func time(_ k: String) -> Timestamp? { v[k]?.timestampValue }
        func strings(_ k: String) -> [String] { v[k]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        guard let id = v["id"]?.stringValue, let submittedValue = v["submitted"], let submittedAt = time("submittedAt"),
            let fields = try? PayloadFields(submittedValue, table: ReportSubmitted.fieldTable, context: "checkpoint"),
            let submitted = try? ReportSubmitted(fields), let state = v["state"]?.stringValue.flatMap(ReportState.init(rawValue:))
        else { return nil }
        self.init(id: id, submitted: submitted, at: submittedAt)
        self.state = state
        version = UInt64(bitPattern: v["version"]?.intValue ?? 1)
        severity = v["severity"]?.stringValue.flatMap(CVSSSeverity.init(rawValue:))
        cvss31 = v["cvss31"]?.stringValue
        cvss40 = v["cvss40"]?.stringValue
        cwes = strings("cwes")
        fixedVersions = strings("fixedVersions")
        commits = strings("commits")
        assignee = v["assignee"]?.stringValue
        cveRequested = v["cveRequested"]?.boolValue ?? false
        cve = v["cve"]?.stringValue
        ghsa = v["ghsa"]?.stringValue
        advisoryURL = v["advisoryURL"]?.stringValue
        scheduledDisclosure = time("scheduledDisclosure")
        for e in v["embargoExtensions"]?.arrayValue ?? [] {
            guard let at = e["at"]?.timestampValue, let extended = e["extended"],
                let f = try? PayloadFields(extended, table: EmbargoExtended.fieldTable, context: "checkpoint"), let x = try? EmbargoExtended(f)
            else { return nil }
            embargoExtensions.append(EmbargoExtension(x, at: at, recordedAt: e["recordedAt"]?.timestampValue))
        }
        exploitedAt = time("exploitedAt")
        for e in v["lateEntries"]?.arrayValue ?? [] {
            guard let type = e["type"]?.stringValue, let occurred = e["occurredAt"]?.timestampValue,
                let recorded = e["recordedAt"]?.timestampValue
            else { return nil }
            lateEntries.append(LateEntry(type: type, occurredAt: occurred, recordedAt: recorded))
        }
        for c in v["credits"]?.arrayValue ?? [] {
            guard let person = c["person"]?.stringValue, let status = c["status"]?.stringValue.flatMap(CreditRecord.Status.init(rawValue:)),
                let preference = c["preference"]?.stringValue.flatMap(CreditPreference.init(rawValue:))
            else { return nil }
            credits.append(CreditRecord(
                person: person, types: c["types"]?.arrayValue?.compactMap { $0.stringValue.flatMap(CreditType.init(rawValue:)) } ?? [],
                status: status, displayName: c["displayName"]?.stringValue, preference: preference))
        }
        resolution = v["resolution"]?.stringValue.flatMap(Resolution.init(rawValue:))
        duplicateOf = v["duplicateOf"]?.stringValue
        withdrawalReason = v["withdrawalReason"]?.stringValue
        notes = Int(v["notes"]?.intValue ?? 0)
        acknowledgedAt = time("acknowledgedAt")
        acceptedAt = time("acceptedAt")
        fixStartedAt = time("fixStartedAt")
        fixReleasedAt = time("fixReleasedAt")
        disclosedAt = time("disclosedAt")
        closedAt = time("closedAt")
        withdrawnAt = time("withdrawnAt")
        for w in v["waits"]?.arrayValue ?? [] {
            guard let triple = w.arrayValue, triple.count == 3, let start = triple[0].timestampValue, case .bool(let byClosing) = triple[2] else { return nil }
            waits.append(WaitInterval(start: start, end: triple[1].timestampValue, endedByClosing: byClosing))
        }
        statusUpdates = strings("statusUpdates").compactMap { try? Timestamp(rfc3339: $0) }
        for w in v["closures"]?.arrayValue ?? [] {
            guard let pair = w.arrayValue, pair.count == 2, let start = pair[0].timestampValue else { return nil }
            closures.append(WaitInterval(start: start, end: pair[1].timestampValue))
        }
        for a in v["severityHistory"]?.arrayValue ?? [] {
            guard let pair = a.arrayValue, pair.count == 2, let at = pair[0].timestampValue,
                let severity = pair[1].stringValue.flatMap(CVSSSeverity.init(rawValue:))
            else { return nil }
            severityHistory.append(SeverityAssessment(at: at, severity: severity))
        }
        lastEventAt = time("lastEventAt") ?? submittedAt
    }
}

extension Value {
    /// A time written as RFC 3339 text (`Timestamp.rfc3339`), as checkpoints write them.
    fileprivate var timestampValue: Timestamp? { stringValue.flatMap { try? Timestamp(rfc3339: $0) } }
}
