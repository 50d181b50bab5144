using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Ttt.Backends;
using Ttt.Cpu.Fast;

namespace Ttt.Cpu;

/// <summary>
/// The CPU fast path: SIMD (<c>Vector512</c> where the CPU has AVX-512, else <c>Vector256</c>), multi-threaded over
/// independent work (<see cref="CpuParallel"/>), strided inputs iterated in place after merging mergeable dims, and
/// a packed matmul (<see cref="Gemm"/>). Int64 work and rare primitives go through the reference loops.
/// Every primitive is tested against <see cref="CpuReferenceBackend"/> on random shapes, strides and broadcasts.
/// </summary>
public sealed class CpuFastBackend : IBackend
{
    /// <summary>The single instance.</summary>
    public static readonly CpuFastBackend Instance = new();

    private static readonly CpuReferenceBackend Ref = CpuReferenceBackend.Instance;

    private CpuFastBackend() { }

    /// <inheritdoc/>
    public Device Device => Device.Cpu;

    /// <inheritdoc/>
    public string Name => "cpu";

    /// <inheritdoc/>
    public Storage Allocate(DType dtype, long length, bool zero) => CpuStorage.Allocate(dtype, length, zero);

    /// <inheritdoc/>
    public void CopyFromHost<T>(ReadOnlySpan<T> src, Storage dst, long dstOffset) where T : unmanaged =>
        src.CopyTo(((CpuStorage)dst).Span<T>()[(int)dstOffset..]);

    /// <inheritdoc/>
    public void CopyToHost<T>(Storage src, long srcOffset, Span<T> dst) where T : unmanaged =>
        ((CpuStorage)src).Span<T>().Slice((int)srcOffset, dst.Length).CopyTo(dst);

    /// <inheritdoc/>
    public void Copy(Tensor src, Tensor dst)
    {
        if (src.DType != dst.DType)
        {
            Ref.Copy(src, dst);
            return;
        }
        switch (src.DType)
        {
            case DType.Float32: CopySame<float>(src, dst); break;
            case DType.Float64: CopySame<double>(src, dst); break;
            default: CopySame<long>(src, dst); break;
        }
    }

    private static void CopySame<T>(Tensor src, Tensor dst) where T : unmanaged
    {
        var l = Layout.Of(dst, src);
        if (IsTranspose(l))
        {
            CopyTransposed<T>(l, src, dst);
            return;
        }
        var sd = dst.Cpu();
        var ss = src.Cpu();
        CpuParallel.For(l.Numel, 1 << 16, (start, end) =>
        {
            ref T d0 = ref sd.Ref<T>();
            ref T s0 = ref ss.Ref<T>();
            long inner = l.Inner, ds = l.Strides[0][^1], sstr = l.Strides[1][^1];
            for (long pos = start; pos < end;)
            {
                long row = pos / inner;
                int col = (int)(pos % inner);
                int count = (int)Math.Min(inner - col, end - pos);
                long dOff = l.RowOffset(0, row) + col * ds, sOff = l.RowOffset(1, row) + col * sstr;
                if (ds == 1 && sstr == 1)
                    MemoryMarshalCopy(ref Unsafe.Add(ref s0, (nint)sOff), ref Unsafe.Add(ref d0, (nint)dOff), count);
                else
                    for (int i = 0; i < count; i++)
                        Unsafe.Add(ref d0, (nint)(dOff + i * ds)) = Unsafe.Add(ref s0, (nint)(sOff + i * sstr));
                pos += count;
            }
        });
    }

    /// <summary>
    /// A transposed copy: the last two coalesced dims [R, C] of a dense dst read a source whose rows are the
    /// contiguous dim (src stride 1 over R, not over C), e.g. Wᵀ.Contiguous(). Element order would read the source
    /// one element per cache line.
    /// </summary>
    private static bool IsTranspose(Layout l) =>
        l.Shape.Length >= 2 && l.Strides[0][^1] == 1 && l.Strides[0][^2] == l.Inner && l.Strides[1][^2] == 1 && l.Strides[1][^1] != 1;

