import DalabaCore
import Foundation

/// Reads YAML schedule files into programmes, collecting every problem with its file, line and field instead of stopping.
///
/// It works on `YAMLReader`'s node tree rather than `Decodable` because nodes carry their line and column, and because
/// reading raw scalar text avoids YAML 1.1's surprises (`08:00` as a base-60 number, `no` as false). Values are checked as
/// the HTTP API checks the same things: one-line text without control or bidi characters, real dates, bounded numbers.
struct ScheduleParser {
    static let entryKeys = [
        "name", "title", "kind", "level", "audio", "text", "times", "days", "weekdays", "days-of-month", "lunar-days",
        "from", "until", "except", "repeat", "repeat-interval", "timezone", "tier", "grace",
    ]
    static let fileKeys = ["programmes", "timezone"]
    static let dayRuleKeys = ["days", "weekdays", "days-of-month", "lunar-days"]
    /// The API's bounds for the same values (`QueueRequestDecoder`), so a schedule cannot queue what a request may not.
    static let repeatIntervals = 0.0...86_400.0
    static let graces = 0.0...86_400.0
    static let years = 2000...2199
    static let maximumTitleLength = 500
    static let maximumTextLength = 100_000
    static let maximumAudioNameLength = 1024

    let defaults: ScheduleDefaults
    let limits: ScheduleLimits
    let budget: () -> ReadingBudget
    let audioProblem: (String) -> AudioProblem?
    private(set) var problems: [ScheduleProblem] = []
    private(set) var programmes: [Programme] = []
    private var names: [String: (file: String, line: Int)] = [:]
    private var file = ""

    /// - Parameter budget: makes a fresh budget for each file, so each file gets the whole `limits.timeBudget`.
    init(
        defaults: ScheduleDefaults, limits: ScheduleLimits = .standard, budget: @escaping () -> ReadingBudget,
        audioProblem: @escaping (String) -> AudioProblem?
    ) {
        self.defaults = defaults
        self.limits = limits
        self.budget = budget
        self.audioProblem = audioProblem
    }

    mutating func parse(_ source: ScheduleFile) {
        let first = problems.count
        parseFile(source)
        // Messages in line order within each file, as an editor walks it; files stay in the order given.
        let sorted = problems[first...].enumerated().sorted { ($0.1.line, $0.1.column ?? 0, $0.0) < ($1.1.line, $1.1.column ?? 0, $1.0) }
        problems.replaceSubrange(first..., with: sorted.map(\.1))
    }

    private mutating func parseFile(_ source: ScheduleFile) {
        file = source.name
        if let tooLarge = limits.sizeProblem(bytes: source.contents.utf8.count) {
            report(line: 1, tooLarge)
            return
        }
        let budget = budget()
        let read = YAMLReader(limits: limits, budget: budget).read(source.contents)
        for problem in read.problems { report(line: problem.line, column: problem.column, problem.message) }
        guard let root = read.root, case .mapping(let mapping, _) = root else {
            // A file that could not be read to its end has said why; an empty one, or a list, is told what is expected.
            if read.problems.isEmpty { report(read.root, "expected a top-level 'programmes:' list") }
            return
        }
        var zone = defaults.timeZone
        var list: YAMLNode?
        for pair in mapping {
            switch pair.key.scalar {
            case "programmes": list = pair.value
            case "timezone": zone = timeZone(pair.value) ?? zone
            default: unknownKey(pair.key, known: ScheduleParser.fileKeys)
            }
        }
        guard let list else {
            report(root, "missing the top-level 'programmes:' list")
            return
        }
        guard case .sequence(let entries, _) = list else {
            report(list, field: "programmes", "programmes: expected a list of programmes")
            return
        }
        for entry in entries {
            if let reason = budget.stopReason() {
                report(entry, reason)
                return
            }
            parseEntry(entry, zone: zone)
        }
    }

    // MARK: - One programme

