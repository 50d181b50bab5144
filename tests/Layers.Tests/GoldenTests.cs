using Ttt.Models;

namespace Ttt.Tests;

/// <summary>
/// Every golden case of tests/fixtures/reference: logits, loss, hidden states and every parameter gradient (model
/// cases); output, input gradient and parameter gradients (layer cases). float64 within 1e-6 relative and float32
/// within 2e-5 (the reference's own float32 run lands at 5.7e-6), measured as max-abs error over max-abs value.
/// Both inner-loop paths are checked: the analytic dual form and the autograd inner loop.
/// </summary>
public class GoldenTests
{
    public static TheoryData<string, DType, InnerLoopMode> ModelCases()
    {
        var data = new TheoryData<string, DType, InnerLoopMode>();
        foreach (var c in Fixtures.Cases("model"))
            foreach (var t in new[] { DType.Float64, DType.Float32 })
                foreach (var m in new[] { InnerLoopMode.Dual, InnerLoopMode.Autograd })
                    data.Add(c, t, m);
        return data;
    }

    public static TheoryData<string, DType, InnerLoopMode> LayerCases()
    {
        var data = new TheoryData<string, DType, InnerLoopMode>();
        foreach (var c in Fixtures.Cases("layer"))
            foreach (var t in new[] { DType.Float64, DType.Float32 })
                foreach (var m in new[] { InnerLoopMode.Dual, InnerLoopMode.Autograd })
                    data.Add(c, t, m);
        return data;
    }

    private static double Tolerance(DType t, InnerLoopMode mode) =>
        t == DType.Float64 ? 1e-6 : 2e-5;

    [Theory]
    [MemberData(nameof(ModelCases))]
    public void Model_matches_the_golden_case(string name, DType dtype, InnerLoopMode mode)
    {
        var c = new Fixtures.Case(name);
        var config = c.Config;
        var model = new TTTForCausalLM(config, new Generator(0), dtype: dtype);
        foreach (var layer in model.TttLayers) layer.Mode = mode;
        using var weights = c.Weights(dtype);
        model.LoadStateDict(weights.ToDictionary(kv => kv.Key, kv => kv.Value), ignore: config.TieWordEmbeddings ? ["lm_head.weight"] : null);
        using var inputs = c.Inputs;
        using var outputs = c.Outputs;
        var ids = inputs["input_ids"];
        var hidden = new List<Tensor>();
        var logits = model.Forward(ids, hidden);
        var loss = TTTForCausalLM.Loss(logits, inputs["labels"]);
        loss.Backward();

        double tol = Tolerance(dtype, mode);
        var report = new List<string>();
        void Check(string what, Tensor expected, Tensor actual)
        {
            double err = Fixtures.RelError(expected, actual);
            if (!(err <= tol)) report.Add($"{what}: relative error {err:G3} > {tol:G1}");
        }
        Check("logits", outputs["logits"], logits);
        Check("loss", outputs[dtype == DType.Float64 ? "loss_f64" : "loss"], loss);
        // hidden_states.i: the output of block i; the last one is the final norm's output.
        for (int i = 0; i < hidden.Count; i++)
            Check($"hidden_states.{i}", outputs[$"hidden_states.{i}"], hidden[i]);
        foreach (var (pname, p) in model.NamedParameters())
            Check($"grad.{pname}", outputs[$"grad.{pname}"], p.Grad ?? Tensor.ZerosLike(p));
        if (config.TieWordEmbeddings)
            Check("grad.lm_head.weight (tied)", outputs["grad.lm_head.weight"], model.Model.EmbedTokens.Weight.Grad!);
        Assert.True(report.Count == 0, $"{name} {dtype.Name()} {mode}:\n" + string.Join("\n", report));
    }

    [Theory]
    [MemberData(nameof(LayerCases))]
    public void Layer_matches_the_golden_case(string name, DType dtype, InnerLoopMode mode)
    {
        var c = new Fixtures.Case(name);
        var layer = new TTTLayer(c.Config, new Generator(0), dtype: dtype) { Mode = mode };
        using var weights = c.Weights(dtype);
        layer.LoadStateDict(weights.ToDictionary(kv => kv.Key, kv => kv.Value));
        using var inputs = c.Inputs;
        using var outputs = c.Outputs;
        var x = inputs["hidden_states"].To(dtype).RequireGrad();
        var gradOut = inputs["grad_output"].To(dtype);
        Assert.Equal(Enumerable.Range(0, x.Shape[1]).Select(i => (long)i), inputs["position_ids"].ToLongArray());
        var y = layer.Forward(x);
        var objective = (y * gradOut).Sum();
        objective.Backward();

        double tol = Tolerance(dtype, mode);
        var report = new List<string>();
        void Check(string what, Tensor expected, Tensor actual)
        {
            double err = Fixtures.RelError(expected, actual);
            if (!(err <= tol)) report.Add($"{what}: relative error {err:G3} > {tol:G1}");
        }
        Check("output", outputs["output"], y);
        Check("objective", outputs["objective"], objective);
        Check("grad.hidden_states", outputs["grad.hidden_states"], x.Grad!);
        foreach (var (pname, p) in layer.NamedParameters())
            Check($"grad.{pname}", outputs[$"grad.{pname}"], p.Grad ?? Tensor.ZerosLike(p));
        Assert.True(report.Count == 0, $"{name} {dtype.Name()} {mode}:\n" + string.Join("\n", report));
    }
}
