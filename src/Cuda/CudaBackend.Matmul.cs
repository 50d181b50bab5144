using Ttt.Cuda.Kernels;
using Ttt.Cuda.Native;

namespace Ttt.Cuda;

// Matmul through cuBLAS strided-batched GEMM.
//
// cuBLAS is column-major. A row-major C [M, N] read column-major is Cᵀ [N, M], and Cᵀ = Bᵀ·Aᵀ, so every call is
// gemm(m = N, n = M, k = K, first = B, second = A, C with ldc = N). A row-major operand (unit column stride) read
// column-major is already its transpose: op N with ld = its row stride. A transposed view (unit row stride) is a
// column-major matrix: op T with ld = its column stride. Any other layout (a broadcast row, gaps in both
// directions, negative strides) is first copied into a dense scratch block.
// Batch dims: merged like an element-wise launch; the innermost merged batch dim becomes cuBLAS's batch with one
// stride per operand (0 for a broadcast operand), the outer ones a host loop. When B is shared by every batch
// (all batch strides 0) and A's batch and row dims merge into one row stride, the batch folds into M: one GEMM.
public sealed partial class CudaBackend
{
    /// <inheritdoc/>
    public void Matmul(Tensor a, Tensor b, Tensor c)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(c);
        int rank = c.Rank;
        int m = c.Shape[rank - 2], n = c.Shape[rank - 1], k = a.Shape[rank - 1];
        if (c.Numel == 0) return;
        if (!c.IsContiguous)
        {
            var tmp = Tensor.Empty(c.Shape, c.DType, Device);
            try
            {
                Matmul(a, b, tmp);
                Copy(tmp, c);
            }
            finally
            {
                tmp.Storage.Dispose();
            }
            return;
        }
        if (k == 0)
        {
            Fill(c, 0);
            return;
        }
        var batchShape = c.Shape[..(rank - 2)].ToArray();
        bool bf16 = c.DType == DType.Float32 && MatmulPrecision == MatmulPrecision.Bf16;
        var scratch = new List<Scratch>();
        try
        {
            var A = Prepare(a, batchShape, m, k, bf16, scratch);
            var B = Prepare(b, batchShape, k, n, bf16, scratch);
            var C = new Operand(First(c, "matmul"), 0, ShapeUtil.ContiguousStrides(c.Shape)[..(rank - 2)], false, n,
                c.DType == DType.Float32 ? CudaDataType.R32F : CudaDataType.R64F, c.DType.SizeOf());
            Run(A, B, C, batchShape, m, n, k);
        }
        finally
        {
            foreach (var s in scratch) s.Dispose();
        }
    }

    /// <summary>
    /// An operand as cuBLAS takes it: pointer to element 0 (of the storage or of a scratch copy), element offset
    /// of the matrix, batch strides (elements), whether the stored matrix is transposed (column-major) and its
    /// leading dimension.
    /// </summary>
    private sealed record Operand(DevicePtr Pointer, long Offset, long[] BatchStrides, bool Transposed, int Ld,
        CudaDataType Type, int ElementSize)
    {
        public DevicePtr At(long elementOffset) => Pointer.Add((Offset + elementOffset) * ElementSize);
    }

    /// <summary>
    /// Describes a [batch..., rows, cols] operand for cuBLAS, copying it to a dense row-major scratch block
    /// (bfloat16 when <paramref name="bf16"/>) when its layout is not one cuBLAS can read.
    /// </summary>
    private Operand Prepare(Tensor t, int[] batchShape, int rows, int cols, bool bf16, List<Scratch> scratch)
    {
        int rank = t.Rank;
        var strides = t.Strides.ToArray();
        long rs = strides[rank - 2], cs = strides[rank - 1];
        var type = t.DType == DType.Float32 ? CudaDataType.R32F : CudaDataType.R64F;
        if (!bf16 && BlasLayout(rs, cs, rows, cols, out bool transposed, out int ld))
            return new Operand(Base(t, "matmul"), t.Offset, strides[..(rank - 2)], transposed, ld, type, t.DType.SizeOf());

        // Dense copy. Broadcast batch dims (stride 0) stay broadcast: the copy holds one matrix for them.
        var compactShape = new int[rank];
        for (int d = 0; d < rank - 2; d++) compactShape[d] = strides[d] == 0 ? 1 : batchShape[d];
        compactShape[rank - 2] = rows;
        compactShape[rank - 1] = cols;
        var dense = ShapeUtil.ContiguousStrides(compactShape);
        int elem = bf16 ? 2 : t.DType.SizeOf();
        var block = new Scratch(CudaDevice, Product(compactShape) * elem);
        scratch.Add(block);
        var (s, st) = LaunchLayout.Build(compactShape, (strides, t.Offset), (dense, 0L));
        var spec = bf16 ? KernelCatalog.CastBf16 : KernelCatalog.Copy(t.DType, t.DType);
        CudaDevice.Launch(spec, Grid(s.Numel), 1, ElementwiseBlock, Base(t, "matmul"), block.Pointer, s, st[0], st[1]);
        var batchStrides = new long[rank - 2];
        for (int d = 0; d < rank - 2; d++) batchStrides[d] = compactShape[d] == 1 ? 0 : dense[d];
        return new Operand(block.Pointer, 0, batchStrides, false, Math.Max(1, cols), bf16 ? CudaDataType.R16BF : type, elem);
    }

    /// <summary>
    /// Whether a [rows, cols] matrix with strides (rs, cs) is readable by cuBLAS: row-major (cs = 1, ld = rs ≥ cols)
    /// or column-major, i.e. a transposed view (rs = 1, ld = cs ≥ rows). Size-1 dims accept any stride.
    /// </summary>
    internal static bool BlasLayout(long rs, long cs, int rows, int cols, out bool transposed, out int ld)
    {
        if ((cs == 1 || cols == 1) && (rows == 1 || rs >= Math.Max(1, cols)))
        {
            transposed = false;
            long l = rows == 1 ? Math.Max(1, cols) : rs;
            ld = (int)Math.Min(l, int.MaxValue);
            return l <= int.MaxValue;
        }
        if ((rs == 1 || rows == 1) && (cols == 1 || cs >= Math.Max(1, rows)))
        {
            transposed = true;
            long l = cols == 1 ? Math.Max(1, rows) : cs;
            ld = (int)Math.Min(l, int.MaxValue);
            return l <= int.MaxValue;
        }
        transposed = false;
        ld = 0;
        return false;
    }

    private void Run(Operand A, Operand B, Operand C, int[] batchShape, int m, int n, int k)
    {
        long batch = Product(batchShape);
        // Fold the batch into M when B is shared and A's batch and row dims form one row stride.
        if (batch > 1 && !A.Transposed && B.BatchStrides.All(s => s == 0))
        {
            var aRows = batchShape.Append(m).ToArray();
            var aStrides = A.BatchStrides.Append((long)A.Ld).ToArray();
            var cStrides = C.BatchStrides.Append((long)n).ToArray();
            var (fs, fst) = LaunchLayout.Build(aRows, (aStrides, 0L), (cStrides, 0L));
            if (fs.Rank == 1 && fst[0].Stride[0] >= Math.Max(1, k) && fst[0].Stride[0] <= int.MaxValue && fst[1].Stride[0] == n
                && batch * m <= int.MaxValue)
            {
                Gemm(A with { Ld = (int)fst[0].Stride[0] }, B, C, checked((int)(batch * m)), n, k, 0, 0, 0, 0, 0, 0, 1);
                return;
            }
        }
        var (bs, bst) = LaunchLayout.Build(batchShape, (A.BatchStrides, 0L), (B.BatchStrides, 0L), (C.BatchStrides, 0L));
        if (bs.Rank == 0)
        {
            Gemm(A, B, C, m, n, k, 0, 0, 0, 0, 0, 0, 1);
            return;
        }
        int inner = bs.Rank - 1;
        long count = bs.Size[inner];
        long sa = bst[0].Stride[inner], sb = bst[1].Stride[inner], sc = bst[2].Stride[inner];
        long outer = bs.Numel / count;
        var coords = new long[inner];
        for (long o = 0; o < outer; o++)
        {
            // Offsets of this outer batch (row-major over the outer merged dims).
            long rem = o, oa = 0, ob = 0, oc = 0;
            for (int d = inner - 1; d >= 0; d--)
            {
                coords[d] = rem % bs.Size[d];
                rem /= bs.Size[d];
                oa += coords[d] * bst[0].Stride[d];
                ob += coords[d] * bst[1].Stride[d];
                oc += coords[d] * bst[2].Stride[d];
            }
            for (long start = 0; start < count; start += int.MaxValue)
            {
                int chunk = (int)Math.Min(count - start, int.MaxValue);
                Gemm(A, B, C, m, n, k, oa + start * sa, ob + start * sb, oc + start * sc, sa, sb, sc, chunk);
            }
        }
    }

    /// <summary>One strided-batched GEMM: C[i] = A[i]·B[i] (row-major), issued as Cᵀ = Bᵀ·Aᵀ to cuBLAS.</summary>
    private unsafe void Gemm(Operand A, Operand B, Operand C, int m, int n, int k,
        long offA, long offB, long offC, long strideA, long strideB, long strideC, int batchCount)
    {
        CudaDevice.MakeCurrent();
        var h = CudaDevice.Blas;
        var opFirst = B.Transposed ? CublasOperation.Transpose : CublasOperation.None;
        var opSecond = A.Transposed ? CublasOperation.Transpose : CublasOperation.None;
        ulong pb = B.At(offB).Address, pa = A.At(offA).Address, pc = C.At(offC).Address;
        if (C.Type == CudaDataType.R64F)
        {
            double one = 1, zero = 0;
            Check.Blas(CuBlas.DgemmStridedBatched(h, opFirst, opSecond, n, m, k, &one, pb, B.Ld, strideB, pa, A.Ld, strideA,
                &zero, pc, n, strideC, batchCount), "cublasDgemmStridedBatched");
            return;
        }
        float onef = 1, zerof = 0;
        if (A.Type == CudaDataType.R16BF || MatmulPrecision == MatmulPrecision.Tf32)
        {
            var compute = A.Type == CudaDataType.R16BF ? CublasComputeType.Compute32F : CublasComputeType.Compute32FFastTf32;
            Check.Blas(CuBlas.GemmStridedBatchedEx(h, opFirst, opSecond, n, m, k, &onef, pb, B.Type, B.Ld, strideB, pa, A.Type, A.Ld, strideA,
                &zerof, pc, CudaDataType.R32F, n, strideC, batchCount, compute, CublasGemmAlgo.Default), "cublasGemmStridedBatchedEx");
            return;
        }
        Check.Blas(CuBlas.SgemmStridedBatched(h, opFirst, opSecond, n, m, k, &onef, pb, B.Ld, strideB, pa, A.Ld, strideA,
            &zerof, pc, n, strideC, batchCount), "cublasSgemmStridedBatched");
    }
}
