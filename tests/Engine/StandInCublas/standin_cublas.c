/*
 * A stand-in for cuBLAS 13 (libcublas.so.13) that computes on host memory, so that the GPU backend's cuBLAS path runs
 * for real on ILGPU's CPU accelerator, whose "device" buffers are host memory. The tests build it with cc
 * (tests/Engine/StandInCublas.cs). It implements the entry points CublasNativeMethods binds, with the semantics of
 * NVIDIA's cuBLAS documentation:
 *
 *   cublasGemmEx:               C = alpha·op(A)·op(B) + beta·C, column-major; op(A) is m×k, op(B) k×n, C m×n;
 *                               A is lda×k (op N) or lda×m (op T/C), B ldb×n (N) or ldb×k (T/C);
 *                               element (i, j) of a column-major matrix X is X[i + j·ldX].
 *   cublasGemmStridedBatchedEx: the same for each i < batchCount with A + i·strideA, B + i·strideB, C + i·strideC
 *                               (strides in elements; a stride of 0 shares one matrix across the batch).
 *
 * As cuBLAS: CUBLAS_STATUS_INVALID_VALUE (7) when m, n, k or batchCount < 0, lda < max(1, transa == N ? m : k),
 * ldb < max(1, transb == N ? k : n), ldc < max(1, m), or an operation other than N/T/C; CUBLAS_STATUS_NOT_SUPPORTED
 * (15) for type and compute combinations outside those below; with beta = 0, C is not read (it may hold NaN); m or n
 * of 0 does nothing, k of 0 scales C by beta.
 *
 * Types (cudaDataType_t, cublasComputeType_t) supported, as cuBLAS lists them for cublasGemmEx:
 *   A, B CUDA_R_32F (0), C CUDA_R_32F, compute CUBLAS_COMPUTE_32F (68) or _PEDANTIC (69): float32 products and sums;
 *   the same with CUBLAS_COMPUTE_32F_FAST_TF32 (77): A and B rounded to TF32 (10 explicit mantissa bits, to nearest,
 *     ties away from zero, as cvt.rna.tf32.f32), float32 accumulation;
 *   A, B CUDA_R_16BF (14), C CUDA_R_32F, compute 68 or 69: bfloat16 inputs widened exactly, float32 accumulation.
 * Sums run over p = 0..k-1 in order, in float32.
 *
 * For the tests that check how the library is called, it also records the last call's arguments (standin_read) and
 * can be told to fail (standin_configure), and counts its GEMM calls (standin_calls).
 */
#include <stdint.h>
#include <string.h>

extern int fake_lt_marker(void);

enum { OP_N = 0, OP_T = 1, OP_C = 2 };
enum { R_32F = 0, R_16BF = 14 };
enum { COMPUTE_32F = 68, COMPUTE_32F_PEDANTIC = 69, COMPUTE_32F_FAST_TF32 = 77 };
enum { SUCCESS = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7, NOT_SUPPORTED = 15 };

static int create_status, gemm_status, math_mode = -100, destroy_count;
static int64_t stream_seen, last_call[24], gemm_calls, strided_calls;
static float scalars[2];

void standin_configure(int create, int gemm_result) { create_status = create; gemm_status = gemm_result; }

/* out[0..23]: the last GEMM call's arguments (see record below); out[24] the stream, out[25] the math mode,
   out[26] the destroy count, out[27] cublasGemmEx calls, out[28] cublasGemmStridedBatchedEx calls. */
void standin_read(int64_t* out)
{
    for (int i = 0; i < 24; i++) out[i] = last_call[i];
    out[24] = stream_seen; out[25] = math_mode; out[26] = destroy_count; out[27] = gemm_calls; out[28] = strided_calls;
}

void standin_scalars(float* out) { out[0] = scalars[0]; out[1] = scalars[1]; }

int cublasCreate_v2(void** handle) { if (create_status) return create_status; *handle = (void*)0x1234; return SUCCESS; }
int cublasDestroy_v2(void* handle) { (void)handle; destroy_count++; return SUCCESS; }
int cublasSetStream_v2(void* handle, void* stream) { (void)handle; stream_seen = (int64_t)stream; return SUCCESS; }
int cublasSetMathMode(void* handle, int mode) { (void)handle; math_mode = mode; return SUCCESS; }
int cublasGetVersion_v2(void* handle, int* version) { (void)handle; *version = 130400 + fake_lt_marker(); return SUCCESS; }

static float from_bfloat16(uint16_t bits)
{
    uint32_t wide = (uint32_t)bits << 16;
    float value;
    memcpy(&value, &wide, sizeof value);
    return value;
}

/* To TF32: keep the sign, the 8 exponent bits and the top 10 mantissa bits, rounding to nearest with ties away from
   zero; infinities and NaNs pass unchanged. */
