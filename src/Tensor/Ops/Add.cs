using Ttt.Backends;

namespace Ttt;

public sealed partial class Tensor
{
    /// <summary>a + b with broadcasting. ∂/∂a = g, ∂/∂b = g (each summed back to its input's shape).</summary>
    public static Tensor Add(Tensor a, Tensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var y = BinaryRaw("add", BinaryOp.Add, a, b);
        return ShouldRecord(a, b) ? y.WithGradFn(new AddBackward(a, b)) : y;
    }

    /// <summary>a + b with broadcasting.</summary>
    public static Tensor operator +(Tensor a, Tensor b) => Add(a, b);

    /// <summary>x + s.</summary>
    public static Tensor operator +(Tensor x, double s) => x.Affine(1, s);

    /// <summary>s + x.</summary>
    public static Tensor operator +(double s, Tensor x) => x.Affine(1, s);

    private sealed class AddBackward(Tensor a, Tensor b) : GradNode("add", a, b)
    {
        private readonly int[] _aShape = a.ShapeArray(), _bShape = b.ShapeArray();

        protected internal override Tensor?[] Backward(Tensor g, bool[] needs) =>
            [needs[0] ? g.SumTo(_aShape) : null, needs[1] ? g.SumTo(_bShape) : null];
    }
}
