import DocketCore
import DocketStore
public import DocketWire

extension ErrorBody {
    /// `error` as the protocol's ERROR body, with its stable code and details, if it is a refusal
    /// Docket describes (a domain, store, replication, token, forensic or request error); nil for
    /// any other error. The node answers with this; the CLI prints it.
    public init?(refusal error: any Error) {
        switch error {
        case let e as DomainError:
            var details: Value?
            if let state = e.state { details = .object([("state", .string(state.rawValue)), ("allowed", .array(e.allowed.map { .string($0) }))]) }
            self.init(code: e.code.rawValue, message: e.message, details: details)
        case let e as StoreError:
            // Where to send writes instead, the epoch that deposed a node, where two copies part.
            var details: [(key: String, value: Value)] = []
            if let leader = e.leader { details.append(("leader", .string(leader))) }
            if let epoch = e.epoch { details.append(("epoch", .int(Int64(epoch)))) }
            if e.code == .diverged, let seq = e.sequence { details.append(("seq", .int(Int64(seq)))) }
            self.init(code: e.code.description, message: e.message, details: details.isEmpty ? nil : .object(details))
        case let e as ReplicationError: self.init(code: e.code, message: e.message, details: e.details)
        case let e as CoreError: self.init(code: e.code.description, message: e.message)
        case let e as MessageError: self.init(code: "bad-request", message: e.message)
        case let e as Forbidden: self.init(code: "forbidden", message: e.message)
        case let e as Tokens.Refused: self.init(code: e.code, message: e.message)
        case let e as ForensicError: self.init(code: e.code.description, message: e.message)
        case let e as ErrorBody: self = e
        default: return nil
        }
    }
}
