using Ttt.Cpu.Fast;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// Causal depthwise 1-D convolution over time of x [B, T, C] with weight [C, 1, W] (one filter per channel,
    /// PyTorch layout) and optional bias [C]: y[b, t, c] = bias[c] + Σₖ weight[c, 0, k]·x[b, t − (W−1) + k, c],
    /// with x = 0 before t = 0. On the CPU in float32/float64 it is one fused pass forward and one backward
    /// (differentiable ops when the backward is recorded, for higher orders); elsewhere it is composed from pad,
    /// narrow, multiply and add.
    /// </summary>
    public Tensor CausalConv1d(Tensor weight, Tensor? bias)
    {
        ArgumentNullException.ThrowIfNull(weight);
        CheckFloat("causal_conv1d");
        CheckCompatible("causal_conv1d", weight);
        if (Rank != 3) throw new ArgumentException($"causal_conv1d: input must be [B, T, C], got {ShapeUtil.Format(_shape)}");
        int c = _shape[2];
        if (weight.Rank != 3 || weight._shape[0] != c || weight._shape[1] != 1)
            throw new ArgumentException($"causal_conv1d: weight must be [C, 1, W] with C = {c}, got {ShapeUtil.Format(weight._shape)} for input {ShapeUtil.Format(_shape)}");
        if (bias is not null)
        {
            CheckNormParam("causal_conv1d", bias, c, "bias");
            CheckCompatible("causal_conv1d", bias);
        }
        if (Device.Type != DeviceType.Cpu) return ComposedCausalConv(this, weight, bias);

        var x = Contiguous();
        var y = Empty(_shape, DType, Device);
        var b = bias?.Contiguous();
        bool record = bias is null ? ShouldRecord(this, weight) : ShouldRecord([this, weight, bias]);
        if (!record && (long)_shape[0] * _shape[1] <= FewRows && weight.IsContiguous
            && (long)weight._shape[2] * c * DType.SizeOf() <= CausalConvKernel.FewRowsMaxTapBytes)
        {
            // A decoding window: no taps tensor to build and keep for a backward.
            if (DType == DType.Float32) CausalConvKernel.ForwardFewRows<float>(x, weight, b, y);
            else CausalConvKernel.ForwardFewRows<double>(x, weight, b, y);
            return y;
        }
        var taps = TapsOf(weight);
        if (DType == DType.Float32) CausalConvKernel.Forward<float>(x, taps, b, y);
        else CausalConvKernel.Forward<double>(x, taps, b, y);
        return record ? y.WithGradFn(new CausalConv1dBackward(this, weight, bias, x, taps)) : y;
    }

    /// <summary>At most this many rows (B·T) of an unrecorded convolution run on the calling thread from the weight's own layout.</summary>
    private const int FewRows = 16;

    /// <summary>Weight [C, 1, W] as taps [W, C], contiguous: tap k is a vector over the channels.</summary>
    private static Tensor TapsOf(Tensor weight) => weight.Reshape(weight._shape[0], weight._shape[2]).MT.Contiguous();

    /// <summary>The definition in differentiable ops: y = bias + Σₖ pad(x)[:, k : k + T] ⊙ w[:, k].</summary>
    internal static Tensor ComposedCausalConv(Tensor x, Tensor weight, Tensor? bias)
    {
        int t = x._shape[1], c = x._shape[2], width = weight._shape[2];
        var padded = x.Pad(1, width - 1, 0);                     // [B, T+W−1, C]
        var w = weight.Reshape(c, width).MT;                     // [W, C]
        Tensor? y = null;
        for (int k = 0; k < width; k++)
        {
            var term = padded.Narrow(1, k, t) * w.Select(0, k);  // [B, T, C] ⊙ [C]
            y = y is null ? term : y + term;
        }
        return bias is null ? y! : y! + bias;
    }

    private sealed class CausalConv1dBackward : GradNode
    {
        private readonly SavedTensor _x, _taps;
        private readonly int[] _weightShape;
        private readonly bool _hasBias;

        public CausalConv1dBackward(Tensor input, Tensor weight, Tensor? bias, Tensor x, Tensor taps)
            : base("causal_conv1d", bias is null ? [input, weight] : [input, weight, bias])
        {
            _x = Save(x);
            _taps = Save(taps);
            _weightShape = weight.ShapeArray();
            _hasBias = bias is not null;
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var x = _x.Value;
            var taps = _taps.Value;                              // [W, C]
            int t = x.ShapeRef[1], c = x.ShapeRef[2], width = taps.ShapeRef[0];
            bool needBias = _hasBias && needs[2];
            if (GradMode.IsEnabled)
            {
                // Differentiable: dx = Σₖ pad_right(g)[:, W−1−k : W−1−k+T] ⊙ w[k]; dw[c, 0, k] = Σ_{b,t} g ⊙ pad(x)[:, k : k+T];
                // dbias = Σ_{b,t} g.
                Tensor? dx = null, dw = null;
                if (needs[0])
                {
                    var gPadded = g.Pad(1, 0, width - 1);
                    for (int k = 0; k < width; k++)
                    {
                        var term = gPadded.Narrow(1, width - 1 - k, t) * taps.Select(0, k);
                        dx = dx is null ? term : dx + term;
                    }
                }
                if (needs[1])
                {
                    var xPadded = x.Pad(1, width - 1, 0);
                    var columns = new Tensor[width];
                    for (int k = 0; k < width; k++) columns[k] = (g * xPadded.Narrow(1, k, t)).Sum([0, 1]);   // [C]
                    dw = Stack(columns, 1).Reshape(_weightShape);
                }
                var db = needBias ? g.Sum([0, 1]) : null;
                return _hasBias ? [dx, dw, db] : [dx, dw];
            }
            var gc = g.Contiguous();
            var dxOut = needs[0] ? Empty(x.ShapeRef, x.DType, x.Device) : null;
            var dTaps = needs[1] ? Empty([width, c], x.DType, x.Device) : null;
            var dBias = needBias ? Empty([c], x.DType, x.Device) : null;
            if (x.DType == DType.Float32) CausalConvKernel.Backward<float>(x, taps, gc, dxOut, dTaps, dBias);
            else CausalConvKernel.Backward<double>(x, taps, gc, dxOut, dTaps, dBias);
            var dWeight = dTaps?.MT.Contiguous().Reshape(_weightShape);
            return _hasBias ? [dxOut, dWeight, dBias] : [dxOut, dWeight];
        }
    }
}
