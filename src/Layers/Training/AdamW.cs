namespace Ttt.Training;

/// <summary>
/// AdamW with decoupled weight decay, as optax's <c>adamw</c> (spec §3): m ← β1·m + (1−β1)·g,
/// v ← β2·v + (1−β2)·g², p ← p − lr·(m̂/(√v̂ + ε) + λ·p) with bias-corrected m̂, v̂. The moments are kept in the
/// parameters' dtype (float32 master weights in float32 training). Weight decay applies to every parameter, as in
/// the TTT recipe.
/// </summary>
public sealed class AdamW
{
    private readonly Tensor[] _params;
    private readonly Tensor[] _m, _v;

    /// <summary>Creates the optimizer for <paramref name="parameters"/> (named, for checkpoints).</summary>
    public AdamW(IReadOnlyList<(string Name, Tensor Tensor)> parameters, double beta1 = 0.9, double beta2 = 0.95, double eps = 1e-8, double weightDecay = 0.1)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        if (beta1 is < 0 or >= 1 || beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), "adamw: betas must be in [0, 1)");
        Names = parameters.Select(p => p.Name).ToArray();
        _params = parameters.Select(p => p.Tensor).ToArray();
        _m = _params.Select(Tensor.ZerosLike).ToArray();
        _v = _params.Select(Tensor.ZerosLike).ToArray();
        (Beta1, Beta2, Eps, WeightDecay) = (beta1, beta2, eps, weightDecay);
    }

    /// <summary>Parameter names, in order.</summary>
    public IReadOnlyList<string> Names { get; }
    /// <summary>β1.</summary>
    public double Beta1 { get; }
    /// <summary>β2.</summary>
    public double Beta2 { get; }
    /// <summary>ε.</summary>
    public double Eps { get; }
    /// <summary>Decoupled weight decay λ.</summary>
    public double WeightDecay { get; }
    /// <summary>Updates applied so far.</summary>
    public long Step { get; private set; }

    /// <summary>Applies one update with learning rate <paramref name="lr"/> using each parameter's <c>.Grad</c>
    /// (parameters without a gradient get a zero gradient: only weight decay moves them).</summary>
    public void Update(double lr)
    {
        Step++;
        double c1 = 1 - Math.Pow(Beta1, Step), c2 = 1 - Math.Pow(Beta2, Step);
        using var _ = GradMode.Disable();
        for (int i = 0; i < _params.Length; i++)
        {
            var p = _params[i];
            var g = p.Grad;
            if (p.Device.Type == DeviceType.Cpu && p.IsContiguous && p.DType is DType.Float32 or DType.Float64)
                UpdateCpu(p, g is null || g.IsContiguous ? g : g.Contiguous(), _m[i], _v[i], lr, c1, c2);
            else
                UpdateComposed(p, g ?? Tensor.ZerosLike(p), _m[i], _v[i], lr, c1, c2);
            p.Storage.BumpVersion();
        }
    }

    private void UpdateComposed(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double c1, double c2)
    {
        m.AffineInPlace(Beta1).AddInPlace(g, 1 - Beta1);
        v.AffineInPlace(Beta2).AddInPlace(g * g, 1 - Beta2);
        var update = (m * (1 / c1)) / ((v * (1 / c2)).Sqrt() + Eps) + p * WeightDecay;
        p.AddInPlace(update, -lr);
    }

    private void UpdateCpu(Tensor p, Tensor? g, Tensor m, Tensor v, double lr, double c1, double c2)
    {
        var step = new OptimizerKernels.AdamWStep(lr, Beta1, Beta2, Eps, WeightDecay, c1, c2);
        if (p.DType == DType.Float32) OptimizerKernels.AdamW<float>(p, g, m, v, step);
        else OptimizerKernels.AdamW<double>(p, g, m, v, step);
    }

    /// <summary>The moments as named tensors ("m.&lt;name&gt;", "v.&lt;name&gt;") for a checkpoint.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> State()
    {
        for (int i = 0; i < _params.Length; i++)
        {
            yield return new($"m.{Names[i]}", _m[i]);
            yield return new($"v.{Names[i]}", _v[i]);
        }
    }

    /// <summary>Restores moments and the step count saved by <see cref="State"/>.</summary>
    public void Load(IReadOnlyDictionary<string, Tensor> state, long step)
    {
        ArgumentNullException.ThrowIfNull(state);
        using var _ = GradMode.Disable();
        for (int i = 0; i < _params.Length; i++)
        {
            foreach (var (prefix, target) in new[] { ("m.", _m[i]), ("v.", _v[i]) })
            {
                if (!state.TryGetValue(prefix + Names[i], out var t))
                    throw new InvalidDataException($"optimizer state has no '{prefix}{Names[i]}'");
                if (!ShapeUtil.SameShape(t.Shape, target.Shape))
                    throw new InvalidDataException($"optimizer state '{prefix}{Names[i]}' has shape {ShapeUtil.Format(t.Shape)}, expected {ShapeUtil.Format(target.Shape)}");
                target.CopyFrom(t.To(target.DType));
            }
        }
        Step = step;
    }
}