    private mutating func parseEntry(_ entry: YAMLNode, zone fileZone: TimeZone) {
        guard case .mapping(let mapping, _) = entry else {
            report(entry, "expected a programme (a mapping with name, kind, times, …)")
            return
        }
        let before = problems.count
        var fields: [String: (key: YAMLNode, value: YAMLNode)] = [:]
        for pair in mapping {
            guard let name = pair.key.scalar, ScheduleParser.entryKeys.contains(name) else {
                unknownKey(pair.key, known: ScheduleParser.entryKeys)
                continue
            }
            fields[name] = (pair.key, pair.value)
        }

        let name = fields["name"].flatMap { programmeName($0.value) }
        if fields["name"] == nil { report(entry, field: "name", "missing 'name'") }
        let title = fields["title"].flatMap { line($0.value, key: "title", maximum: ScheduleParser.maximumTitleLength) }
        let kind = fields["kind"].flatMap { readKind($0.value) }
        if fields["kind"] == nil { report(entry, field: "kind", "missing 'kind' (emergency, rumor-rebuttal, policy or routine)") }
        let level = fields["level"].flatMap { integer($0.value, key: "level", range: 1...4, rangeText: "1 to 4") }
        if kind == .emergency, fields["level"] == nil, let kindNode = fields["kind"]?.value {
            report(kindNode, field: "level", "an emergency needs 'level' (1 to 4)")
        }
        if let kind, kind != .emergency, let levelNode = fields["level"]?.value {
            report(levelNode, field: "level", "level: only an emergency has a level, not \(kind.rawValue)")
        }
        let audio = fields["audio"].map { audioFiles($0.value) } ?? []
        let spoken = fields["text"].flatMap { spokenText($0.value) }
        if fields["audio"] == nil && fields["text"] == nil { report(entry, field: "audio", "missing 'audio' or 'text'") }
        let times = fields["times"].map { readTimes($0.value) } ?? []
        if fields["times"] == nil { report(entry, field: "times", "missing 'times' (a list of HH:MM)") }
        let days = dayRule(fields, entry: entry)
        let from = fields["from"].flatMap { date($0.value, key: "from") }
        let until = fields["until"].flatMap { date($0.value, key: "until") }
        if let from, let until, from > until, let node = fields["until"]?.value {
            report(node, field: "until", "until: \(until) is before from \(from): the programme would never run")
        }
        let except = fields["except"].map { list($0.value).compactMap { date($0, key: "except") } } ?? []
        let repeatCount = fields["repeat"].flatMap { integer($0.value, key: "repeat", range: 1...1000, rangeText: "1 to 1000") }
        let interval = fields["repeat-interval"].flatMap { seconds($0.value, key: "repeat-interval", range: ScheduleParser.repeatIntervals) }
        let zone = fields["timezone"].flatMap { timeZone($0.value) } ?? fileZone
        let tier = fields["tier"].flatMap { readTier($0.value) }
        let grace = fields["grace"].flatMap { seconds($0.value, key: "grace", range: ScheduleParser.graces) }

        if let name, let nameNode = fields["name"]?.value {
            if let first = names[name] {
                report(nameNode, field: "name", "name: '\(name)' is already used at \(first.file):\(first.line); names must be unique")
            } else {
                names[name] = (file, nameNode.mark.line)
            }
        }
        guard problems.count == before, let name, let kind, let days, !times.isEmpty else { return }
        programmes.append(
            Programme(
                name: name, title: title ?? name, kind: kind, level: level, audio: audio, text: spoken, times: times, days: days,
                from: from, until: until, except: Set(except), repeatCount: repeatCount ?? 1, repeatInterval: interval ?? 0,
                timeZone: zone, tier: tier ?? defaults.tier, grace: grace ?? defaults.grace, file: file, line: entry.mark.line
            )
        )
    }

    private mutating func dayRule(_ fields: [String: (key: YAMLNode, value: YAMLNode)], entry: YAMLNode) -> DayRule? {
        let given = ScheduleParser.dayRuleKeys.filter { fields[$0] != nil }
        guard let ruleKey = given.first, let node = fields[ruleKey]?.value else {
            report(entry, field: "days", "missing a days rule: one of 'days: daily', 'weekdays', 'days-of-month' or 'lunar-days'")
            return nil
        }
        if given.count > 1, let second = fields[given[1]]?.key {
            report(second, field: given[1], "only one days rule per programme, but both '\(given[0])' and '\(given[1])' are given")
            return nil
        }
        switch ruleKey {
        case "days":
            guard node.scalar == "daily" else {
                report(node, field: "days", "days: expected 'daily' (use 'weekdays', 'days-of-month' or 'lunar-days' for other days)")
                return nil
            }
            return .daily
        case "weekdays":
            let items = nonEmptyList(node, key: "weekdays")
            var days: [Weekday] = []
            for item in items {
                guard let word = item.scalar, let day = Weekday(name: word) else {
                    report(item, field: "weekdays", "weekdays: '\(describe(item))' is not a weekday (mon, tue, wed, thu, fri, sat, sun)")
                    continue
                }
                if days.contains(day) { report(item, field: "weekdays", "weekdays: '\(word)' is listed twice") } else { days.append(day) }
            }
            return days.isEmpty ? nil : .weekdays(days.sorted())
        case "days-of-month":
            let days = numbers(node, key: "days-of-month") { day in
                (1...31).contains(day) || (-31 ... -1).contains(day)
                    ? nil : "\(day) is not a day of the month (1 to 31, or -1 for the last day)"
            }
            return days.isEmpty ? nil : .daysOfMonth(days)
        default:
            let days = numbers(node, key: "lunar-days") { day in
                (1...30).contains(day) ? nil : "\(day) is not a lunar day: lunar months have 29 or 30 days"
            }
            return days.isEmpty ? nil : .lunarDays(days)
        }
    }

