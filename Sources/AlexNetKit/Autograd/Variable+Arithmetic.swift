// Elementwise arithmetic and reductions on variables, each beside its derivative.

extension Variable {
  public static func + (a: Variable, b: Variable) -> Variable {
    record(a.value + b.value, "add", [a, b]) { g in  // d(a+b) = da + db
      if a.requiresGradient { a.accumulate(g) }
      if b.requiresGradient { b.accumulate(g) }
    }
  }

  public static func - (a: Variable, b: Variable) -> Variable {
    record(a.value - b.value, "subtract", [a, b]) { g in
      if a.requiresGradient { a.accumulate(g) }
      if b.requiresGradient { b.accumulate(-g) }
    }
  }

  public static func * (a: Variable, b: Variable) -> Variable {
    let (x, y) = (a.value, b.value)
    return record(x * y, "multiply", [a, b]) { g in  // d(ab) = b·da + a·db
      if a.requiresGradient { a.accumulate(g * y) }
      if b.requiresGradient { b.accumulate(g * x) }
    }
  }

  public static func * (a: Variable, scale: Float) -> Variable {
    record(a.value * scale, "scale", [a]) { g in a.accumulate(g * scale) }
  }

  /// Sum of all elements, as a scalar variable.
  public func sum() -> Variable {
    let shape = value.shape
    return Variable.record(Tensor(value.sum()), "sum", [self]) { g in
      self.accumulate(Tensor(shape: shape, repeating: g.scalar))
    }
  }

  /// Mean of all elements, as a scalar variable.
  public func mean() -> Variable {
    let shape = value.shape
    let count = Float(value.count)
    return Variable.record(Tensor(value.mean()), "mean", [self]) { g in
      self.accumulate(Tensor(shape: shape, repeating: g.scalar / count))
    }
  }

  /// The same elements under another shape (one extent may be -1).
  public func reshaped(_ shape: [Int]) -> Variable {
    let original = value.shape
    return Variable.record(value.reshaped(shape), "reshape", [self]) { g in
      self.accumulate(g.reshaped(original))
    }
  }

  /// [N, ...] to [N, rest]: what sits between the convolutions and the dense layers.
  public func flattened() -> Variable {
    precondition(value.rank >= 1, "flatten of a scalar")
    return reshaped([value.shape[0], -1])
  }
}
