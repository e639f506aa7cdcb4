import TOMLKit

/// One strict TOML configuration file, shared by the station (`dalaba.toml`) and the county head-end (`county.toml`): it is
/// decoded by TOMLKit's `TOMLDecoder` into `Decodable` section structs, with strict decoding as the one unknown-key check
/// (every key in the file must be one of the structs' coding keys), and every problem named by file and dotted key.
public struct ConfigurationFile {
    /// Why a configuration cannot be used: the file, then the line (syntax errors) or the dotted key, then the reason.
    public struct Invalid: Error, CustomStringConvertible, Equatable, Sendable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public let file: String
    public let table: TOMLTable
    /// Reasons to give instead of the generic "must be a string" when a key (dotted, as in `live.inputs`) or an element of
    /// it has the wrong type.
    public var typeReasons: [String: String] = [:]

    /// Parses `text`; a syntax error names the file and the line TOMLKit reports.
    public init(parsing text: String, file: String) throws(Invalid) {
        self.file = file
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw Invalid(description: "\(file):\(error.source.begin.line): \(error.description)")
        } catch {
            throw Invalid(description: "\(file): \(error)")
        }
    }

    /// An error naming `key` in this file.
    public func invalid(_ key: String, _ reason: String) -> Invalid { Invalid(description: "\(file): \(key): \(reason)") }

    /// Decodes the whole file as `T`. A key the structs do not declare is refused (TOMLKit's strict decoding); a value of
    /// the wrong type, or a required key that is absent, is refused naming the dotted key.
    public func decode<T: Decodable>(_ type: T.Type) throws(Invalid) -> T {
        do {
            return try TOMLDecoder(strictDecoding: true).decode(T.self, from: table)
        } catch let error as UnexpectedKeysError {
            let keys = error.keys.values.map(Self.dotted).sorted()
            throw invalid(
                keys.first ?? "?", keys.count == 1 ? "unknown key" : "unknown key (also unknown: \(keys.dropFirst().joined(separator: ", ")))")
        } catch let error as DecodingError {
            throw explain(error)
        } catch {
            throw Invalid(description: "\(file): \(error)")
        }
    }

    /// Turns TOMLKit's decoding error into the dotted key and what it must be.
    func explain(_ error: DecodingError) -> Invalid {
        let (path, expected): ([CodingKey], String)
        switch error {
        case .keyNotFound(let key, let context):
            // TOMLKit reports a value of the wrong type as "not found" too; its description names the type it wanted.
            let path = context.codingPath.last?.stringValue == key.stringValue ? context.codingPath : context.codingPath + [key]
            guard value(at: path) != nil else { return invalid(Self.dotted(path), "is missing") }
            let wanted = context.debugDescription.split(separator: "\"").dropFirst().first.map(String.init) ?? "?"
            return mismatch(at: path, expected: wanted)
        case .typeMismatch(let type, let context): (path, expected) = (context.codingPath, String(describing: type))
        case .valueNotFound(let type, let context): (path, expected) = (context.codingPath, String(describing: type))
        case .dataCorrupted(let context): return invalid(Self.dotted(context.codingPath), context.debugDescription)
        @unknown default: return Invalid(description: "\(file): \(error)")
        }
        return mismatch(at: path, expected: expected)
    }

    /// A value of the wrong type: the key's own reason from `typeReasons` (given for a list, it names the list, not the
    /// element), else what the type wants.
    func mismatch(at path: [CodingKey], expected: String) -> Invalid {
        var key = path
        while !key.isEmpty {
            if let reason = typeReasons[Self.dotted(key)] { return invalid(Self.dotted(key), reason) }
            guard key.last?.intValue != nil else { break }
            key.removeLast()
        }
        return invalid(Self.dotted(path), reason(for: path, expected: expected))
    }

    func reason(for path: [CodingKey], expected: String) -> String {
        switch expected {
        case "Int", "Int64", "Int32", "UInt": return "must be an integer"
        case "String": return "must be a string"
        case "Bool": return "must be true or false"
        case "Double", "Float", "TOMLNumber": return "must be a number"
        case "TOMLArray": return path.count == 1 ? "must be an array of tables ([[\(Self.dotted(path))]])" : "must be a list"
        case "TOMLTable": return path.count == 1 ? "must be a table ([\(Self.dotted(path))])" : "must be a table"
        default: return "must be \(expected)"
        }
    }

    /// The value at a decoding path, if the file has one there.
    func value(at path: [CodingKey]) -> TOMLValueConvertible? {
        var current: TOMLValueConvertible? = table
        for key in path {
            if let index = key.intValue {
                guard let array = current?.array, index < array.count else { return nil }
                current = array[index]
            } else {
                current = current?.table?[key.stringValue]
            }
        }
        return current
    }

    /// `cap.severity-levels.Extreme`, `tokens[1].role`: the key as an operator finds it in the file.
    static func dotted(_ path: [CodingKey]) -> String {
        path.reduce(into: "") { text, key in
            if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : ".\(key.stringValue)" }
        }
    }

    /// An integer key within `range`, or nil when absent.
    public func within(_ value: Int?, _ range: ClosedRange<Int>, _ key: String) throws(Invalid) -> Int? {
        guard let value else { return nil }
        guard range.contains(value) else { throw invalid(key, "\(value) is outside \(range.lowerBound)–\(range.upperBound)") }
        return value
    }

    /// A number key within `range`, or nil when absent.
    public func within(_ value: TOMLNumber?, _ range: ClosedRange<Double>, _ key: String) throws(Invalid) -> Double? {
        guard let value = value?.value else { return nil }
        guard range.contains(value) else { throw invalid(key, "\(value) is outside \(range.lowerBound)–\(range.upperBound)") }
        return value
    }
}

/// A TOML number: TOML keeps integers and decimals apart, but an operator who writes `warm-up = 2` means 2.0.
public struct TOMLNumber: Decodable, Sendable, Equatable {
    public var value: Double
    public init(_ value: Double) { self.value = value }
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let int = try? container.decode(Int.self) {
            value = Double(int)
        } else if let double = try? container.decode(Double.self) {
            value = double
        } else {
            throw DecodingError.typeMismatch(TOMLNumber.self, .init(codingPath: decoder.codingPath, debugDescription: "not a number"))
        }
    }
}