    // MARK: - Values

    private mutating func programmeName(_ node: YAMLNode) -> String? {
        guard let name = line(node, key: "name", maximum: 120) else { return nil }
        guard name.unicodeScalars.allSatisfy(ScheduleText.isNameCharacter) else {
            report(node, field: "name", "name: '\(name)' may hold only letters, digits, '-', '_' and '.' (at most 120), as it names every slot")
            return nil
        }
        return name
    }

    private mutating func readKind(_ node: YAMLNode) -> Kind? {
        guard let word = node.scalar, let kind = Kind(rawValue: word) else {
            report(node, field: "kind", "kind: '\(describe(node))' is not one of emergency, rumor-rebuttal, policy, routine")
            return nil
        }
        return kind
    }

    private mutating func readTier(_ node: YAMLNode) -> Tier? {
        guard let word = node.scalar, let tier = Tier(name: word) else {
            report(node, field: "tier", "tier: '\(describe(node))' is not one of village, township, county")
            return nil
        }
        return tier
    }

    private mutating func timeZone(_ node: YAMLNode) -> TimeZone? {
        guard let word = node.scalar, !word.isEmpty, word.count <= 100, ScheduleText.firstForbidden(in: word) == nil,
            let zone = TimeZone(identifier: word)
        else {
            report(node, field: "timezone", "timezone: '\(describe(node))' is not a time zone name such as Asia/Shanghai")
            return nil
        }
        return zone
    }

    /// Text, not a list or mapping, and not blank.
    private mutating func text(_ node: YAMLNode, key: String) -> String? {
        guard let value = node.scalar else {
            report(node, field: key, "\(key): expected text")
            return nil
        }
        guard !ScheduleText.isBlank(value) else {
            report(node, field: key, "\(key): is empty")
            return nil
        }
        return value
    }

    /// One line of display text, as the API takes titles and ids: no control, format or bidi characters, at most `maximum`.
    private mutating func line(_ node: YAMLNode, key: String, maximum: Int) -> String? {
        guard let value = text(node, key: key) else { return nil }
        if let bad = ScheduleText.firstForbidden(in: value) {
            report(node, field: key, "\(key): may not contain \(ScheduleText.name(of: bad)) ('\(ScheduleText.echo(value))')")
            return nil
        }
        if value.count > maximum {
            report(node, field: key, "\(key): is longer than \(maximum) characters")
            return nil
        }
        return value
    }

    /// Words to speak: line breaks and tabs are allowed, other control and format characters are not.
    private mutating func spokenText(_ node: YAMLNode) -> String? {
        guard let value = text(node, key: "text") else { return nil }
        if let bad = ScheduleText.firstForbidden(in: value, allowingLineBreaks: true) {
            report(node, field: "text", "text: may not contain \(ScheduleText.name(of: bad)) ('\(ScheduleText.echo(value))')")
            return nil
        }
        if value.count > ScheduleParser.maximumTextLength {
            report(node, field: "text", "text: is longer than \(ScheduleParser.maximumTextLength) characters")
            return nil
        }
        return value
    }

    private mutating func audioFiles(_ node: YAMLNode) -> [String] {
        var files: [String] = []
        for item in nonEmptyList(node, key: "audio") {
            guard let name = line(item, key: "audio", maximum: ScheduleParser.maximumAudioNameLength) else { continue }
            switch audioProblem(name) {
            case .outside(let reason)?:
                report(item, field: "audio", "audio: \(reason)")
            case let problem?:
                report(item, field: "audio", "audio: '\(name)' (\(resolve(name, in: defaults.audioDirectory))) \(problem)")
            case nil:
                break
            }
            files.append(name)
        }
        return files
    }

    private mutating func readTimes(_ node: YAMLNode) -> [TimeOfDay] {
        var times: [TimeOfDay] = []
        var seen = Set<Int>()
        for item in nonEmptyList(node, key: "times") {
            guard let word = item.scalar, let time = TimeOfDay(word) else {
                report(item, field: "times", "times: '\(describe(item))' is not a time of day (HH:MM, from 00:00 to 23:59)")
                continue
            }
            if seen.insert(time.minuteOfDay).inserted {
                times.append(time)
            } else {
                report(item, field: "times", "times: \(time) is listed twice")
            }
        }
        return times
    }

