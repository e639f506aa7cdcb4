import Foundation

/// The plain-build stand-in for libFuzzer's driver, shared by every fuzz target: runs `fuzzOne` over every file named on
/// the command line (directories recursively, in name order). `Running:` goes out before each input so that a trap
/// names the file that caused it.
public enum FuzzReplay {
    public static func run(_ fuzzOne: (UnsafePointer<UInt8>, Int) -> CInt) {
        let files = CommandLine.arguments.dropFirst().flatMap(inputFiles)
        for file in files {
            FileHandle.standardError.write(Data("Running: \(file)\n".utf8))
            guard let bytes = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                exit(2)
            }
            _ = bytes.withUnsafeBytes { buffer in
                let base = buffer.bindMemory(to: UInt8.self).baseAddress ?? UnsafePointer(bitPattern: 1)!
                return fuzzOne(base, buffer.count)
            }
        }
        print("Executed \(files.count) inputs")
    }

    static func inputFiles(_ path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return [path] }
        let names = FileManager.default.subpaths(atPath: path) ?? []
        return names.sorted().map { path + "/" + $0 }.filter { file in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }
}
