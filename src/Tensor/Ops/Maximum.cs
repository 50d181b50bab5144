using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>Element-wise max with broadcasting. The gradient goes to the larger input; ties split it in half.</summary>
    public static Tensor Maximum(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var y = BinaryRaw("maximum", BinaryOp.Maximum, a, b);
        return ShouldRecord(a, b) ? y.WithGradFn(new ExtremumBackward("maximum", a, b, max: true)) : y;
    }

    /// <summary>Element-wise min with broadcasting. The gradient goes to the smaller input; ties split it in half.</summary>
    public static Tensor Minimum(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var y = BinaryRaw("minimum", BinaryOp.Minimum, a, b);
        return ShouldRecord(a, b) ? y.WithGradFn(new ExtremumBackward("minimum", a, b, max: false)) : y;
    }

    private sealed class ExtremumBackward : GradNode
    {
        private readonly SavedTensor _a, _b;
        private readonly int[] _aShape, _bShape;
        private readonly bool _max;

        public ExtremumBackward(string name, Tensor a, Tensor b, bool max) : base(name, a, b)
        {
            (_a, _b, _max) = (Save(a), Save(b), max);
            (_aShape, _bShape) = (a.ShapeArray(), b.ShapeArray());
        }

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs)
        {
            var a = _a.Value;
            var b = _b.Value;
            // weight of a: 1 where a wins, ½ on ties, 0 where b wins (a constant mask)
            var wins = _max ? Greater(a, b) : Less(a, b);
            var wa = wins + Equal(a, b) * 0.5;
            return [needs[0] ? (g * wa).SumTo(_aShape) : null, needs[1] ? (g * (1 - wa)).SumTo(_bShape) : null];
        }
    }
}
