internal import CYaml

/// Where a node starts in its file: 1-based line and column (columns count characters, as editors do).
struct YAMLMark: Sendable, Hashable {
    var line: Int
    var column: Int
}

/// A YAML node as a schedule needs it: scalars keep their raw text (no YAML 1.1 typing: `08:00` stays text, `no` stays
/// `no`), every node keeps its mark, and an alias is the node its anchor names (shared, never copied).
enum YAMLNode: Sendable {
    case scalar(String, YAMLMark)
    case sequence([YAMLNode], YAMLMark)
    case mapping([YAMLPair], YAMLMark)

    var scalar: String? {
        if case .scalar(let text, _) = self { return text }
        return nil
    }

    var mark: YAMLMark {
        switch self {
        case .scalar(_, let mark), .sequence(_, let mark), .mapping(_, let mark): mark
        }
    }

    /// The same node at another place; its contents are shared, not copied.
    func moved(to mark: YAMLMark) -> YAMLNode {
        switch self {
        case .scalar(let text, _): .scalar(text, mark)
        case .sequence(let items, _): .sequence(items, mark)
        case .mapping(let pairs, _): .mapping(pairs, mark)
        }
    }
}

struct YAMLPair: Sendable {
    var key: YAMLNode
    var value: YAMLNode
}

/// A problem found while reading the YAML itself, at the line an operator has to look at.
struct YAMLProblem: Error, Sendable, Hashable {
    var line: Int
    var column: Int?
    var message: String
}

/// Composes one YAML document from libyaml's event stream, checking `ScheduleLimits` on every event, before any tree
/// is built: the depth, the aliases and what they expand to, and the time.
///
/// Yams' `compose` cannot be used on untrusted files: its duplicate-key check hashes every key node, and an alias used as a
/// key (`? *i : 1`) is hashed through all of its expansion, 9^9 scalars for nine levels of nine aliases. Here keys are
/// compared by their text only, each alias costs what its anchor's expanded size says in constant time, and libyaml's
/// own marks give syntax errors the line of the construct that is left open (an unclosed `[` or quote), not the line
/// where the parser noticed.
struct YAMLReader {
    /// Everything the document held, or the problem that stopped reading it; `problems` are those it read past
    /// (duplicate keys), which still make the file invalid.
    struct Result {
        var root: YAMLNode?
        var problems: [YAMLProblem]
    }

    let limits: ScheduleLimits
    let budget: ReadingBudget

    /// How many events pass between two looks at the clock.
    static let budgetInterval = 256

    func read(_ text: String) -> Result {
        let events = EventStream(text)
        var problems: [YAMLProblem] = []
        do {
            let root = try compose(events, problems: &problems)
            return Result(root: root, problems: problems)
        } catch {
            problems.append(error)
            return Result(root: nil, problems: problems)
        }
    }

    // MARK: - Composing

    /// An open collection and what has been read into it so far.
    private struct Frame {
        var isMapping: Bool
        var mark: YAMLMark
        var anchor: String?
        var items: [YAMLNode] = []
        var pairs: [YAMLPair] = []
        var pendingKey: YAMLNode?
        /// Key text to the line it is on, built once a mapping has more keys than a linear search handles well.
        var index: [String: Int]?
        /// This collection's nodes with every alias in it expanded: what the anchor costs each time it is used.
        var weight = 1

        var node: YAMLNode { isMapping ? .mapping(pairs, mark) : .sequence(items, mark) }

        /// The line of an earlier key with the same text, if there is one; remembers this key otherwise.
        mutating func earlierLine(ofKey text: String, line: Int) -> Int? {
            if index == nil, pairs.count < 16 {
                return pairs.first { $0.key.scalar == text }?.key.mark.line
            }
            if index == nil {
                var built: [String: Int] = [:]
                for pair in pairs { if let key = pair.key.scalar, built[key] == nil { built[key] = pair.key.mark.line } }
                index = built
            }
            if let first = index?[text] { return first }
            index?[text] = line
            return nil
        }
    }

