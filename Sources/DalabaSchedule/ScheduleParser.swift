import DalabaCore
import Foundation
import Yams

/// Reads YAML schedule files into programmes, collecting every problem with its file and line instead of stopping.
///
/// It works on Yams' `Node` tree rather than `Decodable` because nodes carry their line and column, and because
/// reading raw scalar text avoids YAML 1.1's surprises (`08:00` as a base-60 number, `no` as false).
struct ScheduleParser {
    static let entryKeys = [
        "name", "title", "kind", "level", "audio", "text", "times", "days", "weekdays", "days-of-month", "lunar-days",
        "from", "until", "except", "repeat", "repeat-interval", "timezone", "tier", "grace",
    ]
    static let fileKeys = ["programmes", "timezone"]
    static let dayRuleKeys = ["days", "weekdays", "days-of-month", "lunar-days"]

    let defaults: ScheduleDefaults
    let audioProblem: (String) -> AudioProblem?
    private(set) var problems: [ScheduleProblem] = []
    private(set) var programmes: [Programme] = []
    private var names: [String: (file: String, line: Int)] = [:]
    private var file = ""

    init(defaults: ScheduleDefaults, audioProblem: @escaping (String) -> AudioProblem?) {
        self.defaults = defaults
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
        let root: Node?
        do {
            root = try Yams.compose(yaml: source.contents)
        } catch let error as YamlError {
            syntaxProblem(error)
            return
        } catch {
            report(line: 1, "\(error)")
            return
        }
        guard let root, case .mapping(let mapping) = root else {
            report(root, "expected a top-level 'programmes:' list")
            return
        }
        var zone = defaults.timeZone
        var list: Node?
        for (key, value) in mapping {
            switch key.scalar?.string {
            case "programmes": list = value
            case "timezone": zone = timeZone(value) ?? zone
            default: unknownKey(key, known: ScheduleParser.fileKeys)
            }
        }
        guard let list else {
            report(root, "missing the top-level 'programmes:' list")
            return
        }
        guard case .sequence(let entries) = list else {
            report(list, "programmes: expected a list of programmes")
            return
        }
        for entry in entries { parseEntry(entry, zone: zone) }
    }

    // MARK: - One programme

    private mutating func parseEntry(_ entry: Node, zone fileZone: TimeZone) {
        guard case .mapping(let mapping) = entry else {
            report(entry, "expected a programme (a mapping with name, kind, times, …)")
            return
        }
        let before = problems.count
        var fields: [String: (key: Node, value: Node)] = [:]
        for (key, value) in mapping {
            guard let name = key.scalar?.string, ScheduleParser.entryKeys.contains(name) else {
                unknownKey(key, known: ScheduleParser.entryKeys)
                continue
            }
            fields[name] = (key, value)
        }

        let name = fields["name"].flatMap { programmeName($0.value) }
        if fields["name"] == nil { report(entry, "missing 'name'") }
        let title = fields["title"].flatMap { text($0.value, key: "title") }
        let kind = fields["kind"].flatMap { readKind($0.value) }
        if fields["kind"] == nil { report(entry, "missing 'kind' (emergency, rumor-rebuttal, policy or routine)") }
        let level = fields["level"].flatMap { integer($0.value, key: "level", range: 1...4, rangeText: "1 to 4") }
        if kind == .emergency, fields["level"] == nil, let kindNode = fields["kind"]?.value {
            report(kindNode, "an emergency needs 'level' (1 to 4)")
        }
        if let kind, kind != .emergency, let levelNode = fields["level"]?.value {
            report(levelNode, "level: only an emergency has a level, not \(kind.rawValue)")
        }
        let audio = fields["audio"].map { audioFiles($0.value) } ?? []
        let spoken = fields["text"].flatMap { text($0.value, key: "text") }
        if fields["audio"] == nil && fields["text"] == nil { report(entry, "missing 'audio' or 'text'") }
        let times = fields["times"].map { readTimes($0.value) } ?? []
        if fields["times"] == nil { report(entry, "missing 'times' (a list of HH:MM)") }
        let days = dayRule(fields, entry: entry)
        let from = fields["from"].flatMap { date($0.value, key: "from") }
        let until = fields["until"].flatMap { date($0.value, key: "until") }
        if let from, let until, from > until, let node = fields["until"]?.value {
            report(node, "until: \(until) is before from \(from): the programme would never run")
        }
        let except = fields["except"].map { list($0.value).compactMap { date($0, key: "except") } } ?? []
        let repeatCount = fields["repeat"].flatMap { integer($0.value, key: "repeat", range: 1...1000, rangeText: "1 to 1000") }
        let interval = fields["repeat-interval"].flatMap { seconds($0.value, key: "repeat-interval") }
        let zone = fields["timezone"].flatMap { timeZone($0.value) } ?? fileZone
        let tier = fields["tier"].flatMap { readTier($0.value) }
        let grace = fields["grace"].flatMap { seconds($0.value, key: "grace") }

        if let name, let nameNode = fields["name"]?.value {
            if let first = names[name] {
                report(nameNode, "name: '\(name)' is already used at \(first.file):\(first.line); names must be unique")
            } else {
                names[name] = (file, line(nameNode))
            }
        }
        guard problems.count == before, let name, let kind, let days, !times.isEmpty else { return }
        programmes.append(
            Programme(
                name: name, title: title ?? name, kind: kind, level: level, audio: audio, text: spoken, times: times, days: days,
                from: from, until: until, except: Set(except), repeatCount: repeatCount ?? 1, repeatInterval: interval ?? 0,
                timeZone: zone, tier: tier ?? defaults.tier, grace: grace ?? defaults.grace, file: file, line: line(entry)
            )
        )
    }

