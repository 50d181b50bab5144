using Ttt.Models.Fused;
using Ttt.Nn;

namespace Ttt.Models;

/// <summary>
/// A TTT layer (spec §1): projections to the test/train/label views Q, K, V, RoPE with positions t mod K, the
/// learnable inner learning rate, a sequential scan over mini-batches of K tokens in which the hidden state θ (the
/// parameters of an <see cref="InnerModel"/>) takes one gradient step per mini-batch, then post-norm, the optional
/// GELU gate and the output projection. Parameter names follow the official PyTorch module
/// (<c>q_proj</c>, <c>W1</c>, <c>learnable_ttt_lr_weight</c>, …).
/// <para>Input X [B, T, D] is the RMS-normed residual stream; output [B, T, D].</para>
/// </summary>
public sealed class TTTLayer : Module
{
    private readonly Parameter[] _theta0;                 // empty when learnable_init_state is off (W0 = 0)
    private readonly Parameter? _tokenIdxOffset, _lrWeight, _lrBias; // null when learnable_ttt_lr is off (fixed η)
    private readonly Parameter? _normWeight, _normBias;   // null when use_ttt_norm is off

    /// <summary>Builds the layer for <paramref name="config"/> with a chosen inner model (null: from ttt_layer_type).</summary>
    public TTTLayer(TTTConfig config, Generator gen, InnerModel? inner = null, DType dtype = DType.Float32)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(gen);
        config.Validate();
        Config = config;
        Inner = inner ?? (config.TttLayerType == "mlp" ? new MlpInner() : new LinearInner { UseBias = config.UseTttBias });
        int width = config.HiddenSize, heads = config.NumAttentionHeads, d = config.HeadDim, k = config.MiniBatchSize;
        double std = config.InitializerRange;
        QProj = AddModule("q_proj", new Linear(width, width, gen, std: std, dtype: dtype));
        if (!config.ShareQk) KProj = AddModule("k_proj", new Linear(width, width, gen, std: std, dtype: dtype));
        VProj = AddModule("v_proj", new Linear(width, width, gen, std: std, dtype: dtype));
        OProj = AddModule("o_proj", new Linear(width, width, gen, std: std, dtype: dtype));
        if (config.ShareQk)
        {
            ConvQ = AddModule("conv_q", new CausalConv1d(width, config.ConvKernel, gen, dtype));
            ConvK = AddModule("conv_k", new CausalConv1d(width, config.ConvKernel, gen, dtype));
        }
        Objective = new InnerObjective(config.UseTttNorm, config.UseTttResidual);
        if (config.LearnableTttLr)
        {
            _lrWeight = AddParameter("learnable_ttt_lr_weight", Init.Normal([heads, 1, width], gen, 0.02, dtype));
            _lrBias = AddParameter("learnable_ttt_lr_bias", Init.Zeros([heads, 1], dtype));
            _tokenIdxOffset = AddParameter("learnable_token_idx", Init.Zeros([k], dtype));
        }
        if (config.UseTttNorm)
        {
            _normWeight = AddParameter("ttt_norm_weight", Init.Ones([heads, d], dtype));
            _normBias = AddParameter("ttt_norm_bias", Init.Zeros([heads, d], dtype));
        }
        if (config.UseGate) GProj = AddModule("g_proj", new Linear(width, width, gen, std: std, dtype: dtype));
        PostNorm = AddModule("post_norm", new LayerNorm(width, TttMath.LnEps, dtype));
        _theta0 = !config.LearnableInitState ? [] : Inner.Parameters
            .Select(p => AddParameter(p.Name, p.InitStd == 0 ? Init.Zeros([heads, .. p.Shape(d)], dtype) : Init.Normal([heads, .. p.Shape(d)], gen, p.InitStd, dtype)))
            .ToArray();
    }

    /// <summary>The configuration.</summary>
    public TTTConfig Config { get; }

    /// <summary>The inner model whose parameters are the hidden state.</summary>
    public InnerModel Inner { get; }

    /// <summary>How mini-batches are computed (dual form by default).</summary>
    public InnerLoopMode Mode { get; set; } = InnerLoopMode.Dual;

    /// <summary>How f wraps f_res (LayerNorm and residual on or off: use_ttt_norm, use_ttt_residual).</summary>
    public InnerObjective Objective { get; }

    /// <summary>Multiplier of the inner learning rate (the TTT-MLP η warmup of the training recipe); 1 by default.</summary>
    public double LrMultiplier { get; set; } = 1;

    /// <summary>Q projection (θ_Q, or the shared θ_QK in the Mamba backbone).</summary>
    public Linear QProj { get; }
    /// <summary>K projection (Transformer backbone only).</summary>
    public Linear? KProj { get; }
    /// <summary>V projection.</summary>
    public Linear VProj { get; }
    /// <summary>Output projection.</summary>
    public Linear OProj { get; }
    /// <summary>Gate projection (use_gate).</summary>
    public Linear? GProj { get; }
    /// <summary>Causal conv producing Q from the shared projection (share_qk).</summary>
    public CausalConv1d? ConvQ { get; }
    /// <summary>Causal conv producing K from the shared projection (share_qk).</summary>
    public CausalConv1d? ConvK { get; }
    /// <summary>LayerNorm over D before the gate and output projection.</summary>
    public LayerNorm PostNorm { get; }

    /// <summary>The initial state W0 of every sequence, stacked over heads ([H, …] per parameter).</summary>
    public IReadOnlyList<Tensor> InitialState => Config.LearnableInitState
        ? _theta0.Select(p => p.Value).ToArray()
        : Inner.Parameters.Select(p => Tensor.Zeros([Heads, .. p.Shape(HeadDim)], OProj.Weight.DType, OProj.Weight.Device)).ToArray();

    private int Heads => Config.NumAttentionHeads;
    private int HeadDim => Config.HeadDim;
    private int K => Config.MiniBatchSize;

    /// <summary>Full-sequence forward: X [B, T, D] → [B, T, D] (dual form, remainder rule for T mod K).</summary>
    public Tensor Forward(Tensor x)
    {
        CheckInput(x);
        int b = x.Shape[0], t = x.Shape[1];
        var (q, k, v) = Views(x, ProjectSequence(x));
        var lr = LearningRates(x);                                     // [B,H,T]
        var state = InitialStates(b);
        var output = Scan(q, k, v, lr, ref state);
        return OutputPath(x, output, b, t);
    }

    /// <summary>
    /// Forward that also returns the carried state after the last full mini-batch and the per-token quantities of
    /// the remainder (used by prefill with a decoding cache).
    /// </summary>
    internal (Tensor Output, Tensor[] State) ForwardWithState(Tensor x)
    {
        CheckInput(x);
        int b = x.Shape[0], t = x.Shape[1];
        var (q, k, v) = Views(x, ProjectSequence(x));
        var lr = LearningRates(x);
        var state = InitialStates(b);
        var output = Scan(q, k, v, lr, ref state);
        return (OutputPath(x, output, b, t), state);
    }

    private void CheckInput(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Rank != 3 || x.Shape[2] != Config.HiddenSize)
            throw new ArgumentException($"ttt layer: input must be [B, T, {Config.HiddenSize}], got {ShapeUtil.Format(x.Shape)}");
        if (x.Shape[1] == 0) throw new ArgumentException("ttt layer: the sequence is empty");
    }

    // ------------------------------------------------------------------ pieces

    /// <summary>Q, K, V projections over a whole sequence, each [B, T, D] (Mamba: shared projection + two convs).</summary>
    private (Tensor Q, Tensor K, Tensor V) ProjectSequence(Tensor x)
    {
        if (Config.ShareQk)
        {
            var u = QProj.Forward(x);
            return (ConvQ!.Forward(u), ConvK!.Forward(u), VProj.Forward(x));
        }
        return (QProj.Forward(x), KProj!.Forward(x), VProj.Forward(x));
    }

    /// <summary>[B, T, D] → heads [B, H, T, d], with RoPE at positions (offset + t) mod K on Q and K.</summary>
    private (Tensor Q, Tensor K, Tensor V) Views(Tensor x, (Tensor Q, Tensor K, Tensor V) p, long offset = 0)
    {
        int b = x.Shape[0], t = x.Shape[1];
        Tensor Heads4(Tensor y) => y.Reshape(b, t, Heads, HeadDim).Permute(0, 2, 1, 3);
        var (cos, sin) = RopeTables(t, offset, x.DType, x.Device);
        return (Rope.Apply(Heads4(p.Q), cos, sin), Rope.Apply(Heads4(p.K), cos, sin), Heads4(p.V));
    }

    private (int T, long Offset, DType DType, Device Device, Tensor Cos, Tensor Sin)? _ropeTables;
    private (DType DType, Device Device, Tensor Cos, Tensor Sin)? _ropeCycle;

    /// <summary>
    /// RoPE tables [t, d/2] for positions (offset + i) mod K, kept for the next call of the same length. A decoding
    /// token (t = 1) takes its row of the tables of all K positions, built once, instead of new tables per token.
    /// </summary>
    private (Tensor Cos, Tensor Sin) RopeTables(int t, long offset, DType dtype, Device device)
    {
        if (t == 1)
        {
            if (_ropeCycle is not { } cycle || cycle.DType != dtype || cycle.Device != device)
            {
                var all = RopeTables(K, 0, dtype, device);
                _ropeCycle = cycle = (dtype, device, all.Cos, all.Sin);
            }
            int row = (int)(offset % K);
            return (cycle.Cos.Narrow(0, row, 1), cycle.Sin.Narrow(0, row, 1));
        }
        if (_ropeTables is { } c && c.T == t && c.Offset % K == offset % K && c.DType == dtype && c.Device == device) return (c.Cos, c.Sin);
        var positions = new long[t];
        for (int i = 0; i < t; i++) positions[i] = (offset + i) % K;
        var (cos, sin) = Rope.Tables(positions, HeadDim, Config.RopeTheta, dtype, device);
        _ropeTables = (t, offset, dtype, device, cos, sin);
        return (cos, sin);
    }

    /// <summary>
    /// η_base·σ(x·θ_lr + β_lr)/d per head and token: [B, H, T] (spec §1.6); with a fixed η (learnable_ttt_lr off),
    /// the constant 2η (the paper's η on its un-halved loss, applied to the gradient of our ½‖·‖²).
    /// </summary>
    private Tensor LearningRates(Tensor x)
    {
        if (_lrWeight is null)
            return Tensor.Full([x.Shape[0], Heads, x.Shape[1]], 2 * Config.TttFixedLr * LrMultiplier, x.DType, x.Device);
        var w = _lrWeight.Value.Reshape(Heads, Config.HiddenSize).MT;  // [D, H]
        var a = Tensor.Matmul(x, w) + _lrBias!.Value.Reshape(Heads);    // [B,T,H]
        return (a.Sigmoid() * (Config.TttBaseLr * LrMultiplier / HeadDim)).Permute(0, 2, 1);
    }

    /// <summary>τ_i = max(0, 1/(i+1) + δ_i) for the first <paramref name="count"/> positions: [count].</summary>
    private Tensor TokenScale(int count, int start = 0)
    {
        if (_tokenIdxOffset is null) return Tensor.Ones([count], OProj.Weight.DType, OProj.Weight.Device); // fixed η: plain sum of gradients
        var inv = new double[count];
        for (int i = 0; i < count; i++) inv[i] = 1.0 / (start + i + 1);
        var baseIdx = Tensor.FromArray(inv, null, _tokenIdxOffset.Value.Device).To(_tokenIdxOffset.Value.DType);
        return (baseIdx + _tokenIdxOffset.Value.Narrow(0, start, count)).ClampMin(0);
    }

    /// <summary>
    /// τ_i of <see cref="TokenScale"/> as a number, for the fused decoding kernel: the same arithmetic in the
    /// parameter's precision (1/(i+1) rounded to it, plus the learned offset, clamped at 0) without the five small
    /// tensors the general form makes per token.
    /// </summary>
    private double TokenScaleAt(int i)
    {
        if (_tokenIdxOffset is null) return 1;
        double offset = _tokenIdxOffset.Value.Narrow(0, i, 1).Item();
        return _tokenIdxOffset.Value.DType == DType.Float32
            ? Math.Max((float)(1.0 / (i + 1)) + (float)offset, 0f)
            : Math.Max(1.0 / (i + 1) + offset, 0.0);
    }

    /// <summary>E[i, j] = τ_i·lr_j for one mini-batch: lr [B, H, k] → [B, H, k, k].</summary>
    private Tensor Eta(Tensor lr, Tensor tau) => tau.Reshape(1, 1, tau.Shape[0], 1) * lr.Unsqueeze(2);

    /// <summary>W0 tiled over the batch: one [B, H, shape] tensor per inner parameter.</summary>
    internal Tensor[] InitialStates(int batch) =>
        InitialState.Select(p => p.Unsqueeze(0).Expand([batch, .. p.Shape])).ToArray();

    /// <summary>The LayerNorm γ, β [H, d] of f (constants 1 and 0, unused, when use_ttt_norm is off).</summary>
    private (Tensor Gamma, Tensor Beta) NormParameters()
    {
        if (_normWeight is not null) return (_normWeight.Value, _normBias!.Value);
        var like = OProj.Weight;
        return (Tensor.Ones([Heads, HeadDim], like.DType, like.Device), Tensor.Zeros([Heads, HeadDim], like.DType, like.Device));
    }

    /// <summary>
    /// The scan over ⌊T/K⌋ full mini-batches and one remainder mini-batch of T mod K tokens (spec §1.10 and
    /// correction 7). Returns the outputs [B, H, T, d]; <paramref name="state"/> carries the hidden state.
    /// With scan checkpointing (training, group size G &gt; 0) only every G-th state is kept and the rest is
    /// recomputed during backward.
    /// </summary>
    private Tensor Scan(Tensor q, Tensor k, Tensor v, Tensor lr, ref Tensor[] state, bool allowFused = true)
    {
        int t = q.Shape[2], n = t / K, r = t % K;
        var (gamma, beta) = NormParameters();
        // Fused kernel (Fused/TttFused.cs; on CUDA ptx/ttt_dual.cu): the whole scan, remainder included, as one op with a
        // hand-written backward; it keeps one state every ScanCheckpointGroupSize mini-batches in training (its own
        // checkpointing). Not for the decoding cache's prefill (allowFused: false), the autograd inner loop or custom
        // inner models, nor with f's LayerNorm or residual switched off (the kernels hard-code the official f; the
        // composed path below handles every switch). Zero W0 and a fixed η are only different inputs, which the kernels take.
        if (allowFused && Objective.IsOfficial && TttFused.Applies(Inner, Mode, q, K))
        {
            int checkpoint = Training && Config.ScanCheckpointGroupSize > 0 ? Config.ScanCheckpointGroupSize : 0;
            var (fusedOut, fusedState) = TttFused.Scan(Inner, state, q, k, v, lr, TokenScale(K), gamma, beta, checkpoint);
            state = fusedState;
            return fusedOut;
        }
        var outputs = new List<Tensor>();
        if (n > 0)
        {
            var tau = TokenScale(K);
            int group = Training && Config.ScanCheckpointGroupSize > 0 ? Config.ScanCheckpointGroupSize : 0;
            int step = group > 0 ? group : n;
            for (int m0 = 0; m0 < n; m0 += step)
            {
                int count = Math.Min(step, n - m0);
                int start = m0 * K, len = count * K;
                Tensor[] Segment(Tensor[] inputs)
                {
                    // inputs: θ…, q, k, v, lr, τ, γ, β (explicit so checkpointing sees every dependency)
                    int s = inputs.Length - 7;
                    var st = inputs[..s];
                    var (sq, sk, sv, slr, stau, sg, sb) = (inputs[s], inputs[s + 1], inputs[s + 2], inputs[s + 3], inputs[s + 4], inputs[s + 5], inputs[s + 6]);
                    var outs = new Tensor[count];
                    for (int m = 0; m < count; m++)
                    {
                        var eta = Eta(slr.Narrow(2, m * K, K), stau);
                        (outs[m], st) = InnerLoop.MiniBatch(Inner, Mode, st,
                            sq.Narrow(2, m * K, K), sk.Narrow(2, m * K, K), sv.Narrow(2, m * K, K), eta, sg, sb, Objective);
                    }
                    return [Tensor.Cat(outs, 2), .. st];
                }
                Tensor[] segmentInputs = [.. state, q.Narrow(2, start, len), k.Narrow(2, start, len), v.Narrow(2, start, len), lr.Narrow(2, start, len), tau, gamma, beta];
                var result = group > 0 ? Checkpoint.Run(Segment, segmentInputs) : Segment(segmentInputs);
                outputs.Add(result[0]);
                state = result[1..];
            }
        }
        if (r > 0)
        {
            int start = n * K;
            var eta = Eta(lr.Narrow(2, start, r), TokenScale(r));
            var (o, st) = InnerLoop.MiniBatch(Inner, Mode, state, q.Narrow(2, start, r), k.Narrow(2, start, r), v.Narrow(2, start, r), eta, gamma, beta, Objective);
            outputs.Add(o);
            state = st;
        }
        return outputs.Count == 1 ? outputs[0] : Tensor.Cat(outputs, 2);
    }

    /// <summary>Heads [B, H, T, d] → [B, T, D], post_norm, gate (use_gate), output projection.</summary>
    private Tensor OutputPath(Tensor x, Tensor heads, int b, int t)
    {
        var merged = heads.Permute(0, 2, 1, 3).Reshape(b, t, Config.HiddenSize);
        var y = PostNorm.Forward(merged);
        if (GProj is not null) y = GProj.Forward(x).Gelu() * y;
        return OProj.Forward(y);
    }

    // ------------------------------------------------------------------ decoding (primal form, spec §1.11)

    /// <summary>
    /// The hidden state after the last processed token, θ_i = θ_start − τ_i·S (θ_start at a mini-batch boundary):
    /// the same quantity the full-sequence forward carries.
    /// </summary>
    public Tensor[] CurrentState(TTTLayerCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        if (cache.Start is null) throw new InvalidOperationException("ttt layer: the cache is empty");
        int i = (int)(cache.Position % K);
        if (i == 0) return cache.Start;
        var tau = TokenScale(1, i - 1);
        return cache.Start.Select((s, j) => s - cache.Accum![j] * tau.Reshape(Enumerable.Repeat(1, s.Rank).ToArray())).ToArray();
    }

    /// <summary>
    /// Runs <paramref name="x"/> [B, T, D] through the layer with a decoding cache: the first call prefills
    /// (dual form over full mini-batches, then the primal form for the remainder, keeping the gradient
    /// accumulators); later calls continue token by token. Outputs equal the full-sequence forward.
    /// </summary>
    public Tensor Forward(Tensor x, TTTLayerCache cache)
    {
        CheckInput(x);
        ArgumentNullException.ThrowIfNull(cache);
        int b = x.Shape[0], t = x.Shape[1];
        if (cache.Position == 0)
        {
            // Prefill: full mini-batches in dual form, the remainder token by token.
            var projections = ProjectSequence(x);
            cache.SaveConvWindow(Config.ShareQk ? QProj.Forward(x) : null, Config.ConvKernel);
            int full = t / K * K;
            var outputs = new List<Tensor>();
            cache.Start = InitialStates(b);
            cache.Accum = cache.Start.Select(Tensor.ZerosLike).ToArray();
            if (full > 0)
            {
                var head = (projections.Q.Narrow(1, 0, full), projections.K.Narrow(1, 0, full), projections.V.Narrow(1, 0, full));
                var xs = x.Narrow(1, 0, full);
                var (q, k, v) = Views(xs, head);
                var state = cache.Start;
                outputs.Add(Scan(q, k, v, LearningRates(xs), ref state, allowFused: false));
                cache.Start = state;
            }
            cache.Position = full;
            for (int i = full; i < t; i++)
            {
                var xi = x.Narrow(1, i, 1);
                var (q, k, v) = Views(xi, (projections.Q.Narrow(1, i, 1), projections.K.Narrow(1, i, 1), projections.V.Narrow(1, i, 1)), cache.Position);
                outputs.Add(PrimalToken(q, k, v, LearningRates(xi), cache));
            }
            var heads = outputs.Count == 1 ? outputs[0] : Tensor.Cat(outputs, 2);
            return OutputPath(x, heads, b, t);
        }
        var steps = new List<Tensor>();
        for (int i = 0; i < t; i++) steps.Add(Step(x.Narrow(1, i, 1), cache));
        return steps.Count == 1 ? steps[0] : Tensor.Cat(steps, 1);
    }

    /// <summary>One decoding step: x [B, 1, D] → [B, 1, D], O(1) work and memory in the context length.</summary>
    public Tensor Step(Tensor x, TTTLayerCache cache)
    {
        CheckInput(x);
        ArgumentNullException.ThrowIfNull(cache);
        if (x.Shape[1] != 1) throw new ArgumentException($"ttt layer step: expected one token [B, 1, D], got {ShapeUtil.Format(x.Shape)}");
        if (cache.Start is null) throw new InvalidOperationException("ttt layer step: the cache was not prefilled");
        (Tensor Q, Tensor K, Tensor V) p;
        if (Config.ShareQk)
        {
            var window = cache.PushConvInput(QProj.Forward(x));      // [B, W, D]
            p = (ConvQ!.Step(window).Unsqueeze(1), ConvK!.Step(window).Unsqueeze(1), VProj.Forward(x));
        }
        else p = (QProj.Forward(x), KProj!.Forward(x), VProj.Forward(x));
        var (q, k, v) = Views(x, p, cache.Position);
        var heads = PrimalToken(q, k, v, LearningRates(x), cache);
        return OutputPath(x, heads, x.Shape[0], 1);
    }

    /// <summary>
    /// Whether a decoding token can take the fused kernel: TTT-Linear on the CPU in float32/float64 with nothing
    /// recording a graph (the kernel has no backward) and the kernel switch of <see cref="TttFused"/> on.
    /// </summary>
    private bool CanDecodeFused(Tensor q) =>
        Inner is LinearInner && q.Device.Type == DeviceType.Cpu && q.DType is DType.Float32 or DType.Float64
        && !GradMode.IsEnabled && TttFused.Enabled;

    /// <summary>
    /// The primal form for one token at position p (i = p mod K): g = ∇ℓ(θ_start), S += lr·g,
    /// θ_i = θ_start − τ_i·S, output q + LN(f_res(q; θ_i)); at the end of a mini-batch θ_start = θ_i, S = 0.
    /// q, k, v: [B, H, 1, d]; lr: [B, H, 1].
    /// </summary>
    private Tensor PrimalToken(Tensor q, Tensor k, Tensor v, Tensor lr, TTTLayerCache cache)
    {
        int i = (int)(cache.Position % K);
        var (gamma, beta) = NormParameters();
        var start = cache.Start!;
        if (CanDecodeFused(q))
        {
            // Inference on the CPU: one fused pass per head (Fused/LinearDecodeKernel.cs), S updated in place.
            var accum = cache.Accum!;
            for (int j = 0; j < accum.Length; j++)
                if (!accum[j].IsContiguous) accum[j] = accum[j].Contiguous();
            var (fusedOut, newStart) = LinearDecodeKernel.Step(start, accum, q, k, v, lr, TokenScaleAt(i), gamma, beta, Objective, i == K - 1);
            foreach (var s in accum) s.Storage.BumpVersion();   // written in place
            cache.Position++;
            if (newStart is not null) cache.Start = newStart;
            return fusedOut;
        }
        var target = Objective.Target(k, v);
        var grads = Inner.TokenGradients(start, k, target, gamma, beta, Objective)
            ?? InnerLoop.AutogradTokenGradients(Inner, start, k, target, gamma, beta, Objective);
        var tau = TokenScale(1, i);                                   // [1]
        var theta = new Tensor[start.Length];
        for (int j = 0; j < start.Length; j++)
        {
            var g = grads[j].Squeeze(2);                               // [B,H,shape]
            var lrj = lr.Reshape([.. lr.Shape[..2], .. Enumerable.Repeat(1, g.Rank - 2)]);
            cache.Accum![j] = cache.Accum[j] + lrj * g;
            theta[j] = start[j] - cache.Accum[j] * tau.Reshape(Enumerable.Repeat(1, g.Rank).ToArray());
        }
        var z = Inner.Forward(theta, q);                              // [B,H,1,d]
        var output = Objective.Output(q, z, gamma, beta);
        cache.Position++;
        if (i == K - 1)
        {
            cache.Start = theta;
            cache.Accum = theta.Select(Tensor.ZerosLike).ToArray();
        }
        return output;
    }
}

