import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// How much memory a command may plan to use: sizes given by flags (image side, batch, crop,
/// resize, class count) are refused up front when their estimate exceeds it, instead of the
/// process aborting in an allocation later (or being killed by the kernel).
public struct MemoryBudget: Sendable, Equatable {
  public var bytes: Int
  /// Where the figure came from, for the refusal ("half of the 23.5 GB of physical memory").
  public var origin: String

  public init(bytes: Int, origin: String = "given") { (self.bytes, self.origin) = (bytes, origin) }

  /// The environment variable that overrides `system()`: bytes, or a number with K, M, G or T.
  public static let environmentVariable = "ALEXNET_MEMORY_BUDGET"

  /// `ALEXNET_MEMORY_BUDGET` when set, else half of the smaller of the physical memory
  /// (/proc/meminfo, or sysconf) and the address-space limit (`ulimit -v`): half, because the
  /// estimate is rough and the libraries (OpenBLAS's buffers, thread stacks) take their share.
  public static func system(
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) throws(ConfigurationError) -> MemoryBudget {
    if let text = environment[environmentVariable] {
      guard let bytes = parseBytes(text), bytes > 0 else {
        throw ConfigurationError(
          environmentVariable,
          "must be a positive size in bytes (a number, or with K, M, G or T), got \"\(text)\"")
      }
      return MemoryBudget(bytes: bytes, origin: "\(environmentVariable)=\(text)")
    }
    var limit = physicalMemory()
    var origin = "half of the \(formatBytes(limit)) of physical memory"
    // RLIM_INFINITY is all ones, so "unlimited" is never below the physical memory.
    var addressSpace = rlimit()
    if getrlimit(Int32(RLIMIT_AS.rawValue), &addressSpace) == 0,
      addressSpace.rlim_cur < UInt(limit)
    {
      limit = Int(addressSpace.rlim_cur)
      origin = "half of the \(formatBytes(limit)) address-space limit (ulimit -v)"
    }
    return MemoryBudget(bytes: limit / 2, origin: origin + "; set \(environmentVariable)")
  }

  /// MemTotal of /proc/meminfo, or sysconf's pages when that file cannot be read.
  static func physicalMemory() -> Int {
    if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
      let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
      let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    {
      return kilobytes * 1024
    }
    return sysconf(Int32(_SC_PHYS_PAGES)) * sysconf(Int32(_SC_PAGESIZE))
  }

  /// "4G" → 4·2³⁰; "1500000" → 1500000; nil for anything else or an overflow.
  static func parseBytes(_ text: String) -> Int? {
    let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
    var digits = Substring(text.trimmingCharacters(in: .whitespaces))
    var unit = 1
    if let last = digits.last?.uppercased().first, let scale = units[last] {
      (unit, digits) = (scale, digits.dropLast())
    }
    guard let value = Int(digits) else { return nil }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
    return overflow ? nil : bytes
  }
}

/// "1.50 GB", "12.0 MB": binary units, as `free -h` shows them.
func formatBytes(_ bytes: Int) -> String {
  let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
  var value = Double(bytes)
  var index = 0
  while value >= 1024 && index < units.count - 1 { (value, index) = (value / 1024, index + 1) }
  return index == 0 ? "\(bytes) bytes" : String(format: "%.2f %@", value, units[index])
}
