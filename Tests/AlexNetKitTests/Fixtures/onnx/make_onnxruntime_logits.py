"""onnxruntime's logits for the ONNX fixtures, read by Export/ONNXRuntimeParityTests.swift.

The .onnx files are what ONNXExport writes for ONNXExportTests.mixedNetwork(seed: 4) at 15x15
and ONNXExportTests.residualNetwork(seed: 8) at 9x9 (the Swift test checks that byte for byte).
Run once, from this folder, with onnx and onnxruntime installed outside the repository:
    /work/venv/bin/python make_onnxruntime_logits.py
It checks each graph with onnx.checker, feeds x[k] = sin(0.37 k) as [2, 3, S, S] float32 and
writes the logits as little-endian float32 to NAME.logits.f32.
"""
import numpy as np
import onnx
import onnxruntime

for name in ("mixed", "residual"):
    model = onnx.load(f"{name}.onnx")
    onnx.checker.check_model(model, full_check=True)
    side = model.graph.input[0].type.tensor_type.shape.dim[2].dim_value
    x = np.sin(np.arange(2 * 3 * side * side, dtype=np.float64) * 0.37).astype(np.float32)
    session = onnxruntime.InferenceSession(f"{name}.onnx", providers=["CPUExecutionProvider"])
    logits = session.run(["logits"], {"images": x.reshape(2, 3, side, side)})[0]
    logits.astype("<f4").tofile(f"{name}.logits.f32")
    print(f"{name}: onnxruntime {onnxruntime.__version__}, logits {logits.shape}: "
          f"{logits.ravel()[:4]}")
