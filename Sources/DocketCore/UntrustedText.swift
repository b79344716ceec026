/// Text people write (a report's title, a reporter's name, a note, a token holder's name) ends up
/// on maintainers' terminals, in node logs and in Markdown. Some characters change how what
/// surrounds them is shown: an escape sequence can clear a screen or retitle a terminal window, a
/// carriage return or a line break in a one-line field can forge a table row or a log line, and
/// a bidirectional override can show characters in another order than they are stored. New text
/// with them is refused (`firstDisruptive`); text already in a log is shown escaped (`displayable`).
public enum UntrustedText {
    /// Whether `scalar` can change how the text around it is shown: a C0 or C1 control character
    /// (NUL, ESC, CR, LF…), DEL, a Unicode line or paragraph separator, or a bidirectional
    /// embedding, override or isolate.
    public static func isDisruptive(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// Whether `s` shows nothing: only white space, invisible format characters (zero-width
    /// spaces and joiners, other default-ignorable code points), combining marks with nothing to
    /// combine with, and the blank "letters" (Braille and Hangul fillers) used to fake a name.
    public static func isBlank(_ s: String) -> Bool {
        s.unicodeScalars.allSatisfy { scalar in
            let p = scalar.properties
            switch p.generalCategory {
            case .nonspacingMark, .enclosingMark, .spacingMark, .format, .spaceSeparator, .lineSeparator, .paragraphSeparator, .control: return true
            default: return p.isWhitespace || p.isDefaultIgnorableCodePoint || [0x2800, 0x3164, 0x115F, 0x1160, 0xFFA0].contains(scalar.value)
            }
        }
    }

    /// The first disruptive character of `s` and its position (in characters), if any. Where
    /// `multiLine`, line feeds and tabs are text, not disruption.
    public static func firstDisruptive(in s: String, multiLine: Bool) -> (scalar: Unicode.Scalar, position: Int)? {
        if isPlainASCII(s, multiLine: multiLine) { return nil }
        for (i, scalar) in s.unicodeScalars.enumerated() where isDisruptive(scalar) {
            if multiLine && (scalar == "\n" || scalar == "\t") { continue }
            return (scalar, i + 1)
        }
        return nil
    }

    /// The first character of `s` that shows as nothing at all (a format character: a zero-width
    /// space, a direction mark, a byte order mark, a soft hyphen, a word joiner…), and its position
    /// in code points, if any; `allowingJoiners` lets the zero-width joiner and non-joiner by,
    /// which some scripts and emoji sequences are written with.
    public static func firstInvisible(in s: String, allowingJoiners: Bool) -> (scalar: Unicode.Scalar, position: Int)? {
        if isPlainASCII(s, multiLine: false) { return nil }
        // Tag characters spell a subdivision flag after a black flag (🏴 + tags + cancel tag);
        // anywhere else they show as nothing.
        var inFlag = false
        for (i, scalar) in s.unicodeScalars.enumerated() {
            let isTag = (0xE0020...0xE007F).contains(scalar.value)
            defer { inFlag = (scalar.value == 0x1F3F4 || (inFlag && isTag)) && scalar.value != 0xE007F }
            guard scalar.properties.generalCategory == .format else { continue }
            if allowingJoiners && (scalar.value == 0x200C || scalar.value == 0x200D || (isTag && inFlag)) { continue }
            return (scalar, i + 1)
        }
        return nil
    }

    /// What a text that says who someone is says: a handle people are told apart by
    /// (`Report.personKey`), a way to reach them, or a name to show.
    public enum IdentityKind: Sendable { case handle, contact, name }

    /// Why `s`, given as `field` to say who someone is, is refused, if it is: it holds an
    /// invisible character (`firstInvisible`; a name may hold the joiners), or it is a handle
    /// with white space at either end or an `@` in front. Either way one person could pass for
    /// another: credits tell handles apart without their surrounding space or `@`
    /// (`Report.personKey`), while a reporter's token sees the reports of its own handle exactly,
    /// so " ada" would be ada to a hall of fame and nobody's to her; and "@ada" would dodge a
    /// decline by "ada" where handles were compared as given.
    public static func identityRefusal(_ s: String, field: String, kind: IdentityKind) -> String? {
        let isName = kind == .name
        if let invisible = firstInvisible(in: s, allowingJoiners: isName) {
            return "\(field) holds an invisible character (\(name(invisible.scalar)), character \(invisible.position)): a \(isName ? "name" : "handle") shows every character it is told apart by, or one person could pass for another in a hall of fame"
                + (isName ? " (joiners, U+200C and U+200D, are allowed)" : "")
        }
        if !isName, s.first?.isWhitespace == true || s.last?.isWhitespace == true {
            let trimmed = String(s.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            return "\(field) \"\(displayable(s))\" begins or ends with white space, which handles are told apart without: it would pass for \"\(displayable(trimmed))\""
        }
        if kind == .handle, let first = asciiForms(String(s.prefix(1))).first, first == "@" {
            return "\(field) \"\(displayable(s))\" begins with @, which handles are told apart without (the hall of fame writes its own): give it as \"\(displayable(String(bareHandle(s))))\""
        }
        return nil
    }

    /// `handle` without the white space around it and any `@` in front (ASCII or a lookalike,
    /// with white space after it): the handle itself, as credits compare it (`Report.personKey`)
    /// and the hall of fame shows it (writing its own `@`). New handles hold neither
    /// (`identityRefusal`); a log may, from before.
    public static func bareHandle<S: StringProtocol>(_ handle: S) -> Substring where S.SubSequence == Substring {
        var bare = handle[...].drop(while: \.isWhitespace)
        while let first = bare.unicodeScalars.first, first == "@" || asciiForm(of: first) == "@" {
            bare = bare.dropFirst().drop(while: \.isWhitespace)
        }
        guard let last = bare.lastIndex(where: { !$0.isWhitespace }) else { return bare[bare.endIndex...] }
        return bare[...last]
    }

    /// `s` with each character that is drawn as a letter, digit or sign of ASCII in another
    /// style read as that ASCII character: fullwidth forms (U+FF01–U+FF5E: "ＡＤＡ", "＠"), the
    /// small commercial at (U+FE6B), the mathematical alphanumerics ("𝚊𝚍𝚊", "𝐀𝐝𝐚", U+1D400–U+1D6A3,
    /// U+1D7CE–U+1D7FF) and the circled letters ("ⓐⓓⓐ", U+24B6–U+24E9); the rest as it is. What
    /// handles are compared by (`Report.personKey`), since they look alike.
    public static func asciiForms(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { asciiForm(of: $0) != nil }) else { return s }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars { out.append(asciiForm(of: scalar) ?? scalar) }
        return String(out)
    }

    private static let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".unicodeScalars)

    /// The ASCII character `scalar` is drawn as in another style, if it is one (`asciiForms`).
    private static func asciiForm(of scalar: Unicode.Scalar) -> Unicode.Scalar? {
        let v = scalar.value
        guard v >= 0x24B6 else { return nil }
        switch v {
        case 0xFF01...0xFF5E: return Unicode.Scalar(v - 0xFEE0)
        case 0xFE6B: return "@"
        // Thirteen styles of 52 letters each (capitals, then small), a few of them unassigned.
        case 0x1D400...0x1D6A3: return letters[Int((v - 0x1D400) % 52)]
        // Five styles of the ten digits.
        case 0x1D7CE...0x1D7FF: return Unicode.Scalar(0x30 + (v - 0x1D7CE) % 10)
        case 0x24B6...0x24CF: return letters[Int(v - 0x24B6)]
        case 0x24D0...0x24E9: return letters[26 + Int(v - 0x24D0)]
        default: return nil
        }
    }

    /// The most combining marks (nonspacing or enclosing) new text may stack on one character
    /// (`firstStack`: joiners and other invisible characters do not end a stack): room for what scripts
    /// stack (Vietnamese two, pointed Hebrew with cantillation up to five, a Tibetan stack such
    /// as the Kalachakra monogram ten), fewer than the dozens "Zalgo" text piles on a letter so
    /// that it runs over the lines above and below it in a terminal, a table or a CREDITS.md.
    public static let maximumMarks = 16

    /// Whether `scalar` is a combining mark drawn over or under the character before it.
    static func isStackingMark(_ scalar: Unicode.Scalar) -> Bool {
        let category = scalar.properties.generalCategory
        return category == .nonspacingMark || category == .enclosingMark
    }

    /// Whether `character` adds to the stack of marks before it rather than starting its own: it
    /// begins with a mark or with an invisible format character (a zero-width space, a joiner),
    /// which marks after it are drawn over as if over the character before.
    private static func continuesStack(_ character: Character) -> Bool {
        guard let first = character.unicodeScalars.first else { return true }
        return isStackingMark(first) || first.properties.generalCategory == .format
    }

    /// The first stack of more than `maximumMarks` combining marks in `s`: where it starts (the
    /// code point of the character it is drawn on, counted from 1) and how many marks it has. A
    /// stack goes on through joiners and other invisible characters: split by them, its marks are
    /// still drawn one over the other.
    public static func firstStack(in s: String) -> (position: Int, marks: Int)? {
        if isPlainASCII(s, multiLine: true) { return nil }
        var position = 1
        var start = 1
        var marks = 0
        for character in s {
            if !continuesStack(character) {
                // A stack over the limit is counted to its end: the refusal says how many it has.
                if marks > maximumMarks { return (start, marks) }
                (start, marks) = (position, 0)
            }
            marks += character.unicodeScalars.reduce(0) { $0 + (isStackingMark($1) ? 1 : 0) }
            position += character.unicodeScalars.count
        }
        return marks > maximumMarks ? (start, marks) : nil
    }

    /// `s`, less each stack's combining marks after its first `maximumMarks` (`firstStack`): text
    /// a log holds from before more were refused, as views show it. (Text with no more marks in
    /// all than one stack may hold, nearly all of it, is returned as it is without being split
    /// into characters: views show every title and name through here.)
    static func cappingMarks(_ s: String) -> String {
        var total = 0
        for scalar in s.unicodeScalars where isStackingMark(scalar) { total += 1 }
        if total <= maximumMarks { return s }
        var out = String.UnicodeScalarView()
        var marks = 0
        for character in s {
            if !continuesStack(character) { marks = 0 }
            for scalar in character.unicodeScalars {
                if isStackingMark(scalar) {
                    marks += 1
                    if marks > maximumMarks { continue }
                }
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Why `s`, given as `field`, is refused for a character stacked with marks (`firstStack`), if it is.
    public static func stackRefusal(_ s: String, field: String) -> String? {
        firstStack(in: s).map {
            "\(field) has \($0.marks) combining marks stacked on one character (character \($0.position)); at most \(maximumMarks) are accepted, as more run over the lines around it when shown"
        }
    }

    /// `s` as it can be printed to a terminal or a log line: each disruptive character written
    /// as a visible escape (`\n`, `\t`, `\r`, else `\u{1B}`), for reading, not for parsing back;
    /// and of the combining marks on one character, the first `maximumMarks` (a log may hold
    /// text from before more were refused).
    public static func displayable(_ s: String) -> String {
        if isPlainASCII(s, multiLine: false) { return s }
        var out = String.UnicodeScalarView()
        for scalar in cappingMarks(s).unicodeScalars {
            guard isDisruptive(scalar) else {
                out.append(scalar)
                continue
            }
            switch scalar {
            case "\n": out.append(contentsOf: #"\n"#.unicodeScalars)
            case "\t": out.append(contentsOf: #"\t"#.unicodeScalars)
            case "\r": out.append(contentsOf: #"\r"#.unicodeScalars)
            default: out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            }
        }
        return String(out)
    }

    /// `displayable`, line by line: the line feeds of a text of several lines of its own (a
    /// message, Markdown) stay, what each line holds is escaped.
    public static func displayableLines(_ s: String) -> String {
        s.split(separator: "\n", omittingEmptySubsequences: false).map { displayable(String($0)) }.joined(separator: "\n")
    }

    /// Why `s`, given as `field`, is refused, if it is: "title holds a control character (U+001B,
    /// character 3)". Callers add what the field takes.
    public static func refusal(_ s: String, field: String, multiLine: Bool) -> String? {
        firstDisruptive(in: s, multiLine: multiLine).map { "\(field) holds a control character (\(name($0.scalar)), character \($0.position))" }
    }

    /// How to name `scalar` in a message: `U+001B`.
    static func name(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// Printable ASCII only (and, where `multiLine`, line feeds and tabs): nearly all text, and
    /// nothing in it is disruptive.
    private static func isPlainASCII(_ s: String, multiLine: Bool) -> Bool {
        s.utf8.allSatisfy { ($0 >= 0x20 && $0 < 0x7F) || (multiLine && ($0 == 0x0A || $0 == 0x09)) }
    }
}
