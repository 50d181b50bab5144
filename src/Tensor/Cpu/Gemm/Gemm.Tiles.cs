using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ttt.Cpu;

public static unsafe partial class Gemm
{
    /// <summary>
    /// Rows of the AVX-512 micro-tile (MR): see <see cref="Kernel512{T, TRows}"/>. 14 × 2 vectors uses 31 of the 32
    /// zmm registers. In isolation (L1-resident panels, this machine) 12 × 2, 14 × 2 and 6 × 4 vectors all ran at
    /// about 190 GFLOP/s per core, 84 % of the FMA peak; 14 rows reads each B vector for the most FMAs (14) and
    /// makes the fewest passes over the packed B panels.
    /// </summary>
    internal const int Mr512 = 14;

    /// <summary>Rows of the AVX2 micro-tile (MR): see <see cref="Kernel256{T, TRows}"/>.</summary>
    internal const int Mr256 = 6;

    /// <summary>Most rows of a tile of the in-place-A kernel: see <see cref="KernelDirect512{T, TRows}"/>.</summary>
    internal const int MrDirect = 8;

    /// <summary>Rows of a micro-tile (MR) on this CPU; a JIT-time constant.</summary>
    internal static int Mr => Vector512.IsHardwareAccelerated ? Mr512 : Mr256;

