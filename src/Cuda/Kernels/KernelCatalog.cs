namespace Ttt.Cuda.Kernels;

using static KernelParamKind;

/// <summary>
/// Every kernel the backend and the fused launchers call, with its parameter list: the one table that ties the
/// C# launchers to the entry points in ptx/*.cu. A launch is checked against its spec at run time, and a CPU test
/// parses the <c>.entry</c> signatures of the embedded PTX and compares them with <see cref="All"/>.
/// </summary>
internal static class KernelCatalog
{
    private static readonly DType[] Floats = [DType.Float32, DType.Float64];
    private static readonly DType[] AllTypes = [DType.Float32, DType.Float64, DType.Int64];

    // ---------------------------------------------------------------- elementwise.cu

    /// <summary>unary_T(x, y, shape, xs, ys, op, a, b): y = op(x).</summary>
    public static readonly DTypeKernels Unary = new("elementwise", "unary", AllTypes,
        [Pointer, Pointer, Shape, Strides, Strides, Int32, Float64, Float64]);

    /// <summary>binary_T(a, b, y, shape, as, bs, ys, op, status): y = op(a, b).</summary>
    public static readonly DTypeKernels Binary = new("elementwise", "binary", AllTypes,
        [Pointer, Pointer, Pointer, Shape, Strides, Strides, Strides, Int32, Pointer]);

    /// <summary>where_T(cond, condType, a, b, y, shape, cs, as, bs, ys).</summary>
    public static readonly DTypeKernels Where = new("elementwise", "where", AllTypes,
        [Pointer, Int32, Pointer, Pointer, Pointer, Shape, Strides, Strides, Strides, Strides]);

    // ---------------------------------------------------------------- copy.cu

    private static readonly Dictionary<(DType, DType), KernelSpec> s_copy = AllTypes
        .SelectMany(s => AllTypes.Select(d => (s, d)))
        .ToDictionary(p => p, p => new KernelSpec("copy", $"copy_{DTypeKernels.Suffix(p.s)}_{DTypeKernels.Suffix(p.d)}",
            [Pointer, Pointer, Shape, Strides, Strides]));

    /// <summary>copy_S_D(x, y, shape, xs, ys): y = convert(x).</summary>
    public static KernelSpec Copy(DType source, DType destination) => s_copy[(source, destination)];

    /// <summary>fill_f32(y, shape, ys, float value).</summary>
    public static readonly KernelSpec FillF32 = new("copy", "fill_f32", [Pointer, Shape, Strides, Float32]);

    /// <summary>fill_f64(y, shape, ys, double value).</summary>
    public static readonly KernelSpec FillF64 = new("copy", "fill_f64", [Pointer, Shape, Strides, Float64]);

    /// <summary>fill_i64(y, shape, ys, long value).</summary>
    public static readonly KernelSpec FillI64 = new("copy", "fill_i64", [Pointer, Shape, Strides, Int64]);

    /// <summary>cast_bf16_f32(x, y, shape, xs, ys): bfloat16 bits of float32 values (round to nearest even).</summary>
    public static readonly KernelSpec CastBf16 = new("copy", "cast_bf16_f32", [Pointer, Pointer, Shape, Strides, Strides]);

    // ---------------------------------------------------------------- reduce.cu

    /// <summary>reduce_block_T(x, y, outs, xo, yo, reds, xr, op): one block per output.</summary>
    public static readonly DTypeKernels ReduceBlock = new("reduce", "reduce_block", AllTypes,
        [Pointer, Pointer, Shape, Strides, Strides, Shape, Strides, Int32]);

    /// <summary>reduce_thread_T(x, y, outs, xo, yo, reds, xr, op): one thread per output.</summary>
    public static readonly DTypeKernels ReduceThread = new("reduce", "reduce_thread", AllTypes,
        [Pointer, Pointer, Shape, Strides, Strides, Shape, Strides, Int32]);

    /// <summary>argreduce_block_T(x, y, outs, xo, yo, len, stride, op).</summary>
    public static readonly DTypeKernels ArgReduceBlock = new("reduce", "argreduce_block", AllTypes,
        [Pointer, Pointer, Shape, Strides, Strides, Int64, Int64, Int32]);

    /// <summary>argreduce_thread_T(x, y, outs, xo, yo, len, stride, op).</summary>
    public static readonly DTypeKernels ArgReduceThread = new("reduce", "argreduce_thread", AllTypes,
        [Pointer, Pointer, Shape, Strides, Strides, Int64, Int64, Int32]);

