using System.Runtime.InteropServices;

namespace Ttt.Cuda.Native;

/// <summary>
/// Bindings to cuBLAS (<c>libcublas.so.13/.12/.11</c>, resolved by <see cref="NativeLibraries"/>). cuBLAS is
/// column-major; <c>CudaBackend.Matmul</c> maps row-major products onto it. Scalars (alpha, beta) are host
/// pointers (the default pointer mode). Every call returns a <see cref="CublasStatus"/>; wrap it in
/// <see cref="Check.Blas"/>.
/// </summary>
internal static unsafe partial class CuBlas
{
    private const string Lib = NativeLibraries.CublasImportName;

    static CuBlas() => NativeLibraries.EnsureResolver();

    [LibraryImport(Lib, EntryPoint = "cublasCreate_v2")]
    internal static partial CublasStatus Create(out nint handle);

    [LibraryImport(Lib, EntryPoint = "cublasDestroy_v2")]
    internal static partial CublasStatus Destroy(nint handle);

    [LibraryImport(Lib, EntryPoint = "cublasSetStream_v2")]
    internal static partial CublasStatus SetStream(nint handle, nint stream);

    [LibraryImport(Lib, EntryPoint = "cublasSetMathMode")]
    internal static partial CublasStatus SetMathMode(nint handle, CublasMath mode);

    [LibraryImport(Lib, EntryPoint = "cublasGetProperty")]
    internal static partial CublasStatus GetProperty(LibraryProperty type, out int value);

    [LibraryImport(Lib, EntryPoint = "cublasSgemmStridedBatched")]
    internal static partial CublasStatus SgemmStridedBatched(nint handle, CublasOperation transA, CublasOperation transB,
        int m, int n, int k, float* alpha, ulong a, int lda, long strideA, ulong b, int ldb, long strideB,
        float* beta, ulong c, int ldc, long strideC, int batchCount);

    [LibraryImport(Lib, EntryPoint = "cublasDgemmStridedBatched")]
    internal static partial CublasStatus DgemmStridedBatched(nint handle, CublasOperation transA, CublasOperation transB,
        int m, int n, int k, double* alpha, ulong a, int lda, long strideA, ulong b, int ldb, long strideB,
        double* beta, ulong c, int ldc, long strideC, int batchCount);

    [LibraryImport(Lib, EntryPoint = "cublasGemmStridedBatchedEx")]
    internal static partial CublasStatus GemmStridedBatchedEx(nint handle, CublasOperation transA, CublasOperation transB,
        int m, int n, int k, void* alpha, ulong a, CudaDataType aType, int lda, long strideA,
        ulong b, CudaDataType bType, int ldb, long strideB, void* beta,
        ulong c, CudaDataType cType, int ldc, long strideC, int batchCount, CublasComputeType computeType, CublasGemmAlgo algo);
}

/// <summary>cublasStatus_t.</summary>
public enum CublasStatus
{
    /// <summary>CUBLAS_STATUS_SUCCESS</summary>
    Success = 0,
    /// <summary>CUBLAS_STATUS_NOT_INITIALIZED</summary>
    NotInitialized = 1,
    /// <summary>CUBLAS_STATUS_ALLOC_FAILED</summary>
    AllocFailed = 3,
    /// <summary>CUBLAS_STATUS_INVALID_VALUE</summary>
    InvalidValue = 7,
    /// <summary>CUBLAS_STATUS_ARCH_MISMATCH</summary>
    ArchMismatch = 8,
    /// <summary>CUBLAS_STATUS_MAPPING_ERROR</summary>
    MappingError = 11,
    /// <summary>CUBLAS_STATUS_EXECUTION_FAILED</summary>
    ExecutionFailed = 13,
    /// <summary>CUBLAS_STATUS_INTERNAL_ERROR</summary>
    InternalError = 14,
    /// <summary>CUBLAS_STATUS_NOT_SUPPORTED</summary>
    NotSupported = 15,
    /// <summary>CUBLAS_STATUS_LICENSE_ERROR</summary>
    LicenseError = 16,
}

/// <summary>cublasOperation_t.</summary>
internal enum CublasOperation
{
    None = 0,
    Transpose = 1,
}

/// <summary>cublasMath_t.</summary>
internal enum CublasMath
{
    /// <summary>CUBLAS_DEFAULT_MATH: no TF32 for float32 unless the compute type asks for it.</summary>
    Default = 0,
    /// <summary>CUBLAS_PEDANTIC_MATH.</summary>
    Pedantic = 2,
}

/// <summary>cudaDataType_t values used by Ttt.</summary>
internal enum CudaDataType
{
    R32F = 0,
    R64F = 1,
    R16BF = 14,
}

/// <summary>cublasComputeType_t values used by Ttt.</summary>
internal enum CublasComputeType
{
    /// <summary>CUBLAS_COMPUTE_32F: float32 accumulation, float32 products.</summary>
    Compute32F = 68,
    /// <summary>CUBLAS_COMPUTE_32F_FAST_TF32: tensor cores with TF32 inputs, float32 accumulation.</summary>
    Compute32FFastTf32 = 77,
    /// <summary>CUBLAS_COMPUTE_64F.</summary>
    Compute64F = 70,
}

/// <summary>cublasGemmAlgo_t.</summary>
internal enum CublasGemmAlgo
{
    Default = -1,
}

/// <summary>libraryPropertyType.</summary>
internal enum LibraryProperty
{
    Major = 0,
    Minor = 1,
    Patch = 2,
}