    /// <summary>Columns of a micro-tile (NR): two vectors, 32 floats / 16 doubles with AVX-512.</summary>
    internal static int Nr<T>() where T : unmanaged =>
        Vector512.IsHardwareAccelerated ? 2 * Vector512<T>.Count : 2 * Vector256<T>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma<T>(Vector512<T> x, Vector512<T> y, Vector512<T> acc) where T : unmanaged =>
        typeof(T) == typeof(float)
            ? Vector512.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), acc.AsSingle()).As<float, T>()
            : Vector512.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), acc.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma<T>(Vector256<T> x, Vector256<T> y, Vector256<T> acc) where T : unmanaged =>
        typeof(T) == typeof(float)
            ? Vector256.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), acc.AsSingle()).As<float, T>()
            : Vector256.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), acc.AsDouble()).As<double, T>();

    /// <summary>
    /// Number of tiles a block of <paramref name="rows"/> rows is cut into: as few as tiles of at most
    /// <paramref name="maxRows"/> allow, and as even as possible (<see cref="TileStart"/>), so that a 16-row block
    /// is two tiles of 8, not 14 + 2 (a 2-row tile has too few accumulators to hide the FMA latency).
    /// </summary>
    private static int TileCount(int rows, int maxRows) => (rows + maxRows - 1) / maxRows;

    /// <summary>First row of tile <paramref name="t"/> of <paramref name="tiles"/> over <paramref name="rows"/> rows.</summary>
    private static int TileStart(int t, int rows, int tiles) => (int)((long)t * rows / tiles);

    /// <summary>
    /// One micro-tile: C[rows, NR] (+)= A[rows, kc]·B_panel[kc, NR], dispatching to the kernel compiled for exactly
    /// that many rows. A element (r, p) is at a + r·aRowStride + p·aKStride: a packed panel (1, MR) uses the packed
    /// kernel (1 ≤ rows ≤ MR); anything else reads A in place (1 ≤ rows ≤ <see cref="MrDirect"/>, AVX-512 only).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<T>(int rows, int kc, T* a, long aRowStride, long aKStride, T* b, long bStride, T* c, long ldc, bool accumulate)
        where T : unmanaged
    {
        for (int r = 0; r < rows && Sse.IsSupported; r++)
        {
            // The C tile is read (or written) only after the k loop: start fetching its lines now.
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0((byte*)(c + r * ldc) + 64);
        }
        if (aRowStride != 1 || aKStride != Mr)
        {
            switch (rows)
            {
                case 8: KernelDirect512<T, R8>(kc, a, aRowStride, aKStride, b, bStride, c, ldc, accumulate); break;
                case 7: KernelDirect512<T, R7>(kc, a, aRowStride, aKStride, b, bStride, c, ldc, accumulate); break;
                case 6: KernelDirect512<T, R6>(kc, a, aRowStride, aKStride, b, bStride, c, ldc, accumulate); break;
                case 5: KernelDirect512<T, R5>(kc, a, aRowStride, aKStride, b, bStride, c, ldc, accumulate); break;
                case 4: KernelDirect512<T, R4>(kc, a, aRowStride, aKStride, b, bStride, c, ldc, accumulate); break;
                case 3: KernelDirect512<T, R3>(kc, a, aRowStride, aKStride, b, bStride, c, ldc, accumulate); break;
                case 2: KernelDirect512<T, R2>(kc, a, aRowStride, aKStride, b, bStride, c, ldc, accumulate); break;
                case 1: KernelDirect512<T, R1>(kc, a, aRowStride, aKStride, b, bStride, c, ldc, accumulate); break;
                default: throw new ArgumentOutOfRangeException(nameof(rows), rows, "in-place micro-tile height");
            }
            return;
        }
        if (Vector512.IsHardwareAccelerated)
        {
            switch (rows)
            {
                case 14: Kernel512<T, R14>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 13: Kernel512<T, R13>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 12: Kernel512<T, R12>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 11: Kernel512<T, R11>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 10: Kernel512<T, R10>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 9: Kernel512<T, R9>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 8: Kernel512<T, R8>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 7: Kernel512<T, R7>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 6: Kernel512<T, R6>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 5: Kernel512<T, R5>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 4: Kernel512<T, R4>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 3: Kernel512<T, R3>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 2: Kernel512<T, R2>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 1: Kernel512<T, R1>(kc, a, b, bStride, c, ldc, accumulate); break;
                default: throw new ArgumentOutOfRangeException(nameof(rows), rows, "micro-tile height");
            }
        }
        else
        {
            switch (rows)
            {
                case 6: Kernel256<T, R6>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 5: Kernel256<T, R5>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 4: Kernel256<T, R4>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 3: Kernel256<T, R3>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 2: Kernel256<T, R2>(kc, a, b, bStride, c, ldc, accumulate); break;
                case 1: Kernel256<T, R1>(kc, a, b, bStride, c, ldc, accumulate); break;
                default: throw new ArgumentOutOfRangeException(nameof(rows), rows, "micro-tile height");
            }
        }
    }

    /// <summary>
    /// A micro-tile that sticks out of C on the right (cols &lt; NR): computed whole into a scratch tile on the stack,
    /// then its first <paramref name="cols"/> columns are written (or added) to C.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EdgeTile<T>(int rows, int cols, int kc, T* a, long aRowStride, long aKStride, T* b, long bStride, T* c, long ldc, bool accumulate)
        where T : unmanaged
    {
        int nr = Nr<T>();
        T* scratch = stackalloc T[Mr512 * 32];
        Tile(rows, kc, a, aRowStride, aKStride, b, bStride, scratch, nr, accumulate: false);
        for (int r = 0; r < rows; r++)
        {
            T* src = scratch + r * nr;
            T* dst = c + r * ldc;
            if (accumulate)
                for (int j = 0; j < cols; j++) dst[j] = Add(dst[j], src[j]);
            else
                new ReadOnlySpan<T>(src, cols).CopyTo(new Span<T>(dst, cols));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T Add<T>(T x, T y) where T : unmanaged =>
        typeof(T) == typeof(float)
            ? Unsafe.BitCast<float, T>(Unsafe.BitCast<T, float>(x) + Unsafe.BitCast<T, float>(y))
            : Unsafe.BitCast<double, T>(Unsafe.BitCast<T, double>(x) + Unsafe.BitCast<T, double>(y));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static T MulAdd<T>(T x, T y, T acc) where T : unmanaged =>
        typeof(T) == typeof(float)
            ? Unsafe.BitCast<float, T>(MathF.FusedMultiplyAdd(Unsafe.BitCast<T, float>(x), Unsafe.BitCast<T, float>(y), Unsafe.BitCast<T, float>(acc)))
            : Unsafe.BitCast<double, T>(Math.FusedMultiplyAdd(Unsafe.BitCast<T, double>(x), Unsafe.BitCast<T, double>(y), Unsafe.BitCast<T, double>(acc)));
}