    // ---------------------------------------------------------------- softmax.cu

    /// <summary>softmax_T(x, y, rows, xr, len, xstride, log).</summary>
    public static readonly DTypeKernels Softmax = new("softmax", "softmax", Floats,
        [Pointer, Pointer, Shape, Strides, Int64, Int64, Int32]);

    // ---------------------------------------------------------------- index.cu

    /// <summary>index_select_T(x, index, y, shape, ys, xs, inner, dimSize, xDimStride, idxOffset, idxStride).</summary>
    public static readonly DTypeKernels IndexSelect = new("index", "index_select", AllTypes,
        [Pointer, Pointer, Pointer, Shape, Strides, Strides, Int64, Int64, Int64, Int64, Int64]);

    /// <summary>index_add_T(y, index, src, shape, ss, ys, inner, dimSize, yDimStride, idxOffset, idxStride).</summary>
    public static readonly DTypeKernels IndexAdd = new("index", "index_add", AllTypes,
        [Pointer, Pointer, Pointer, Shape, Strides, Strides, Int64, Int64, Int64, Int64, Int64]);

    /// <summary>gather_T(x, index, y, shape, ys, is, xs, inner, dimSize, xDimStride).</summary>
    public static readonly DTypeKernels Gather = new("index", "gather", AllTypes,
        [Pointer, Pointer, Pointer, Shape, Strides, Strides, Strides, Int64, Int64, Int64]);

    /// <summary>scatter_add_T(y, index, src, shape, ss, is, ys, inner, dimSize, yDimStride).</summary>
    public static readonly DTypeKernels ScatterAdd = new("index", "scatter_add", AllTypes,
        [Pointer, Pointer, Pointer, Shape, Strides, Strides, Strides, Int64, Int64, Int64]);

    // ---------------------------------------------------------------- triangle.cu

    /// <summary>triangle_T(x, y, shape, xs, ys, rows, cols, diagonal, upper).</summary>
    public static readonly DTypeKernels Triangle = new("triangle", "triangle", AllTypes,
        [Pointer, Pointer, Shape, Strides, Strides, Int64, Int64, Int64, Int32]);

    // ---------------------------------------------------------------- layernorm.cu (fused)

    /// <summary>layernorm_fwd_T(x, w, b, y, mean, rstd, rows, dim, eps).</summary>
    public static readonly DTypeKernels LayerNormForward = new("layernorm", "layernorm_fwd", Floats,
        [Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Int64, Int64, Float64]);

    /// <summary>layernorm_bwd_T(dy, x, w, mean, rstd, dx, rows, dim).</summary>
    public static readonly DTypeKernels LayerNormBackward = new("layernorm", "layernorm_bwd", Floats,
        [Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Int64, Int64]);

    /// <summary>layernorm_bwd_params_T(dy, x, mean, rstd, dw, db, rows, dim, rowsPerChunk).</summary>
    public static readonly DTypeKernels LayerNormBackwardParams = new("layernorm", "layernorm_bwd_params", Floats,
        [Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Int64, Int64, Int64]);

    /// <summary>rmsnorm_fwd_T(x, w, y, rstd, rows, dim, eps).</summary>
    public static readonly DTypeKernels RmsNormForward = new("layernorm", "rmsnorm_fwd", Floats,
        [Pointer, Pointer, Pointer, Pointer, Int64, Int64, Float64]);

    /// <summary>rmsnorm_bwd_T(dy, x, w, rstd, dx, rows, dim).</summary>
    public static readonly DTypeKernels RmsNormBackward = new("layernorm", "rmsnorm_bwd", Floats,
        [Pointer, Pointer, Pointer, Pointer, Pointer, Int64, Int64]);

    /// <summary>rmsnorm_bwd_params_T(dy, x, rstd, dw, rows, dim, rowsPerChunk).</summary>
    public static readonly DTypeKernels RmsNormBackwardParams = new("layernorm", "rmsnorm_bwd_params", Floats,
        [Pointer, Pointer, Pointer, Pointer, Int64, Int64, Int64]);

    // ---------------------------------------------------------------- cross_entropy.cu (fused)

    /// <summary>cross_entropy_fwd_T(logits, targets, loss, lse, rows, classes, ignoreIndex, status).</summary>
    public static readonly DTypeKernels CrossEntropyForward = new("cross_entropy", "cross_entropy_fwd", Floats,
        [Pointer, Pointer, Pointer, Pointer, Int64, Int64, Int64, Pointer]);

