import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// A run directory and everything in it: config.json, one checkpoint per epoch
/// (cp-0001.safetensors...), best.safetensors, history.csv, curves.svg and metrics.json.
///
/// Opening one takes an advisory lock (`flock` on `.lock` inside it) that is held until `close()`,
/// so a second process is refused at once instead of mixing its files with the first's. A new run
/// refuses a directory that holds anything; `.overwrite` removes the old run's files (and leaves
/// others, such as an index of features, in place), and `.resume` reads config.json and the last
/// checkpoint. Nothing in the directory changes until `begin(_:)`, which a run calls once its
/// checkpoint has loaded: a refused command changes nothing.
public final class RunDirectory {
  public enum Mode: String, Sendable { case new, overwrite, resume }

  public let url: URL
  public let mode: Mode
  private var lock: Int32 = -1
  /// Whether opening created the directory, or the lock file (removed again if the run never
  /// begins, so a refused or failed command leaves the directory as it found it).
  private let created: Bool
  private var createdLock = false
  private var begun = false

  /// The lock file's name. Once a run has begun it stays (removed while another process has it
  /// open, two processes could lock two different files of the same name); an opening that
  /// created it and never began removes it again, still holding the lock.
  public static let lockName = ".lock"

  /// Whether this is a data-parallel rank other than 0: it reads (config.json, the last
  /// checkpoint) but takes no lock and writes nothing; rank 0 holds the directory.
  public let isFollower: Bool

  /// The directory as a rank other than 0 sees it, once rank 0 has opened it.
  public init(following url: URL, mode: Mode) {
    (self.url, self.mode, created, isFollower) = (url, mode, false, true)
  }