    /// <summary>Copies each [R, C] plane in 32×32 tiles, so that both sides touch whole cache lines.</summary>
    private static void CopyTransposed<T>(Layout l, Tensor src, Tensor dst) where T : unmanaged
    {
        const int tile = 32;
        int rows = l.Shape[^2], cols = l.Inner;
        long planes = l.Numel / ((long)rows * cols);
        int rowTiles = (rows + tile - 1) / tile;
        long srcColStride = l.Strides[1][^1];
        var sd = dst.Cpu();
        var ss = src.Cpu();
        CpuParallel.For(planes * rowTiles, 1, (start, end) =>
        {
            ref T d0 = ref sd.Ref<T>();
            ref T s0 = ref ss.Ref<T>();
            for (long job = start; job < end; job++)
            {
                long plane = job / rowTiles;
                int r0 = (int)(job % rowTiles) * tile, r1 = Math.Min(r0 + tile, rows);
                long dPlane = l.RowOffset(0, plane * rows), sPlane = l.RowOffset(1, plane * rows);
                for (int c0 = 0; c0 < cols; c0 += tile)
                {
                    int c1 = Math.Min(c0 + tile, cols);
                    for (int r = r0; r < r1; r++)
                    {
                        ref T dRow = ref Unsafe.Add(ref d0, (nint)(dPlane + (long)r * cols));
                        long sRow = sPlane + r;
                        for (int c = c0; c < c1; c++)
                            Unsafe.Add(ref dRow, c) = Unsafe.Add(ref s0, (nint)(sRow + c * srcColStride));
                    }
                }
            }
        });
    }

