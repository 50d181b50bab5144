using Ttt.Backends;
using Ttt.Cpu;
using Ttt.Cpu.Fast;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// Softmax attention softmax(scale·q·kᵀ [+ causal mask])·v per (batch, head), computed blockwise with an online
    /// softmax so that memory stays linear in the sequence length (no T×T matrix is ever stored).
    /// q: [B, H, Tq, d]; k, v: [B, H, Tk, d] → [B, H, Tq, d]. <paramref name="scale"/> defaults to 1/√d.
    /// With <paramref name="causal"/>, query i sees keys j ≤ i + (Tk − Tq): the queries are the last Tq positions of
    /// the key sequence (Tq = Tk in training; Tq &lt; Tk when decoding against cached keys), so Tq ≤ Tk is required.
    /// <para>Saved for backward: q, k, v, the output and the per-row log-sum-exp [B, H, Tq] (linear in T).
    /// Backward recomputes the probabilities block by block (FlashAttention-2) and gives dq, dk, dv. When the backward
    /// pass is itself recorded (<c>createGraph: true</c>), the gradients are instead built from differentiable ops
    /// (materialised softmax attention), so gradients of gradients are exact. Inputs may be strided views (e.g.
    /// [B, T, H, d] viewed as [B, H, T, d]); only the head dim is read unit-stride (other layouts are copied).
    /// On devices without a blockwise kernel the result is computed by <see cref="Attention.Reference"/>.</para>
    /// </summary>
    public static Tensor BlockwiseAttention(Tensor q, Tensor k, Tensor v, bool causal = true, double? scale = null) =>
        BlockwiseAttention(q, k, v, causal, scale, BlockwiseAttentionKernel.DefaultQueryBlock, BlockwiseAttentionKernel.DefaultKeyBlock);

    /// <summary><see cref="BlockwiseAttention(Tensor, Tensor, Tensor, bool, double?)"/> with explicit block sizes and
    /// vector width (0: the CPU's widest); tests use small blocks to cross many block boundaries with small tensors and
    /// force the 256- and 128-bit code paths that this CPU would not pick.</summary>
    internal static Tensor BlockwiseAttention(Tensor q, Tensor k, Tensor v, bool causal, double? scale, int queryBlock, int keyBlock,
        int vectorBits = 0)
    {
        const string name = "blockwise_attention";
        var sizes = Attention.CheckShapes(name, q, k, v, causal);
        ArgumentOutOfRangeException.ThrowIfLessThan(queryBlock, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(keyBlock, 1);
        double s = scale ?? 1 / Math.Sqrt(sizes.HeadDim);
        if (!double.IsFinite(s)) throw new ArgumentException($"{name}: scale must be finite, got {s}");
        if (q.Device.Type != DeviceType.Cpu)
        {
            // A backend with its own blockwise kernels (CUDA: ptx/attention.cu); otherwise the composed reference.
            if (q.Backend is not IAttentionKernels kernels || !kernels.SupportsAttention(q.DType, sizes.HeadDim))
                return Attention.Reference(q, k, v, causal, s);
            var (yd, lsed) = kernels.AttentionForward(q, k, v, causal, s);
            return ShouldRecord([q, k, v]) ? yd.WithGradFn(new DeviceAttentionBackward(kernels, q, k, v, yd, lsed, causal, s)) : yd;
        }

        var y = Empty([sizes.Batch, sizes.Heads, sizes.QueryLength, sizes.HeadDim], q.DType, q.Device);
        var lse = Empty([sizes.Batch, sizes.Heads, sizes.QueryLength], q.DType, q.Device);
        var (qr, kr, vr) = (q.UnitLastStride(), k.UnitLastStride(), v.UnitLastStride());
        unsafe
        {
            if (q.DType == DType.Float32)
                BlockwiseAttentionKernel.Forward(sizes, qr.Operand<float>(), kr.Operand<float>(), vr.Operand<float>(),
                    y.DataPointer<float>(), lse.DataPointer<float>(), causal, s, queryBlock, keyBlock, vectorBits);
            else
                BlockwiseAttentionKernel.Forward(sizes, qr.Operand<double>(), kr.Operand<double>(), vr.Operand<double>(),
                    y.DataPointer<double>(), lse.DataPointer<double>(), causal, s, queryBlock, keyBlock, vectorBits);
        }
        GC.KeepAlive(qr);
        GC.KeepAlive(kr);
        GC.KeepAlive(vr);
        return ShouldRecord([q, k, v])
            ? y.WithGradFn(new BlockwiseAttentionBackward(q, k, v, y, lse, causal, s, queryBlock, keyBlock, vectorBits))
            : y;
    }

    /// <summary>This tensor, or a contiguous copy when its last dim is not unit-stride (the kernels' one layout need).</summary>
    private Tensor UnitLastStride() => _shape[^1] <= 1 || _strides[^1] == 1 ? this : ContiguousRaw();

    /// <summary>The kernel's view of a [B, H, T, d] CPU tensor with unit stride along d.</summary>
    private unsafe AttentionOperand Operand<T>() where T : unmanaged =>
        new((nint)DataPointer<T>(), _strides[0], _strides[1], _strides[2]);

    /// <summary>Address of this tensor's first element (CPU storage, pinned; keep the tensor alive while using it).</summary>
    private unsafe T* DataPointer<T>() where T : unmanaged => (T*)this.Cpu().Pointer + Offset;

    private sealed class BlockwiseAttentionBackward : GradNode
    {
        private readonly SavedTensor _q, _k, _v, _y, _lse;
        private readonly bool _causal;
        private readonly double _scale;
        private readonly int _queryBlock, _keyBlock, _vectorBits;

        public BlockwiseAttentionBackward(Tensor q, Tensor k, Tensor v, Tensor y, Tensor lse, bool causal, double scale,
            int queryBlock, int keyBlock, int vectorBits) : base("blockwise_attention", q, k, v)
        {
            (_q, _k, _v, _y, _lse) = (Save(q), Save(k), Save(v), Save(y), Save(lse));
            (_causal, _scale, _queryBlock, _keyBlock, _vectorBits) = (causal, scale, queryBlock, keyBlock, vectorBits);
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            Tensor q = _q.Value, k = _k.Value, v = _v.Value;
            // A recorded backward (createGraph) must itself be differentiable: build it from ops.
            if (GradMode.IsEnabled && (g.RequiresGrad || q.RequiresGrad || k.RequiresGrad || v.RequiresGrad))
                return Attention.ComposedGradients(q, k, v, g, _causal, _scale, needs);

            var sizes = Attention.CheckShapes("blockwise_attention backward", q, k, v, _causal);
            Tensor y = _y.Value, lse = _lse.Value;
            var (qr, kr, vr, gr) = (q.UnitLastStride(), k.UnitLastStride(), v.UnitLastStride(), g.UnitLastStride());
            var dq = Empty(q._shape, q.DType, q.Device);
            var dk = Empty(k._shape, k.DType, k.Device);
            var dv = Empty(v._shape, v.DType, v.Device);
            unsafe
            {
                if (q.DType == DType.Float32)
                    BlockwiseAttentionKernel.Backward(sizes, qr.Operand<float>(), kr.Operand<float>(), vr.Operand<float>(),
                        y.DataPointer<float>(), lse.DataPointer<float>(), gr.Operand<float>(),
                        dq.DataPointer<float>(), dk.DataPointer<float>(), dv.DataPointer<float>(), _causal, _scale, _queryBlock, _keyBlock, _vectorBits);
                else
                    BlockwiseAttentionKernel.Backward(sizes, qr.Operand<double>(), kr.Operand<double>(), vr.Operand<double>(),
                        y.DataPointer<double>(), lse.DataPointer<double>(), gr.Operand<double>(),
                        dq.DataPointer<double>(), dk.DataPointer<double>(), dv.DataPointer<double>(), _causal, _scale, _queryBlock, _keyBlock, _vectorBits);
            }
            GC.KeepAlive(qr);
            GC.KeepAlive(kr);
            GC.KeepAlive(vr);
            GC.KeepAlive(gr);
            GC.KeepAlive(y);
            GC.KeepAlive(lse);
            return [needs[0] ? dq : null, needs[1] ? dk : null, needs[2] ? dv : null];
        }
    }

    /// <summary>
    /// Backward of the attention op on a backend with fused kernels (<see cref="IAttentionKernels"/>): the same contract
    /// as on the CPU, including the composed second-order path when the backward itself is recorded.
    /// </summary>
    private sealed class DeviceAttentionBackward : GradNode
    {
        private readonly IAttentionKernels _kernels;
        private readonly SavedTensor _q, _k, _v, _y, _lse;
        private readonly bool _causal;
        private readonly double _scale;

        public DeviceAttentionBackward(IAttentionKernels kernels, Tensor q, Tensor k, Tensor v, Tensor y, Tensor lse, bool causal, double scale)
            : base("blockwise_attention", q, k, v)
        {
            _kernels = kernels;
            (_q, _k, _v, _y, _lse) = (Save(q), Save(k), Save(v), Save(y), Save(lse));
            (_causal, _scale) = (causal, scale);
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            Tensor q = _q.Value, k = _k.Value, v = _v.Value;
            if (GradMode.IsEnabled && (g.RequiresGrad || q.RequiresGrad || k.RequiresGrad || v.RequiresGrad))
                return Attention.ComposedGradients(q, k, v, g, _causal, _scale, needs);
            var (dq, dk, dv) = _kernels.AttentionBackward(q.Detach(), k.Detach(), v.Detach(), _y.Value, _lse.Value, g.Detach(), _causal, _scale);
            return [needs[0] ? dq : null, needs[1] ? dk : null, needs[2] ? dv : null];
        }
    }
}

