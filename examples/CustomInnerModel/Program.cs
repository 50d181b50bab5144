// Plugging your own inner model into a TTT layer.
//
// A TTT layer's hidden state is the parameters θ of a small model f_res. Each mini-batch of K tokens takes one
// gradient step on the self-supervised loss ½‖LN(f_res(k; θ)) − (v − k)‖², and the outer loss trains the
// projections (and θ's initial value W0) *through* that step — a gradient of a gradient. TTT-Linear and TTT-MLP
// have hand-derived inner gradients; any other model gets its inner gradient from autograd.
//
// Run: dotnet run --project examples/CustomInnerModel

using Ttt;
using Ttt.Models;

// 1. The inner model: a 2-layer MLP with SiLU and a 2d-wide hidden layer.
var config = new TTTConfig
{
    HiddenSize = 32, NumAttentionHeads = 4, MiniBatchSize = 8,  // d = 8 per head
    TttBaseLr = 0.5, ShareQk = true, UseGate = true, ConvKernel = 4,
};
var gen = new Generator(seed: 1);
var layer = new TTTLayer(config, gen, new SiluMlpInner());      // W0 (Wa, ba, Wb, bb) are outer parameters

// 2. A toy sequence task: the second half of each sequence repeats the first, so a layer that learns in
//    context (the inner loop memorizes key → value pairs) can predict it.
var x = Tensor.RandN([4, 32, 32], gen);
var target = Tensor.Cat([x.Narrow(1, 0, 16), x.Narrow(1, 0, 16)], 1);

// 3. Train with plain SGD. Backward differentiates through the inner gradient steps (createGraph inside).
var parameters = layer.Parameters().ToArray();
for (int step = 0; step <= 30; step++)
{
    var prediction = layer.Forward(x);
    var loss = (prediction - target).Square().Narrow(1, 16, 16).Mean();
    layer.ZeroGrad();
    loss.Backward();
    using (Autograd.NoGrad())
        foreach (var p in parameters)
            if (p.Grad is { } g) p.AddInPlace(g, alpha: -2.0);
    if (step % 10 == 0) Console.WriteLine($"step {step,2}: loss {loss.Item():F4}");
}

/// <summary>f_res(x) = SiLU(x·Wa + ba)·Wb + bb with a hidden layer of 2d units.</summary>
sealed class SiluMlpInner : InnerModel
{
    public override string Kind => "silu-mlp";

    // Per-head shapes (the layer stacks them over heads) and init std (0 = zeros).
    public override IReadOnlyList<InnerParameter> Parameters { get; } =
    [
        new("Wa", d => [d, 2 * d], 0.02),
        new("ba", d => [1, 2 * d], 0),
        new("Wb", d => [2 * d, d], 0.02),
        new("bb", d => [1, d], 0),
    ];

    // x: [..., N, d]; θ tensors broadcast over the leading dims (batch, head, token).
    public override Tensor Forward(IReadOnlyList<Tensor> theta, Tensor x) =>
        Tensor.Matmul((Tensor.Matmul(x, theta[0]) + theta[1]).Silu(), theta[2]) + theta[3];
}
