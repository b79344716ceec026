public import DocketCore

/// The wire form of a lifecycle command: `{"verb": "<CLI verb>", …arguments}`, the same verbs and
/// argument names as `docket report <verb>`.
extension ReportCommand {
    public var wireValue: Value {
        var b = PayloadBuilder()
        func verb(_ v: String) { b.set("verb", v) }
        switch self {
        case .submit(let e):
            verb("submit")
            var s = PayloadBuilder()
            e.build(into: &s)
            b.set("report", value: s.value)
        case .acknowledge(let a):
            verb("ack")
            b.set("assignee", a)
        case .startTriage:
            verb("triage-start")
        case .requestInfo(let q):
            verb("request-info")
            b.set("question", q)
        case .respond(let s):
            verb("respond")
            b.set("summary", s)
        case .triage(let severity, let v31, let v40, let cwes, let component, let affected, let reason):
            verb("triage")
            b.set("severity", severity)
            b.set("cvss31", v31)
            b.set("cvss40", v40)
            b.set("cwes", cwes)
            b.set("component", component)
            b.set("affected", affected)
            b.set("reason", reason)
        case .assign(let a):
            verb("assign")
            b.set("assignee", a)
        case .statusUpdate(let s):
            verb("status-update")
            b.set("summary", s)
        case .startFix(let branch):
            verb("fix-start")
            b.set("branch", branch)
        case .mergeFix(let commit):
            verb("fix-merge")
            b.set("commit", commit)
        case .release(let versions):
            verb("release")
            b.set("versions", versions)
        case .requestCVE(let cna):
            verb("cve-request")
            b.set("cna", cna)
        case .assignCVE(let cve):
            verb("cve-assign")
            b.set("cve", cve)
        case .publish(let ghsa, let cve, let url):
            verb("publish")
            b.set("ghsa", ghsa)
            b.set("cve", cve)
            b.set("url", url)
        case .scheduleDisclosure(let date):
            verb("schedule")
            b.set("date", date)
        case .extendEmbargo(let until, let reason, let agreed):
            verb("extend-embargo")
            b.set("until", until)
            b.set("reason", reason)
            b.set("reporterAgreed", agreed)
        case .exploited(let source):
            verb("exploited")
            b.set("source", source)
        case .offerCredit(let person, let type):
            verb("credit-offer")
            b.set("person", person)
            b.set("type", type)
        case .acceptCredit(let person, let name, let preference):
            verb("credit-accept")
            b.set("person", person)
            b.set("displayName", name)
            b.set("preference", preference)
        case .declineCredit(let person):
            verb("credit-decline")
            b.set("person", person)
        case .close(let resolution, let duplicateOf, let reason):
            verb("close")
            b.set("resolution", resolution)
            b.set("duplicateOf", duplicateOf)
            b.set("reason", reason)
        case .reopen(let reason):
            verb("reopen")
            b.set("reason", reason)
        case .withdraw(let reason):
            verb("withdraw")
            b.set("reason", reason)
        case .note(let text):
            verb("note")
            b.set("text", text)
        }
        return b.value
    }

    public init(wire value: Value) throws(MessageError) {
        let b = try Body(value, "command")
        switch try b.string("verb") {
        case "submit":
            let fields: PayloadFields
            do { fields = try PayloadFields(value["report"] ?? .null, table: ReportSubmitted.fieldTable, context: "command.report") } catch {
                throw MessageError(error.message)
            }
            do { self = .submit(try ReportSubmitted(fields)) } catch { throw MessageError(error.message) }
        case "ack": self = .acknowledge(assignee: try b.string("assignee"))
        case "triage-start": self = .startTriage
        case "request-info": self = .requestInfo(question: try b.optionalString("question"))
        case "respond": self = .respond(summary: try b.optionalString("summary"))
        case "triage":
            self = .triage(
                severity: try b.optionalEnumeration("severity", CVSSSeverity.self), cvss31: try b.optionalString("cvss31"),
                cvss40: try b.optionalString("cvss40"), cwes: try b.strings("cwes"), component: try b.optionalString("component"),
                affected: try b.strings("affected"), reason: try b.optionalString("reason"))
        case "assign": self = .assign(assignee: try b.string("assignee"))
        case "status-update": self = .statusUpdate(summary: try b.optionalString("summary"))
        case "fix-start": self = .startFix(branch: try b.optionalString("branch"))
        case "fix-merge": self = .mergeFix(commit: try b.string("commit"))
        case "release": self = .release(versions: try b.strings("versions"))
        case "cve-request": self = .requestCVE(cna: try b.optionalString("cna"))
        case "cve-assign": self = .assignCVE(try b.string("cve"))
        case "publish": self = .publish(ghsa: try b.optionalString("ghsa"), cve: try b.optionalString("cve"), url: try b.optionalString("url"))
        case "schedule":
            guard let date = try b.optionalTime("date") else { throw MessageError("command: \"date\" is required") }
            self = .scheduleDisclosure(date)
        case "extend-embargo":
            guard let until = try b.optionalTime("until") else { throw MessageError("command: \"until\" is required") }
            self = .extendEmbargo(until: until, reason: try b.string("reason"), reporterAgreed: try b.optionalBool("reporterAgreed") ?? false)
        case "exploited": self = .exploited(source: try b.optionalString("source"))
        case "credit-offer": self = .offerCredit(person: try b.string("person"), type: try b.enumeration("type", CreditType.self))
        case "credit-accept":
            self = .acceptCredit(
                person: try b.string("person"), displayName: try b.optionalString("displayName"),
                preference: try b.optionalEnumeration("preference", CreditPreference.self))
        case "credit-decline": self = .declineCredit(person: try b.string("person"))
        case "close":
            self = .close(try b.enumeration("resolution", Resolution.self), duplicateOf: try b.optionalString("duplicateOf"), reason: try b.optionalString("reason"))
        case "reopen": self = .reopen(reason: try b.optionalString("reason"))
        case "withdraw": self = .withdraw(reason: try b.string("reason"))
        case "note": self = .note(try b.string("text"))
        case let other: throw MessageError("command: unknown verb \"\(other)\"")
        }
    }
}
