using System.Runtime.Intrinsics;
using Ttt.Backends;
using Ttt.Cpu;
using Ttt.Models.Fused;

namespace Ttt.Models;

/// <summary>
/// Fused CPU kernels for the dual-form scan of TTT-Linear and TTT-MLP (spec §1.7, §1.8, §1.10 with the remainder
/// rule): one autograd op for a whole sequence scan with a hand-written backward (a reverse scan that recomputes
/// each mini-batch from the states saved at mini-batch boundaries). On a device whose backend implements
/// <see cref="ITttDualKernels"/> (CUDA: ptx/ttt_dual.cu, head dim ≤ 64, K ≤ 64) the same op runs that backend's
/// kernels, with the same contract (including the composed second-order backward). The composed path
/// (<see cref="InnerModel.DualMiniBatch"/> in a loop) stays the oracle; <see cref="Enabled"/> switches the
/// routing in <see cref="TTTLayer"/> between the two.
/// <para>
/// Memory kept for backward: the op's inputs (held by the graph anyway) plus B·H·⌈⌈T/K⌉/G⌉ boundary states,
/// G = the scan-checkpoint group (1 unless <see cref="TTTConfig.ScanCheckpointGroupSize"/> is set in training),
/// each of dp² + dp (TTT-Linear) or 2·dp·hp + hp + dp (TTT-MLP) elements, dp = d and hp = 4d rounded up to the
/// register width. Nothing per mini-batch is kept. Backward recomputes every mini-batch once (and with G &gt; 1
/// also the states inside each group). At B=1, H=12, T=2048, d=64, float32: 25.6 MB (TTT-Linear) and 203 MB
/// (TTT-MLP) with G = 1; a quarter of that with G = 4.
/// </para>
/// <para>
/// Allocation: per call, the outputs (one flat tensor viewed as the output and the final state) and, when
/// recording, the boundary-state buffer, which is taken from and returned to a small pool (StatePool) because
/// first-touching hundreds of MB costs more than the scan on page-faulting VMs; each thread's scratch lives in a
/// kernel object that is pooled across calls. No allocation happens per mini-batch.
/// </para>
/// </summary>
internal static class TttFused
{
    private static bool s_enabled = true;
    private static readonly AsyncLocal<bool?> s_override = new();
    private static readonly AsyncLocal<int> s_vectorBits = new();

    /// <summary>
    /// Whether <see cref="TTTLayer"/> routes its scan to the fused op when it applies (default true). A scope
    /// from <see cref="Override"/> takes precedence for the code running inside it.
    /// </summary>
    public static bool Enabled
    {
        get => s_override.Value ?? s_enabled;
        set => s_enabled = value;
    }

    /// <summary>Sets <see cref="Enabled"/> for the current execution flow only, until the scope is disposed.</summary>
    public static IDisposable Override(bool enabled)
    {
        var previous = s_override.Value;
        s_override.Value = enabled;
        return new Restore(() => s_override.Value = previous);
    }

    /// <summary>
    /// Forces the register width (512, 256 or 128 bits) for the current execution flow, for tests; 0 restores the
    /// automatic choice (Vector512 when accelerated, else Vector256, else Vector128).
    /// </summary>
    internal static IDisposable ForceVectorBits(int bits)
    {
        if (bits is not (0 or 128 or 256 or 512)) throw new ArgumentOutOfRangeException(nameof(bits));
        int previous = s_vectorBits.Value;
        s_vectorBits.Value = bits;
        return new Restore(() => s_vectorBits.Value = previous);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        private Action? _undo = undo;

        public void Dispose()
        {
            _undo?.Invoke();
            _undo = null;
        }
    }

    private static int VectorBits =>
        s_vectorBits.Value != 0 ? s_vectorBits.Value
        : Vector512.IsHardwareAccelerated ? 512
        : Vector256.IsHardwareAccelerated ? 256 : 128;

    /// <summary>Whether the fused op computes exactly what the composed dual form of <paramref name="inner"/> would.</summary>
    public static bool Supports(InnerModel inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        return (inner.GetType() == typeof(LinearInner) && ((LinearInner)inner).UseBias) || inner.GetType() == typeof(MlpInner);
    }