    /// <summary>cross_entropy_bwd_T(logits, targets, lse, dloss, dlogits, rows, classes, ignoreIndex).</summary>
    public static readonly DTypeKernels CrossEntropyBackward = new("cross_entropy", "cross_entropy_bwd", Floats,
        [Pointer, Pointer, Pointer, Pointer, Pointer, Int64, Int64, Int64]);

    // ---------------------------------------------------------------- embedding.cu (fused)

    /// <summary>embedding_fwd_T(ids, table, y, n, dim, vocab, status).</summary>
    public static readonly DTypeKernels EmbeddingForward = new("embedding", "embedding_fwd", Floats,
        [Pointer, Pointer, Pointer, Int64, Int64, Int64, Pointer]);

    /// <summary>embedding_bwd_T(ids, dy, dtable, n, dim, vocab).</summary>
    public static readonly DTypeKernels EmbeddingBackward = new("embedding", "embedding_bwd", Floats,
        [Pointer, Pointer, Pointer, Int64, Int64, Int64]);

    // ---------------------------------------------------------------- conv1d.cu (fused)

    /// <summary>conv1d_causal_fwd_T(x, w, bias, y, B, T, C, W).</summary>
    public static readonly DTypeKernels Conv1dForward = new("conv1d", "conv1d_causal_fwd", Floats,
        [Pointer, Pointer, Pointer, Pointer, Int64, Int64, Int64, Int64]);

    /// <summary>conv1d_causal_bwd_x_T(dy, w, dx, B, T, C, W).</summary>
    public static readonly DTypeKernels Conv1dBackwardInput = new("conv1d", "conv1d_causal_bwd_x", Floats,
        [Pointer, Pointer, Pointer, Int64, Int64, Int64, Int64]);

    /// <summary>conv1d_causal_bwd_w_T(dy, x, dw, dbias, B, T, C, W, rowsPerChunk).</summary>
    public static readonly DTypeKernels Conv1dBackwardWeight = new("conv1d", "conv1d_causal_bwd_w", Floats,
        [Pointer, Pointer, Pointer, Pointer, Int64, Int64, Int64, Int64, Int64]);

    // ---------------------------------------------------------------- rope.cu (fused)

    /// <summary>rope_T(x, y, pairs, dim, time, timeStride, positions, theta, inverse).</summary>
    public static readonly DTypeKernels Rope = new("rope", "rope", Floats,
        [Pointer, Pointer, Int64, Int64, Int64, Int64, Pointer, Float64, Int32]);

    // ---------------------------------------------------------------- adamw.cu (fused)

    /// <summary>adamw_T(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, bc1, bc2).</summary>
    public static readonly DTypeKernels AdamW = new("adamw", "adamw", Floats,
        [Pointer, Pointer, Pointer, Pointer, Int64, Float64, Float64, Float64, Float64, Float64, Float64, Float64]);

    // ---------------------------------------------------------------- attention.cu (fused)

    private static readonly KernelParamKind[] AttentionOperand = [Pointer, Int64, Int64, Int64];

    /// <summary>attn_fwd_T(q, qs…, k, ks…, v, vs…, o, lse, heads, tq, tk, dim, causal, scale); operands are (pointer, batch, head, time strides).</summary>
    public static readonly DTypeKernels AttentionForward = new("attention", "attn_fwd", Floats,
        [.. AttentionOperand, .. AttentionOperand, .. AttentionOperand, Pointer, Pointer, Int64, Int64, Int64, Int64, Int32, Float64]);

    /// <summary>attn_bwd_dq_T(q…, k…, v…, o, lse, dout…, dq, dvec, heads, tq, tk, dim, causal, scale).</summary>
    public static readonly DTypeKernels AttentionBackwardQuery = new("attention", "attn_bwd_dq", Floats,
        [.. AttentionOperand, .. AttentionOperand, .. AttentionOperand, Pointer, Pointer, .. AttentionOperand, Pointer, Pointer,
         Int64, Int64, Int64, Int64, Int32, Float64]);

    /// <summary>attn_bwd_dkdv_T(q…, k…, v…, lse, dvec, dout…, dk, dv, heads, tq, tk, dim, causal, scale).</summary>
    public static readonly DTypeKernels AttentionBackwardKeyValue = new("attention", "attn_bwd_dkdv", Floats,
        [.. AttentionOperand, .. AttentionOperand, .. AttentionOperand, Pointer, Pointer, .. AttentionOperand, Pointer, Pointer,
         Int64, Int64, Int64, Int64, Int32, Float64]);

