namespace Ttt;

/// <summary>
/// A user-defined differentiable op from two delegates: a forward that computes the output from the inputs (run
/// without recording) and a backward that returns one gradient per input, written with differentiable tensor ops
/// so that the op also supports higher-order gradients.
/// </summary>
/// <example>
/// <code>
/// // y = x³ with its derivative 3x²·g
/// var y = Function.Apply("cube", [x], xs => xs[0] * xs[0] * xs[0], (g, xs) => [g * xs[0].Square() * 3]);
/// </code>
/// </example>
public static class Function
{
    /// <summary>Applies a custom op.</summary>
    /// <param name="name">Name used in messages.</param>
    /// <param name="inputs">The op's inputs.</param>
    /// <param name="forward">Computes the output from the inputs (grad mode is off while it runs).</param>
    /// <param name="backward">Given the output gradient and the inputs, returns one gradient per input
    /// (null for inputs that receive none).</param>
    public static Tensor Apply(string name, Tensor[] inputs, Func<Tensor[], Tensor> forward, Func<Tensor, Tensor[], Tensor?[]> backward)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(backward);
        Tensor output;
        using (GradMode.Disable()) output = forward(inputs);
        if (output.GradFn is not null || output.RequiresGrad)
            throw new InvalidOperationException($"{name}: forward must return a fresh tensor");
        if (!GradMode.IsEnabled || !inputs.Any(t => t.RequiresGrad)) return output;
        return output.AttachGradFn(new DelegateNode(name, inputs, backward));
    }

    private sealed class DelegateNode : GradNode
    {
        private readonly SavedTensor[] _inputs;
        private readonly Func<Tensor, Tensor[], Tensor?[]> _backward;

        public DelegateNode(string name, Tensor[] inputs, Func<Tensor, Tensor[], Tensor?[]> backward) : base(name, inputs)
        {
            _inputs = inputs.Select(Save).ToArray();
            _backward = backward;
        }

        protected internal override Tensor?[] Backward(Tensor grad, bool[] needsGrad)
        {
            var grads = _backward(grad, _inputs.Select(s => s.Value).ToArray());
            if (grads.Length != needsGrad.Length)
                throw new InvalidOperationException($"{Name}: backward returned {grads.Length} gradients for {needsGrad.Length} inputs");
            return grads;
        }
    }
}