  public init(_ url: URL, mode: Mode = .new) throws {
    (self.url, self.mode, isFollower) = (url, mode, false)
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: self.url.path, isDirectory: &isDirectory)
    if exists && !isDirectory.boolValue {
      throw FileError(self.url, "is a file, not a run directory")
    }
    if !exists && mode == .resume {
      throw FileError(self.url, "does not exist: --resume needs a run to continue")
    }
    if !exists { try Self.makeDirectories(self.url) }
    created = !exists
    do {
      try takeLock()
      try checkContents()
    } catch {
      close()
      throw error
    }
  }

  deinit { close() }

  // MARK: - Files

  public var configurationURL: URL { url.appendingPathComponent("config.json") }
  public var bestURL: URL { url.appendingPathComponent("best.safetensors") }
  public var historyURL: URL { url.appendingPathComponent("history.csv") }
  public var curvesURL: URL { url.appendingPathComponent("curves.svg") }
  public var metricsURL: URL { url.appendingPathComponent("metrics.json") }
  public func checkpointURL(epoch: Int) -> URL {
    url.appendingPathComponent(Checkpoint.fileName(epoch: epoch))
  }

  /// The checkpoints present, oldest first.
  public var checkpoints: [URL] {
    entries().filter(Self.isCheckpoint).sorted().map { url.appendingPathComponent($0) }
  }

  static func isCheckpoint(_ name: String) -> Bool {
    name.hasPrefix("cp-") && name.hasSuffix(".safetensors")
      && name.count == "cp-0000.safetensors".count
  }

  /// Whether a name is one a run writes (what `.overwrite` removes).
  static func isRunFile(_ name: String) -> Bool {
    ["config.json", "best.safetensors", "history.csv", "curves.svg", "metrics.json"].contains(name)
      || isCheckpoint(name)
  }

  /// A temporary file of `AtomicFile` (".cp-0003.safetensors.tmp-PID-N") left by a killed write.
  static func isStaleTemporary(_ name: String) -> Bool {
    name.hasPrefix(".") && name.contains(".tmp-")
  }

  func entries() -> [String] {
    (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
  }

  // MARK: - Reading a stored run

  /// config.json, decoded and validated.
  public func storedRecord() throws -> RunRecord {
    guard let data = FileManager.default.contents(atPath: configurationURL.path) else {
      throw FileError(
        configurationURL, "is missing or unreadable: --resume needs the run's config.json")
    }
    return try RunRecord(json: data, source: configurationURL.path)
  }

  /// The checkpoint a resumed run continues from, by file name ("cp-0003.safetensors"); nil for
  /// the last one.
  public var resumeFrom: String?

  /// The checkpoint to resume from (`resumeFrom`, or the last), read and checked. When the last
  /// one is unusable (truncated, NaN in a weight...), the error offers the newest earlier one that
  /// loads.
  public func lastCheckpoint() throws -> (url: URL, checkpoint: Checkpoint) {
    let all = checkpoints
    if let name = resumeFrom {
      guard let chosen = all.first(where: { $0.lastPathComponent == name }) else {
        let listed = all.suffix(3).map(\.lastPathComponent).joined(separator: ", ")
        throw FileError(
          url, "has no checkpoint \(name) to resume from (its last ones: \(listed))")
      }
      return (chosen, try Checkpoint(contentsOf: chosen))
    }
    guard let last = all.last else {
      throw FileError(url, "--resume found no cp-NNNN.safetensors to continue from")
    }
    do { return (last, try Checkpoint(contentsOf: last)) } catch {
      let reason = (error as? FileError).map(\.reason) ?? Self.reason(error)
      throw FileError(last, reason + Self.offer(all.dropLast()))
    }
  }

  /// "; resume from cp-0003.safetensors with --resume-from cp-0003.safetensors": the newest of
  /// the last few `earlier` checkpoints that loads (each load reads and checks the whole file).
  static func offer(_ earlier: ArraySlice<URL>) -> String {
    for candidate in earlier.suffix(5).reversed() {
      // Only a probe: the resumed run reads the file again, and reports what is wrong with it.
      guard (try? Checkpoint(contentsOf: candidate)) != nil else { continue }
      let name = candidate.lastPathComponent
      return "; resume from \(name) with --resume-from \(name)"
    }
    let tried = min(5, earlier.count)
    return tried == 0 ? "" : "; none of the \(tried) checkpoints before it loads either"
  }

  /// best.safetensors, read.
  public func loadBest() throws -> Checkpoint { try Checkpoint(contentsOf: bestURL) }

  // MARK: - Writing

  /// Starts writing: removes stale temporary files and, with `.overwrite`, the old run's files;
  /// then writes config.json.
  public func begin(_ record: RunRecord) throws {
    guard !isFollower else { return }
    for name in entries()
    where Self.isStaleTemporary(name) || (mode == .overwrite && !begun && Self.isRunFile(name)) {
      do { try FileManager.default.removeItem(at: url.appendingPathComponent(name)) } catch {
        throw FileError(
          url.appendingPathComponent(name), "cannot be removed: \(Self.reason(error))")
      }
    }
    begun = true
    try write(record, to: configurationURL)
  }

  /// metrics.json.
  public func writeMetrics(_ summary: RunSummary) throws {
    if !isFollower { try write(summary, to: metricsURL) }
  }

  func write<T: Encodable>(_ value: T, to file: URL) throws {
    let text: Data
    do { text = try JSONEncoder.runRecords().encode(value) } catch {
      throw FileError(file, "cannot be encoded: \(Self.reason(error))")
    }
    try AtomicFile.write(Array(text) + Array("\n".utf8), to: file)
  }

  /// Releases the lock; a directory this opening created and no run wrote to is removed again.
  public func close() {
    guard lock >= 0 else { return }
    if !begun && (created || createdLock) {
      // Only the holder of the lock gets here, so no other process is between open and flock
      // on this file with a chance to write.
      unlink(url.appendingPathComponent(Self.lockName).path)
      if created { rmdir(url.path) }
    }
    flock(lock, LOCK_UN)
    Glibc.close(lock)
    lock = -1
  }

  // MARK: - Opening

  private func takeLock() throws {
    let path = url.appendingPathComponent(Self.lockName).path
    lock = open(path, O_RDWR | O_CLOEXEC)
    if lock < 0 && errno == ENOENT {
      lock = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
      createdLock = lock >= 0
      // Another opening created it between the two calls: lock theirs.
      if lock < 0 && errno == EEXIST { lock = open(path, O_RDWR | O_CLOEXEC) }
    }
    guard lock >= 0 else {
      throw FileError(url, "cannot open its lock file: \(String(cString: strerror(errno)))")
    }
    let locked = flock(lock, LOCK_EX | LOCK_NB) == 0
    let busy = !locked && errno == EWOULDBLOCK
    // A lock on a file that a refused opening has just unlinked guards nothing: the name must
    // still lead to the locked file.
    var held = stat()
    var named = stat()
    guard locked, fstat(lock, &held) == 0, stat(path, &named) == 0,
      held.st_ino == named.st_ino && held.st_dev == named.st_dev
    else {
      let reason = String(cString: strerror(errno))
      Glibc.close(lock)
      lock = -1
      throw FileError(
        url,
        busy || locked
          ? "another process is using this run directory (it holds \(Self.lockName))"
          : "cannot lock \(Self.lockName): \(reason)")
    }
  }

  /// Refuses a directory that does not fit the mode, before anything is written.
  private func checkContents() throws {
    let present = entries().filter { $0 != Self.lockName && !Self.isStaleTemporary($0) }.sorted()
    switch mode {
    case .new where !present.isEmpty:
      let listed = present.prefix(3).joined(separator: ", ") + (present.count > 3 ? ", ..." : "")
      throw FileError(
        url,
        "is not empty (\(listed)); add --resume to continue its run or --overwrite to replace it")
    case .resume where !present.contains("config.json"):
      throw FileError(url, "has no config.json: there is no run here to resume")
    default: break
    }
  }

  /// `mkdir -p`, with the system's reason when it fails (Foundation's is a dictionary dump).
  static func makeDirectories(_ url: URL) throws {
    var path = ""
    for component in url.standardizedFileURL.path.split(separator: "/") {
      path += "/" + component
      guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
        throw FileError(url, "cannot create the run directory: \(String(cString: strerror(errno)))")
      }
    }
  }

  static func reason(_ error: any Error) -> String {
    (error as? LocalizedError)?.errorDescription ?? "\(error)"
  }

  /// A short reason for a decoding failure: the key that is missing or wrong, not the whole path.
  static func decodingProblem(_ error: any Error) -> String {
    switch error as? DecodingError {
    case .keyNotFound(let key, _): return "no \(key.stringValue)"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
      let key = context.codingPath.map(\.stringValue).joined(separator: ".")
      return key.isEmpty ? "not JSON" : "bad \(key)"
    default: return "unreadable"
    }
  }
}
