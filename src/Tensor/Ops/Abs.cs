using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>|x|. ∂/∂x = g ⊙ sign(x) (0 at 0).</summary>
    public Tensor Abs()
    {
        var y = UnaryRaw(UnaryOp.Abs);
        return ShouldRecord(this) ? y.WithGradFn(new AbsBackward(this)) : y;
    }

    /// <summary>sign(x) ∈ {−1, 0, 1}; not differentiable (its derivative is 0 almost everywhere).</summary>
    public Tensor Sign() => UnaryRaw(UnaryOp.Sign);

    private sealed class AbsBackward : GradNode
    {
        private readonly SavedTensor _x;

        public AbsBackward(Tensor x) : base("abs", x) => _x = Save(x);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g * _x.Value.Sign()];
    }
}
