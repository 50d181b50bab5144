using Ttt.Backends;
using Ttt.Cuda.Kernels;
using static Ttt.Cuda.Fused.FusedCommon;

namespace Ttt.Cuda.Fused;

/// <summary>
/// The fused dual-form scans of TTT-Linear and TTT-MLP on the GPU (ptx/ttt_dual.cu), forward and backward, one
/// thread block per (batch, head) carrying the inner state across mini-batches. Limits: head dim d ≤
/// <see cref="MaxHeadDim"/> (TTT-Linear keeps W [d, d] in shared memory) and mini-batch K ≤ <see cref="MaxMiniBatch"/>;
/// outside them <see cref="Supports"/> is false and the op (Ttt.Models.TttFused) takes its composed path.
/// The flat output layout and the argument order are those of <see cref="ITttDualKernels"/>.
/// </summary>
internal static class FusedTttDual
{
    /// <summary>Largest head dim (TTT_MAX_D).</summary>
    public const int MaxHeadDim = 64;

    /// <summary>Largest mini-batch (TTT_MAX_K).</summary>
    public const int MaxMiniBatch = 64;

    private const int Threads = 256;

    /// <summary>Whether the kernels run this case.</summary>
    public static bool Supports(TttDualKind kind, DType dtype, int headDim, int miniBatch) =>
        dtype is DType.Float32 or DType.Float64 && headDim is >= 1 and <= MaxHeadDim && miniBatch is >= 1 and <= MaxMiniBatch
        && Enum.IsDefined(kind);

    /// <summary>Per-(batch, head) shapes of the inner parameters.</summary>
    public static int[][] StateShapes(TttDualKind kind, int d) => kind == TttDualKind.Linear
        ? [[d, d], [1, d]]
        : [[d, 4 * d], [1, 4 * d], [4 * d, d], [1, d]];

    /// <summary>Elements of one block's workspace, as LinearWork / MlpWork in ptx/ttt_dual.cu carve it.</summary>
    public static long WorkElements(TttDualKind kind, int d, int k)
    {
        long kd = (long)k * d, kk = (long)k * k;
        if (kind == TttDualKind.Linear) return 18 * kd + 4 * kk + (long)d * d + 3L * d;
        long hd = 4L * d;
        return 17 * kd + 13 * k * hd + 7 * kk + 2 * (2 * d * hd + hd + d) + 2L * d;
    }

    private static long StateSize(TttDualKind kind, int d) => StateShapes(kind, d).Sum(s => (long)s[0] * s[1]);

    /// <summary>Forward into <paramref name="flat"/>; returns the saved mini-batch-start states when asked.</summary>
    public static Tensor? Forward(TttDualKind kind, IReadOnlyList<Tensor> theta0, Tensor q, Tensor k, Tensor v, Tensor lr, Tensor tau,
        Tensor gamma, Tensor beta, Tensor flat, bool saveStates)
    {
        const string Op = "fused_ttt_dual";
        var c = Check(Op, kind, q, k, v, lr, tau, gamma, beta);
        ArgumentNullException.ThrowIfNull(theta0);
        ArgumentNullException.ThrowIfNull(flat);
        var shapes = StateShapes(kind, c.D);
        if (theta0.Count != shapes.Length) throw new ArgumentException($"{Op}: {shapes.Length} state tensors expected, got {theta0.Count}");
        for (int i = 0; i < shapes.Length; i++)
        {
            Same(Op, $"theta0[{i}]", theta0[i], c.Be, q.DType);
            if (!ShapeUtil.SameShape(theta0[i].Shape, [c.B, c.H, .. shapes[i]]))
                throw new ArgumentException($"{Op}: theta0[{i}] must be {ShapeUtil.Format([c.B, c.H, .. shapes[i]])}, got {ShapeUtil.Format(theta0[i].Shape)}");
        }
        long outLen = (long)c.B * c.H * c.T * c.D, stateLen = (long)c.B * c.H * StateSize(kind, c.D);
        Same(Op, "flat", flat, c.Be, q.DType);
        if (flat.Rank != 1 || flat.Shape[0] != outLen + stateLen || !flat.IsContiguous)
            throw new ArgumentException($"{Op}: flat must be a dense [{outLen + stateLen}], got {ShapeUtil.Format(flat.Shape)}");
        int miniBatches = (c.T + c.K - 1) / c.K;
        var saved = saveStates ? Tensor.Empty([checked((int)((long)c.B * c.H * miniBatches * StateSize(kind, c.D)))], q.DType, q.Device) : null;
        var th = theta0.Select(Dense).ToArray();
        var flatPtr = c.Be.FirstElement(flat, Op);
        var statePtrs = StatePointers(flatPtr, outLen, kind, c.B * c.H, c.D, q.DType);
        long work = WorkElements(kind, c.D, c.K);
        using var scratch = new CudaBackend.Scratch(c.Be.CudaDevice, checked((long)c.B * c.H * work * q.DType.SizeOf()));
        if (kind == TttDualKind.Linear)
            Launch(c.Be, KernelCatalog.TttLinearForward[q.DType], c.B * c.H, 1, Threads,
                c.Be.FirstElement(th[0], Op), c.Be.FirstElement(th[1], Op), c.Q, c.K_, c.V, c.Lr, c.Tau, c.Gamma, c.Beta,
                flatPtr, statePtrs[0], statePtrs[1], c.Be.FirstOrNull(saved, Op), scratch.Pointer,
                (long)c.H, (long)c.T, (long)c.D, (long)c.K, work);
        else
            Launch(c.Be, KernelCatalog.TttMlpForward[q.DType], c.B * c.H, 1, Threads,
                c.Be.FirstElement(th[0], Op), c.Be.FirstElement(th[1], Op), c.Be.FirstElement(th[2], Op), c.Be.FirstElement(th[3], Op),
                c.Q, c.K_, c.V, c.Lr, c.Tau, c.Gamma, c.Beta,
                flatPtr, statePtrs[0], statePtrs[1], statePtrs[2], statePtrs[3], c.Be.FirstOrNull(saved, Op), scratch.Pointer,
                (long)c.H, (long)c.T, (long)c.D, (long)c.K, work, kind == TttDualKind.MlpExactGelu ? 1 : 0);
        GC.KeepAlive(c);
        return saved;
    }