    /// <summary>
    /// The routing rule of <see cref="TTTLayer"/>: fused when enabled, the inner loop is in dual mode, the inner
    /// model is exactly <see cref="LinearInner"/> or <see cref="MlpInner"/>, and the tensors are on the CPU or on a
    /// device whose backend runs this case (<see cref="ITttDualKernels"/>: CUDA, head dim and mini-batch
    /// <paramref name="miniBatch"/> within its limits, ptx/ttt_dual.cu).
    /// </summary>
    public static bool Applies(InnerModel inner, InnerLoopMode mode, Tensor q, int miniBatch = 0)
    {
        ArgumentNullException.ThrowIfNull(q);
        if (!Enabled || mode != InnerLoopMode.Dual || !Supports(inner) || q.DType is not (DType.Float32 or DType.Float64)) return false;
        if (q.Device.Type == DeviceType.Cpu) return true;
        return q.Rank == 4 && miniBatch > 0 && q.Backend is ITttDualKernels kernels
            && kernels.SupportsTttDual(KindOf(inner), q.DType, q.Shape[3], miniBatch);
    }

    /// <summary>The device kernels' name for a supported inner model.</summary>
    internal static TttDualKind KindOf(InnerModel inner) => inner switch
    {
        LinearInner => TttDualKind.Linear,
        MlpInner { ExactGeluDerivative: true } => TttDualKind.MlpExactGelu,
        MlpInner => TttDualKind.Mlp,
        _ => throw new ArgumentException($"fused scan: inner model '{inner.Kind}' has no fused kernel"),
    };

