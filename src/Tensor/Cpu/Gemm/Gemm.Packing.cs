using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Ttt.Cpu;

public static unsafe partial class Gemm
{
    /// <summary>
    /// A per-thread scratch buffer, 64-byte aligned (one cache line, one zmm), that only ever grows: after the first
    /// calls of a given size a GEMM allocates nothing. It lives in the pinned object heap, so the pointer is stable
    /// and the GC reclaims it when its thread ends.
    /// </summary>
    private sealed class ScratchBuffer<T> where T : unmanaged
    {
        private T[]? _array;
        private T* _aligned;
        private long _capacity;

        public T* Get(long elements)
        {
            if (elements > _capacity)
            {
                // Grow by at least half again, so a slowly increasing size does not reallocate every call.
                long capacity = Math.Max(elements, _capacity + _capacity / 2);
                int pad = 64 / sizeof(T);
                _array = GC.AllocateUninitializedArray<T>(checked((int)(capacity + pad)), pinned: true);
                nint start = (nint)Unsafe.AsPointer(ref _array[0]);
                _aligned = (T*)((start + 63) & ~(nint)63);
                _capacity = capacity;
            }
            return _aligned;
        }
    }

    /// <summary>The scratch buffers of the current thread, one set per element type.</summary>
    private static class Scratch<T> where T : unmanaged
    {
        [ThreadStatic] private static ScratchBuffer<T>? t_packedA;
        [ThreadStatic] private static ScratchBuffer<T>? t_packedB;
        [ThreadStatic] private static ScratchBuffer<T>? t_edgePanel;
        [ThreadStatic] private static ScratchBuffer<T>? t_vector;

        /// <summary>This thread's packed block of A (MC × KC).</summary>
        public static T* PackedA(long elements) => (t_packedA ??= new()).Get(elements);

        /// <summary>The packed block of B (KC × NC) of a GEMM opened on this thread, shared with its workers.</summary>
        public static T* PackedB(long elements) => (t_packedB ??= new()).Get(elements);

        /// <summary>One packed B micro-panel (KC × NR), for the ragged last panel when B is read in place.</summary>
        public static T* EdgePanel(long elements) => (t_edgePanel ??= new()).Get(elements);

        /// <summary>A contiguous copy of a strided vector (GEMV).</summary>
        public static T* Vector(long elements) => (t_vector ??= new()).Get(elements);
    }

    /// <summary>
    /// Packs rows [0, mc) × depth [0, kc) of A (element (i, p) at a + i·rsA + p·csA) into micro-panels: the rows are
    /// cut into <see cref="TileCount"/>(mc, MR) even tiles, and panel t holds tile t's rows as kc groups of MR slots,
    /// dst[t·MR·kc + p·MR + i], which is the order the micro-kernel broadcasts them in. Slots past a tile's height
    /// are not read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA<T>(int mc, int kc, T* a, long rsA, long csA, T* dst) where T : unmanaged
    {
        int mr = Mr;
        int tiles = TileCount(mc, mr);
        for (int t = 0; t < tiles; t++)
        {
            int i0 = TileStart(t, mc, tiles);
            int rows = TileStart(t + 1, mc, tiles) - i0;
            T* panel = dst + (long)t * mr * kc;
            T* src = a + i0 * rsA;
            if (csA == 1)
            {
                // Row-major A: each row is a contiguous run over p; four rows at a time keeps four read streams
                // and writes four of the MR slots of every k group.
                int i = 0;
                for (; i + 4 <= rows; i += 4)
                {
                    T* r0 = src + i * rsA, r1 = r0 + rsA, r2 = r1 + rsA, r3 = r2 + rsA;
                    T* d = panel + i;
                    for (int p = 0; p < kc; p++, d += mr)
                    {
                        d[0] = r0[p];
                        d[1] = r1[p];
                        d[2] = r2[p];
                        d[3] = r3[p];
                    }
                }
                for (; i < rows; i++)
                {
                    T* r0 = src + i * rsA;
                    T* d = panel + i;
                    for (int p = 0; p < kc; p++, d += mr) *d = r0[p];
                }
            }
            else if (rsA == 1)
            {
                // Transposed A (a view like x.MT): the MR values of one k group are already contiguous.
                for (int p = 0; p < kc; p++)
                    new ReadOnlySpan<T>(src + p * csA, rows).CopyTo(new Span<T>(panel + p * mr, rows));
            }
            else
            {
                for (int p = 0; p < kc; p++)
                    for (int i = 0; i < rows; i++) panel[p * mr + i] = src[i * rsA + p * csA];
            }
        }
    }