    private func compose(_ events: EventStream, problems: inout [YAMLProblem]) throws(YAMLProblem) -> YAMLNode? {
        var anchors: [String: (node: YAMLNode, weight: Int)] = [:]
        var stack: [Frame] = []
        var root: YAMLNode?
        var documents = 0
        var aliases = 0
        var nodes = 0
        var count = 0

        while true {
            count += 1
            if count % Self.budgetInterval == 0, let reason = budget.stopReason() {
                throw YAMLProblem(line: events.line, column: nil, message: reason)
            }
            let event = try events.next()
            let node: YAMLNode
            let weight: Int
            var anchor: String?
            switch event {
            case .streamEnd:
                return root
            case .streamStart, .documentEnd:
                continue
            case .documentStart(let mark):
                documents += 1
                if documents > 1 {
                    throw YAMLProblem(
                        line: mark.line, column: mark.column, message: "a second YAML document ('---'): a schedule file holds one document")
                }
                continue
            case .alias(let name, let mark):
                aliases += 1
                if aliases > limits.maxAliases {
                    throw YAMLProblem(
                        line: mark.line, column: mark.column, message: "more than \(limits.maxAliases) aliases (*name) in one file: refused")
                }
                guard let anchored = anchors[name] else {
                    throw YAMLProblem(line: mark.line, column: mark.column, message: "alias '*\(name)' names no anchor '&\(name)' above it")
                }
                nodes += anchored.weight
                if nodes > limits.maxNodes {
                    throw YAMLProblem(
                        line: mark.line, column: mark.column,
                        message: "aliases expand this file beyond \(limits.maxNodes) nodes (here '*\(name)' stands for \(anchored.weight)): "
                            + "refused, as an alias bomb would be")
                }
                // The node its anchor names, at the alias's own place, so a problem with it is reported where it is used.
                (node, weight) = (anchored.node.moved(to: mark), anchored.weight)
            case .scalar(let text, let name, let mark):
                nodes += 1
                try checkNodes(nodes, at: mark)
                (node, weight, anchor) = (.scalar(text, mark), 1, name)
            case .sequenceStart(let name, let mark), .mappingStart(let name, let mark):
                nodes += 1
                try checkNodes(nodes, at: mark)
                if stack.count >= limits.maxDepth {
                    throw YAMLProblem(
                        line: mark.line, column: mark.column, message: "lists and mappings nested deeper than \(limits.maxDepth) levels: refused")
                }
                var isMapping = false
                if case .mappingStart = event { isMapping = true }
                stack.append(Frame(isMapping: isMapping, mark: mark, anchor: name))
                continue
            case .sequenceEnd, .mappingEnd:
                let frame = stack.removeLast()
                (node, weight, anchor) = (frame.node, frame.weight, frame.anchor)
            }
            if let anchor { anchors[anchor] = (node, weight) }
            guard !stack.isEmpty else {
                root = node
                continue
            }
            let top = stack.count - 1
            stack[top].weight += weight
            if !stack[top].isMapping {
                stack[top].items.append(node)
            } else if let key = stack[top].pendingKey {
                stack[top].pairs.append(YAMLPair(key: key, value: node))
                stack[top].pendingKey = nil
            } else {
                if let text = node.scalar, let first = stack[top].earlierLine(ofKey: text, line: node.mark.line) {
                    problems.append(
                        YAMLProblem(
                            line: node.mark.line, column: node.mark.column,
                            message: "key '\(ScheduleText.echo(text))' given twice in one mapping (first at line \(first))"))
                }
                stack[top].pendingKey = node
            }
        }
    }

    private func checkNodes(_ nodes: Int, at mark: YAMLMark) throws(YAMLProblem) {
        if nodes > limits.maxNodes {
            throw YAMLProblem(line: mark.line, column: mark.column, message: "more than \(limits.maxNodes) nodes in one file: refused")
        }
    }
}

// MARK: - libyaml

/// One libyaml parser over a private copy of the text; the C handle and the copy are freed together in `deinit`.
private final class EventStream {
    enum Event {
        case streamStart, streamEnd, documentEnd
        case documentStart(YAMLMark)
        case alias(String, YAMLMark)
        case scalar(String, anchor: String?, YAMLMark)
        case sequenceStart(anchor: String?, YAMLMark)
        case sequenceEnd
        case mappingStart(anchor: String?, YAMLMark)
        case mappingEnd
    }

    private let parser: UnsafeMutablePointer<yaml_parser_t>
    private let bytes: UnsafeMutableBufferPointer<UInt8>
    private let length: Int
    /// The line of the last event read, for a budget that runs out between events.
    private(set) var line = 1

