using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Ttt.Benchmarks;

/// <summary>
/// OpenBLAS as a same-run baseline: <c>cblas_sgemm</c> from <c>libopenblas.so.0</c> (Debian: <c>apt-get install -y
/// libopenblas-dev</c>). Only the benchmarks use it; if the library is missing, <see cref="IsAvailable"/> is false
/// and the benchmarks say "OpenBLAS not found" instead of failing.
/// </summary>
internal static unsafe partial class OpenBlas
{
    private const string Library = "libopenblas.so.0";
    private const int RowMajor = 101, NoTrans = 111;

    private static readonly Lazy<bool> s_available = new(Load);

    /// <summary>True once the library is loaded (the first call loads it).</summary>
    public static bool IsAvailable => s_available.Value;

    /// <summary>The kernel family OpenBLAS picked (SkylakeX means its AVX-512 kernels), and its build configuration.</summary>
    public static string Describe() =>
        IsAvailable
            ? $"{Marshal.PtrToStringUTF8(openblas_get_corename())} ({Marshal.PtrToStringUTF8(openblas_get_config())?.Trim()})"
            : "OpenBLAS not found";

    /// <summary>Threads OpenBLAS uses for the next calls.</summary>
    public static void SetThreads(int threads) => openblas_set_num_threads(threads);

    /// <summary>Row-major C[m, n] = A[m, k]·B[k, n] with leading dimensions lda, ldb, ldc.</summary>
    public static void Sgemm(int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc) =>
        cblas_sgemm(RowMajor, NoTrans, NoTrans, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc);

    private static bool Load()
    {
        // OpenBLAS reads OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS from the C environment when it is loaded, and on
        // Unix Environment.SetEnvironmentVariable does not change that environment: call libc's setenv. SkylakeX
        // selects OpenBLAS's AVX-512 kernels; its default on Zen 5 (and the OPENBLAS_CORETYPE=Haswell some machines
        // here export) is the AVX2 family, about half as fast, which would flatter Ttt. So on an AVX-512 CPU it is
        // set even over an existing value; forcing it on a CPU without AVX-512 would crash, hence the check.
        // The thread count only caps OpenBLAS's pool (a set value wins); SetThreads picks the count per run.
        if (OperatingSystem.IsLinux())
        {
            if (Vector512.IsHardwareAccelerated) _ = setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
            _ = setenv("OPENBLAS_NUM_THREADS", Environment.ProcessorCount.ToString(System.Globalization.CultureInfo.InvariantCulture), 0);
        }
        return NativeLibrary.TryLoad(Library, out _);
    }

    [LibraryImport("libc.so.6", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);

    [LibraryImport(Library)]
    private static partial void cblas_sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(Library)]
    private static partial void openblas_set_num_threads(int threads);

    [LibraryImport(Library)]
    private static partial nint openblas_get_corename();

    [LibraryImport(Library)]
    private static partial nint openblas_get_config();
}