    /// <summary>
    /// Packs micro-panels [panel0, panel1) of the kc × nc block of B at b (element (p, j) at b + p·rsB + j·csB):
    /// panel q holds columns [q·NR, q·NR + NR) as kc rows of NR contiguous values, dst[q·NR·kc + p·NR + j]. Columns
    /// past nc are zero so that the ragged last panel can be computed with full vectors.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB<T>(int kc, int nc, T* b, long rsB, long csB, int panel0, int panel1, T* dst)
        where T : unmanaged
    {
        int nr = Nr<T>();
        for (int q = panel0; q < panel1; q++)
        {
            int j0 = q * nr;
            int cols = Math.Min(nr, nc - j0);
            PackBPanel(kc, cols, b + j0 * csB, rsB, csB, dst + (long)q * nr * kc);
        }
    }

    /// <summary>Packs one kc × cols (cols ≤ NR) panel of B as kc rows of NR values, zero-padding columns ≥ cols.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackBPanel<T>(int kc, int cols, T* b, long rsB, long csB, T* dst) where T : unmanaged
    {
        int nr = Nr<T>();
        if (csB == 1 && cols == nr)
        {
            // Row-major B: one k row of the panel is NR contiguous values, two vectors.
            if (Vector512.IsHardwareAccelerated)
            {
                int w = Vector512<T>.Count;
                for (int p = 0; p < kc; p++)
                {
                    T* s = b + p * rsB;
                    T* d = dst + p * nr;
                    Vector512.Store(Vector512.Load(s), d);
                    Vector512.Store(Vector512.Load(s + w), d + w);
                }
            }
            else
            {
                int w = Vector256<T>.Count;
                for (int p = 0; p < kc; p++)
                {
                    T* s = b + p * rsB;
                    T* d = dst + p * nr;
                    Vector256.Store(Vector256.Load(s), d);
                    Vector256.Store(Vector256.Load(s + w), d + w);
                }
            }
            return;
        }
        if (cols < nr)
            for (int p = 0; p < kc; p++) new Span<T>(dst + p * nr + cols, nr - cols).Clear();
        if (csB == 1)
        {
            for (int p = 0; p < kc; p++)
                new ReadOnlySpan<T>(b + p * rsB, cols).CopyTo(new Span<T>(dst + p * nr, cols));
        }
        else if (rsB == 1)
        {
            // Transposed B (a weight used as W.MT): each column is a contiguous run over p.
            int j = 0;
            for (; j + 4 <= cols; j += 4)
            {
                T* s0 = b + j * csB, s1 = s0 + csB, s2 = s1 + csB, s3 = s2 + csB;
                T* d = dst + j;
                for (int p = 0; p < kc; p++, d += nr)
                {
                    d[0] = s0[p];
                    d[1] = s1[p];
                    d[2] = s2[p];
                    d[3] = s3[p];
                }
            }
            for (; j < cols; j++)
            {
                T* s0 = b + j * csB;
                T* d = dst + j;
                for (int p = 0; p < kc; p++, d += nr) *d = s0[p];
            }
        }
        else
        {
            for (int p = 0; p < kc; p++)
                for (int j = 0; j < cols; j++) dst[p * nr + j] = b[p * rsB + j * csB];
        }
    }
}