    /// <summary>Gradients θ₀… ([B, H, …]), q, k, v, lr, τ, γ, β for the gradient of the flat output.</summary>
    public static Tensor[] Backward(TttDualKind kind, Tensor q, Tensor k, Tensor v, Tensor lr, Tensor tau, Tensor gamma, Tensor beta,
        Tensor savedStates, Tensor dFlat)
    {
        const string Op = "fused_ttt_dual_backward";
        var c = Check(Op, kind, q, k, v, lr, tau, gamma, beta);
        ArgumentNullException.ThrowIfNull(savedStates);
        ArgumentNullException.ThrowIfNull(dFlat);
        long outLen = (long)c.B * c.H * c.T * c.D, stateLen = (long)c.B * c.H * StateSize(kind, c.D);
        int miniBatches = (c.T + c.K - 1) / c.K;
        Same(Op, "savedStates", savedStates, c.Be, q.DType);
        Same(Op, "dFlat", dFlat, c.Be, q.DType);
        if (savedStates.Numel != (long)c.B * c.H * miniBatches * StateSize(kind, c.D))
            throw new ArgumentException($"{Op}: savedStates has {savedStates.Numel} elements, expected {(long)c.B * c.H * miniBatches * StateSize(kind, c.D)}");
        if (dFlat.Rank != 1 || dFlat.Shape[0] != outLen + stateLen)
            throw new ArgumentException($"{Op}: dFlat must be [{outLen + stateLen}], got {ShapeUtil.Format(dFlat.Shape)}");
        var saved = Dense(savedStates);
        var df = Dense(dFlat);
        var dfPtr = c.Be.FirstElement(df, Op);
        var dStatePtrs = StatePointers(dfPtr, outLen, kind, c.B * c.H, c.D, q.DType);
        var dTheta = StateShapes(kind, c.D).Select(s => Tensor.Empty([c.B, c.H, .. s], q.DType, q.Device)).ToArray();
        var dq = Tensor.Empty([c.B, c.H, c.T, c.D], q.DType, q.Device);
        var dk = Tensor.Empty([c.B, c.H, c.T, c.D], q.DType, q.Device);
        var dv = Tensor.Empty([c.B, c.H, c.T, c.D], q.DType, q.Device);
        var dlr = Tensor.Empty([c.B, c.H, c.T], q.DType, q.Device);
        var dtau = Tensor.Zeros([c.K], q.DType, q.Device);
        var dgamma = Tensor.Zeros([c.H, c.D], q.DType, q.Device);
        var dbeta = Tensor.Zeros([c.H, c.D], q.DType, q.Device);
        long work = WorkElements(kind, c.D, c.K);
        using var scratch = new CudaBackend.Scratch(c.Be.CudaDevice, checked((long)c.B * c.H * work * q.DType.SizeOf()));
        var be = c.Be;
        KernelArg[] inputs = [c.Q, c.K_, c.V, c.Lr, c.Tau, c.Gamma, c.Beta, be.FirstElement(saved, Op), dfPtr];
        KernelArg[] tail =
        [
            be.FirstElement(dq, Op), be.FirstElement(dk, Op), be.FirstElement(dv, Op), be.FirstElement(dlr, Op),
            be.FirstElement(dtau, Op), be.FirstElement(dgamma, Op), be.FirstElement(dbeta, Op), scratch.Pointer,
            (long)c.H, (long)c.T, (long)c.D, (long)c.K, work,
        ];
        if (kind == TttDualKind.Linear)
            Launch(be, KernelCatalog.TttLinearBackward[q.DType], c.B * c.H, 1, Threads,
                [.. inputs, dStatePtrs[0], dStatePtrs[1], be.FirstElement(dTheta[0], Op), be.FirstElement(dTheta[1], Op), .. tail]);
        else
            Launch(be, KernelCatalog.TttMlpBackward[q.DType], c.B * c.H, 1, Threads,
                [.. inputs, dStatePtrs[0], dStatePtrs[1], dStatePtrs[2], dStatePtrs[3],
                 be.FirstElement(dTheta[0], Op), be.FirstElement(dTheta[1], Op), be.FirstElement(dTheta[2], Op), be.FirstElement(dTheta[3], Op),
                 .. tail, kind == TttDualKind.MlpExactGelu ? 1 : 0]);
        GC.KeepAlive(c);
        return [.. dTheta, dq, dk, dv, dlr, dtau, dgamma, dbeta];
    }

