import DalabaCore
import DalabaIntake
import Foundation

/// The upload directory's side of a multipart upload: the `audio` part is written to a new file as it arrives, and the
/// free space of the file system is watched while it grows, so a full disk is a clear 507 and never a half-written file.
final class UploadFile: MultipartIntake.FileSink {
    let directory: String
    let minimumFreeBytes: Int
    private(set) var path: String?
    private(set) var filename: String?
    private var handle: FileHandle?
    private var written = 0
    private var pending = Data()
    /// Bytes of audio stored.
    var byteCount: Int { written }
    private var sinceCheck = 0
    /// Set when the refusal is the disk's fault (507), not the client's (400/413).
    private(set) var diskFull = false

    init(directory: String, minimumFreeBytes: Int) {
        self.directory = directory
        self.minimumFreeBytes = minimumFreeBytes
    }

    /// Bytes free on the upload directory's file system, nil if it cannot be told.
    static func freeBytes(at directory: String) -> Int? {
        (try? FileManager.default.attributesOfFileSystem(forPath: directory))?[.systemFreeSize].flatMap { ($0 as? NSNumber)?.intValue }
    }

    func begin(_ part: MultipartIntake.Part) throws(StationAPI.Failure) {
        filename = part.filename
        let ext = ((part.filename ?? "") as NSString).pathExtension.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(8)
        let stored = "\(directory)/\(UUID().uuidString.lowercased())\(ext.isEmpty ? "" : ".\(ext)")"
        guard FileManager.default.createFile(atPath: stored, contents: nil), let handle = FileHandle(forWritingAtPath: stored) else {
            diskFull = true
            throw StationAPI.Failure(error: "the upload could not be stored in the station's upload directory", field: "audio")
        }
        path = stored
        self.handle = handle
    }

    func write(_ chunk: ByteBuffer) throws(StationAPI.Failure) {
        guard let handle else { return }
        sinceCheck += chunk.readableBytes
        if sinceCheck >= 1 << 20 {
            sinceCheck = 0
            if let free = Self.freeBytes(at: directory), free < minimumFreeBytes { throw full() }
        }
        // Gathered into writes of 256 KiB: the parser hands over one run of bytes between CRs at a time, which can be tiny.
        pending.append(contentsOf: chunk.readableBytesView)
        written += chunk.readableBytes
        if pending.count >= 256 << 10 { try flush() }
    }

    private func flush() throws(StationAPI.Failure) {
        guard let handle, !pending.isEmpty else { return }
        do {
            try handle.write(contentsOf: pending)
        } catch {
            throw full()
        }
        pending.removeAll(keepingCapacity: true)
    }

    private func full() -> StationAPI.Failure {
        diskFull = true
        return StationAPI.Failure(error: "the station's disk is too full to store this upload", field: "audio")
    }

    /// Closes the file; the upload is complete.
    func close() throws(StationAPI.Failure) {
        try flush()
        guard let handle else { return }
        self.handle = nil
        do {
            try handle.close()
        } catch {
            throw full()
        }
    }

    /// Closes and deletes whatever was written: the request was refused.
    func discard() {
        try? handle?.close()
        handle = nil
        if let path { try? FileManager.default.removeItem(atPath: path) }
        path = nil
    }
}
