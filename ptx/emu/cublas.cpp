// The cuBLAS entry points Ttt binds (src/Cuda/Native/CuBlas.cs), implemented on the CPU with the same
// column-major conventions and argument checks, so the backend's row-major/column-major mapping is exercised.
// TF32 compute rounds the inputs to a 10-bit mantissa; bf16 inputs are widened to float.
#include <cmath>
#include <cstdint>
#include <cstring>

typedef int cublasStatus_t;
namespace
{
constexpr cublasStatus_t Ok = 0, InvalidValue = 7, NotSupported = 15;
struct Handle
{
    void* stream;
    int math;
};

float tf32(float v)
{
    uint32_t u;
    std::memcpy(&u, &v, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & 0xffffe000u;
    std::memcpy(&v, &u, 4);
    return v;
}

float bf16(const uint16_t* p, long long i)
{
    uint32_t u = (uint32_t)p[i] << 16;
    float v;
    std::memcpy(&v, &u, 4);
    return v;
}

bool check(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc, int batch)
{
    if (m < 0 || n < 0 || k < 0 || batch < 0) return false;
    int rowsA = ta == 0 ? m : k, rowsB = tb == 0 ? k : n;
    return lda >= (rowsA > 1 ? rowsA : 1) && ldb >= (rowsB > 1 ? rowsB : 1) && ldc >= (m > 1 ? m : 1);
}

// C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b], column-major; get(A, index) reads one input element.
template <typename TC, typename GetA, typename GetB>
void gemm(int ta, int tb, int m, int n, int k, double alpha, GetA a, int lda, long long sa, GetB b, int ldb,
          long long sb, double beta, TC* c, int ldc, long long sc, int batch)
{
    for (int q = 0; q < batch; ++q)
        for (int j = 0; j < n; ++j)
            for (int i = 0; i < m; ++i)
            {
                double acc = 0;
                for (int p = 0; p < k; ++p)
                {
                    long long ia = q * sa + (ta == 0 ? i + (long long)p * lda : p + (long long)i * lda);
                    long long ib = q * sb + (tb == 0 ? p + (long long)j * ldb : j + (long long)p * ldb);
                    acc += a(ia) * b(ib);
                }
                TC* out = c + q * sc + i + (long long)j * ldc;
                *out = (TC)(beta == 0 ? alpha * acc : alpha * acc + beta * (double)*out);
            }
}
} // namespace

extern "C"
{
cublasStatus_t cublasCreate_v2(void** h)
{
    *h = new Handle{nullptr, 0};
    return Ok;
}
cublasStatus_t cublasDestroy_v2(void* h)
{
    delete static_cast<Handle*>(h);
    return Ok;
}
cublasStatus_t cublasSetStream_v2(void* h, void* s)
{
    static_cast<Handle*>(h)->stream = s;
    return Ok;
}
cublasStatus_t cublasSetMathMode(void* h, int mode)
{
    static_cast<Handle*>(h)->math = mode;
    return Ok;
}
cublasStatus_t cublasGetProperty(int type, int* value)
{
    *value = type == 0 ? 13 : 0;
    return Ok;
}

cublasStatus_t cublasSgemmStridedBatched(void*, int ta, int tb, int m, int n, int k, const float* alpha, const float* A,
                                         int lda, long long sa, const float* B, int ldb, long long sb,
                                         const float* beta, float* C, int ldc, long long sc, int batch)
{
    if (!check(ta, tb, m, n, k, lda, ldb, ldc, batch)) return InvalidValue;
    gemm<float>(ta, tb, m, n, k, *alpha, [A](long long i) { return (double)A[i]; }, lda, sa,
                [B](long long i) { return (double)B[i]; }, ldb, sb, *beta, C, ldc, sc, batch);
    return Ok;
}

cublasStatus_t cublasDgemmStridedBatched(void*, int ta, int tb, int m, int n, int k, const double* alpha, const double* A,
                                         int lda, long long sa, const double* B, int ldb, long long sb,
                                         const double* beta, double* C, int ldc, long long sc, int batch)
{
    if (!check(ta, tb, m, n, k, lda, ldb, ldc, batch)) return InvalidValue;
    gemm<double>(ta, tb, m, n, k, *alpha, [A](long long i) { return A[i]; }, lda, sa, [B](long long i) { return B[i]; },
                 ldb, sb, *beta, C, ldc, sc, batch);
    return Ok;
}

cublasStatus_t cublasGemmStridedBatchedEx(void*, int ta, int tb, int m, int n, int k, const void* alpha, const void* A,
                                          int aType, int lda, long long sa, const void* B, int bType, int ldb,
                                          long long sb, const void* beta, void* C, int cType, int ldc, long long sc,
                                          int batch, int compute, int)
{
    if (!check(ta, tb, m, n, k, lda, ldb, ldc, batch)) return InvalidValue;
    if (cType != 0 || aType != bType || (compute != 68 && compute != 77)) return NotSupported;
    double al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
    if (aType == 0)
    {
        auto a = static_cast<const float*>(A);
        auto b = static_cast<const float*>(B);
        bool fast = compute == 77;
        gemm<float>(ta, tb, m, n, k, al, [a, fast](long long i) { return (double)(fast ? tf32(a[i]) : a[i]); }, lda, sa,
                    [b, fast](long long i) { return (double)(fast ? tf32(b[i]) : b[i]); }, ldb, sb, be,
                    static_cast<float*>(C), ldc, sc, batch);
        return Ok;
    }
    if (aType == 14)
    {
        auto a = static_cast<const uint16_t*>(A);
        auto b = static_cast<const uint16_t*>(B);
        gemm<float>(ta, tb, m, n, k, al, [a](long long i) { return (double)bf16(a, i); }, lda, sa,
                    [b](long long i) { return (double)bf16(b, i); }, ldb, sb, be, static_cast<float*>(C), ldc, sc, batch);
        return Ok;
    }
    return NotSupported;
}
}