    /// <summary>
    /// The dual-form scan over a whole sequence: ⌊T/K⌋ mini-batches of K tokens, then one of T mod K tokens with
    /// τ[:T mod K] (spec correction 7), as one differentiable op.
    /// </summary>
    /// <param name="inner">A <see cref="LinearInner"/> or <see cref="MlpInner"/> (its GELU-derivative setting is honoured).</param>
    /// <param name="theta0">Initial state, one tensor per inner parameter, [H, …] (broadcast over the batch) or [B, H, …].</param>
    /// <param name="q">Test views [B, H, T, d].</param>
    /// <param name="k">Training views [B, H, T, d].</param>
    /// <param name="v">Label views [B, H, T, d].</param>
    /// <param name="lr">Inner learning rates [B, H, T] (η_base·σ(·)/d·multiplier).</param>
    /// <param name="tau">Token scales τ [K] (already clamped); K is the mini-batch size.</param>
    /// <param name="gamma">LayerNorm scale [H, d].</param>
    /// <param name="beta">LayerNorm shift [H, d].</param>
    /// <param name="checkpointGroup">Keep one boundary state every this many mini-batches for backward (0 or 1: every one).</param>
    /// <returns>The outputs q + LN(z̄) [B, H, T, d] and the final state, [B, H, …] per parameter.</returns>
    public static (Tensor Output, Tensor[] State) Scan(InnerModel inner, IReadOnlyList<Tensor> theta0, Tensor q, Tensor k, Tensor v,
        Tensor lr, Tensor tau, Tensor gamma, Tensor beta, int checkpointGroup = 0)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(theta0);
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(lr);
        ArgumentNullException.ThrowIfNull(tau);
        ArgumentNullException.ThrowIfNull(gamma);
        ArgumentNullException.ThrowIfNull(beta);
        if (!Supports(inner)) throw new ArgumentException($"fused scan: inner model '{inner.Kind}' ({inner.GetType().Name}) has no fused kernel");
        var shape = new ScanShape(inner, theta0, q, k, v, lr, tau, gamma, beta);
        Tensor[] inputs = [.. theta0, q, k, v, lr, tau, gamma, beta];
        bool record = GradMode.IsEnabled && inputs.Any(t => t.RequiresGrad);
        if (q.Device.Type != DeviceType.Cpu) return ScanOnDevice(shape, inputs, record);
        int group = Math.Max(1, checkpointGroup);
        int bits = VectorBits;
        Tensor flat;
        StatePool.Lease? lease = null;
        using (GradMode.Disable())
        {
            flat = Tensor.Empty([shape.FlatLength], q.DType);
            if (record) lease = StatePool.Rent(q.DType, checked(shape.B * shape.H * shape.Slots(group) * shape.PaddedStateSize(bits)));
            Kernels.Forward(shape, inputs, flat, lease?.Tensor, group, bits);
        }
        if (lease is { } l) flat.AttachGradFn(new FusedScanNode(shape, inputs, l, group, bits));
        return Unpack(shape, flat, tokenMajor: true);
    }

    /// <summary>
    /// The scan on a device: its backend's kernels (<see cref="ITttDualKernels"/>, CUDA: ptx/ttt_dual.cu) with the same
    /// op contract as the CPU kernels, or, when the backend does not run this case, the composed path.
    /// </summary>
    private static (Tensor Output, Tensor[] State) ScanOnDevice(ScanShape shape, Tensor[] inputs, bool record)
    {
        var kind = KindOf(shape.Inner);
        if (inputs[^7].Backend is not ITttDualKernels kernels || !kernels.SupportsTttDual(kind, shape.DType, shape.D, shape.K))
        {
            var composed = Composed(shape.Inner, inputs);
            return (composed[0], composed[1..]);
        }
        int s = inputs.Length - 7;
        Tensor flat;
        Tensor? saved;
        using (GradMode.Disable())
        {
            var theta = inputs.Take(s).Select(t => shape.ThetaBatched
                ? t.Detach().Contiguous()
                : t.Detach().Unsqueeze(0).Expand([shape.B, .. t.Shape]).Contiguous()).ToArray();
            var x = inputs.Skip(s).Select(t => t.Detach()).ToArray();
            flat = Tensor.Empty([shape.FlatLength], shape.DType, x[0].Device);
            saved = kernels.TttDualForward(kind, theta, x[0], x[1], x[2], x[3], x[4], x[5], x[6], flat, record);
        }
        if (record) flat.AttachGradFn(new DeviceScanNode(shape, inputs, kernels, kind, saved!));
        return Unpack(shape, flat, tokenMajor: false);
    }

    /// <summary>
    /// Splits the flat result into the output [B, H, T, d] and the final state. The CPU kernels write the output block
    /// token-major, [B, T, H, d] (ScanIo.TokenRow), so merging heads afterwards copies nothing; the device kernels write
    /// it head-major, [B, H, T, d]. Either way the output is returned as a [B, H, T, d] view.
    /// </summary>
    private static (Tensor Output, Tensor[] State) Unpack(ScanShape shape, Tensor flat, bool tokenMajor)
    {
        var block = flat.Narrow(0, 0, checked((int)shape.OutputLength));
        var output = tokenMajor
            ? block.Reshape(shape.B, shape.T, shape.H, shape.D).Permute(0, 2, 1, 3)
            : block.Reshape(shape.B, shape.H, shape.T, shape.D);
        var state = new Tensor[shape.StateShapes.Length];
        long offset = shape.OutputLength;
        for (int i = 0; i < state.Length; i++)
        {
            int n = (int)ShapeUtil.Numel(shape.StateShapes[i]);
            state[i] = flat.Narrow(0, (int)offset, n).Reshape(shape.StateShapes[i]);
            offset += n;
        }
        return (output, state);
    }

    /// <summary>
    /// The same scan with composed differentiable ops (the inner model's <see cref="InnerModel.DualMiniBatch"/> per
    /// mini-batch): the oracle, and what the op's backward differentiates when a gradient of the gradient is wanted.
    /// inputs: θ0…, q, k, v, lr, τ, γ, β (as in <see cref="Scan"/>); returns [output, state…].
    /// </summary>
    internal static Tensor[] Composed(InnerModel inner, IReadOnlyList<Tensor> inputs)
    {
        int s = inputs.Count - 7;
        var (q, k, v, lr, tau, gamma, beta) = (inputs[s], inputs[s + 1], inputs[s + 2], inputs[s + 3], inputs[s + 4], inputs[s + 5], inputs[s + 6]);
        int b = q.Shape[0], h = q.Shape[1], t = q.Shape[2], kLen = tau.Shape[0];
        var state = inputs.Take(s).Select(p => p.Rank == inner.Parameters[0].Shape(q.Shape[3]).Length + 1
            ? p.Unsqueeze(0).Expand([b, .. p.Shape])
            : p).ToArray();
        var outputs = new List<Tensor>();
        for (int start = 0; start < t; start += kLen)
        {
            int len = Math.Min(kLen, t - start);
            var tauM = len == kLen ? tau : tau.Narrow(0, 0, len);
            var eta = tauM.Reshape(1, 1, len, 1) * lr.Narrow(2, start, len).Unsqueeze(2);     // E[i, j] = τ_i·lr_j
            var (o, st) = inner.DualMiniBatch(state, q.Narrow(2, start, len), k.Narrow(2, start, len), v.Narrow(2, start, len), eta, gamma, beta)
                ?? throw new InvalidOperationException($"inner model '{inner.Kind}' has no dual form");
            outputs.Add(o);
            state = st;
        }
        return [outputs.Count == 1 ? outputs[0] : Tensor.Cat(outputs, 2), .. state];
    }

    /// <summary>
    /// The op's node: one flat output [output | final state…]. First-order backward runs the reverse-scan kernel;
    /// with grad mode on (createGraph) it recomputes the forward with composed ops and differentiates that, so
    /// gradients of gradients are exact.
    /// </summary>
    private sealed class FusedScanNode : GradNode
    {
        private readonly ScanShape _shape;
        private readonly SavedTensor[] _inputs;
        private readonly SavedTensor _saved;
        private readonly StatePool.Lease _lease;
        private readonly bool[] _requiresGrad;
        private readonly int _group, _bits;

        public FusedScanNode(ScanShape shape, Tensor[] inputs, StatePool.Lease lease, int group, int bits) : base("ttt_fused_scan", inputs)
        {
            _shape = shape;
            _inputs = inputs.Select(Save).ToArray();
            _lease = lease;
            _saved = Save(lease.Tensor);       // held (and counted by Autograd.SavedBytes) like any saved tensor
            _requiresGrad = inputs.Select(t => t.RequiresGrad).ToArray();
            _group = group;
            _bits = bits;
        }

        protected override Tensor?[] Backward(Tensor grad, bool[] needsGrad)
        {
            var inputs = _inputs.Select(s => s.Value).ToArray();
            if (GradMode.IsEnabled) return ComposedBackward(inputs, grad, needsGrad);
            // The boundary states: ours unless the buffer went back to the pool and another call rented it (only
            // possible when this graph is retained and differentiated again); then recompute them.
            Tensor states;
            bool own = StatePool.Reclaim(_lease);
            if (own) states = _saved.Value;
            else
            {
                states = Tensor.Empty(_lease.Tensor.Shape, _shape.DType);
                Kernels.Forward(_shape, inputs, Tensor.Empty([_shape.FlatLength], _shape.DType), states, _group, _bits);
            }
            var grads = Kernels.Backward(_shape, inputs, states, grad.Contiguous(), _group, _bits);
            if (own) StatePool.Return(_lease);
            var result = new Tensor?[inputs.Length];
            for (int i = 0; i < inputs.Length; i++)
                if (needsGrad[i]) result[i] = grads[i];
            return result;
        }

        private Tensor?[] ComposedBackward(Tensor[] originals, Tensor grad, bool[] needsGrad) =>
            ComposedScanBackward(_shape, _requiresGrad, originals, grad, needsGrad, tokenMajor: true);
    }

    /// <summary>
    /// The device op's node: the flat output's backward runs the device's reverse-scan kernel from the saved
    /// mini-batch-start states; with grad mode on (createGraph) it takes the composed path, as the CPU node does.
    /// </summary>
    private sealed class DeviceScanNode : GradNode
    {
        private readonly ScanShape _shape;
        private readonly SavedTensor[] _inputs;
        private readonly SavedTensor _saved;
        private readonly ITttDualKernels _kernels;
        private readonly TttDualKind _kind;
        private readonly bool[] _requiresGrad;

        public DeviceScanNode(ScanShape shape, Tensor[] inputs, ITttDualKernels kernels, TttDualKind kind, Tensor saved) : base("ttt_fused_scan", inputs)
        {
            _shape = shape;
            _inputs = inputs.Select(Save).ToArray();
            _saved = Save(saved);
            _kernels = kernels;
            _kind = kind;
            _requiresGrad = inputs.Select(t => t.RequiresGrad).ToArray();
        }

        protected override Tensor?[] Backward(Tensor grad, bool[] needsGrad)
        {
            var inputs = _inputs.Select(s => s.Value).ToArray();
            if (GradMode.IsEnabled) return ComposedScanBackward(_shape, _requiresGrad, inputs, grad, needsGrad, tokenMajor: false);
            int s = inputs.Length - 7;
            var x = inputs.Skip(s).Select(t => t.Detach()).ToArray();
            var grads = _kernels.TttDualBackward(_kind, x[0], x[1], x[2], x[3], x[4], x[5], x[6], _saved.Value, grad.Detach().Contiguous());
            var result = new Tensor?[inputs.Length];
            for (int i = 0; i < inputs.Length; i++)
            {
                if (!needsGrad[i]) continue;
                // θ₀ given per head ([H, …]) was broadcast over the batch: its gradient is the sum over the batch.
                result[i] = i < s && !_shape.ThetaBatched ? grads[i].Sum(0) : grads[i];
            }
            return result;
        }
    }

    /// <summary>
    /// Recompute with composed ops (recording) and differentiate them with createGraph (as Checkpoint does).
    /// <paramref name="tokenMajor"/>: the layout of the output block in <paramref name="grad"/> (see <see cref="Unpack"/>).
    /// </summary>
    private static Tensor?[] ComposedScanBackward(ScanShape shape, bool[] requiresGrad, Tensor[] originals, Tensor grad, bool[] needsGrad, bool tokenMajor)
    {
        Tensor[] replay = originals.Select((t, i) => requiresGrad[i] ? t.Alias() : t.Detach()).ToArray();
        var outputs = Composed(shape.Inner, replay);
        int[] outputShape = tokenMajor ? [shape.B, shape.T, shape.H, shape.D] : [shape.B, shape.H, shape.T, shape.D];
        var shapes = new[] { outputShape }.Concat(shape.StateShapes).ToArray();
        var differentiable = new List<Tensor>();
        var gradOutputs = new List<Tensor?>();
        long offset = 0;
        for (int i = 0; i < outputs.Length; i++)
        {
            int n = (int)ShapeUtil.Numel(shapes[i]);
            if (outputs[i].RequiresGrad)
            {
                differentiable.Add(outputs[i]);
                var g = grad.Narrow(0, (int)offset, n).Reshape(shapes[i]);
                gradOutputs.Add(i == 0 && tokenMajor ? g.Permute(0, 2, 1, 3) : g);
            }
            offset += n;
        }
        var wanted = Enumerable.Range(0, replay.Length).Where(i => needsGrad[i] && requiresGrad[i]).ToArray();
        var result = new Tensor?[replay.Length];
        if (differentiable.Count == 0 || wanted.Length == 0) return result;
        var grads = Autograd.Grad(differentiable, wanted.Select(i => replay[i]).ToArray(), gradOutputs, createGraph: true);
        for (int j = 0; j < wanted.Length; j++) result[wanted[j]] = grads[j];
        return result;
    }
}

