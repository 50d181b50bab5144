using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>√x. ∂/∂x = g / (2y) (saves the output).</summary>
    public Tensor Sqrt()
    {
        CheckFloat("sqrt");
        var y = UnaryRaw(UnaryOp.Sqrt);
        return ShouldRecord(this) ? y.WithGradFn(new SqrtBackward(this, y)) : y;
    }

    private sealed class SqrtBackward : GradNode
    {
        private readonly SavedTensor _y;

        public SqrtBackward(Tensor x, Tensor y) : base("sqrt", x) => _y = Save(y);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g / (_y.Value * 2)];
    }
}
