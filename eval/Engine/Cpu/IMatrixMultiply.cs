namespace Eval.Engine.Cpu;

/// <summary>Row-major SGEMM with cblas semantics: C = alpha·op(A)·op(B) + beta·C, op(A) m×k, op(B) k×n.</summary>
public unsafe interface IMatrixMultiply
{
    string Name { get; }

    void Multiply(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);
}