/// <summary>
/// Softmax attention composed from primitive differentiable ops: the oracle for
/// <see cref="Tensor.BlockwiseAttention(Tensor, Tensor, Tensor, bool, double?)"/> and its second-order path.
/// </summary>
public static class Attention
{
    /// <summary>
    /// softmax(scale·q·kᵀ with the causal mask)·v by materialising the [B, H, Tq, Tk] scores: matmul, mask, softmax,
    /// matmul. Shapes and the causal alignment as in <see cref="Tensor.BlockwiseAttention(Tensor, Tensor, Tensor, bool, double?)"/>.
    /// Memory is quadratic in T; use it as a reference, not in models.
    /// </summary>
    public static Tensor Reference(Tensor q, Tensor k, Tensor v, bool causal = true, double? scale = null)
    {
        var sizes = CheckShapes("attention", q, k, v, causal);
        return Tensor.Matmul(Probabilities(q, k, causal, scale ?? 1 / Math.Sqrt(sizes.HeadDim)), v);
    }

    /// <summary>P = softmax(scale·q·kᵀ, masked) [B, H, Tq, Tk], with masked entries exactly 0.</summary>
    private static Tensor Probabilities(Tensor q, Tensor k, bool causal, double scale)
    {
        var scores = Tensor.Matmul(q, k.MT) * scale;                        // [B, H, Tq, Tk]
        if (causal)
        {
            int tq = q.Shape[2], tk = k.Shape[2];
            var visible = Tensor.Ones([tq, tk], q.DType, q.Device).Tril(tk - tq); // 1 where key j ≤ i + Tk − Tq
            scores = Tensor.Where(visible, scores, Tensor.Full([], double.NegativeInfinity, q.DType, q.Device));
        }
        return scores.Softmax(-1);
    }