    init(_ text: String) {
        length = text.utf8.count
        bytes = .allocate(capacity: max(1, length))
        _ = bytes.initialize(from: text.utf8)
        parser = .allocate(capacity: 1)
        yaml_parser_initialize(parser)
        yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING)
        yaml_parser_set_input_string(parser, bytes.baseAddress, length)
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
        bytes.deallocate()
    }

    func next() throws(YAMLProblem) -> Event {
        var event = yaml_event_t()
        guard yaml_parser_parse(parser, &event) == 1 else { throw problem() }
        defer { yaml_event_delete(&event) }
        let mark = YAMLMark(line: event.start_mark.line + 1, column: event.start_mark.column + 1)
        line = mark.line
        switch event.type {
        case YAML_STREAM_START_EVENT: return .streamStart
        case YAML_STREAM_END_EVENT: return .streamEnd
        case YAML_DOCUMENT_START_EVENT: return .documentStart(mark)
        case YAML_DOCUMENT_END_EVENT: return .documentEnd
        case YAML_ALIAS_EVENT: return .alias(Self.text(event.data.alias.anchor) ?? "", mark)
        case YAML_SCALAR_EVENT:
            let buffer = UnsafeBufferPointer(start: event.data.scalar.value, count: event.data.scalar.length)
            // libyaml hands out valid UTF-8, so validation succeeds on its fast path; decoding with repairs is only a fallback.
            let value = String(validating: buffer, as: UTF8.self) ?? String(decoding: buffer, as: UTF8.self)
            return .scalar(value, anchor: Self.text(event.data.scalar.anchor), mark)
        case YAML_SEQUENCE_START_EVENT: return .sequenceStart(anchor: Self.text(event.data.sequence_start.anchor), mark)
        case YAML_SEQUENCE_END_EVENT: return .sequenceEnd
        case YAML_MAPPING_START_EVENT: return .mappingStart(anchor: Self.text(event.data.mapping_start.anchor), mark)
        case YAML_MAPPING_END_EVENT: return .mappingEnd
        default: throw YAMLProblem(line: mark.line, column: mark.column, message: "not valid YAML: an event libyaml does not document")
        }
    }

    private static func text(_ pointer: UnsafeMutablePointer<UInt8>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: pointer)
    }

    /// libyaml's error at the line that needs the edit: an unclosed bracket, quote or key is reported where it opens,
    /// with the place the parser noticed it named in the message.
    private func problem() -> YAMLProblem {
        let state = parser.pointee
        let problem = state.problem.map { String(cString: $0) } ?? "unknown error"
        let context = state.context.map { String(cString: $0) }
        let problemMark = YAMLMark(line: state.problem_mark.line + 1, column: state.problem_mark.column + 1)
        let contextMark = YAMLMark(line: state.context_mark.line + 1, column: state.context_mark.column + 1)
        switch state.error {
        case YAML_MEMORY_ERROR:
            return YAMLProblem(line: line, column: nil, message: "not valid YAML: libyaml ran out of memory")
        case YAML_READER_ERROR:
            let (line, column) = position(ofByte: state.problem_offset)
            if state.problem_value >= 0, problem.hasPrefix("control characters") {
                let code = String(state.problem_value, radix: 16, uppercase: true)
                let padded = String(repeating: "0", count: max(0, 4 - code.count)) + code
                return YAMLProblem(
                    line: line, column: column,
                    message: "control character U+\(padded) is not allowed in a schedule file (write it out, or remove it)")
            }
            return YAMLProblem(line: line, column: column, message: "not valid YAML: \(problem)")
        default:
            guard let context else {
                return YAMLProblem(line: problemMark.line, column: problemMark.column, message: "not valid YAML: \(problem)")
            }
            let opensHere = [
                "while parsing a flow sequence", "while parsing a flow mapping", "while scanning a simple key", "while scanning a quoted scalar",
                "while parsing a flow node",
            ]
            if opensHere.contains(context), contextMark.line != problemMark.line {
                let what = Self.construct(context)
                return YAMLProblem(
                    line: contextMark.line, column: contextMark.column,
                    message: "not valid YAML: \(problem) (\(what) that starts here; noticed at line \(problemMark.line))")
            }
            return YAMLProblem(
                line: problemMark.line, column: problemMark.column, message: "not valid YAML: \(problem) (\(context) at line \(contextMark.line))")
        }
    }

    private static func construct(_ context: String) -> String {
        switch context {
        case "while parsing a flow sequence": "the '[' list"
        case "while parsing a flow mapping": "the '{' mapping"
        case "while scanning a simple key": "the key"
        case "while scanning a quoted scalar": "the quoted text"
        default: "the value"
        }
    }

    /// The 1-based line and column of a byte offset (libyaml's reader reports offsets, not marks).
    private func position(ofByte offset: Int) -> (Int, Int) {
        var line = 1
        var column = 1
        var index = 0
        let end = min(offset, length)
        while index < end {
            let byte = bytes[index]
            let crAlone = byte == UInt8(ascii: "\r") && (index + 1 >= length || bytes[index + 1] != UInt8(ascii: "\n"))
            if byte == UInt8(ascii: "\n") || crAlone {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
            index += 1
        }
        return (line, column)
    }
}