/// <summary>Sizes of one fused scan call, checked once.</summary>
internal sealed class ScanShape
{
    public ScanShape(InnerModel inner, IReadOnlyList<Tensor> theta0, Tensor q, Tensor k, Tensor v, Tensor lr, Tensor tau, Tensor gamma, Tensor beta)
    {
        Inner = inner;
        IsMlp = inner is MlpInner;
        ExactGelu = inner is MlpInner { ExactGeluDerivative: true };
        if (q.Rank != 4) throw new ArgumentException($"fused scan: q must be [B, H, T, d], got {ShapeUtil.Format(q.Shape)}");
        B = q.Shape[0];
        H = q.Shape[1];
        T = q.Shape[2];
        D = q.Shape[3];
        K = tau.Rank == 1 ? tau.Shape[0] : throw new ArgumentException($"fused scan: tau must be [K], got {ShapeUtil.Format(tau.Shape)}");
        if (K < 1) throw new ArgumentException("fused scan: the mini-batch size must be at least 1");
        if (T < 1) throw new ArgumentException("fused scan: the sequence is empty");
        foreach (var (name, t) in new[] { ("k", k), ("v", v) })
            if (!ShapeUtil.SameShape(t.Shape, q.Shape)) throw new ArgumentException($"fused scan: {name} has shape {ShapeUtil.Format(t.Shape)}, q has {ShapeUtil.Format(q.Shape)}");
        if (!ShapeUtil.SameShape(lr.Shape, [B, H, T])) throw new ArgumentException($"fused scan: lr must be [B, H, T] = {ShapeUtil.Format([B, H, T])}, got {ShapeUtil.Format(lr.Shape)}");
        foreach (var (name, t) in new[] { ("gamma", gamma), ("beta", beta) })
            if (!ShapeUtil.SameShape(t.Shape, [H, D])) throw new ArgumentException($"fused scan: {name} must be [H, d] = {ShapeUtil.Format([H, D])}, got {ShapeUtil.Format(t.Shape)}");
        var parameters = inner.Parameters;
        if (theta0.Count != parameters.Count) throw new ArgumentException($"fused scan: {parameters.Count} state tensors expected, got {theta0.Count}");
        StateShapes = new int[parameters.Count][];
        for (int i = 0; i < parameters.Count; i++)
        {
            int[] per = parameters[i].Shape(D);
            StateShapes[i] = [B, H, .. per];
            var s = theta0[i].Shape;
            bool perHead = ShapeUtil.SameShape(s, [H, .. per]);
            bool batched = ShapeUtil.SameShape(s, StateShapes[i]);
            if (!perHead && !batched) throw new ArgumentException($"fused scan: state {parameters[i].Name} must be [H, …] or [B, H, …] = {ShapeUtil.Format(StateShapes[i])}, got {ShapeUtil.Format(s)}");
            if (i == 0) ThetaBatched = batched && !perHead;
            else if (ThetaBatched != (batched && !perHead)) throw new ArgumentException("fused scan: the state tensors must all be [H, …] or all [B, H, …]");
        }
        foreach (var t in theta0.Concat([q, k, v, lr, tau, gamma, beta]))
        {
            if (t.Device != q.Device) throw new ArgumentException($"fused scan: tensors are on different devices ({t.Device} and {q.Device})");
            if (t.DType != q.DType) throw new ArgumentException($"fused scan: dtypes differ ({t.DType.Name()} and {q.DType.Name()})");
        }
        if (q.DType is not (DType.Float32 or DType.Float64)) throw new ArgumentException($"fused scan: float32 or float64 expected, got {q.DType.Name()}");
        DType = q.DType;
        OutputLength = (long)B * H * T * D;
        FlatLength = checked((int)(OutputLength + StateShapes.Sum(s => ShapeUtil.Numel(s))));
    }

    public InnerModel Inner { get; }
    public bool IsMlp { get; }
    public bool ExactGelu { get; }
    public bool ThetaBatched { get; }
    public int B { get; }
    public int H { get; }
    public int T { get; }
    public int D { get; }
    public int K { get; }
    public DType DType { get; }
    public int[][] StateShapes { get; }
    public long OutputLength { get; }
    public int FlatLength { get; }

    public int MiniBatches => (T + K - 1) / K;

    public int Slots(int group) => (MiniBatches + group - 1) / group;

    /// <summary>Elements of one boundary state in the kernels' padded layout for a register of <paramref name="bits"/>.</summary>
    public int PaddedStateSize(int bits)
    {
        int w = bits / 8 / DType.SizeOf();
        int dp = Util.RoundUp(D, w);
        if (!IsMlp) return dp * dp + dp;
        int hp = Util.RoundUp(4 * D, w);
        return 2 * dp * hp + hp + dp;
    }
}
