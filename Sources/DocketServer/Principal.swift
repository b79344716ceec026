import DocketCore

/// What a token lets its holder do (DESIGN §5).
public enum Role: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Everything, including tokens.
    case admin
    /// Reports, views and policies of one project.
    case maintainer
    /// Their own reports only: submit, respond, accept or decline credit, and see them.
    case reporter
    /// Reads the raw log (replication).
    case replica
    /// Reads everything, writes nothing.
    case auditor

    public var description: String { rawValue }

    /// The role with its article, for messages: "an auditor", "a replica".
    public var withArticle: String { (self == .admin || self == .auditor ? "an " : "a ") + rawValue }
}

/// Who is asking: the holder of a token, or the operator of a local data directory.
public struct Principal: Sendable, Hashable, CustomStringConvertible {
    public var role: Role
    /// For maintainers: their project.
    public var project: String?
    /// The name events are recorded under: a maintainer's or reporter's handle.
    public var subject: String
    /// The token it authenticated with; nil for the local operator.
    public var tokenID: String?
    /// For replicas: whether its node may take over as leader (`Tokens.Record.standby`).
    public var standby: Bool

    public init(role: Role, project: String? = nil, subject: String, tokenID: String? = nil, standby: Bool = false) {
        self.role = role
        self.project = project
        self.subject = subject
        self.tokenID = tokenID
        self.standby = standby
    }

    /// Whether it may depose the leader (a FENCE, or a later epoch presented in REPLICATE): an
    /// admin, or a standby's replica token. A replica token that only reads may not, or any
    /// holder of a copy of the ledger could stop it taking reports.
    public var mayDeposeLeader: Bool { role == .admin || (role == .replica && standby) }

    /// Whoever holds the data directory: an administrator acting as `actor`.
    public static func local(actor: String) -> Principal { Principal(role: .admin, subject: actor) }

    /// How the node's log and its messages name it: role, project, handle and token id. A
    /// reporter goes without their handle: it is who they are, and the log of every login and
    /// refusal must not name a researcher who asked to stay anonymous (the token id is enough to
    /// tell whose token it was, for whoever holds the ledger).
    public var description: String {
        // Escaped: a name recorded before names were checked must not forge a log line.
        let who = role == .reporter ? "" : " \(UntrustedText.displayable(subject))"
        return "\(role)\(project.map { " of \($0)" } ?? "")\(who)\(tokenID.map { " (token \($0))" } ?? "")"
    }

    /// Maintainers of `project`, administrators.
    func maintains(_ project: String) -> Bool {
        role == .admin || (role == .maintainer && Self.sameProject(self.project, project))
    }

    /// Project names compared by their bytes, as stream names are: a name the ledger takes is
    /// ASCII, and as `String`s a record's "\u{212A}" (the Kelvin sign) would be project "K"'s.
    static func sameProject(_ a: String?, _ b: String) -> Bool { a?.utf8.elementsEqual(b.utf8) ?? false }

    /// Whether the principal may see `report` in views.
    func canSee(_ report: Report) -> Bool {
        switch role {
        case .admin, .auditor: true
        case .maintainer: Self.sameProject(project, report.project)
        case .reporter: report.reporter.handle == subject
        case .replica: false
        }
    }
}

/// A request the principal may not make.
public struct Forbidden: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
