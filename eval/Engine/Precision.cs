namespace Eval.Engine;

/// <summary>The arithmetic a GPU backend uses for its matrix multiplies (Linear and attention GEMMs).</summary>
public enum Precision
{
    /// <summary>
    /// Float32 storage and float32 arithmetic throughout, no TF32 or other down-conversion (cuBLAS pedantic math):
    /// results match the CPU reference to float32 rounding, for parity checks.
    /// </summary>
    Fp32,

    /// <summary>
    /// Float32 storage; the GEMMs run on TF32 tensor cores (inputs rounded to a 10-bit mantissa, float32 accumulate).
    /// Several times faster than <see cref="Fp32"/> on Ampere and newer GPUs, at about 1e-3 relative error per product.
    /// </summary>
    Tf32,

    /// <summary>
    /// Weights resident on the device as bfloat16 (half the memory of float32); activations stay float32 and are
    /// converted to bfloat16 just before each GEMM, which accumulates in float32 and writes float32. Attention, norms
    /// and activations compute in float32. The roundings are the same on every GEMM path (cuBLAS, and the ILGPU GEMM on
    /// CUDA or on ILGPU's CPU accelerator), so `--device ilgpu-cpu --precision bf16` reproduces a CUDA bf16 run up to
    /// the order of float32 additions.
    /// </summary>
    Bf16,
}
