using Ttt.Cpu.Fast;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>
    /// <see cref="RmsNorm"/> computed by one fused CPU kernel per direction (float32/float64 on the CPU; other
    /// devices use the composed op). Saves 1/rms [..., 1] for backward. The first-order backward is the fused
    /// kernel; with grad mode on in backward (createGraph) it is the closed form in differentiable ops.
    /// </summary>
    public Tensor FusedRmsNorm(Tensor? weight, double eps = 1e-6)
    {
        CheckFloat("rms_norm");
        int dim = _shape.Length > 0 ? _shape[^1] : throw new ArgumentException("rms_norm: input needs at least one dim");
        CheckNormParam("rms_norm", weight, dim, "weight");
        if (Device.Type != DeviceType.Cpu) return RmsNorm(weight, eps);
        var x = Contiguous();
        var w = weight?.Contiguous();
        var y = Empty(_shape, DType, Device);
        var rstd = Empty([.. _shape[..^1], 1], DType, Device);
        if (DType == DType.Float32) NormKernels.RmsNormForward<float>(x, w, y, rstd, eps);
        else NormKernels.RmsNormForward<double>(x, w, y, rstd, eps);
        return ShouldRecordNorm(this, weight, null) ? y.WithGradFn(new FusedRmsNormBackward(this, weight, x, rstd, eps)) : y;
    }

    private sealed class FusedRmsNormBackward : GradNode
    {
        private readonly SavedTensor _x, _rstd;
        private readonly SavedTensor? _w;
        private readonly double _eps;

        public FusedRmsNormBackward(Tensor input, Tensor? w, Tensor x, Tensor rstd, double eps)
            : base("rms_norm", input, w ?? input.ScalarLike(0))
        {
            _x = Save(x);
            _rstd = Save(rstd);
            _w = w is null ? null : Save(w);
            _eps = eps;
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var x = _x.Value;
            var w = _w?.Value;
            int d = x.Shape[^1];
            if (GradMode.IsEnabled)
            {
                // Differentiable closed form: r = 1/√(mean(x²) + eps), x̂ = x·r, ĝ = g·w,
                // dx = r·(ĝ − x̂·mean(ĝ·x̂)), dw = Σ g·x̂.
                var r = ((x * x).Mean(-1, keepDim: true) + _eps).Rsqrt();
                var xhat = x * r;
                var gw = w is null ? g : g * w;
                var dx = r * (gw - xhat * (gw * xhat).Mean(-1, keepDim: true));
                return [needs[0] ? dx : null, needs[1] && w is not null ? (g * xhat).Reshape(-1, d).Sum(0) : null];
            }
            var dxFused = Empty(x.ShapeRef, x.DType, x.Device);
            var dw = needs[1] && w is not null ? new double[d] : null;
            if (x.DType == DType.Float32) NormKernels.RmsNormBackward<float>(x, w, _rstd.Value, g.Contiguous(), dxFused, dw);
            else NormKernels.RmsNormBackward<double>(x, w, _rstd.Value, g.Contiguous(), dxFused, dw);
            return [needs[0] ? dxFused : null, dw is null ? null : FromArray(dw, [d], x.Device).To(x.DType)];
        }
    }
}
