using Ttt.Cpu.Fast;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// <see cref="LayerNorm"/> computed by one fused CPU kernel per direction (float32/float64 on the CPU; other
    /// devices and dtypes use the composed op). Same result to rounding; saves the row mean and 1/σ [..., 1] for
    /// backward. The first-order backward is the fused kernel; with grad mode on in backward (createGraph) it is the
    /// closed form written in differentiable ops, so gradients of any order stay exact.
    /// </summary>
    public Tensor FusedLayerNorm(Tensor? weight, Tensor? bias, double eps = 1e-5)
    {
        CheckFloat("layer_norm");
        int dim = _shape.Length > 0 ? _shape[^1] : throw new ArgumentException("layer_norm: input needs at least one dim");
        CheckNormParam("layer_norm", weight, dim, "weight");
        CheckNormParam("layer_norm", bias, dim, "bias");
        if (Device.Type != DeviceType.Cpu) return LayerNorm(weight, bias, eps);
        var x = Contiguous();
        var w = weight?.Contiguous();
        var b = bias?.Contiguous();
        var y = Empty(_shape, DType, Device);
        int[] statShape = [.. _shape[..^1], 1];
        var mean = Empty(statShape, DType, Device);
        var rstd = Empty(statShape, DType, Device);
        if (DType == DType.Float32) NormKernels.LayerNormForward<float>(x, w, b, y, mean, rstd, eps);
        else NormKernels.LayerNormForward<double>(x, w, b, y, mean, rstd, eps);
        return ShouldRecordNorm(this, weight, bias) ? y.WithGradFn(new FusedLayerNormBackward(this, weight, bias, x, mean, rstd, eps)) : y;
    }

    private static bool ShouldRecordNorm(Tensor a, Tensor? b, Tensor? c) =>
        GradMode.IsEnabled && (a.RequiresGrad || b is { RequiresGrad: true } || c is { RequiresGrad: true });

    private sealed class FusedLayerNormBackward : GradNode
    {
        private readonly SavedTensor _x, _mean, _rstd;
        private readonly SavedTensor? _w;
        private readonly bool _hasBias;
        private readonly double _eps;

        public FusedLayerNormBackward(Tensor input, Tensor? w, Tensor? b, Tensor x, Tensor mean, Tensor rstd, double eps)
            : base("layer_norm", input, w ?? input.ScalarLike(0), b ?? input.ScalarLike(0))
        {
            _x = Save(x);
            _mean = Save(mean);
            _rstd = Save(rstd);
            _w = w is null ? null : Save(w);
            _hasBias = b is not null;
            _eps = eps;
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var x = _x.Value;
            var w = _w?.Value;
            int d = x.Shape[^1];
            if (GradMode.IsEnabled)
            {
                // Differentiable closed form: x̂ = (x − μ)·r, ĝ = g·w,
                // dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), dw = Σ g·x̂, db = Σ g (over all rows).
                var mu = x.Mean(-1, keepDim: true);
                var centered = x - mu;
                var r = ((centered * centered).Mean(-1, keepDim: true) + _eps).Rsqrt();
                var xhat = centered * r;
                var gw = w is null ? g : g * w;
                var dx = r * (gw - gw.Mean(-1, keepDim: true) - xhat * (gw * xhat).Mean(-1, keepDim: true));
                return [needs[0] ? dx : null,
                        needs[1] && w is not null ? (g * xhat).Reshape(-1, d).Sum(0) : null,
                        needs[2] && _hasBias ? g.Reshape(-1, d).Sum(0) : null];
            }
            var gc = g.Contiguous();
            var dxFused = Empty(x.ShapeRef, x.DType, x.Device);
            var dw = needs[1] && w is not null ? new double[d] : null;
            var db = needs[2] && _hasBias ? new double[d] : null;
            if (x.DType == DType.Float32) NormKernels.LayerNormBackward<float>(x, w, _mean.Value, _rstd.Value, gc, dxFused, dw, db);
            else NormKernels.LayerNormBackward<double>(x, w, _mean.Value, _rstd.Value, gc, dxFused, dw, db);
            return [needs[0] ? dxFused : null,
                    dw is null ? null : FromArray(dw, [d], x.Device).To(x.DType),
                    db is null ? null : FromArray(db, [d], x.Device).To(x.DType)];
        }
    }
}
