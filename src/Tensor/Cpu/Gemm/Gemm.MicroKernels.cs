// The micro-kernels spell out one line per tile row: the JIT keeps a value in a register only if it is its own
// local, so the accumulators cannot live in an array or a loop. A row r is compiled only when TRows.Value > r
// (TRows is a struct type argument, so the test is a JIT-time constant and the dead rows vanish).
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ttt.Cpu;

public static unsafe partial class Gemm
{
    /// <summary>
    /// The AVX-512 micro-kernel: C[TRows, 2w] (+)= A[TRows, kc]·B[kc, 2w] with w = Vector512&lt;T&gt;.Count
    /// (a 14×32 float tile, 14×16 for double). Each k step loads two B vectors, broadcasts TRows A values and issues
    /// 2·TRows FMAs into 2·TRows accumulators: 28 accumulators + 2 B vectors + 1 broadcast = 31 of the 32 zmm
    /// registers. 28 independent FMA chains cover the 4-cycle FMA latency on two FMA pipes seven times over.
    /// </summary>
    /// <param name="kc">Depth of the K-block.</param>
    /// <param name="a">Packed A micro-panel: kc steps of <see cref="Mr512"/> values (rows ≥ TRows unused).</param>
    /// <param name="b">B micro-panel: kc rows of 2w contiguous values, <paramref name="bStride"/> apart.</param>
    /// <param name="bStride">Elements between consecutive k rows of the B panel (2w when packed, ldb when read in place).</param>
    /// <param name="c">The tile's top-left element in C; rows <paramref name="ldc"/> apart, 2w columns written.</param>
    /// <param name="ldc">Row stride of C.</param>
    /// <param name="accumulate">Add to C (later K-blocks) instead of overwriting it (first K-block).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512<T, TRows>(int kc, T* a, T* b, long bStride, T* c, long ldc, bool accumulate)
        where T : unmanaged where TRows : struct, IRowCount
    {
        int w = Vector512<T>.Count;
        var zero = Vector512<T>.Zero;
        Vector512<T> c00 = zero, c01 = zero;
        Vector512<T> c10 = zero, c11 = zero;
        Vector512<T> c20 = zero, c21 = zero;
        Vector512<T> c30 = zero, c31 = zero;
        Vector512<T> c40 = zero, c41 = zero;
        Vector512<T> c50 = zero, c51 = zero;
        Vector512<T> c60 = zero, c61 = zero;
        Vector512<T> c70 = zero, c71 = zero;
        Vector512<T> c80 = zero, c81 = zero;
        Vector512<T> c90 = zero, c91 = zero;
        Vector512<T> c100 = zero, c101 = zero;
        Vector512<T> c110 = zero, c111 = zero;
        Vector512<T> c120 = zero, c121 = zero;
        Vector512<T> c130 = zero, c131 = zero;
        for (int p = 0; p < kc; p++)
        {
            if (Sse.IsSupported)
            {
                // A few k steps ahead: the next lines of the A panel and both lines of a B row.
                Sse.Prefetch0(a + 16 * Mr512);
                Sse.Prefetch0(b + 8 * bStride);
                Sse.Prefetch0(b + 8 * bStride + w);
            }
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + w);
            if (TRows.Value > 0) { var x = Vector512.Create(a[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01); }
            if (TRows.Value > 1) { var x = Vector512.Create(a[1]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11); }
            if (TRows.Value > 2) { var x = Vector512.Create(a[2]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21); }
            if (TRows.Value > 3) { var x = Vector512.Create(a[3]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31); }
            if (TRows.Value > 4) { var x = Vector512.Create(a[4]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41); }
            if (TRows.Value > 5) { var x = Vector512.Create(a[5]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51); }
            if (TRows.Value > 6) { var x = Vector512.Create(a[6]); c60 = Fma(x, b0, c60); c61 = Fma(x, b1, c61); }
            if (TRows.Value > 7) { var x = Vector512.Create(a[7]); c70 = Fma(x, b0, c70); c71 = Fma(x, b1, c71); }
            if (TRows.Value > 8) { var x = Vector512.Create(a[8]); c80 = Fma(x, b0, c80); c81 = Fma(x, b1, c81); }
            if (TRows.Value > 9) { var x = Vector512.Create(a[9]); c90 = Fma(x, b0, c90); c91 = Fma(x, b1, c91); }
            if (TRows.Value > 10) { var x = Vector512.Create(a[10]); c100 = Fma(x, b0, c100); c101 = Fma(x, b1, c101); }
            if (TRows.Value > 11) { var x = Vector512.Create(a[11]); c110 = Fma(x, b0, c110); c111 = Fma(x, b1, c111); }
            if (TRows.Value > 12) { var x = Vector512.Create(a[12]); c120 = Fma(x, b0, c120); c121 = Fma(x, b1, c121); }
            if (TRows.Value > 13) { var x = Vector512.Create(a[13]); c130 = Fma(x, b0, c130); c131 = Fma(x, b1, c131); }
            a += Mr512;
            b += bStride;
        }
        if (accumulate)
        {
            if (TRows.Value > 0) { T* row = c + 0 * ldc; Vector512.Store(c00 + Vector512.Load(row), row); Vector512.Store(c01 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 1) { T* row = c + 1 * ldc; Vector512.Store(c10 + Vector512.Load(row), row); Vector512.Store(c11 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 2) { T* row = c + 2 * ldc; Vector512.Store(c20 + Vector512.Load(row), row); Vector512.Store(c21 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 3) { T* row = c + 3 * ldc; Vector512.Store(c30 + Vector512.Load(row), row); Vector512.Store(c31 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 4) { T* row = c + 4 * ldc; Vector512.Store(c40 + Vector512.Load(row), row); Vector512.Store(c41 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 5) { T* row = c + 5 * ldc; Vector512.Store(c50 + Vector512.Load(row), row); Vector512.Store(c51 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 6) { T* row = c + 6 * ldc; Vector512.Store(c60 + Vector512.Load(row), row); Vector512.Store(c61 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 7) { T* row = c + 7 * ldc; Vector512.Store(c70 + Vector512.Load(row), row); Vector512.Store(c71 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 8) { T* row = c + 8 * ldc; Vector512.Store(c80 + Vector512.Load(row), row); Vector512.Store(c81 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 9) { T* row = c + 9 * ldc; Vector512.Store(c90 + Vector512.Load(row), row); Vector512.Store(c91 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 10) { T* row = c + 10 * ldc; Vector512.Store(c100 + Vector512.Load(row), row); Vector512.Store(c101 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 11) { T* row = c + 11 * ldc; Vector512.Store(c110 + Vector512.Load(row), row); Vector512.Store(c111 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 12) { T* row = c + 12 * ldc; Vector512.Store(c120 + Vector512.Load(row), row); Vector512.Store(c121 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 13) { T* row = c + 13 * ldc; Vector512.Store(c130 + Vector512.Load(row), row); Vector512.Store(c131 + Vector512.Load(row + w), row + w); }
        }
        else
        {
            if (TRows.Value > 0) { T* row = c + 0 * ldc; Vector512.Store(c00, row); Vector512.Store(c01, row + w); }
            if (TRows.Value > 1) { T* row = c + 1 * ldc; Vector512.Store(c10, row); Vector512.Store(c11, row + w); }
            if (TRows.Value > 2) { T* row = c + 2 * ldc; Vector512.Store(c20, row); Vector512.Store(c21, row + w); }
            if (TRows.Value > 3) { T* row = c + 3 * ldc; Vector512.Store(c30, row); Vector512.Store(c31, row + w); }
            if (TRows.Value > 4) { T* row = c + 4 * ldc; Vector512.Store(c40, row); Vector512.Store(c41, row + w); }
            if (TRows.Value > 5) { T* row = c + 5 * ldc; Vector512.Store(c50, row); Vector512.Store(c51, row + w); }
            if (TRows.Value > 6) { T* row = c + 6 * ldc; Vector512.Store(c60, row); Vector512.Store(c61, row + w); }
            if (TRows.Value > 7) { T* row = c + 7 * ldc; Vector512.Store(c70, row); Vector512.Store(c71, row + w); }
            if (TRows.Value > 8) { T* row = c + 8 * ldc; Vector512.Store(c80, row); Vector512.Store(c81, row + w); }
            if (TRows.Value > 9) { T* row = c + 9 * ldc; Vector512.Store(c90, row); Vector512.Store(c91, row + w); }
            if (TRows.Value > 10) { T* row = c + 10 * ldc; Vector512.Store(c100, row); Vector512.Store(c101, row + w); }
            if (TRows.Value > 11) { T* row = c + 11 * ldc; Vector512.Store(c110, row); Vector512.Store(c111, row + w); }
            if (TRows.Value > 12) { T* row = c + 12 * ldc; Vector512.Store(c120, row); Vector512.Store(c121, row + w); }
            if (TRows.Value > 13) { T* row = c + 13 * ldc; Vector512.Store(c130, row); Vector512.Store(c131, row + w); }
        }
    }

    /// <summary>
    /// The AVX-512 micro-kernel for small products, reading A in place instead of from a packed panel:
    /// C[TRows, 2w] (+)= A[TRows, kc]·B[kc, 2w], A element (r, p) at a + r·aRowStride + p·aKStride (row-major A:
    /// aKStride = 1; transposed A: aRowStride = 1). At most <see cref="MrDirect"/> = 8 rows: the row offsets live in
    /// general-purpose registers (x64 has 16), and 16 accumulators still cover the FMA latency twice over.
    /// Packing a 16 × 64 block of A costs about as much as multiplying it by a 64 × 64 B, so small products skip it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KernelDirect512<T, TRows>(int kc, T* a, long aRowStride, long aKStride, T* b, long bStride, T* c, long ldc, bool accumulate)
        where T : unmanaged where TRows : struct, IRowCount
    {
        int w = Vector512<T>.Count;
        var zero = Vector512<T>.Zero;
        Vector512<T> c00 = zero, c01 = zero;
        Vector512<T> c10 = zero, c11 = zero;
        Vector512<T> c20 = zero, c21 = zero;
        Vector512<T> c30 = zero, c31 = zero;
        Vector512<T> c40 = zero, c41 = zero;
        Vector512<T> c50 = zero, c51 = zero;
        Vector512<T> c60 = zero, c61 = zero;
        Vector512<T> c70 = zero, c71 = zero;
        // Row offsets, loop-invariant, so every broadcast is one load [a + offset·sizeof(T)].
        long o1 = 1 * aRowStride, o2 = 2 * aRowStride, o3 = 3 * aRowStride, o4 = 4 * aRowStride, o5 = 5 * aRowStride, o6 = 6 * aRowStride, o7 = 7 * aRowStride;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + w);
            if (TRows.Value > 0) { var x = Vector512.Create(a[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01); }
            if (TRows.Value > 1) { var x = Vector512.Create(a[o1]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11); }
            if (TRows.Value > 2) { var x = Vector512.Create(a[o2]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21); }
            if (TRows.Value > 3) { var x = Vector512.Create(a[o3]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31); }
            if (TRows.Value > 4) { var x = Vector512.Create(a[o4]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41); }
            if (TRows.Value > 5) { var x = Vector512.Create(a[o5]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51); }
            if (TRows.Value > 6) { var x = Vector512.Create(a[o6]); c60 = Fma(x, b0, c60); c61 = Fma(x, b1, c61); }
            if (TRows.Value > 7) { var x = Vector512.Create(a[o7]); c70 = Fma(x, b0, c70); c71 = Fma(x, b1, c71); }
            a += aKStride;
            b += bStride;
        }
        if (accumulate)
        {
            if (TRows.Value > 0) { T* row = c + 0 * ldc; Vector512.Store(c00 + Vector512.Load(row), row); Vector512.Store(c01 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 1) { T* row = c + 1 * ldc; Vector512.Store(c10 + Vector512.Load(row), row); Vector512.Store(c11 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 2) { T* row = c + 2 * ldc; Vector512.Store(c20 + Vector512.Load(row), row); Vector512.Store(c21 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 3) { T* row = c + 3 * ldc; Vector512.Store(c30 + Vector512.Load(row), row); Vector512.Store(c31 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 4) { T* row = c + 4 * ldc; Vector512.Store(c40 + Vector512.Load(row), row); Vector512.Store(c41 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 5) { T* row = c + 5 * ldc; Vector512.Store(c50 + Vector512.Load(row), row); Vector512.Store(c51 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 6) { T* row = c + 6 * ldc; Vector512.Store(c60 + Vector512.Load(row), row); Vector512.Store(c61 + Vector512.Load(row + w), row + w); }
            if (TRows.Value > 7) { T* row = c + 7 * ldc; Vector512.Store(c70 + Vector512.Load(row), row); Vector512.Store(c71 + Vector512.Load(row + w), row + w); }
        }
        else
        {
            if (TRows.Value > 0) { T* row = c + 0 * ldc; Vector512.Store(c00, row); Vector512.Store(c01, row + w); }
            if (TRows.Value > 1) { T* row = c + 1 * ldc; Vector512.Store(c10, row); Vector512.Store(c11, row + w); }
            if (TRows.Value > 2) { T* row = c + 2 * ldc; Vector512.Store(c20, row); Vector512.Store(c21, row + w); }
            if (TRows.Value > 3) { T* row = c + 3 * ldc; Vector512.Store(c30, row); Vector512.Store(c31, row + w); }
            if (TRows.Value > 4) { T* row = c + 4 * ldc; Vector512.Store(c40, row); Vector512.Store(c41, row + w); }
            if (TRows.Value > 5) { T* row = c + 5 * ldc; Vector512.Store(c50, row); Vector512.Store(c51, row + w); }
            if (TRows.Value > 6) { T* row = c + 6 * ldc; Vector512.Store(c60, row); Vector512.Store(c61, row + w); }
            if (TRows.Value > 7) { T* row = c + 7 * ldc; Vector512.Store(c70, row); Vector512.Store(c71, row + w); }
        }
    }

    /// <summary>
    /// The AVX2 micro-kernel for CPUs without AVX-512: C[TRows, 2w] (+)= A·B with w = Vector256&lt;T&gt;.Count
    /// (6×16 float, 6×8 double): 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers.
    /// Parameters as <see cref="Kernel512{T, TRows}"/>; A panels hold <see cref="Mr256"/> values per k step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256<T, TRows>(int kc, T* a, T* b, long bStride, T* c, long ldc, bool accumulate)
        where T : unmanaged where TRows : struct, IRowCount
    {
        int w = Vector256<T>.Count;
        var zero = Vector256<T>.Zero;
        Vector256<T> c00 = zero, c01 = zero;
        Vector256<T> c10 = zero, c11 = zero;
        Vector256<T> c20 = zero, c21 = zero;
        Vector256<T> c30 = zero, c31 = zero;
        Vector256<T> c40 = zero, c41 = zero;
        Vector256<T> c50 = zero, c51 = zero;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + w);
            if (TRows.Value > 0) { var x = Vector256.Create(a[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01); }
            if (TRows.Value > 1) { var x = Vector256.Create(a[1]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11); }
            if (TRows.Value > 2) { var x = Vector256.Create(a[2]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21); }
            if (TRows.Value > 3) { var x = Vector256.Create(a[3]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31); }
            if (TRows.Value > 4) { var x = Vector256.Create(a[4]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41); }
            if (TRows.Value > 5) { var x = Vector256.Create(a[5]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51); }
            a += Mr256;
            b += bStride;
        }
        if (accumulate)
        {
            if (TRows.Value > 0) { T* row = c + 0 * ldc; Vector256.Store(c00 + Vector256.Load(row), row); Vector256.Store(c01 + Vector256.Load(row + w), row + w); }
            if (TRows.Value > 1) { T* row = c + 1 * ldc; Vector256.Store(c10 + Vector256.Load(row), row); Vector256.Store(c11 + Vector256.Load(row + w), row + w); }
            if (TRows.Value > 2) { T* row = c + 2 * ldc; Vector256.Store(c20 + Vector256.Load(row), row); Vector256.Store(c21 + Vector256.Load(row + w), row + w); }
            if (TRows.Value > 3) { T* row = c + 3 * ldc; Vector256.Store(c30 + Vector256.Load(row), row); Vector256.Store(c31 + Vector256.Load(row + w), row + w); }
            if (TRows.Value > 4) { T* row = c + 4 * ldc; Vector256.Store(c40 + Vector256.Load(row), row); Vector256.Store(c41 + Vector256.Load(row + w), row + w); }
            if (TRows.Value > 5) { T* row = c + 5 * ldc; Vector256.Store(c50 + Vector256.Load(row), row); Vector256.Store(c51 + Vector256.Load(row + w), row + w); }
        }
        else
        {
            if (TRows.Value > 0) { T* row = c + 0 * ldc; Vector256.Store(c00, row); Vector256.Store(c01, row + w); }
            if (TRows.Value > 1) { T* row = c + 1 * ldc; Vector256.Store(c10, row); Vector256.Store(c11, row + w); }
            if (TRows.Value > 2) { T* row = c + 2 * ldc; Vector256.Store(c20, row); Vector256.Store(c21, row + w); }
            if (TRows.Value > 3) { T* row = c + 3 * ldc; Vector256.Store(c30, row); Vector256.Store(c31, row + w); }
            if (TRows.Value > 4) { T* row = c + 4 * ldc; Vector256.Store(c40, row); Vector256.Store(c41, row + w); }
            if (TRows.Value > 5) { T* row = c + 5 * ldc; Vector256.Store(c50, row); Vector256.Store(c51, row + w); }
        }
    }
}