static float to_tf32(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    if ((bits & 0x7F800000u) != 0x7F800000u) bits = (bits + 0x1000u) & 0xFFFFE000u;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static float element(const void* base, int type, int64_t index, int tf32)
{
    if (type == R_16BF) return from_bfloat16(((const uint16_t*)base)[index]);
    float value = ((const float*)base)[index];
    return tf32 ? to_tf32(value) : value;
}

static int max1(int a) { return a > 1 ? a : 1; }

static int check(int ta, int tb, int m, int n, int k, int at, int lda, int bt, int ldb, int ct, int ldc, int compute, int batch)
{
    if (ta != OP_N && ta != OP_T && ta != OP_C) return INVALID_VALUE;
    if (tb != OP_N && tb != OP_T && tb != OP_C) return INVALID_VALUE;
    if (m < 0 || n < 0 || k < 0 || batch < 0) return INVALID_VALUE;
    if (lda < max1(ta == OP_N ? m : k) || ldb < max1(tb == OP_N ? k : n) || ldc < max1(m)) return INVALID_VALUE;
    if (ct != R_32F || at != bt) return NOT_SUPPORTED;
    if (at == R_32F && (compute == COMPUTE_32F || compute == COMPUTE_32F_PEDANTIC || compute == COMPUTE_32F_FAST_TF32)) return SUCCESS;
    if (at == R_16BF && (compute == COMPUTE_32F || compute == COMPUTE_32F_PEDANTIC)) return SUCCESS;
    return NOT_SUPPORTED;
}

static void gemm(int ta, int tb, int m, int n, int k, float alpha, const void* a, int at, int lda, const void* b, int bt, int ldb,
                 float beta, float* c, int ldc, int tf32)
{
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++)
        {
            float sum = 0.0f;
            for (int p = 0; p < k; p++)
            {
                float x = element(a, at, ta == OP_N ? i + (int64_t)p * lda : p + (int64_t)i * lda, tf32);
                float y = element(b, bt, tb == OP_N ? p + (int64_t)j * ldb : j + (int64_t)p * ldb, tf32);
                sum += x * y;
            }
            float* out = c + i + (int64_t)j * ldc;
            *out = beta == 0.0f ? alpha * sum : alpha * sum + beta * *out;
        }
}

static void record(void* handle, int ta, int tb, int m, int n, int k, const void* a, int at, int lda, int64_t sa,
                   const void* b, int bt, int ldb, int64_t sb, void* c, int ct, int ldc, int64_t sc, int batch, int compute, int algo,
                   const float* alpha, const float* beta)
{
    int64_t seen[24] = { (int64_t)handle, ta, tb, m, n, k, (int64_t)a, at, lda, (int64_t)b, bt, ldb,
                         (int64_t)c, ct, ldc, compute, algo, sa, sb, sc, batch, 0, 0, 0 };
    for (int i = 0; i < 24; i++) last_call[i] = seen[i];
    scalars[0] = *alpha; scalars[1] = *beta;
}

/* Arguments in cuBLAS's order; alpha and beta are host float pointers (compute types 68, 69 and 77 take float scalars). */
int cublasGemmEx(void* handle, int ta, int tb, int m, int n, int k, const float* alpha, const void* a, int at, int lda,
                 const void* b, int bt, int ldb, const float* beta, void* c, int ct, int ldc, int compute, int algo)
{
    gemm_calls++;
    record(handle, ta, tb, m, n, k, a, at, lda, 0, b, bt, ldb, 0, c, ct, ldc, 0, 1, compute, algo, alpha, beta);
    if (gemm_status) return gemm_status;
    if (handle == 0) return NOT_INITIALIZED;
    int status = check(ta, tb, m, n, k, at, lda, bt, ldb, ct, ldc, compute, 1);
    if (status != SUCCESS) return status;
    gemm(ta, tb, m, n, k, *alpha, a, at, lda, b, bt, ldb, *beta, (float*)c, ldc, compute == COMPUTE_32F_FAST_TF32);
    return SUCCESS;
}

int cublasGemmStridedBatchedEx(void* handle, int ta, int tb, int m, int n, int k, const float* alpha,
                               const void* a, int at, int lda, long long sa, const void* b, int bt, int ldb, long long sb,
                               const float* beta, void* c, int ct, int ldc, long long sc, int batch, int compute, int algo)
{
    strided_calls++;
    record(handle, ta, tb, m, n, k, a, at, lda, sa, b, bt, ldb, sb, c, ct, ldc, sc, batch, compute, algo, alpha, beta);
    if (gemm_status) return gemm_status;
    if (handle == 0) return NOT_INITIALIZED;
    int status = check(ta, tb, m, n, k, at, lda, bt, ldb, ct, ldc, compute, batch);
    if (status != SUCCESS) return status;
    int a_size = at == R_16BF ? 2 : 4, b_size = bt == R_16BF ? 2 : 4;
    for (int i = 0; i < batch; i++)
        gemm(ta, tb, m, n, k, *alpha, (const char*)a + (int64_t)i * sa * a_size, at, lda,
             (const char*)b + (int64_t)i * sb * b_size, bt, ldb, *beta, (float*)c + (int64_t)i * sc, ldc,
             compute == COMPUTE_32F_FAST_TF32);
    return SUCCESS;
}
