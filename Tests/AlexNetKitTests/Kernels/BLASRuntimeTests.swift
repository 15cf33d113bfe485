import Testing

@testable import AlexNetKit

/// The OpenBLAS core-type policy on CPUs this machine is not (its decision only; applying it is
/// OpenBLAS's `gotoblas_dynamic_init`).
@Suite struct BLASRuntimeTests {
  let avx2 = CPUFeatures(flags: ["fma", "avx", "avx2"])
  let avx512 = CPUFeatures(flags: ["fma", "avx2", "avx512f", "avx512bw", "avx512dq", "avx512vl"])
  let avx512BF16 = CPUFeatures(flags: [
    "avx2", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512_bf16",
  ])

  /// The machines' OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU gets the AVX-512 kernels, and says how to keep Haswell.
  @Test func haswellOnAnAVX512CPUIsReplaced() throws {
    let plan = BLASRuntime.plan(
      requested: nil, coreTypeVariable: "Haswell", atLoad: "Haswell", cpu: avx512BF16)
    #expect(plan.selection == .core("Cooperlake"))
    let makeNotice = try #require(plan.notice)
    let notice = makeNotice("Cooperlake")
    #expect(notice.contains("OPENBLAS_CORETYPE=Haswell"))
    #expect(notice.contains("ALEXNET_BLAS_CORE=Haswell"))
    #expect(
      BLASRuntime.plan(requested: nil, coreTypeVariable: nil, atLoad: "Haswell", cpu: avx512)
        .selection
        == .core("SkylakeX"))
  }

  /// A deliberate ALEXNET_BLAS_CORE wins silently; `auto` reruns detection.
  @Test func deliberateChoiceWins() {
    let haswell = BLASRuntime.plan(
      requested: "Haswell", coreTypeVariable: "Haswell", atLoad: "Haswell", cpu: avx512)
    #expect(haswell.selection == .core("Haswell"))
    #expect(haswell.notice == nil)
    let auto = BLASRuntime.plan(
      requested: "auto", coreTypeVariable: "Haswell", atLoad: "Haswell", cpu: avx512)
    #expect(auto.selection == .detect)
    #expect(auto.notice == nil)
  }

  /// AVX-512 kernels on a CPU without AVX-512 would stop with an illegal instruction: detection instead, with a notice.
  @Test func kernelsTheCPUCannotRunAreNotUsed() throws {
    let variable = BLASRuntime.plan(
      requested: nil, coreTypeVariable: "SkylakeX", atLoad: "SkylakeX", cpu: avx2)
    #expect(variable.selection == .detect)
    let variableNotice = try #require(variable.notice)
    #expect(variableNotice("Zen").contains("needs AVX-512"))
    let requested = BLASRuntime.plan(
      requested: "Cooperlake", coreTypeVariable: nil, atLoad: "Zen", cpu: avx2)
    #expect(requested.selection == .detect)
    let requestedNotice = try #require(requested.notice)
    #expect(requestedNotice("Zen").contains("ALEXNET_BLAS_CORE=Cooperlake"))
  }

  /// A good choice by OpenBLAS stands, with nothing to say.
  @Test func goodChoicesStand() {
    for (atLoad, cpu) in [
      ("Zen", avx2), ("Haswell", avx2), ("SkylakeX", avx512), ("Cooperlake", avx512BF16),
    ] {
      let plan = BLASRuntime.plan(requested: nil, coreTypeVariable: nil, atLoad: atLoad, cpu: cpu)
      #expect(plan.selection == .keep, "\(atLoad)")
      #expect(plan.notice == nil, "\(atLoad)")
    }
  }
}
