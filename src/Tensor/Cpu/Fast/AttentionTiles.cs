using System.Numerics;
using System.Runtime.CompilerServices;

namespace Ttt.Cpu.Fast;

/// <summary>
/// The small matrix products inside the blockwise attention kernels (tiles of at most 64–128 rows and columns
/// that live in L1/L2): C[M, N] (=, +=) A[M, K]·B[K, N], where B's rows are unit-stride (a key, value or output
/// row, or a packed transposed block) and A may be read with any strides (so Pᵀ and dSᵀ are plain stride swaps).
/// Register-blocked outer products: 4 rows of C × 4, 2 or 1 vectors of columns held in registers while the K loop
/// broadcasts one A element per row and streams one B row; the last columns (N not a multiple of the vector
/// width) run scalar. Rows past M in the last group re-read row M−1 and are not stored, so there is no row tail.
/// </summary>
internal static unsafe class AttentionTiles
{
    /// <summary>
    /// C(m, n) = [C(m, n) +] Σₖ A(m, k)·B(k, n) with A(m, k) at a[m·rsA + k·csA], B(k, n) at b[k·ldb + n] and
    /// C(m, n) at c[m·ldc + n]; m &lt; <paramref name="mCount"/>, n &lt; <paramref name="nCount"/>, k &lt; <paramref name="kCount"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply<T, TV, TS>(int mCount, int nCount, int kCount, T* a, nint rsA, nint csA, T* b, nint ldb,
        T* c, nint ldc, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        if (mCount <= 0 || nCount <= 0) return;
        int w = TS.Count;
        // 4 vectors of columns need 16 accumulators + 4 B vectors + 1 broadcast: only 512-bit code has the 32
        // registers for that (AVX2 has 16), so narrower vectors start at 2-vector panels.
        bool widePanels = Unsafe.SizeOf<TV>() == 64;
        for (int i = 0; i < mCount; i += 4)
        {
            int rows = Math.Min(4, mCount - i);
            T* a0 = a + i * rsA;
            T* a1 = a + Math.Min(i + 1, mCount - 1) * rsA;
            T* a2 = a + Math.Min(i + 2, mCount - 1) * rsA;
            T* a3 = a + Math.Min(i + 3, mCount - 1) * rsA;
            T* ci = c + i * ldc;
            int j = 0;
            if (widePanels)
                for (; j + 4 * w <= nCount; j += 4 * w)
                    Panel4<T, TV, TS>(kCount, a0, a1, a2, a3, csA, b + j, ldb, ci + j, ldc, rows, accumulate);
            for (; j + 2 * w <= nCount; j += 2 * w)
                Panel2<T, TV, TS>(kCount, a0, a1, a2, a3, csA, b + j, ldb, ci + j, ldc, rows, accumulate);
            for (; j + w <= nCount; j += w)
                Panel1<T, TV, TS>(kCount, a0, a1, a2, a3, csA, b + j, ldb, ci + j, ldc, rows, accumulate);
            for (; j < nCount; j++)
                for (int r = 0; r < rows; r++)
                {
                    T* ar = a + (i + r) * rsA;
                    T sum = accumulate ? ci[r * ldc + j] : T.Zero;
                    for (int p = 0; p < kCount; p++) sum += ar[p * csA] * b[p * ldb + j];
                    ci[r * ldc + j] = sum;
                }
        }
    }

    // 4 rows × 4 vectors: 16 accumulators.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Panel4<T, TV, TS>(int kCount, T* a0, T* a1, T* a2, T* a3, nint csA, T* b, nint ldb, T* c, nint ldc,
        int rows, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count;
        TV c00 = TS.Zero, c01 = TS.Zero, c02 = TS.Zero, c03 = TS.Zero;
        TV c10 = TS.Zero, c11 = TS.Zero, c12 = TS.Zero, c13 = TS.Zero;
        TV c20 = TS.Zero, c21 = TS.Zero, c22 = TS.Zero, c23 = TS.Zero;
        TV c30 = TS.Zero, c31 = TS.Zero, c32 = TS.Zero, c33 = TS.Zero;
        for (int p = 0; p < kCount; p++)
        {
            T* bp = b + p * ldb;
            TV b0 = TS.Load(bp), b1 = TS.Load(bp + w), b2 = TS.Load(bp + 2 * w), b3 = TS.Load(bp + 3 * w);
            nint o = p * csA;
            TV x = TS.Splat(a0[o]);
            c00 = TS.MulAdd(x, b0, c00); c01 = TS.MulAdd(x, b1, c01); c02 = TS.MulAdd(x, b2, c02); c03 = TS.MulAdd(x, b3, c03);
            x = TS.Splat(a1[o]);
            c10 = TS.MulAdd(x, b0, c10); c11 = TS.MulAdd(x, b1, c11); c12 = TS.MulAdd(x, b2, c12); c13 = TS.MulAdd(x, b3, c13);
            x = TS.Splat(a2[o]);
            c20 = TS.MulAdd(x, b0, c20); c21 = TS.MulAdd(x, b1, c21); c22 = TS.MulAdd(x, b2, c22); c23 = TS.MulAdd(x, b3, c23);
            x = TS.Splat(a3[o]);
            c30 = TS.MulAdd(x, b0, c30); c31 = TS.MulAdd(x, b1, c31); c32 = TS.MulAdd(x, b2, c32); c33 = TS.MulAdd(x, b3, c33);
        }
        StoreRow<T, TV, TS>(c, w, accumulate, c00, c01, c02, c03);
        if (rows > 1) StoreRow<T, TV, TS>(c + ldc, w, accumulate, c10, c11, c12, c13);
        if (rows > 2) StoreRow<T, TV, TS>(c + 2 * ldc, w, accumulate, c20, c21, c22, c23);
        if (rows > 3) StoreRow<T, TV, TS>(c + 3 * ldc, w, accumulate, c30, c31, c32, c33);
    }

    // 4 rows × 2 vectors: 8 accumulators.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Panel2<T, TV, TS>(int kCount, T* a0, T* a1, T* a2, T* a3, nint csA, T* b, nint ldb, T* c, nint ldc,
        int rows, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        int w = TS.Count;
        TV c00 = TS.Zero, c01 = TS.Zero, c10 = TS.Zero, c11 = TS.Zero;
        TV c20 = TS.Zero, c21 = TS.Zero, c30 = TS.Zero, c31 = TS.Zero;
        for (int p = 0; p < kCount; p++)
        {
            T* bp = b + p * ldb;
            TV b0 = TS.Load(bp), b1 = TS.Load(bp + w);
            nint o = p * csA;
            TV x = TS.Splat(a0[o]);
            c00 = TS.MulAdd(x, b0, c00); c01 = TS.MulAdd(x, b1, c01);
            x = TS.Splat(a1[o]);
            c10 = TS.MulAdd(x, b0, c10); c11 = TS.MulAdd(x, b1, c11);
            x = TS.Splat(a2[o]);
            c20 = TS.MulAdd(x, b0, c20); c21 = TS.MulAdd(x, b1, c21);
            x = TS.Splat(a3[o]);
            c30 = TS.MulAdd(x, b0, c30); c31 = TS.MulAdd(x, b1, c31);
        }
        StoreRow<T, TV, TS>(c, w, accumulate, c00, c01);
        if (rows > 1) StoreRow<T, TV, TS>(c + ldc, w, accumulate, c10, c11);
        if (rows > 2) StoreRow<T, TV, TS>(c + 2 * ldc, w, accumulate, c20, c21);
        if (rows > 3) StoreRow<T, TV, TS>(c + 3 * ldc, w, accumulate, c30, c31);
    }

    // 4 rows × 1 vector: 4 accumulators.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Panel1<T, TV, TS>(int kCount, T* a0, T* a1, T* a2, T* a3, nint csA, T* b, nint ldb, T* c, nint ldc,
        int rows, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        TV c0 = TS.Zero, c1 = TS.Zero, c2 = TS.Zero, c3 = TS.Zero;
        for (int p = 0; p < kCount; p++)
        {
            TV b0 = TS.Load(b + p * ldb);
            nint o = p * csA;
            c0 = TS.MulAdd(TS.Splat(a0[o]), b0, c0);
            c1 = TS.MulAdd(TS.Splat(a1[o]), b0, c1);
            c2 = TS.MulAdd(TS.Splat(a2[o]), b0, c2);
            c3 = TS.MulAdd(TS.Splat(a3[o]), b0, c3);
        }
        StoreOne<T, TV, TS>(c, accumulate, c0);
        if (rows > 1) StoreOne<T, TV, TS>(c + ldc, accumulate, c1);
        if (rows > 2) StoreOne<T, TV, TS>(c + 2 * ldc, accumulate, c2);
        if (rows > 3) StoreOne<T, TV, TS>(c + 3 * ldc, accumulate, c3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreOne<T, TV, TS>(T* c, bool accumulate, TV v)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T> =>
        TS.Store(accumulate ? TS.Add(TS.Load(c), v) : v, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<T, TV, TS>(T* c, int w, bool accumulate, TV v0, TV v1)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        StoreOne<T, TV, TS>(c, accumulate, v0);
        StoreOne<T, TV, TS>(c + w, accumulate, v1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreRow<T, TV, TS>(T* c, int w, bool accumulate, TV v0, TV v1, TV v2, TV v3)
        where T : unmanaged, IFloatingPointIeee754<T>
        where TV : struct
        where TS : struct, IAttentionSimd<TV, T>
    {
        StoreOne<T, TV, TS>(c, accumulate, v0);
        StoreOne<T, TV, TS>(c + w, accumulate, v1);
        StoreOne<T, TV, TS>(c + 2 * w, accumulate, v2);
        StoreOne<T, TV, TS>(c + 3 * w, accumulate, v3);
    }
}