    private static void MemoryMarshalCopy<T>(ref T src, ref T dst, int count) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(ref src, count)
            .CopyTo(System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref dst, count));

    /// <inheritdoc/>
    public void Fill(Tensor dst, double value)
    {
        switch (dst.DType)
        {
            case DType.Float32: FillT(dst, (float)value); break;
            case DType.Float64: FillT(dst, value); break;
            default: FillT(dst, checked((long)value)); break;
        }
    }

    private static void FillT<T>(Tensor dst, T value) where T : unmanaged
    {
        var l = Layout.Of(dst);
        var sd = dst.Cpu();
        CpuParallel.For(l.Numel, 1 << 16, (start, end) =>
        {
            ref T d0 = ref sd.Ref<T>();
            long inner = l.Inner, ds = l.Strides[0][^1];
            for (long pos = start; pos < end;)
            {
                long row = pos / inner;
                int col = (int)(pos % inner);
                int count = (int)Math.Min(inner - col, end - pos);
                long off = l.RowOffset(0, row) + col * ds;
                if (ds == 1) System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref Unsafe.Add(ref d0, (nint)off), count).Fill(value);
                else for (int i = 0; i < count; i++) Unsafe.Add(ref d0, (nint)(off + i * ds)) = value;
                pos += count;
            }
        });
    }

    /// <inheritdoc/>
    public void Unary(UnaryOp op, Tensor x, Tensor y, double a, double b)
    {
        switch (x.DType)
        {
            case DType.Float32: UnaryKernels.Run<float>(op, x, y, a, b); break;
            case DType.Float64: UnaryKernels.Run<double>(op, x, y, a, b); break;
            default: Ref.Unary(op, x, y, a, b); break;
        }
    }

    /// <inheritdoc/>
    public void Binary(BinaryOp op, Tensor a, Tensor b, Tensor y)
    {
        switch (a.DType)
        {
            case DType.Float32: BinaryKernels.Run<float>(op, a, b, y); break;
            case DType.Float64: BinaryKernels.Run<double>(op, a, b, y); break;
            default: Ref.Binary(op, a, b, y); break;
        }
    }

    /// <inheritdoc/>
    public void Where(Tensor cond, Tensor a, Tensor b, Tensor y)
    {
        if (cond.DType != y.DType)
        {
            Ref.Where(cond, a, b, y);
            return;
        }
        switch (y.DType)
        {
            case DType.Float32: BinaryKernels.Where<float>(cond, a, b, y); break;
            case DType.Float64: BinaryKernels.Where<double>(cond, a, b, y); break;
            default: BinaryKernels.Where<long>(cond, a, b, y); break;
        }
    }

    /// <inheritdoc/>
    public void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> dims, Tensor y)
    {
        switch (x.DType)
        {
            case DType.Float32: Reductions.Reduce<float>(op, x, dims, y); break;
            case DType.Float64: Reductions.Reduce<double>(op, x, dims, y); break;
            default: Ref.Reduce(op, x, dims, y); break;
        }
    }

    /// <inheritdoc/>
    public void ArgReduce(ArgReduceOp op, Tensor x, int dim, Tensor y)
    {
        switch (x.DType)
        {
            case DType.Float32: Reductions.ArgReduce<float>(op, x, dim, y); break;
            case DType.Float64: Reductions.ArgReduce<double>(op, x, dim, y); break;
            default: Ref.ArgReduce(op, x, dim, y); break;
        }
    }

    /// <inheritdoc/>
    public unsafe void Matmul(Tensor a, Tensor b, Tensor c)
    {
        int rank = c.Rank;
        int m = c.ShapeRef[rank - 2], n = c.ShapeRef[rank - 1], k = a.ShapeRef[rank - 1];
        ReadOnlySpan<int> batchShape = c.ShapeRef.AsSpan(0, rank - 2);
        long batch = ShapeUtil.Numel(batchShape);
        // Per-item offsets on the stack for the usual few items (a decoding token runs about 85 products; none of
        // them needs a managed allocation here).
        const int StackItems = 64;
        int items = checked((int)batch);
        Span<long> offsets = items <= StackItems ? stackalloc long[3 * StackItems] : new long[3 * items];
        Span<long> ao = offsets[..items], bo = offsets.Slice(items, items), co = offsets.Slice(2 * items, items);
        Span<int> coords = stackalloc int[rank - 2];
        for (int i = 0; i < batch; i++)
        {
            Strided.Unravel(batchShape, i, coords);
            long x = a.Offset, y = b.Offset, z = c.Offset;
            for (int d = 0; d < coords.Length; d++)
            {
                x += coords[d] * a.StridesRef[d];
                y += coords[d] * b.StridesRef[d];
                z += coords[d] * c.StridesRef[d];
            }
            (ao[i], bo[i], co[i]) = (x, y, z);
        }
        var sa = a.Cpu();
        var sb = b.Cpu();
        var sc = c.Cpu();
        long rsA = a.StridesRef[rank - 2], csA = a.StridesRef[rank - 1];
        long rsB = b.StridesRef[rank - 2], csB = b.StridesRef[rank - 1];
        long ldc = c.StridesRef[rank - 2];
        if (a.DType == DType.Float32)
            Gemm.Batched(m, n, k, (float*)sa.Pointer, ao, rsA, csA, (float*)sb.Pointer, bo, rsB, csB, (float*)sc.Pointer, co, ldc);
        else
            Gemm.Batched(m, n, k, (double*)sa.Pointer, ao, rsA, csA, (double*)sb.Pointer, bo, rsB, csB, (double*)sc.Pointer, co, ldc);
        GC.KeepAlive(sa);
        GC.KeepAlive(sb);
        GC.KeepAlive(sc);
    }

    /// <inheritdoc/>
    public void Softmax(Tensor x, Tensor y, bool log)
    {
        if (!x.IsContiguous) x = ContiguousCopy(x);
        if (x.DType == DType.Float32) SoftmaxKernel.Run<float>(x, y, log);
        else SoftmaxKernel.Run<double>(x, y, log);
    }

    private Tensor ContiguousCopy(Tensor x)
    {
        var t = Tensor.Empty(x.ShapeRef, x.DType, x.Device);
        Copy(x, t);
        return t;
    }

    /// <inheritdoc/>
    public void IndexSelect(Tensor x, int dim, Tensor index, Tensor y)
    {
        if (!x.IsContiguous) x = ContiguousCopy(x);
        if (!index.IsContiguous) index = ContiguousCopy(index);
        IndexKernels.IndexSelect(x, dim, index, y);
    }

    /// <inheritdoc/>
    public void IndexAdd(Tensor y, int dim, Tensor index, Tensor src)
    {
        if (!src.IsContiguous) src = ContiguousCopy(src);
        if (!index.IsContiguous) index = ContiguousCopy(index);
        IndexKernels.IndexAdd(y, dim, index, src);
    }

    /// <inheritdoc/>
    public void Gather(Tensor x, int dim, Tensor index, Tensor y) => Ref.Gather(x, dim, index, y);

    /// <inheritdoc/>
    public void ScatterAdd(Tensor y, int dim, Tensor index, Tensor src) => Ref.ScatterAdd(y, dim, index, src);

    /// <inheritdoc/>
    public void Triangle(Tensor x, Tensor y, int diagonal, bool upper)
    {
        // y contiguous: copy x, then zero the masked part of every matrix row.
        Copy(x, y);
        int rows = y.ShapeRef[^2], cols = y.ShapeRef[^1];
        long mats = rows * (long)cols == 0 ? 0 : y.Numel / ((long)rows * cols);
        var sy = y.Cpu();
        int elem = y.DType.SizeOf();
        CpuParallel.For(mats * rows, 256, (s, e) =>
        {
            for (long t = s; t < e; t++)
            {
                int r = (int)(t % rows);
                // kept columns: lower: c ≤ r + diagonal; upper: c ≥ r + diagonal
                int lo = upper ? 0 : Math.Clamp(r + diagonal + 1, 0, cols);
                int hi = upper ? Math.Clamp(r + diagonal, 0, cols) : cols;
                if (hi <= lo) continue;
                long off = y.Offset + t * cols + lo;
                ClearRange(sy, off, hi - lo);
            }
        });
    }

    private static void ClearRange(CpuStorage s, long off, int count)
    {
        switch (s.DType)
        {
            case DType.Float32: s.Span<float>().Slice((int)off, count).Clear(); break;
            case DType.Float64: s.Span<double>().Slice((int)off, count).Clear(); break;
            default: s.Span<long>().Slice((int)off, count).Clear(); break;
        }
    }
}