    // ---------------------------------------------------------------- mamba_scan.cu (fused)

    /// <summary>mamba_scan_fwd_T(u, delta, A, B, C, D, y, last, len, channels, states).</summary>
    public static readonly DTypeKernels MambaScanForward = new("mamba_scan", "mamba_scan_fwd", Floats,
        [Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Int64, Int64, Int64]);

    /// <summary>mamba_scan_bwd_T(u, delta, A, B, C, D, dy, du, ddelta, dA, dB, dC, dD, checkpoints, recomputed, len, channels, states, chunk).</summary>
    public static readonly DTypeKernels MambaScanBackward = new("mamba_scan", "mamba_scan_bwd", Floats,
        [Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer, Pointer,
         Int64, Int64, Int64, Int64]);

    // ---------------------------------------------------------------- ttt_dual.cu (fused)

    /// <summary>ttt_linear_fwd_T(W0, b0, q, k, v, lr, tau, gamma, beta, out, W, b, saved, work, heads, T, d, K, workPerBlock).</summary>
    public static readonly DTypeKernels TttLinearForward = new("ttt_dual", "ttt_linear_fwd", Floats,
        [.. Enumerable.Repeat(Pointer, 14), Int64, Int64, Int64, Int64, Int64]);

    /// <summary>ttt_linear_bwd_T(q, k, v, lr, tau, gamma, beta, saved, dout, dW, db, dW0, db0, dq, dk, dv, dlr, dtau, dgamma, dbeta, work, heads, T, d, K, workPerBlock).</summary>
    public static readonly DTypeKernels TttLinearBackward = new("ttt_dual", "ttt_linear_bwd", Floats,
        [.. Enumerable.Repeat(Pointer, 21), Int64, Int64, Int64, Int64, Int64]);

    /// <summary>ttt_mlp_fwd_T(W1₀, b1₀, W2₀, b2₀, q, k, v, lr, tau, gamma, beta, out, W1, b1, W2, b2, saved, work, heads, T, d, K, workPerBlock, exactGelu).</summary>
    public static readonly DTypeKernels TttMlpForward = new("ttt_dual", "ttt_mlp_fwd", Floats,
        [.. Enumerable.Repeat(Pointer, 18), Int64, Int64, Int64, Int64, Int64, Int32]);

    /// <summary>ttt_mlp_bwd_T(q, k, v, lr, tau, gamma, beta, saved, dout, dW1, db1, dW2, db2, dW1₀, db1₀, dW2₀, db2₀, dq, dk, dv, dlr, dtau, dgamma, dbeta, work, heads, T, d, K, workPerBlock, exactGelu).</summary>
    public static readonly DTypeKernels TttMlpBackward = new("ttt_dual", "ttt_mlp_bwd", Floats,
        [.. Enumerable.Repeat(Pointer, 25), Int64, Int64, Int64, Int64, Int64, Int32]);

    /// <summary>Every kernel spec above (what the embedded PTX must contain).</summary>
    public static IReadOnlyList<KernelSpec> All { get; } =
    [
        .. new[]
        {
            Unary, Binary, Where, ReduceBlock, ReduceThread, ArgReduceBlock, ArgReduceThread, Softmax,
            IndexSelect, IndexAdd, Gather, ScatterAdd, Triangle,
            LayerNormForward, LayerNormBackward, LayerNormBackwardParams, RmsNormForward, RmsNormBackward, RmsNormBackwardParams,
            CrossEntropyForward, CrossEntropyBackward, EmbeddingForward, EmbeddingBackward,
            Conv1dForward, Conv1dBackwardInput, Conv1dBackwardWeight, Rope, AdamW,
            AttentionForward, AttentionBackwardQuery, AttentionBackwardKeyValue, MambaScanForward, MambaScanBackward,
            TttLinearForward, TttLinearBackward, TttMlpForward, TttMlpBackward,
        }.SelectMany(k => k.All),
        .. s_copy.Values,
        FillF32, FillF64, FillI64, CastBf16,
    ];

    /// <summary>The kernel families (one .cu file and one PTX module each).</summary>
    public static IReadOnlyList<string> Families { get; } = All.Select(k => k.Family).Distinct().Order(StringComparer.Ordinal).ToArray();
}