    /// <summary>Device addresses of the final-state slices that follow the output in a flat buffer.</summary>
    private static DevicePtr[] StatePointers(DevicePtr flat, long outputLength, TttDualKind kind, int blocks, int d, DType dtype)
    {
        var shapes = StateShapes(kind, d);
        var result = new DevicePtr[shapes.Length];
        long offset = outputLength;
        for (int i = 0; i < shapes.Length; i++)
        {
            result[i] = flat.Add(offset * dtype.SizeOf());
            offset += (long)blocks * shapes[i][0] * shapes[i][1];
        }
        return result;
    }

    /// <summary>The checked sizes and the device addresses of the dense inputs (kept alive by the record).</summary>
    private sealed record Inputs(CudaBackend Be, int B, int H, int T, int D, int K, DevicePtr Q, DevicePtr K_, DevicePtr V, DevicePtr Lr,
        DevicePtr Tau, DevicePtr Gamma, DevicePtr Beta, Tensor[] Keep);

    private static Inputs Check(string op, TttDualKind kind, Tensor q, Tensor k, Tensor v, Tensor lr, Tensor tau, Tensor gamma, Tensor beta)
    {
        Tensor[] all = [q, k, v, lr, tau, gamma, beta];
        string[] names = ["q", "k", "v", "lr", "tau", "gamma", "beta"];
        for (int i = 0; i < all.Length; i++)
            if (all[i] is null) throw new ArgumentNullException(names[i], $"{op}: {names[i]} is null");
        Float(op, q);
        var be = Backend(op, q);
        for (int i = 1; i < all.Length; i++) Same(op, names[i], all[i], be, q.DType);
        if (q.Rank != 4) throw new ArgumentException($"{op}: q must be [B, H, T, d], got {ShapeUtil.Format(q.Shape)}");
        int b = q.Shape[0], h = q.Shape[1], t = q.Shape[2], d = q.Shape[3];
        int kLen = tau.Rank == 1 ? tau.Shape[0] : 0;
        if (!ShapeUtil.SameShape(k.Shape, q.Shape) || !ShapeUtil.SameShape(v.Shape, q.Shape) || !ShapeUtil.SameShape(lr.Shape, [b, h, t])
            || !ShapeUtil.SameShape(gamma.Shape, [h, d]) || !ShapeUtil.SameShape(beta.Shape, [h, d]) || kLen < 1 || b < 1 || h < 1 || t < 1)
            throw new ArgumentException($"{op}: expected q, k, v [B, H, T, d], lr [B, H, T], tau [K], gamma, beta [H, d] with every size ≥ 1; got q {ShapeUtil.Format(q.Shape)}, k {ShapeUtil.Format(k.Shape)}, v {ShapeUtil.Format(v.Shape)}, lr {ShapeUtil.Format(lr.Shape)}, tau {ShapeUtil.Format(tau.Shape)}, gamma {ShapeUtil.Format(gamma.Shape)}, beta {ShapeUtil.Format(beta.Shape)}");
        if (!Supports(kind, q.DType, d, kLen))
            throw new ArgumentException($"{op}: {kind} with head dim {d} and mini-batch {kLen} is outside the kernels' limits (d ≤ {MaxHeadDim}, K ≤ {MaxMiniBatch})");
        var dense = all.Select(Dense).ToArray();
        return new Inputs(be, b, h, t, d, kLen, be.FirstElement(dense[0], op), be.FirstElement(dense[1], op), be.FirstElement(dense[2], op),
            be.FirstElement(dense[3], op), be.FirstElement(dense[4], op), be.FirstElement(dense[5], op), be.FirstElement(dense[6], op), dense);
    }
}
