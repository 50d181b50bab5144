using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>min(max(x, lo), hi). ∂/∂x = g where lo ≤ x ≤ hi, else 0.</summary>
    public Tensor Clamp(double lo = double.NegativeInfinity, double hi = double.PositiveInfinity)
    {
        if (lo > hi) throw new ArgumentException($"clamp: lower bound {lo} is above upper bound {hi} (shape {ShapeUtil.Format(_shape)})");
        var y = UnaryRaw(UnaryOp.Clamp, lo, hi);
        return ShouldRecord(this) ? y.WithGradFn(new ClampBackward(this, lo, hi)) : y;
    }

    /// <summary>max(x, lo).</summary>
    public Tensor ClampMin(double lo) => Clamp(lo, double.PositiveInfinity);

    /// <summary>min(x, hi).</summary>
    public Tensor ClampMax(double hi) => Clamp(double.NegativeInfinity, hi);

    private sealed class ClampBackward : GradNode
    {
        private readonly SavedTensor _x;
        private readonly double _lo, _hi;

        public ClampBackward(Tensor x, double lo, double hi) : base("clamp", x)
        {
            _x = Save(x);
            (_lo, _hi) = (lo, hi);
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var x = _x.Value;
            // inside = 1 − [x < lo] − [x > hi]
            var outside = x.LessThan(_lo) + x.GreaterThan(_hi);
            return [g * (1 - outside)];
        }
    }
}
