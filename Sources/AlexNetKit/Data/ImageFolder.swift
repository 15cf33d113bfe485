import Foundation

/// A labelled image dataset in the image-folder layout, `root/<class>/<image>`, with the
/// semantics of Keras's `image_dataset_from_directory` and torchvision's `ImageFolder`: classes
/// are the sorted subfolder names (or an explicit list), images are files ending in .jpg, .jpeg or
/// .png in any letter case, hidden files and folders are ignored, and a validation split is drawn
/// with a seed so the two subsets never overlap and are the same on every run.
public struct ImageFolder: Sendable {
  public struct Sample: Sendable, Equatable {
    public var url: URL
    public var label: Int
    public init(url: URL, label: Int) { (self.url, self.label) = (url, label) }
  }

  public enum Subset: String, Sendable, CaseIterable { case training, validation, all }

  public let root: URL
  public let classNames: [String]
  /// The chosen subset's samples, in folder order (classes, then file names).
  public let samples: [Sample]
  /// What was found, in Keras's words, plus warnings (skipped folders, imbalance).
  public let report: [String]

  public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

  /// Scans `root`. `validationSplit` in (0, 1) holds out that fraction (seeded by `seed`); with
  /// `stratified`, every class is split in the same proportion, so a small class still has
  /// validation images.
  public init(
    root: URL, classNames explicitClasses: [String]? = nil, validationSplit: Double? = nil,
    subset: Subset = .all, seed: UInt64 = 123, stratified: Bool = false
  ) throws {
    self.root = root
    let fileManager = FileManager.default
    var isDirectory: ObjCBool = false
    guard fileManager.fileExists(atPath: root.path, isDirectory: &isDirectory) else {
      throw FileError(
        root.path, "does not exist (expected a folder with one subfolder of images per class)")
    }
    guard isDirectory.boolValue else {
      throw FileError(root.path, "is not a folder (expected root/<class>/<image>)")
    }
    if let split = validationSplit, !(split > 0 && split < 1) {
      throw FileError(root.path, "validation split \(split) is outside (0, 1)")
    }
    let entries = (try? fileManager.contentsOfDirectory(atPath: root.path)) ?? []
    let folders = entries.filter { !$0.hasPrefix(".") }.sorted().filter { name in
      var folder: ObjCBool = false
      return fileManager.fileExists(
        atPath: root.appendingPathComponent(name).path, isDirectory: &folder) && folder.boolValue
    }
    var report: [String] = []
    var filesByFolder: [String: [URL]] = [:]
    var ignored = 0
    for folder in folders {
      let directory = root.appendingPathComponent(folder)
      let (images, others) = Self.files(in: directory)
      ignored += others
      filesByFolder[folder] = images.sorted { $0.path < $1.path }
    }
    let classes: [String]
    if let explicitClasses {
      let missing = explicitClasses.filter { filesByFolder[$0] == nil }
      guard missing.isEmpty else {
        throw FileError(
          root.path,
          "has no folder for class\(missing.count == 1 ? "" : "es") \(missing.joined(separator: ", "))"
        )
      }
      classes = explicitClasses
    } else {
      classes = folders.filter { !(filesByFolder[$0] ?? []).isEmpty }
      for folder in folders where (filesByFolder[folder] ?? []).isEmpty {
        report.append("Warning: skipped \(folder)/: no .jpg, .jpeg or .png images in it.")
      }
    }
    guard !classes.isEmpty else {
      throw FileError(
        root.path,
        "has no class subfolders with .jpg, .jpeg or .png images (expected root/<class>/<image>)")
    }
    for name in classes where (filesByFolder[name] ?? []).isEmpty {
      throw FileError(
        root.appendingPathComponent(name).path, "class folder has no .jpg, .jpeg or .png images")
    }
    self.classNames = classes
    let all = classes.enumerated().flatMap { label, name in
      filesByFolder[name]!.map { Sample(url: $0, label: label) }
    }
    report.append("Found \(all.count) files belonging to \(classes.count) classes.")
    if ignored > 0 { report.append("Ignored \(ignored) files that are not .jpg, .jpeg or .png.") }
    let counts = classes.map { filesByFolder[$0]!.count }
    if let smallest = counts.min(), let largest = counts.max(), largest > 3 * smallest {
      let small = classes[counts.firstIndex(of: smallest)!]
      let large = classes[counts.firstIndex(of: largest)!]
      report.append(
        "Warning: classes are imbalanced: \(large) has \(largest) images, \(small) only \(smallest); "
          + "consider class weights.")
    }

    guard let split = validationSplit, subset != .all else {
      samples = all
      self.report = report
      return
    }
    var generator = SeededGenerator(seed: seed)
    var validation = Set<Int>()
    if stratified {
      for label in 0..<classes.count {
        var indices = all.indices.filter { all[$0].label == label }
        indices.shuffle(using: &generator)
        let held = indices.count >= 2 ? Swift.max(1, Int(split * Double(indices.count))) : 0
        validation.formUnion(indices.prefix(held))
      }
    } else {
      var indices = Array(all.indices)
      indices.shuffle(using: &generator)
      validation = Set(indices.suffix(Int(split * Double(all.count))))
    }
    samples = all.indices.filter { validation.contains($0) == (subset == .validation) }.map {
      all[$0]
    }
    report.append("Using \(samples.count) files for \(subset.rawValue).")
    self.report = report
  }

  /// The images below a class folder, and how many other files it holds. Symbolic links are
  /// followed, as torchvision's ImageFolder does (datasets are often assembled from links): a
  /// linked class folder is walked at its target, its paths kept under the name given, and a
  /// linked image counts as the file it points to. Links to folders inside a class folder are not
  /// walked, so a link cycle cannot make the walk endless.
  static func files(in directory: URL) -> (images: [URL], others: Int) {
    let fileManager = FileManager.default
    let target = directory.resolvingSymlinksInPath()
    var (images, others): ([URL], Int) = ([], 0)
    guard
      let walker = fileManager.enumerator(
        at: target, includingPropertiesForKeys: nil, options: [.skipsHiddenFiles])
    else { return ([], 0) }
    for case let url as URL in walker {
      var isFolder: ObjCBool = false
      // fileExists follows links: a dangling one is skipped, a linked folder is not a file.
      guard fileManager.fileExists(atPath: url.path, isDirectory: &isFolder), !isFolder.boolValue
      else { continue }
      let shown =
        url.path.hasPrefix(target.path + "/")
        ? directory.appendingPathComponent(String(url.path.dropFirst(target.path.count + 1)))
        : url
      if Self.imageExtensions.contains(url.pathExtension.lowercased()) {
        images.append(shown)
      } else {
        others += 1
      }
    }
    return (images, others)
  }

  /// Images per class in this subset.
  public var classCounts: [Int] {
    var counts = [Int](repeating: 0, count: classNames.count)
    for sample in samples { counts[sample.label] += 1 }
    return counts
  }
}