    private mutating func date(_ node: YAMLNode, key: String) -> LocalDate? {
        let word = node.scalar ?? ""
        guard let (year, month, day) = LocalDate.fields(word) else {
            report(node, field: key, "\(key): '\(describe(node))' is not a date (YYYY-MM-DD)")
            return nil
        }
        guard ScheduleParser.years.contains(year) else {
            report(
                node, field: key,
                "\(key): \(word) has the year \(year), outside \(ScheduleParser.years.lowerBound)–\(ScheduleParser.years.upperBound)")
            return nil
        }
        guard let date = LocalDate(year: year, month: month, day: day) else {
            let reason =
                (1...12).contains(month)
                ? "\(year)-\(month < 10 ? "0" : "")\(month) has \(LocalDate.daysIn(year: year, month: month)) days"
                : "there is no month \(month)"
            report(node, field: key, "\(key): \(word) does not exist: \(reason)")
            return nil
        }
        return date
    }

    private mutating func integer(_ node: YAMLNode, key: String, range: ClosedRange<Int>, rangeText: String) -> Int? {
        guard let word = node.scalar, word.count <= 20, let value = Int(word), range.contains(value) else {
            report(node, field: key, "\(key): '\(describe(node))' is not a whole number from \(rangeText)")
            return nil
        }
        return value
    }

    /// Seconds written as a plain decimal number within `range`; `1e308`, `inf`, `nan` and `0x10` are refused.
    private mutating func seconds(_ node: YAMLNode, key: String, range: ClosedRange<Double>) -> Double? {
        let rangeText = "from \(Int(range.lowerBound)) to \(Int(range.upperBound))"
        guard let word = node.scalar, !word.isEmpty, word.count <= 20,
            word.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let value = Double(word)
        else {
            report(node, field: key, "\(key): '\(describe(node))' is not a number of seconds (\(rangeText))")
            return nil
        }
        guard range.contains(value) else {
            report(node, field: key, "\(key): \(word) seconds is out of range (\(rangeText))")
            return nil
        }
        return value
    }

    /// Whole numbers from a list, each checked by `problem`, which returns a message for a bad one.
    private mutating func numbers(_ node: YAMLNode, key: String, problem: (Int) -> String?) -> [Int] {
        var values: [Int] = []
        for item in nonEmptyList(node, key: key) {
            guard let word = item.scalar, word.count <= 20, let value = Int(word) else {
                report(item, field: key, "\(key): '\(describe(item))' is not a whole number")
                continue
            }
            if let message = problem(value) {
                report(item, field: key, "\(key): \(message)")
            } else if values.contains(value) {
                report(item, field: key, "\(key): \(value) is listed twice")
            } else {
                values.append(value)
            }
        }
        return values
    }

    /// A list, or one value standing for a list of one, as people write `times: "08:00"`.
    private func list(_ node: YAMLNode) -> [YAMLNode] {
        if case .sequence(let sequence, _) = node { return sequence }
        return [node]
    }

    private mutating func nonEmptyList(_ node: YAMLNode, key: String) -> [YAMLNode] {
        let items = list(node)
        if items.isEmpty || (items.count == 1 && items[0].scalar?.isEmpty == true) {
            report(node, field: key, "\(key): is empty")
            return []
        }
        return items
    }

    // MARK: - Reporting

    /// What a node says, safe to quote: text with control characters escaped, or what kind of node it is.
    private func describe(_ node: YAMLNode) -> String {
        switch node {
        case .scalar(let text, _): ScheduleText.echo(text)
        case .sequence: "a list"
        case .mapping: "a mapping"
        }
    }

    private mutating func report(_ node: YAMLNode?, field: String? = nil, _ message: String) {
        problems.append(ScheduleProblem(file: file, line: node?.mark.line ?? 1, column: node?.mark.column, field: field, message: message))
    }

    private mutating func report(line: Int, column: Int? = nil, _ message: String) {
        problems.append(ScheduleProblem(file: file, line: line, column: column, message: message))
    }

    private mutating func unknownKey(_ key: YAMLNode, known: [String]) {
        let word = key.scalar.map { ScheduleText.echo($0) } ?? describe(key)
        // Suggestions only for words short enough to be a typo: the distance costs their length times the key's.
        let close = word.count > 40 ? nil : known.map { ($0, editDistance($0, word)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }
        report(
            key, field: key.scalar.map { ScheduleText.echo($0, limit: 40) },
            "unknown key '\(word)'" + (close.map { " (did you mean '\($0.0)'?)" } ?? ""))
    }
}

/// Levenshtein distance, for suggesting the key an operator meant.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var previous = Array(0...b.count)
    var current = previous
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
