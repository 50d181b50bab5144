using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ttt.Models.Fused;

/// <summary>How a small product is written into its destination.</summary>
internal enum Store
{
    /// <summary>C = A·B.</summary>
    Set,
    /// <summary>C += A·B.</summary>
    Add,
    /// <summary>C −= A·B.</summary>
    Sub,
}

/// <summary>
/// Register-blocked products of the small matrices inside one TTT mini-batch (K×d, d×d, d×4d, K×K), all resident
/// in a thread's scratch. One routine covers both A·B and Aᵀ·B: the left factor is read one scalar at a time
/// (broadcast) through a row stride and a column stride, so a transposed left factor costs nothing; the right
/// factor and the result are row-major with a column count that is a multiple of the register width (the
/// kernels pad every row to that width with zeros). A·Bᵀ with a large B is done by transposing B first
/// (<see cref="Transpose"/>).
/// </summary>
internal static unsafe class SmallGemm<T, TV, S> where T : unmanaged where TV : struct where S : struct, ISimd<T, TV>
{
    /// <summary>
    /// C[r, 0..cols) (store)= Σ_{j &lt; inner} A[r·ars + j·acs] · B[j·ldb + 0..cols) for r &lt; rows.
    /// cols must be a multiple of <c>S.Count</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Run(T* c, nint ldc, T* a, nint ars, nint acs, T* b, nint ldb, int rows, int inner, int cols, Store mode)
    {
        int w = S.Count;
        int nv = cols / w;
        if (rows <= 0 || nv <= 0) return;
        if (inner <= 0)
        {
            if (mode == Store.Set)
                for (int r = 0; r < rows; r++) new Span<T>(c + r * ldc, cols).Clear();
            return;
        }
        int v = 0;
        // Column panels of 4 registers: the panel of B (inner × 4w) stays in L1 while every row block uses it.
        for (; v + 4 <= nv; v += 4)
        {
            int r = 0;
            for (; r + 4 <= rows; r += 4) Tile4x4(c + r * ldc + v * w, ldc, a + r * ars, ars, acs, b + v * w, ldb, inner, mode);
            for (; r < rows; r++) Tile1x4(c + r * ldc + v * w, a + r * ars, acs, b + v * w, ldb, inner, mode);
        }
        for (; v < nv; v++)
        {
            int r = 0;
            for (; r + 8 <= rows; r += 8) Tile8x1(c + r * ldc + v * w, ldc, a + r * ars, ars, acs, b + v * w, ldb, inner, mode);
            for (; r + 4 <= rows; r += 4) Tile4x1(c + r * ldc + v * w, ldc, a + r * ars, ars, acs, b + v * w, ldb, inner, mode);
            for (; r < rows; r++) Tile1x1(c + r * ldc + v * w, a + r * ars, acs, b + v * w, ldb, inner, mode);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Put(T* c, TV acc, Store mode)
    {
        if (mode == Store.Set) S.Store(c, acc);
        else if (mode == Store.Add) S.Store(c, S.Add(S.Load(c), acc));
        else S.Store(c, S.Sub(S.Load(c), acc));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x4(T* c, nint ldc, T* a, nint ars, nint acs, T* b, nint ldb, int inner, Store mode)
    {
        int w = S.Count;
        TV c00 = S.Zero, c01 = S.Zero, c02 = S.Zero, c03 = S.Zero;
        TV c10 = S.Zero, c11 = S.Zero, c12 = S.Zero, c13 = S.Zero;
        TV c20 = S.Zero, c21 = S.Zero, c22 = S.Zero, c23 = S.Zero;
        TV c30 = S.Zero, c31 = S.Zero, c32 = S.Zero, c33 = S.Zero;
        T* a0 = a, a1 = a + ars, a2 = a + 2 * ars, a3 = a + 3 * ars;
        for (int j = 0; j < inner; j++)
        {
            TV b0 = S.Load(b), b1 = S.Load(b + w), b2 = S.Load(b + 2 * w), b3 = S.Load(b + 3 * w);
            TV x = S.Splat(*a0);
            c00 = S.Fma(x, b0, c00); c01 = S.Fma(x, b1, c01); c02 = S.Fma(x, b2, c02); c03 = S.Fma(x, b3, c03);
            x = S.Splat(*a1);
            c10 = S.Fma(x, b0, c10); c11 = S.Fma(x, b1, c11); c12 = S.Fma(x, b2, c12); c13 = S.Fma(x, b3, c13);
            x = S.Splat(*a2);
            c20 = S.Fma(x, b0, c20); c21 = S.Fma(x, b1, c21); c22 = S.Fma(x, b2, c22); c23 = S.Fma(x, b3, c23);
            x = S.Splat(*a3);
            c30 = S.Fma(x, b0, c30); c31 = S.Fma(x, b1, c31); c32 = S.Fma(x, b2, c32); c33 = S.Fma(x, b3, c33);
            a0 += acs; a1 += acs; a2 += acs; a3 += acs;
            b += ldb;
        }
        Put(c, c00, mode); Put(c + w, c01, mode); Put(c + 2 * w, c02, mode); Put(c + 3 * w, c03, mode);
        c += ldc;
        Put(c, c10, mode); Put(c + w, c11, mode); Put(c + 2 * w, c12, mode); Put(c + 3 * w, c13, mode);
        c += ldc;
        Put(c, c20, mode); Put(c + w, c21, mode); Put(c + 2 * w, c22, mode); Put(c + 3 * w, c23, mode);
        c += ldc;
        Put(c, c30, mode); Put(c + w, c31, mode); Put(c + 2 * w, c32, mode); Put(c + 3 * w, c33, mode);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile1x4(T* c, T* a, nint acs, T* b, nint ldb, int inner, Store mode)
    {
        int w = S.Count;
        TV c0 = S.Zero, c1 = S.Zero, c2 = S.Zero, c3 = S.Zero;
        for (int j = 0; j < inner; j++)
        {
            TV x = S.Splat(*a);
            c0 = S.Fma(x, S.Load(b), c0); c1 = S.Fma(x, S.Load(b + w), c1);
            c2 = S.Fma(x, S.Load(b + 2 * w), c2); c3 = S.Fma(x, S.Load(b + 3 * w), c3);
            a += acs;
            b += ldb;
        }
        Put(c, c0, mode); Put(c + w, c1, mode); Put(c + 2 * w, c2, mode); Put(c + 3 * w, c3, mode);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile8x1(T* c, nint ldc, T* a, nint ars, nint acs, T* b, nint ldb, int inner, Store mode)
    {
        TV c0 = S.Zero, c1 = S.Zero, c2 = S.Zero, c3 = S.Zero, c4 = S.Zero, c5 = S.Zero, c6 = S.Zero, c7 = S.Zero;
        for (int j = 0; j < inner; j++)
        {
            TV bv = S.Load(b);
            T* aj = a + j * acs;
            c0 = S.Fma(S.Splat(aj[0]), bv, c0);
            c1 = S.Fma(S.Splat(aj[ars]), bv, c1);
            c2 = S.Fma(S.Splat(aj[2 * ars]), bv, c2);
            c3 = S.Fma(S.Splat(aj[3 * ars]), bv, c3);
            c4 = S.Fma(S.Splat(aj[4 * ars]), bv, c4);
            c5 = S.Fma(S.Splat(aj[5 * ars]), bv, c5);
            c6 = S.Fma(S.Splat(aj[6 * ars]), bv, c6);
            c7 = S.Fma(S.Splat(aj[7 * ars]), bv, c7);
            b += ldb;
        }
        Put(c, c0, mode); Put(c + ldc, c1, mode); Put(c + 2 * ldc, c2, mode); Put(c + 3 * ldc, c3, mode);
        Put(c + 4 * ldc, c4, mode); Put(c + 5 * ldc, c5, mode); Put(c + 6 * ldc, c6, mode); Put(c + 7 * ldc, c7, mode);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x1(T* c, nint ldc, T* a, nint ars, nint acs, T* b, nint ldb, int inner, Store mode)
    {
        TV c0 = S.Zero, c1 = S.Zero, c2 = S.Zero, c3 = S.Zero;
        for (int j = 0; j < inner; j++)
        {
            TV bv = S.Load(b);
            T* aj = a + j * acs;
            c0 = S.Fma(S.Splat(aj[0]), bv, c0);
            c1 = S.Fma(S.Splat(aj[ars]), bv, c1);
            c2 = S.Fma(S.Splat(aj[2 * ars]), bv, c2);
            c3 = S.Fma(S.Splat(aj[3 * ars]), bv, c3);
            b += ldb;
        }
        Put(c, c0, mode); Put(c + ldc, c1, mode); Put(c + 2 * ldc, c2, mode); Put(c + 3 * ldc, c3, mode);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile1x1(T* c, T* a, nint acs, T* b, nint ldb, int inner, Store mode)
    {
        TV c0 = S.Zero;
        for (int j = 0; j < inner; j++)
        {
            c0 = S.Fma(S.Splat(*a), S.Load(b), c0);
            a += acs;
            b += ldb;
        }
        Put(c, c0, mode);
    }

    /// <summary>
    /// dst[j, i] = src[i, j] for i &lt; rows, j &lt; cols. Interior blocks use AVX-512 two-source permutes
    /// (16×16 float / 8×8 double: log₂ of the block size butterfly stages, each swapping one bit of the row and
    /// column index); edges and machines without AVX-512 use scalar moves.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Transpose(T* dst, nint ldd, T* src, nint lds, int rows, int cols)
    {
        int bs = typeof(T) == typeof(float) ? 16 : 8;
        int rb = 0, cb = 0;
        if (Avx512F.IsSupported)
        {
            rb = rows / bs * bs;
            cb = cols / bs * bs;
            for (int i = 0; i < rb; i += bs)
                for (int j = 0; j < cb; j += bs)
                {
                    if (typeof(T) == typeof(float)) Block16((float*)(src + i * lds + j), lds, (float*)(dst + j * ldd + i), ldd);
                    else Block8((double*)(src + i * lds + j), lds, (double*)(dst + j * ldd + i), ldd);
                }
        }
        // Scalar edges: the columns right of the blocked part for every row, then the rows below it.
        for (int i = 0; i < rows; i++)
        {
            int j0 = i < rb ? cb : 0;
            for (int j = j0; j < cols; j++) dst[j * ldd + i] = src[i * lds + j];
        }
    }

    private static class Idx16
    {
        // Stage s (bit k = 8 >> s): the low result takes lanes with bit k clear from the first row and the partner's
        // lane j − k into lanes with bit k set; the high result takes the first row's lane j + k into lanes with bit
        // k clear and the partner's own lanes where bit k is set. Index ≥ 16 selects the second source.
        // Layout: [lo0, hi0, lo1, hi1, …].
        public static readonly Vector512<int>[] All = Make();

        private static Vector512<int>[] Make()
        {
            var r = new Vector512<int>[8];
            for (int s = 0; s < 4; s++)
            {
                int k = 8 >> s;
                var lo = new int[16];
                var hi = new int[16];
                for (int j = 0; j < 16; j++)
                {
                    bool set = (j & k) != 0;
                    lo[j] = set ? 16 + j - k : j;
                    hi[j] = set ? 16 + j : j + k;
                }
                r[2 * s] = Vector512.Create(lo);
                r[2 * s + 1] = Vector512.Create(hi);
            }
            return r;
        }
    }

    private static class Idx8
    {
        public static readonly Vector512<long>[] All = Make();

        private static Vector512<long>[] Make()
        {
            var r = new Vector512<long>[6];
            for (int s = 0; s < 3; s++)
            {
                int k = 4 >> s;
                var lo = new long[8];
                var hi = new long[8];
                for (int j = 0; j < 8; j++)
                {
                    bool set = (j & k) != 0;
                    lo[j] = set ? 8 + j - k : j;
                    hi[j] = set ? 8 + j : j + k;
                }
                r[2 * s] = Vector512.Create(lo);
                r[2 * s + 1] = Vector512.Create(hi);
            }
            return r;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block16(float* src, nint lds, float* dst, nint ldd)
    {
        // All rows in registers; stage s swaps bit k = 8 >> s of the row and column index (see Lo/Hi).
        var ix = Idx16.All;
        var r0 = Vector512.Load(src + 0 * lds);
        var r1 = Vector512.Load(src + 1 * lds);
        var r2 = Vector512.Load(src + 2 * lds);
        var r3 = Vector512.Load(src + 3 * lds);
        var r4 = Vector512.Load(src + 4 * lds);
        var r5 = Vector512.Load(src + 5 * lds);
        var r6 = Vector512.Load(src + 6 * lds);
        var r7 = Vector512.Load(src + 7 * lds);
        var r8 = Vector512.Load(src + 8 * lds);
        var r9 = Vector512.Load(src + 9 * lds);
        var r10 = Vector512.Load(src + 10 * lds);
        var r11 = Vector512.Load(src + 11 * lds);
        var r12 = Vector512.Load(src + 12 * lds);
        var r13 = Vector512.Load(src + 13 * lds);
        var r14 = Vector512.Load(src + 14 * lds);
        var r15 = Vector512.Load(src + 15 * lds);
        var lo0 = ix[0];
        var hi0 = ix[1];
        (r0, r8) = (Avx512F.PermuteVar16x32x2(r0, lo0, r8), Avx512F.PermuteVar16x32x2(r0, hi0, r8));
        (r1, r9) = (Avx512F.PermuteVar16x32x2(r1, lo0, r9), Avx512F.PermuteVar16x32x2(r1, hi0, r9));
        (r2, r10) = (Avx512F.PermuteVar16x32x2(r2, lo0, r10), Avx512F.PermuteVar16x32x2(r2, hi0, r10));
        (r3, r11) = (Avx512F.PermuteVar16x32x2(r3, lo0, r11), Avx512F.PermuteVar16x32x2(r3, hi0, r11));
        (r4, r12) = (Avx512F.PermuteVar16x32x2(r4, lo0, r12), Avx512F.PermuteVar16x32x2(r4, hi0, r12));
        (r5, r13) = (Avx512F.PermuteVar16x32x2(r5, lo0, r13), Avx512F.PermuteVar16x32x2(r5, hi0, r13));
        (r6, r14) = (Avx512F.PermuteVar16x32x2(r6, lo0, r14), Avx512F.PermuteVar16x32x2(r6, hi0, r14));
        (r7, r15) = (Avx512F.PermuteVar16x32x2(r7, lo0, r15), Avx512F.PermuteVar16x32x2(r7, hi0, r15));
        var lo1 = ix[2];
        var hi1 = ix[3];
        (r0, r4) = (Avx512F.PermuteVar16x32x2(r0, lo1, r4), Avx512F.PermuteVar16x32x2(r0, hi1, r4));
        (r1, r5) = (Avx512F.PermuteVar16x32x2(r1, lo1, r5), Avx512F.PermuteVar16x32x2(r1, hi1, r5));
        (r2, r6) = (Avx512F.PermuteVar16x32x2(r2, lo1, r6), Avx512F.PermuteVar16x32x2(r2, hi1, r6));
        (r3, r7) = (Avx512F.PermuteVar16x32x2(r3, lo1, r7), Avx512F.PermuteVar16x32x2(r3, hi1, r7));
        (r8, r12) = (Avx512F.PermuteVar16x32x2(r8, lo1, r12), Avx512F.PermuteVar16x32x2(r8, hi1, r12));
        (r9, r13) = (Avx512F.PermuteVar16x32x2(r9, lo1, r13), Avx512F.PermuteVar16x32x2(r9, hi1, r13));
        (r10, r14) = (Avx512F.PermuteVar16x32x2(r10, lo1, r14), Avx512F.PermuteVar16x32x2(r10, hi1, r14));
        (r11, r15) = (Avx512F.PermuteVar16x32x2(r11, lo1, r15), Avx512F.PermuteVar16x32x2(r11, hi1, r15));
        var lo2 = ix[4];
        var hi2 = ix[5];
        (r0, r2) = (Avx512F.PermuteVar16x32x2(r0, lo2, r2), Avx512F.PermuteVar16x32x2(r0, hi2, r2));
        (r1, r3) = (Avx512F.PermuteVar16x32x2(r1, lo2, r3), Avx512F.PermuteVar16x32x2(r1, hi2, r3));
        (r4, r6) = (Avx512F.PermuteVar16x32x2(r4, lo2, r6), Avx512F.PermuteVar16x32x2(r4, hi2, r6));
        (r5, r7) = (Avx512F.PermuteVar16x32x2(r5, lo2, r7), Avx512F.PermuteVar16x32x2(r5, hi2, r7));
        (r8, r10) = (Avx512F.PermuteVar16x32x2(r8, lo2, r10), Avx512F.PermuteVar16x32x2(r8, hi2, r10));
        (r9, r11) = (Avx512F.PermuteVar16x32x2(r9, lo2, r11), Avx512F.PermuteVar16x32x2(r9, hi2, r11));
        (r12, r14) = (Avx512F.PermuteVar16x32x2(r12, lo2, r14), Avx512F.PermuteVar16x32x2(r12, hi2, r14));
        (r13, r15) = (Avx512F.PermuteVar16x32x2(r13, lo2, r15), Avx512F.PermuteVar16x32x2(r13, hi2, r15));
        var lo3 = ix[6];
        var hi3 = ix[7];
        (r0, r1) = (Avx512F.PermuteVar16x32x2(r0, lo3, r1), Avx512F.PermuteVar16x32x2(r0, hi3, r1));
        (r2, r3) = (Avx512F.PermuteVar16x32x2(r2, lo3, r3), Avx512F.PermuteVar16x32x2(r2, hi3, r3));
        (r4, r5) = (Avx512F.PermuteVar16x32x2(r4, lo3, r5), Avx512F.PermuteVar16x32x2(r4, hi3, r5));
        (r6, r7) = (Avx512F.PermuteVar16x32x2(r6, lo3, r7), Avx512F.PermuteVar16x32x2(r6, hi3, r7));
        (r8, r9) = (Avx512F.PermuteVar16x32x2(r8, lo3, r9), Avx512F.PermuteVar16x32x2(r8, hi3, r9));
        (r10, r11) = (Avx512F.PermuteVar16x32x2(r10, lo3, r11), Avx512F.PermuteVar16x32x2(r10, hi3, r11));
        (r12, r13) = (Avx512F.PermuteVar16x32x2(r12, lo3, r13), Avx512F.PermuteVar16x32x2(r12, hi3, r13));
        (r14, r15) = (Avx512F.PermuteVar16x32x2(r14, lo3, r15), Avx512F.PermuteVar16x32x2(r14, hi3, r15));
        r0.Store(dst + 0 * ldd);
        r1.Store(dst + 1 * ldd);
        r2.Store(dst + 2 * ldd);
        r3.Store(dst + 3 * ldd);
        r4.Store(dst + 4 * ldd);
        r5.Store(dst + 5 * ldd);
        r6.Store(dst + 6 * ldd);
        r7.Store(dst + 7 * ldd);
        r8.Store(dst + 8 * ldd);
        r9.Store(dst + 9 * ldd);
        r10.Store(dst + 10 * ldd);
        r11.Store(dst + 11 * ldd);
        r12.Store(dst + 12 * ldd);
        r13.Store(dst + 13 * ldd);
        r14.Store(dst + 14 * ldd);
        r15.Store(dst + 15 * ldd);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block8(double* src, nint lds, double* dst, nint ldd)
    {
        // All rows in registers; stage s swaps bit k = 4 >> s of the row and column index (see Lo/Hi).
        var ix = Idx8.All;
        var r0 = Vector512.Load(src + 0 * lds);
        var r1 = Vector512.Load(src + 1 * lds);
        var r2 = Vector512.Load(src + 2 * lds);
        var r3 = Vector512.Load(src + 3 * lds);
        var r4 = Vector512.Load(src + 4 * lds);
        var r5 = Vector512.Load(src + 5 * lds);
        var r6 = Vector512.Load(src + 6 * lds);
        var r7 = Vector512.Load(src + 7 * lds);
        var lo0 = ix[0];
        var hi0 = ix[1];
        (r0, r4) = (Avx512F.PermuteVar8x64x2(r0, lo0, r4), Avx512F.PermuteVar8x64x2(r0, hi0, r4));
        (r1, r5) = (Avx512F.PermuteVar8x64x2(r1, lo0, r5), Avx512F.PermuteVar8x64x2(r1, hi0, r5));
        (r2, r6) = (Avx512F.PermuteVar8x64x2(r2, lo0, r6), Avx512F.PermuteVar8x64x2(r2, hi0, r6));
        (r3, r7) = (Avx512F.PermuteVar8x64x2(r3, lo0, r7), Avx512F.PermuteVar8x64x2(r3, hi0, r7));
        var lo1 = ix[2];
        var hi1 = ix[3];
        (r0, r2) = (Avx512F.PermuteVar8x64x2(r0, lo1, r2), Avx512F.PermuteVar8x64x2(r0, hi1, r2));
        (r1, r3) = (Avx512F.PermuteVar8x64x2(r1, lo1, r3), Avx512F.PermuteVar8x64x2(r1, hi1, r3));
        (r4, r6) = (Avx512F.PermuteVar8x64x2(r4, lo1, r6), Avx512F.PermuteVar8x64x2(r4, hi1, r6));
        (r5, r7) = (Avx512F.PermuteVar8x64x2(r5, lo1, r7), Avx512F.PermuteVar8x64x2(r5, hi1, r7));
        var lo2 = ix[4];
        var hi2 = ix[5];
        (r0, r1) = (Avx512F.PermuteVar8x64x2(r0, lo2, r1), Avx512F.PermuteVar8x64x2(r0, hi2, r1));
        (r2, r3) = (Avx512F.PermuteVar8x64x2(r2, lo2, r3), Avx512F.PermuteVar8x64x2(r2, hi2, r3));
        (r4, r5) = (Avx512F.PermuteVar8x64x2(r4, lo2, r5), Avx512F.PermuteVar8x64x2(r4, hi2, r5));
        (r6, r7) = (Avx512F.PermuteVar8x64x2(r6, lo2, r7), Avx512F.PermuteVar8x64x2(r6, hi2, r7));
        r0.Store(dst + 0 * ldd);
        r1.Store(dst + 1 * ldd);
        r2.Store(dst + 2 * ldd);
        r3.Store(dst + 3 * ldd);
        r4.Store(dst + 4 * ldd);
        r5.Store(dst + 5 * ldd);
        r6.Store(dst + 6 * ldd);
        r7.Store(dst + 7 * ldd);
    }
}
