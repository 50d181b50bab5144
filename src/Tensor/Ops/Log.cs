using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>ln x. ∂/∂x = g / x.</summary>
    public Tensor Log()
    {
        CheckFloat("log");
        var y = UnaryRaw(UnaryOp.Log);
        return ShouldRecord(this) ? y.WithGradFn(new LogBackward(this)) : y;
    }

    private sealed class LogBackward : GradNode
    {
        private readonly SavedTensor _x;

        public LogBackward(Tensor x) : base("log", x) => _x = Save(x);

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) => [g / _x.Value];
    }
}
