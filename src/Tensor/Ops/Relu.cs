using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>max(x, 0). ∂/∂x = g ⊙ [x &gt; 0] (the mask is a constant).</summary>
    public Tensor Relu()
    {
        var y = UnaryRaw(UnaryOp.Relu);
        return ShouldRecord(this) ? y.WithGradFn(new ReluBackward(this)) : y;
    }

    private sealed class ReluBackward : GradNode
    {
        private readonly SavedTensor _x;

        public ReluBackward(Tensor x) : base("relu", x) => _x = Save(x);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g * _x.Value.GreaterThan(0)];
    }
}