/// <summary>
/// The decoding state of one TTT layer (spec §1.11): the state at the start of the current mini-batch, the
/// lr-weighted gradient sums S of the tokens seen in it, the position, and the last inputs of the Q/K convs.
/// Its size does not depend on the context length.
/// </summary>
public sealed class TTTLayerCache
{
    /// <summary>Tokens processed so far.</summary>
    public long Position { get; internal set; }

    /// <summary>θ at the start of the current mini-batch, [B, H, shape] per parameter.</summary>
    public Tensor[]? Start { get; internal set; }

    /// <summary>S: Σ lr_j·∇ℓ_j over the current mini-batch so far (not τ-scaled).</summary>
    public Tensor[]? Accum { get; internal set; }

    /// <summary>The last W−1 inputs of the shared-QK convs [B, W−1, D] (share_qk only).</summary>
    public Tensor? ConvWindow { get; internal set; }

    internal void SaveConvWindow(Tensor? u, int width)
    {
        if (u is null) return;
        ConvWindow = LastWindow(u, width);
    }

    /// <summary>Appends one input [B, 1, C] and returns the full window [B, W, C] (oldest first).</summary>
    internal Tensor PushConvInput(Tensor u)
    {
        var window = Tensor.Cat([ConvWindow!, u], 1);
        ConvWindow = window.Narrow(1, 1, window.Shape[1] - 1);
        return window;
    }

    /// <summary>The last W−1 steps of u [B, T, C], zero-padded at the front when T &lt; W−1.</summary>
    internal static Tensor LastWindow(Tensor u, int width)
    {
        int keep = width - 1, t = u.Shape[1];
        return t >= keep ? u.Narrow(1, t - keep, keep) : u.Pad(1, keep - t, 0);
    }
}
