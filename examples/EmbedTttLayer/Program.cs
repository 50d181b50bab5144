// Embedding a TTT layer in your own model and training it on your own data.
//
// The data: readings of sensors that each oscillate at their own frequency, with noise; the task is to predict
// the next reading. No fixed weights can know a sequence's frequency in advance, but a TTT layer can learn it in
// context: its hidden state is a small model trained, token by token, on the sequence it is reading.
//
// The model is an ordinary user module: a linear embedding of each reading, a TTT layer with a residual
// connection, and a linear head. It is trained with AdamW; the printed test loss is compared with the naive
// forecast "the next reading equals the current one".
//
// Run: dotnet run -c Release --project examples/EmbedTttLayer

using System.Globalization;
using Ttt;
using Ttt.Models;
using Ttt.Nn;
using Ttt.Training;

const int SequenceLength = 64, BatchSize = 16, Steps = 120;
var gen = new Generator(seed: 7);

// 1. Your data, as plain arrays: readings[sequence][time].
float[][] train = SensorData.Make(count: 512, SequenceLength + 1, new Random(1));
float[][] test = SensorData.Make(count: 64, SequenceLength + 1, new Random(2));

// 2. Your model, with a TTT layer inside.
var model = new Forecaster(width: 32, heads: 4, gen);
var optimizer = new AdamW(model.NamedParameters().ToList(), weightDecay: 0);
Console.WriteLine($"parameters: {model.ParameterCount()}");

// 3. Training: inputs are readings 0..T-1, targets readings 1..T.
var order = new Random(3);
for (int step = 0; step <= Steps; step++)
{
    var batch = Enumerable.Range(0, BatchSize).Select(_ => train[order.Next(train.Length)]).ToArray();
    var (inputs, targets) = SensorData.ToTensors(batch, SequenceLength);
    var loss = (model.Forward(inputs) - targets).Square().Mean();
    model.ZeroGrad();
    loss.Backward();                        // differentiates through the TTT layer's inner gradient steps
    double lr = 3e-3 * Math.Min(1, (step + 1) / 10.0);
    optimizer.Update(lr);
    if (step % 20 == 0) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"step {step,3}: train loss {loss.Item():F4}"));
}

// 4. Evaluation on held-out sequences, without recording a graph.
using (Autograd.NoGrad())
{
    model.Eval();
    var (inputs, targets) = SensorData.ToTensors(test, SequenceLength);
    double testLoss = (model.Forward(inputs) - targets).Square().Mean().Item();
    double naive = (inputs - targets).Square().Mean().Item();
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"test loss: {testLoss:F4}"));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"naive forecast (next = current): {naive:F4}"));
}

/// <summary>The user's model: embed each reading, one TTT layer with a residual connection, read out the next.</summary>
sealed class Forecaster : Module
{
    private readonly Linear _embed, _head;
    private readonly TTTLayer _ttt;

    public Forecaster(int width, int heads, Generator gen)
    {
        _embed = AddModule("embed", new Linear(1, width, gen, bias: true, std: 0.5));
        // Mini-batches of 8 tokens: the inner model takes a gradient step every 8 readings.
        var config = new TTTConfig { HiddenSize = width, NumAttentionHeads = heads, MiniBatchSize = 8, TttBaseLr = 1.0, ConvKernel = 4 };
        _ttt = AddModule("ttt", new TTTLayer(config, gen));
        _head = AddModule("head", new Linear(width, 1, gen, bias: true));
    }

    /// <summary>readings: [B, T, 1] → predictions of the next reading: [B, T, 1].</summary>
    public Tensor Forward(Tensor readings)
    {
        var h = _embed.Forward(readings);
        h = h + _ttt.Forward(h);
        return _head.Forward(h);
    }
}

/// <summary>A stand-in for the user's data source: noisy sines, each with its own frequency, phase and amplitude.</summary>
static class SensorData
{
    public static float[][] Make(int count, int length, Random random) =>
        Enumerable.Range(0, count).Select(_ =>
        {
            double omega = 0.15 + 0.6 * random.NextDouble(), phase = 2 * Math.PI * random.NextDouble();
            double amplitude = 0.5 + random.NextDouble();
            return Enumerable.Range(0, length)
                .Select(t => (float)(amplitude * Math.Sin(omega * t + phase) + 0.05 * (random.NextDouble() - 0.5)))
                .ToArray();
        }).ToArray();

    /// <summary>Sequences of T+1 readings → inputs [B, T, 1] (readings 0..T-1) and targets [B, T, 1] (1..T).</summary>
    public static (Tensor Inputs, Tensor Targets) ToTensors(float[][] sequences, int length)
    {
        var inputs = sequences.SelectMany(s => s[..length]).ToArray();
        var targets = sequences.SelectMany(s => s[1..(length + 1)]).ToArray();
        return (Tensor.FromArray(inputs, [sequences.Length, length, 1]), Tensor.FromArray(targets, [sequences.Length, length, 1]));
    }
}
