using System.Runtime.Intrinsics;

namespace Ttt.Cpu;

/// <summary>
/// General matrix multiply on the CPU: C = A·B for a batch of matrices, A and B with arbitrary element strides
/// (so transposed operands are plain views), C row-major. This is the entry point every CPU matmul goes through.
/// </summary>
public static unsafe partial class Gemm
{
    /// <summary>
    /// For every batch item i: C_i[m, n] = Σ_k A_i[m, k]·B_i[k, n], overwriting C_i.
    /// A_i element (m, k) is at a + aOffsets[i] + m·rsA + k·csA; B_i (k, n) at b + bOffsets[i] + k·rsB + n·csB;
    /// C_i (m, n) at c + cOffsets[i] + m·ldc + n. T is float or double. Uses up to <see cref="CpuParallel.Threads"/>.
    /// </summary>
    public static void Batched<T>(int m, int n, int k,
        T* a, ReadOnlySpan<long> aOffsets, long rsA, long csA,
        T* b, ReadOnlySpan<long> bOffsets, long rsB, long csB,
        T* c, ReadOnlySpan<long> cOffsets, long ldc) where T : unmanaged
    {
        int batch = cOffsets.Length;
        if (batch == 0 || m == 0 || n == 0) return;
        if (k == 0)
        {
            for (int i = 0; i < batch; i++)
                for (int r = 0; r < m; r++) new Span<T>(c + cOffsets[i] + r * ldc, n).Clear();
            return;
        }
        var ao = aOffsets.ToArray();
        var bo = bOffsets.ToArray();
        var co = cOffsets.ToArray();
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c;
        if (batch >= CpuParallel.Threads || (long)m * n * k < 1 << 15)
        {
            CpuParallel.For(batch, 1, (s, e) =>
            {
                for (long i = s; i < e; i++)
                    Simple<T>(m, n, k, (T*)pa + ao[i], rsA, csA, (T*)pb + bo[i], rsB, csB, (T*)pc + co[i], ldc, 0, m);
            });
        }
        else
        {
            for (int i = 0; i < batch; i++)
            {
                long aoi = ao[i], boi = bo[i], coi = co[i];
                CpuParallel.For(m, 8, (s, e) =>
                    Simple<T>(m, n, k, (T*)pa + aoi, rsA, csA, (T*)pb + boi, rsB, csB, (T*)pc + coi, ldc, (int)s, (int)e));
            }
        }
    }

    /// <summary>Rows [r0, r1) of C by row-axpy over B rows (placeholder until the packed kernel lands).</summary>
    private static void Simple<T>(int m, int n, int k, T* a, long rsA, long csA, T* b, long rsB, long csB, T* c, long ldc, int r0, int r1)
        where T : unmanaged
    {
        // Pack B into a contiguous K×N block when its rows are not unit-stride.
        T[]? packed = null;
        T* bp = b;
        long ldb = rsB;
        if (csB != 1)
        {
            packed = GC.AllocateUninitializedArray<T>(k * n, pinned: true);
            fixed (T* pp = packed)
            {
                for (int p = 0; p < k; p++)
                    for (int j = 0; j < n; j++) pp[p * n + j] = b[p * rsB + j * csB];
            }
        }
        fixed (T* pp = packed)
        {
            if (packed is not null)
            {
                bp = pp;
                ldb = n;
            }
            for (int i = r0; i < r1; i++)
            {
                T* crow = c + i * ldc;
                new Span<T>(crow, n).Clear();
                for (int p = 0; p < k; p++)
                {
                    T av = a[i * rsA + p * csA];
                    T* brow = bp + p * ldb;
                    int j = 0;
                    if (Vector512.IsHardwareAccelerated)
                    {
                        var va = Vector512.Create(av);
                        for (; j <= n - Vector512<T>.Count; j += Vector512<T>.Count)
                            Vector512.Store(Vector512.Load(crow + j) + va * Vector512.Load(brow + j), crow + j);
                    }
                    for (; j < n; j++)
                        crow[j] = Fast.VMath.Scalar<T>(Fast.VMath.ToDouble(crow[j]) + Fast.VMath.ToDouble(av) * Fast.VMath.ToDouble(brow[j]));
                }
            }
        }
    }
}
