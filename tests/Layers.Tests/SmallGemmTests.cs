using System.Runtime.Intrinsics;
using Ttt.Models.Fused;

namespace Ttt.Tests;

/// <summary>
/// The register-blocked products and transposes inside the fused scan kernels (src/Layers/Ttt/Fused/SmallGemm.cs)
/// against plain loops: transposes must move every element exactly (block interiors and scalar edges, sizes on
/// both sides of the 16×16 and 8×8 blocks); products must match a double-precision sum for every store mode,
/// a plain and a transposed left factor, and every tile remainder, at each register width the machine has.
/// </summary>
public unsafe class SmallGemmTests
{
    public static TheoryData<int, int> TransposeSizes()
    {
        var data = new TheoryData<int, int>();
        foreach (int rows in new[] { 1, 7, 8, 15, 16, 17, 32, 33, 64 })
            foreach (int cols in new[] { 1, 9, 16, 31, 48, 256 })
                data.Add(rows, cols);
        return data;
    }

    [Theory]
    [MemberData(nameof(TransposeSizes))]
    public void Transpose_moves_every_element_exactly(int rows, int cols)
    {
        Check<float>(rows, cols, (d, ldd, s, lds) => SmallGemm<float, Vector128<float>, S128<float>>.Transpose(d, ldd, s, lds, rows, cols));
        Check<double>(rows, cols, (d, ldd, s, lds) => SmallGemm<double, Vector128<double>, S128<double>>.Transpose(d, ldd, s, lds, rows, cols));

        static void Check<T>(int rows, int cols, TransposeCall<T> call) where T : unmanaged
        {
            // Leading dimensions larger than the matrix, and a sentinel around the destination's used part.
            int lds = cols + 3, ldd = rows + 5;
            var src = new T[rows * lds];
            var dst = new T[cols * ldd];
            for (int i = 0; i < src.Length; i++) src[i] = Num.Of<T>(i + 1);
            Array.Fill(dst, Num.Of<T>(-1));
            fixed (T* s = src, d = dst) call(d, ldd, s, lds);
            for (int j = 0; j < cols; j++)
                for (int i = 0; i < ldd; i++)
                {
                    double expected = i < rows ? Num.D(src[i * lds + j]) : -1;
                    Assert.True(Num.D(dst[j * ldd + i]) == expected,
                        $"{typeof(T).Name} {rows}×{cols}: dst[{j}, {i}] = {Num.D(dst[j * ldd + i])}, expected {expected}");
                }
        }
    }

    private delegate void TransposeCall<T>(T* dst, nint ldd, T* src, nint lds) where T : unmanaged;

    public static TheoryData<int, int, int, bool, string> ProductCases()
    {
        var data = new TheoryData<int, int, int, bool, string>();
        foreach (var (rows, inner, vectors) in new[] { (1, 1, 1), (3, 5, 3), (4, 16, 4), (9, 7, 5), (13, 64, 8), (16, 256, 4), (17, 3, 9) })
            foreach (bool transposedA in new[] { false, true })
                foreach (string mode in new[] { "Set", "Add", "Sub" })
                    data.Add(rows, inner, vectors, transposedA, mode);
        return data;
    }

    [Theory]
    [MemberData(nameof(ProductCases))]
    public void Products_match_a_double_precision_sum(int rows, int inner, int vectors, bool transposedA, string storeMode)
    {
        var mode = Enum.Parse<Store>(storeMode);
        if (Vector512.IsHardwareAccelerated)
        {
            Check<float, Vector512<float>, S512<float>>(rows, inner, vectors, transposedA, mode);
            Check<double, Vector512<double>, S512<double>>(rows, inner, vectors, transposedA, mode);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            Check<float, Vector256<float>, S256<float>>(rows, inner, vectors, transposedA, mode);
            Check<double, Vector256<double>, S256<double>>(rows, inner, vectors, transposedA, mode);
        }
        Check<float, Vector128<float>, S128<float>>(rows, inner, vectors, transposedA, mode);
        Check<double, Vector128<double>, S128<double>>(rows, inner, vectors, transposedA, mode);

        static void Check<T, TV, S>(int rows, int inner, int vectors, bool transposedA, Store mode)
            where T : unmanaged where TV : struct where S : struct, ISimd<T, TV>
        {
            int cols = vectors * S.Count, ldb = cols + S.Count, ldc = cols + 2 * S.Count;
            var rng = new Random(rows * 1000 + inner * 10 + vectors);
            T Next() => Num.Of<T>(rng.NextDouble() * 2 - 1);
            // A is rows × inner, stored row-major or transposed (inner × rows), each with a padded leading dimension.
            int lda = (transposedA ? rows : inner) + 1;
            var a = new T[(transposedA ? inner : rows) * lda];
            var b = new T[inner * ldb];
            var c = new T[rows * ldc];
            for (int i = 0; i < a.Length; i++) a[i] = Next();
            for (int i = 0; i < b.Length; i++) b[i] = Next();
            for (int i = 0; i < c.Length; i++) c[i] = Next();
            var before = (T[])c.Clone();
            nint ars = transposedA ? 1 : lda, acs = transposedA ? lda : 1;
            fixed (T* pa = a, pb = b, pc = c) SmallGemm<T, TV, S>.Run(pc, ldc, pa, ars, acs, pb, ldb, rows, inner, cols, mode);
            double tol = typeof(T) == typeof(float) ? 1e-5 * Math.Sqrt(inner) : 1e-13 * Math.Sqrt(inner);
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < ldc; j++)
                {
                    double old = Num.D(before[r * ldc + j]), got = Num.D(c[r * ldc + j]);
                    if (j >= cols)
                    {
                        Assert.True(got == old, $"{typeof(TV).Name}: column {j} beyond cols {cols} was written");
                        continue;
                    }
                    double sum = 0;
                    for (int k = 0; k < inner; k++) sum += Num.D(a[r * ars + k * acs]) * Num.D(b[k * ldb + j]);
                    double expected = mode switch { Store.Set => sum, Store.Add => old + sum, _ => old - sum };
                    Assert.True(Math.Abs(got - expected) <= tol * (1 + Math.Abs(expected)),
                        $"{typeof(TV).Name} {rows}×{inner}×{cols} transposedA={transposedA} {mode}: C[{r}, {j}] = {got}, expected {expected}");
                }
        }
    }
}