    /// <summary>
    /// dq, dk, dv of softmax attention for the output gradient g, from differentiable ops (so they can be
    /// differentiated again): with P = softmax(S), S = scale·q·kᵀ: dv = Pᵀ·g, dP = g·vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)),
    /// dq = scale·dS·k, dk = scale·dSᵀ·q. Entries of <paramref name="needs"/> that are false give null.
    /// </summary>
    internal static Tensor?[] ComposedGradients(Tensor q, Tensor k, Tensor v, Tensor g, bool causal, double scale, bool[] needs)
    {
        var p = Probabilities(q, k, causal, scale);
        var dv = needs[2] ? Tensor.Matmul(p.MT, g) : null;
        if (!needs[0] && !needs[1]) return [null, null, dv];
        var dp = Tensor.Matmul(g, v.MT);                                   // [B, H, Tq, Tk]
        var ds = p * (dp - (dp * p).Sum(-1, keepDim: true)) * scale;
        return [needs[0] ? Tensor.Matmul(ds, k) : null, needs[1] ? Tensor.Matmul(ds.MT, q) : null, dv];
    }

    /// <summary>Validates q [B, H, Tq, d], k and v [B, H, Tk, d] (same dtype and device, float) and returns the sizes.</summary>
    internal static AttentionSizes CheckShapes(string op, Tensor q, Tensor k, Tensor v, bool causal)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        q.CheckFloat(op);
        q.CheckCompatible(op, k);
        q.CheckCompatible(op, v);
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4)
            throw new ArgumentException($"{op}: q, k and v must be [B, H, T, d], got {ShapeUtil.Format(q.Shape)}, {ShapeUtil.Format(k.Shape)} and {ShapeUtil.Format(v.Shape)}");
        if (!ShapeUtil.SameShape(k.Shape, v.Shape) || k.Shape[0] != q.Shape[0] || k.Shape[1] != q.Shape[1] || k.Shape[3] != q.Shape[3])
            throw new ArgumentException($"{op}: k and v must be [B, H, Tk, d] with B, H and d of q; got q {ShapeUtil.Format(q.Shape)}, k {ShapeUtil.Format(k.Shape)}, v {ShapeUtil.Format(v.Shape)}");
        int tq = q.Shape[2], tk = k.Shape[2];
        if (q.Shape[3] == 0) throw new ArgumentException($"{op}: the head dim is 0 ({ShapeUtil.Format(q.Shape)})");
        if (causal && tq > tk)
            throw new ArgumentException($"{op}: causal attention needs at least as many keys as queries (queries are the last positions), got Tq = {tq} > Tk = {tk}");
        if (tk == 0 && tq > 0) throw new ArgumentException($"{op}: {tq} queries but no keys");
        return new AttentionSizes(q.Shape[0], q.Shape[1], tq, tk, q.Shape[3]);
    }
}
