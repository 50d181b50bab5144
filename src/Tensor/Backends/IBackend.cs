namespace Ttt;

using Ttt.Backends;

/// <summary>
/// The contract every compute backend implements (CPU reference, CPU fast path, CUDA). It is a small set of
/// primitives over strided tensors; the differentiable ops of <see cref="Tensor"/> are built from it and never
/// reach into a backend's memory themselves. Conventions shared by every method:
/// <list type="bullet">
/// <item>Inputs are arbitrary strided views (broadcast inputs arrive expanded, with stride 0); outputs are freshly
/// allocated contiguous tensors unless stated otherwise.</item>
/// <item>The op layer has already checked shapes, dtypes and devices; a backend may assume them valid.</item>
/// <item>Floating-point methods accept float32 and float64; int64 where stated.</item>
/// </list>
/// </summary>
public interface IBackend
{
    /// <summary>Device whose memory this backend computes on.</summary>
    Device Device { get; }

    /// <summary>Short name for messages and benchmarks ("cpu-reference", "cpu", "cuda:0").</summary>
    string Name { get; }

    /// <summary>Allocates a storage of <paramref name="length"/> elements (zero-filled when asked).</summary>
    Storage Allocate(DType dtype, long length, bool zero);

    /// <summary>Copies host elements into <paramref name="dst"/> at element offset <paramref name="dstOffset"/>.</summary>
    void CopyFromHost<T>(ReadOnlySpan<T> src, Storage dst, long dstOffset) where T : unmanaged;

    /// <summary>Copies elements of <paramref name="src"/> starting at <paramref name="srcOffset"/> to the host.</summary>
    void CopyToHost<T>(Storage src, long srcOffset, Span<T> dst) where T : unmanaged;

    /// <summary><paramref name="dst"/>[i] = <paramref name="src"/>[i] over one shape, any strides; converts dtypes.
    /// <paramref name="dst"/> may be a strided view (used by slicing assignment and cat).</summary>
    void Copy(Tensor src, Tensor dst);

    /// <summary>Sets every element of the (possibly strided) view to <paramref name="value"/>.</summary>
    void Fill(Tensor dst, double value);

    /// <summary>y = op(x) element-wise (float32/float64; Neg, Abs, Sign, Square, Affine, Clamp and the scalar
    /// comparisons also int64).</summary>
    void Unary(UnaryOp op, Tensor x, Tensor y, double a, double b);

    /// <summary>y = op(a, b) element-wise; a, b have y's shape (expanded views).</summary>
    void Binary(BinaryOp op, Tensor a, Tensor b, Tensor y);

    /// <summary>y = cond ≠ 0 ? a : b; all three have y's shape; cond has the dtype of a and b.</summary>
    void Where(Tensor cond, Tensor a, Tensor b, Tensor y);

    /// <summary>Reduces <paramref name="x"/> over <paramref name="dims"/> into <paramref name="y"/>, which has
    /// x's rank with the reduced dims of size 1.</summary>
    void Reduce(ReduceOp op, Tensor x, ReadOnlySpan<int> dims, Tensor y);

    /// <summary>Index of the max/min along <paramref name="dim"/>; y is int64 with that dim of size 1.</summary>
    void ArgReduce(ArgReduceOp op, Tensor x, int dim, Tensor y);

    /// <summary>c[..., m, n] = Σₖ a[..., m, k]·b[..., k, n]. a: [..., M, K], b: [..., K, N] (any strides, so
    /// transposes are views), c: [..., M, N] contiguous; the batch dims of a and b are already expanded to c's.</summary>
    void Matmul(Tensor a, Tensor b, Tensor c);

    /// <summary>Softmax (or log-softmax) over the last dim. y contiguous with x's shape.</summary>
    void Softmax(Tensor x, Tensor y, bool log);

    /// <summary>y = x.index_select(dim, index): y has x's shape with dim replaced by index.Length.
    /// index is a 1-D int64 tensor, every value already checked to lie in [0, x.Shape[dim]).</summary>
    void IndexSelect(Tensor x, int dim, Tensor index, Tensor y);

    /// <summary>y.index_select(dim, index) += src, accumulating repeated indices. y contiguous.</summary>
    void IndexAdd(Tensor y, int dim, Tensor index, Tensor src);

    /// <summary>y[i…, j, k…] = x[i…, index[i…, j, k…], k…] along <paramref name="dim"/>; index int64 with y's shape.</summary>
    void Gather(Tensor x, int dim, Tensor index, Tensor y);

    /// <summary>y[i…, index[i…, j, k…], k…] += src[i…, j, k…]; y contiguous, accumulating repeats.</summary>
    void ScatterAdd(Tensor y, int dim, Tensor index, Tensor src);

    /// <summary>Keeps x[..., i, j] where j − i ≤ diagonal (lower) or j − i ≥ diagonal (upper) and zeroes the rest.</summary>
    void Triangle(Tensor x, Tensor y, int diagonal, bool upper);
}
