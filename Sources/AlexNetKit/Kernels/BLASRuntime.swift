import COpenBLAS
import Foundation

/// Chooses OpenBLAS's kernel set ("core type") and thread count for this process.
///
/// OpenBLAS builds for several CPUs at once and picks a kernel set when it loads, unless the
/// environment variable `OPENBLAS_CORETYPE` names one. A machine may set that variable to a set
/// slower than the CPU can run (Haswell's AVX2 kernels on an AVX-512 CPU run at about half speed),
/// or to one it cannot run at all (AVX-512 kernels on an AVX2 CPU stop with an illegal
/// instruction). So on first use the library applies this policy:
///
/// 1. `ALEXNET_BLAS_CORE=NAME` is the deliberate choice and wins (`auto` means OpenBLAS's own
///    detection, ignoring `OPENBLAS_CORETYPE`), unless the CPU lacks the instructions NAME needs.
/// 2. Otherwise, on a CPU with AVX-512 (F, BW, DQ, VL), an AVX-512 kernel set is used
///    (Cooperlake where the CPU has AVX512_BF16, SkylakeX otherwise), whatever
///    `OPENBLAS_CORETYPE` says.
/// 3. A core type the CPU cannot run is replaced by OpenBLAS's own detection.
/// 4. Otherwise OpenBLAS's choice stands.
///
/// Whenever the library overrides `OPENBLAS_CORETYPE` it says so in `notice` (the command-line
/// tools print it), and the variable itself is left as it was for child processes.
///
/// Threads: after each call OpenBLAS's idle workers spin (sched_yield) for about 2^28 cycles
/// before sleeping, so they hold the cores while our own loops (im2col, pooling, LRN) run between
/// GEMMs, and those loops slow down by up to half. Unless `OPENBLAS_THREAD_TIMEOUT` is set, the
/// library restarts OpenBLAS's pool with a spin of 2^4 cycles; GEMM speed is unchanged (the
/// workers wake on a condition variable within microseconds).
public enum BLASRuntime {
  public struct Configuration: Sendable {
    /// The kernel set in use, as OpenBLAS names it ("Haswell", "Zen", "SkylakeX", "Cooperlake").
    public var coreName: String
    /// What OpenBLAS had selected at load time, before this policy ran.
    public var coreNameAtLoad: String
    /// A sentence explaining an override of the environment, or nil when none was made.
    public var notice: String?
  }

  /// The configuration in force; computing it the first time applies the policy above.
  public static let configuration: Configuration = configure()

  /// Applies the policy once; cheap to call again.
  @inlinable
  public static func ensureConfigured() { _ = configuration }

  /// OpenBLAS's thread count (its own pool, separate from `Parallel`'s loops). Set through a
  /// `ComputeContext`'s `threadCount`; batch shards set it to 1 while they run.
  public internal(set) static var threadCount: Int {
    get {
      ensureConfigured()
      return Int(openblas_get_num_threads())
    }
    set {
      ensureConfigured()
      openblas_set_num_threads(Int32(max(1, newValue)))
    }
  }

  static let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]

  /// True when the kernel set in use multiplies small products without copying them first (the
  /// AVX-512 sets; see `BLAS.rowsPerCall`).
  public static let multipliesSmallProductsDirectly = avx512Cores.contains(
    configuration.coreName.lowercased())

  static func configure() -> Configuration {
    let environment = ProcessInfo.processInfo.environment
    let atLoad = currentCoreName()
    let plan = plan(
      requested: environment["ALEXNET_BLAS_CORE"],
      coreTypeVariable: environment["OPENBLAS_CORETYPE"],
      atLoad: atLoad, cpu: .current)
    switch plan.selection {
    case .keep: break
    case .detect: select(nil)
    case .core(let name): select(name)
    }
    if environment["OPENBLAS_THREAD_TIMEOUT"] == nil { shortenThreadSpin() }
    let coreName = currentCoreName()
    return Configuration(coreName: coreName, coreNameAtLoad: atLoad, notice: plan.notice?(coreName))
  }

  /// What the policy does: keep OpenBLAS's choice, rerun its detection, or force a core type.
  enum Selection: Equatable {
    case keep, detect
    case core(String)
  }

  /// The policy as a function of its inputs: `ALEXNET_BLAS_CORE` (`requested`), `OPENBLAS_CORETYPE`,
  /// the core type OpenBLAS chose at load and the CPU's features. The notice, if any, is made from
  /// the core type in use once the selection has been applied.
  static func plan(requested: String?, coreTypeVariable: String?, atLoad: String, cpu: CPUFeatures)
    -> (selection: Selection, notice: ((_ inUse: String) -> String)?)
  {
    func runnable(_ name: String) -> Bool {
      cpu.hasAVX512 || !avx512Cores.contains(name.lowercased())
    }
    if let requested, !requested.isEmpty {
      if requested.lowercased() == "auto" { return (.detect, nil) }
      if runnable(requested) { return (.core(requested), nil) }
      return (
        .detect,
        {
          "ALEXNET_BLAS_CORE=\(requested) needs AVX-512, which this CPU lacks; "
            + "using OpenBLAS's detection (\($0))"
        }
      )
    }
    if cpu.hasAVX512, !avx512Cores.contains(atLoad.lowercased()) {
      let cause = coreTypeVariable.map { "OPENBLAS_CORETYPE=\($0)" } ?? "OpenBLAS"
      return (
        .core(cpu.hasAVX512BF16 ? "Cooperlake" : "SkylakeX"),
        {
          "\(cause) selected the \(atLoad) kernels on an AVX-512 CPU; using \($0) "
            + "(set ALEXNET_BLAS_CORE=\(atLoad) to keep \(atLoad))"
        }
      )
    }
    if !runnable(atLoad) {
      return (
        .detect,
        {
          "OPENBLAS_CORETYPE=\(atLoad) needs AVX-512, which this CPU lacks; "
            + "using OpenBLAS's detection (\($0))"
        }
      )
    }
    return (.keep, nil)
  }

  static func shortenThreadSpin() {
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)
    openblas_read_env()
    unsetenv("OPENBLAS_THREAD_TIMEOUT")
    _ = blas_thread_shutdown_()
  }

  static func currentCoreName() -> String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name).trimmingCharacters(in: .whitespaces)
  }

  /// Re-runs OpenBLAS's dynamic-architecture selection with OPENBLAS_CORETYPE set to `core`
  /// (nil: unset, so OpenBLAS detects), then puts the variable back as it was. Runs before any
  /// BLAS call of ours, so no computation sees the switch.
  static func select(_ core: String?) {
    let saved = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
    if let core { setenv("OPENBLAS_CORETYPE", core, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
    gotoblas_dynamic_quit()
    gotoblas_dynamic_init()
    if let saved { setenv("OPENBLAS_CORETYPE", saved, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
  }
}

/// The CPU's vector extensions, as the Linux kernel reports them (it lists AVX-512 only when the
/// operating system also saves the vector state, so a listed feature is usable).
struct CPUFeatures {
  var flags: Set<Substring>

  static let current: CPUFeatures = {
    let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
    return CPUFeatures(flags: Set(line.split(separator: " ")))
  }()

  var hasAVX512: Bool {
    ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains)
  }
  var hasAVX512BF16: Bool { flags.contains("avx512_bf16") }
}