    private mutating func dayRule(_ fields: [String: (key: Node, value: Node)], entry: Node) -> DayRule? {
        let given = ScheduleParser.dayRuleKeys.filter { fields[$0] != nil }
        guard let ruleKey = given.first, let node = fields[ruleKey]?.value else {
            report(entry, "missing a days rule: one of 'days: daily', 'weekdays', 'days-of-month' or 'lunar-days'")
            return nil
        }
        if given.count > 1, let second = fields[given[1]]?.key {
            report(second, "only one days rule per programme, but both '\(given[0])' and '\(given[1])' are given")
            return nil
        }
        switch ruleKey {
        case "days":
            guard node.scalar?.string == "daily" else {
                report(node, "days: expected 'daily' (use 'weekdays', 'days-of-month' or 'lunar-days' for other days)")
                return nil
            }
            return .daily
        case "weekdays":
            let items = nonEmptyList(node, key: "weekdays")
            var days: [Weekday] = []
            for item in items {
                guard let word = item.scalar?.string, let day = Weekday(name: word) else {
                    report(item, "weekdays: '\(describe(item))' is not a weekday (mon, tue, wed, thu, fri, sat, sun)")
                    continue
                }
                if days.contains(day) { report(item, "weekdays: '\(word)' is listed twice") } else { days.append(day) }
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

    private mutating func programmeName(_ node: Node) -> String? {
        guard let name = text(node, key: "name") else { return nil }
        guard name.count <= 120, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            report(node, "name: '\(name)' may hold only letters, digits, '-', '_' and '.' (at most 120), as it names every slot")
            return nil
        }
        return name
    }

    private mutating func readKind(_ node: Node) -> Kind? {
        guard let word = node.scalar?.string, let kind = Kind(rawValue: word) else {
            report(node, "kind: '\(describe(node))' is not one of emergency, rumor-rebuttal, policy, routine")
            return nil
        }
        return kind
    }

    private mutating func readTier(_ node: Node) -> Tier? {
        guard let word = node.scalar?.string, let tier = Tier(name: word) else {
            report(node, "tier: '\(describe(node))' is not one of village, township, county")
            return nil
        }
        return tier
    }

    private mutating func timeZone(_ node: Node) -> TimeZone? {
        guard let word = node.scalar?.string, !word.isEmpty, let zone = TimeZone(identifier: word) else {
            report(node, "timezone: '\(describe(node))' is not a time zone name such as Asia/Shanghai")
            return nil
        }
        return zone
    }

    private mutating func text(_ node: Node, key: String) -> String? {
        guard let value = node.scalar?.string else {
            report(node, "\(key): expected text")
            return nil
        }
        guard !value.trimmingCharacters(in: .whitespaces).isEmpty else {
            report(node, "\(key): is empty")
            return nil
        }
        return value
    }

    private mutating func audioFiles(_ node: Node) -> [String] {
        var files: [String] = []
        for item in nonEmptyList(node, key: "audio") {
            guard let name = text(item, key: "audio") else { continue }
            let path = resolve(name, in: defaults.audioDirectory)
            if let problem = audioProblem(path) { report(item, "audio: '\(name)' (\(path)) \(problem)") }
            files.append(name)
        }
        return files
    }

    private mutating func readTimes(_ node: Node) -> [TimeOfDay] {
        var times: [TimeOfDay] = []
        for item in nonEmptyList(node, key: "times") {
            guard let word = item.scalar?.string, let time = TimeOfDay(word) else {
                report(item, "times: '\(describe(item))' is not a time of day (HH:MM, from 00:00 to 23:59)")
                continue
            }
            if times.contains(time) { report(item, "times: \(time) is listed twice") } else { times.append(time) }
        }
        return times
    }

    private mutating func date(_ node: Node, key: String) -> LocalDate? {
        let word = node.scalar?.string ?? ""
        guard let (year, month, day) = LocalDate.fields(word) else {
            report(node, "\(key): '\(describe(node))' is not a date (YYYY-MM-DD)")
            return nil
        }
        guard let date = LocalDate(year: year, month: month, day: day) else {
            let reason =
                (1...12).contains(month)
                ? "\(year)-\(month < 10 ? "0" : "")\(month) has \(LocalDate.daysIn(year: year, month: month)) days"
                : "there is no month \(month)"
            report(node, "\(key): \(word) does not exist: \(reason)")
            return nil
        }
        return date
    }

    private mutating func integer(_ node: Node, key: String, range: ClosedRange<Int>, rangeText: String) -> Int? {
        guard let word = node.scalar?.string, let value = Int(word), range.contains(value) else {
            report(node, "\(key): '\(describe(node))' is not a whole number from \(rangeText)")
            return nil
        }
        return value
    }

    private mutating func seconds(_ node: Node, key: String) -> Double? {
        guard let word = node.scalar?.string, let value = Double(word), value.isFinite, value >= 0 else {
            report(node, "\(key): '\(describe(node))' is not a number of seconds (0 or more)")
            return nil
        }
        return value
    }

    /// Whole numbers from a list, each checked by `problem`, which returns a message for a bad one.
    private mutating func numbers(_ node: Node, key: String, problem: (Int) -> String?) -> [Int] {
        var values: [Int] = []
        for item in nonEmptyList(node, key: key) {
            guard let word = item.scalar?.string, let value = Int(word) else {
                report(item, "\(key): '\(describe(item))' is not a whole number")
                continue
            }
            if let message = problem(value) {
                report(item, "\(key): \(message)")
            } else if values.contains(value) {
                report(item, "\(key): \(value) is listed twice")
            } else {
                values.append(value)
            }
        }
        return values
    }

    /// A list, or one value standing for a list of one, as people write `times: "08:00"`.
    private func list(_ node: Node) -> [Node] {
        if case .sequence(let sequence) = node { return Array(sequence) }
        return [node]
    }

    private mutating func nonEmptyList(_ node: Node, key: String) -> [Node] {
        let items = list(node)
        if items.isEmpty || (items.count == 1 && items[0].scalar?.string.isEmpty == true) {
            report(node, "\(key): is empty")
            return []
        }
        return items
    }

    // MARK: - Reporting

    private func line(_ node: Node) -> Int { node.mark?.line ?? 1 }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): scalar.string
        case .sequence: "a list"
        case .mapping: "a mapping"
        case .alias: "an alias"
        }
    }

    private mutating func report(_ node: Node?, _ message: String) {
        problems.append(ScheduleProblem(file: file, line: node?.mark?.line ?? 1, column: node?.mark?.column, message: message))
    }

    private mutating func report(line: Int, column: Int? = nil, _ message: String) {
        problems.append(ScheduleProblem(file: file, line: line, column: column, message: message))
    }

    private mutating func unknownKey(_ key: Node, known: [String]) {
        let word = key.scalar?.string ?? describe(key)
        let close = known.map { ($0, editDistance($0, word)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }
        report(key, "unknown key '\(word)'" + (close.map { " (did you mean '\($0.0)'?)" } ?? ""))
    }

    private mutating func syntaxProblem(_ error: YamlError) {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
            report(line: mark.line, column: mark.column, "not valid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            report(line: context.mark.line, column: context.mark.column, "key \(keys) given twice in one mapping")
        case .reader(let problem, _, _, _):
            report(line: 1, "not valid YAML: \(problem)")
        default:
            report(line: 1, "not valid YAML: \(error)")
        }
    }
}

/// Levenshtein distance, for suggesting the key an operator meant.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
