/// Time-zone rules as `PolicyAdopted` stores them (`Schemas/events/PolicyAdopted.v1.json`):
/// `":<offset>"` for the offset before any transition, then `"<unix seconds>:<offset>"` per
/// transition, offsets in seconds east of UTC.
extension ZoneRules {
    public var encodedTransitions: [String] {
        [":\(initialUTCOffsetSeconds)"] + transitions.map { "\($0.at):\($0.utcOffsetSeconds)" }
    }

    public init(identifier: String, encodedTransitions: [String]) throws(CoreError) {
        guard let first = encodedTransitions.first, first.hasPrefix(":"), let initial = Int(first.dropFirst()) else {
            throw CoreError(.invalidValue, "zone \(identifier): the first transition must be \":<offset seconds>\"")
        }
        var transitions: [Transition] = []
        transitions.reserveCapacity(encodedTransitions.count - 1)
        for text in encodedTransitions.dropFirst() {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let at = Int64(parts[0]), let offset = Int(parts[1]) else {
                throw CoreError(.invalidValue, "zone \(identifier): \"\(text)\" is not \"<unix seconds>:<offset seconds>\"")
            }
            transitions.append(Transition(at: at, utcOffsetSeconds: offset))
        }
        try self.init(identifier: identifier, initialUTCOffsetSeconds: initial, transitions: transitions)
    }
}
