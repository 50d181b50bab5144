using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ttt.Cpu.Fast;

/// <summary>
/// index_select and index_add on contiguous tensors, viewed as [outer, size(dim), inner] so that each index moves
/// one contiguous run of <c>inner</c> elements (an embedding row when dim = 0).
/// </summary>
internal static class IndexKernels
{
    public static void IndexSelect(Tensor x, int dim, Tensor index, Tensor y)
    {
        switch (x.DType)
        {
            case DType.Float32: Select<float>(x, dim, index, y); break;
            case DType.Float64: Select<double>(x, dim, index, y); break;
            default: Select<long>(x, dim, index, y); break;
        }
    }

    private static void Select<T>(Tensor x, int dim, Tensor index, Tensor y) where T : unmanaged
    {
        var (outer, xDim, inner) = Split(x.ShapeRef, dim);
        int count = (int)index.Numel;
        var xs = x.Cpu();
        var ys = y.Cpu();
        var idx = index.Cpu();
        CpuParallel.For(outer * count, Math.Max(1, (1 << 14) / Math.Max(inner, 1)), (s, e) =>
        {
            ref T x0 = ref xs.Ref<T>();
            ref T y0 = ref ys.Ref<T>();
            ref long i0 = ref idx.Ref<long>();
            for (long t = s; t < e; t++)
            {
                long o = t / count;
                int j = (int)(t % count);
                long src = Unsafe.Add(ref i0, (nint)(index.Offset + j));
                var from = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref x0, (nint)(x.Offset + (o * xDim + src) * inner)), inner);
                from.CopyTo(MemoryMarshal.CreateSpan(ref Unsafe.Add(ref y0, (nint)(y.Offset + (o * count + j) * inner)), inner));
            }
        });
    }

    public static void IndexAdd(Tensor y, int dim, Tensor index, Tensor src)
    {
        switch (y.DType)
        {
            case DType.Float32: Add<float>(y, dim, index, src); break;
            case DType.Float64: Add<double>(y, dim, index, src); break;
            default: CpuReferenceBackend.Instance.IndexAdd(y, dim, index, src); break;
        }
    }

    private static void Add<T>(Tensor y, int dim, Tensor index, Tensor src) where T : unmanaged
    {
        var (outer, yDim, inner) = Split(y.ShapeRef, dim);
        int count = (int)index.Numel;
        var ys = y.Cpu();
        var ss = src.Cpu();
        var idx = index.Cpu();
        // Repeated indices write the same destination row, so parallelise over outer × column blocks, never over j.
        const int Block = 512;
        int blocks = (inner + Block - 1) / Block;
        CpuParallel.For(outer * blocks, 1, (s, e) =>
        {
            ref T y0 = ref ys.Ref<T>();
            ref T s0 = ref ss.Ref<T>();
            ref long i0 = ref idx.Ref<long>();
            for (long t = s; t < e; t++)
            {
                long o = t / blocks;
                int c0 = (int)(t % blocks) * Block, cn = Math.Min(Block, inner - c0);
                for (int j = 0; j < count; j++)
                {
                    long dst = Unsafe.Add(ref i0, (nint)(index.Offset + j));
                    var from = MemoryMarshal.CreateReadOnlySpan(ref Unsafe.Add(ref s0, (nint)(src.Offset + (o * count + j) * inner + c0)), cn);
                    var to = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref y0, (nint)(y.Offset + (o * yDim + dst) * inner + c0)), cn);
                    Axpy(from, to);
                }
            }
        });
    }

    private static void Axpy<T>(ReadOnlySpan<T> from, Span<T> to) where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            var f = MemoryMarshal.Cast<T, float>(from);
            var t = MemoryMarshal.Cast<T, float>(to);
            var vf = MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(f);
            var vt = MemoryMarshal.Cast<float, System.Numerics.Vector<float>>(t);
            for (int i = 0; i < vf.Length; i++) vt[i] += vf[i];
            for (int i = vf.Length * System.Numerics.Vector<float>.Count; i < f.Length; i++) t[i] += f[i];
        }
        else
        {
            var f = MemoryMarshal.Cast<T, double>(from);
            var t = MemoryMarshal.Cast<T, double>(to);
            for (int i = 0; i < f.Length; i++) t[i] += f[i];
        }
    }

    private static (long Outer, int Dim, int Inner) Split(int[] shape, int dim)
    {
        long outer = 1;
        for (int d = 0; d < dim; d++) outer *= shape[d];
        int inner = 1;
        for (int d = dim + 1; d < shape.Length; d++) inner *= shape[d];
        return (outer, shape[dim], inner);
    }
}
