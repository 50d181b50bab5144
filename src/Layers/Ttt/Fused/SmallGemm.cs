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
    /// dst[j, i] = src[i, j] for i &lt; rows, j &lt; cols. Interior blocks use AVX-512 shuffles (16×16 float: in-lane
    /// unpacks and shuffles, then 128-bit lane shuffles; 8×8 double: two-source permutes); edges and machines
    /// without AVX-512 use scalar moves.
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

    private static class Idx8
    {
        // Stage s (bit k = 4 >> s): the low result takes lanes with bit k clear from the first row and the partner's
        // lane j − k into lanes with bit k set; the high result takes the first row's lane j + k into lanes with bit
        // k clear and the partner's own lanes where bit k is set. Index ≥ 8 selects the second source.
        // Layout: [lo0, hi0, lo1, hi1, lo2, hi2].
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

    /// <summary>
    /// One 16×16 float block. Stage 1 interleaves row pairs within each 128-bit lane (unpack), stage 2 gathers
    /// 4×4 sub-blocks within lanes (shuffle), so register u[4m + k] holds, in lane L, column 4L + k of rows
    /// 4m … 4m + 3. Stages 3 and 4 pick lane L of u[k], u[4 + k], u[8 + k], u[12 + k] into output row 4L + k
    /// (128-bit lane shuffles). In-lane shuffles issue at twice the rate of two-source permutes, which halves
    /// the time of an L1-resident transpose.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block16(float* src, nint lds, float* dst, nint ldd)
    {
        var r0 = Vector512.Load(src);
        var r1 = Vector512.Load(src + lds);
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
        // Stage 1: t[2p] = (a0 b0 a1 b1 | …), t[2p + 1] = (a2 b2 a3 b3 | …) for rows a = r[2p], b = r[2p + 1].
        var t0 = Avx512F.UnpackLow(r0, r1);
        var t1 = Avx512F.UnpackHigh(r0, r1);
        var t2 = Avx512F.UnpackLow(r2, r3);
        var t3 = Avx512F.UnpackHigh(r2, r3);
        var t4 = Avx512F.UnpackLow(r4, r5);
        var t5 = Avx512F.UnpackHigh(r4, r5);
        var t6 = Avx512F.UnpackLow(r6, r7);
        var t7 = Avx512F.UnpackHigh(r6, r7);
        var t8 = Avx512F.UnpackLow(r8, r9);
        var t9 = Avx512F.UnpackHigh(r8, r9);
        var t10 = Avx512F.UnpackLow(r10, r11);
        var t11 = Avx512F.UnpackHigh(r10, r11);
        var t12 = Avx512F.UnpackLow(r12, r13);
        var t13 = Avx512F.UnpackHigh(r12, r13);
        var t14 = Avx512F.UnpackLow(r14, r15);
        var t15 = Avx512F.UnpackHigh(r14, r15);
        // Stage 2: 0x44 takes the low pair of each lane of both sources, 0xEE the high pair.
        var u0 = Avx512F.Shuffle(t0, t2, 0x44);
        var u1 = Avx512F.Shuffle(t0, t2, 0xEE);
        var u2 = Avx512F.Shuffle(t1, t3, 0x44);
        var u3 = Avx512F.Shuffle(t1, t3, 0xEE);
        var u4 = Avx512F.Shuffle(t4, t6, 0x44);
        var u5 = Avx512F.Shuffle(t4, t6, 0xEE);
        var u6 = Avx512F.Shuffle(t5, t7, 0x44);
        var u7 = Avx512F.Shuffle(t5, t7, 0xEE);
        var u8 = Avx512F.Shuffle(t8, t10, 0x44);
        var u9 = Avx512F.Shuffle(t8, t10, 0xEE);
        var u10 = Avx512F.Shuffle(t9, t11, 0x44);
        var u11 = Avx512F.Shuffle(t9, t11, 0xEE);
        var u12 = Avx512F.Shuffle(t12, t14, 0x44);
        var u13 = Avx512F.Shuffle(t12, t14, 0xEE);
        var u14 = Avx512F.Shuffle(t13, t15, 0x44);
        var u15 = Avx512F.Shuffle(t13, t15, 0xEE);
        Lanes(u0, u4, u8, u12, dst, ldd);
        Lanes(u1, u5, u9, u13, dst + ldd, ldd);
        Lanes(u2, u6, u10, u14, dst + 2 * ldd, ldd);
        Lanes(u3, u7, u11, u15, dst + 3 * ldd, ldd);
    }

    /// <summary>
    /// Stages 3 and 4 for one k: output row 4L + k = (lane L of a, b, c, e). 0x88 takes lanes 0 and 2 of each
    /// source, 0xDD lanes 1 and 3.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lanes(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> e, float* dst, nint ldd)
    {
        var ab02 = Avx512F.Shuffle4x128(a, b, 0x88);
        var ab13 = Avx512F.Shuffle4x128(a, b, 0xDD);
        var ce02 = Avx512F.Shuffle4x128(c, e, 0x88);
        var ce13 = Avx512F.Shuffle4x128(c, e, 0xDD);
        Avx512F.Shuffle4x128(ab02, ce02, 0x88).Store(dst);
        Avx512F.Shuffle4x128(ab13, ce13, 0x88).Store(dst + 4 * ldd);
        Avx512F.Shuffle4x128(ab02, ce02, 0xDD).Store(dst + 8 * ldd);
        Avx512F.Shuffle4x128(ab13, ce13, 0xDD).Store(dst + 12 * ldd);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block8(double* src, nint lds, double* dst, nint ldd)
    {
        // All rows in registers; stage s swaps bit k = 4 >> s of the row and column index (see Idx8).
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
