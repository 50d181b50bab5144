using System.Collections.Concurrent;
using System.Runtime.Intrinsics;
using Ttt.Cpu;

namespace Ttt.Models.Fused;

/// <summary>One thread's kernel object: scratch sized once, then one (b, h) scan per Forward/Backward call.</summary>
internal interface IScanKernel
{
    /// <summary>Serve another call (a <see cref="ScanIo{T}"/> with the same sizes).</summary>
    void Rebind(object io);
    void Forward(int item);
    void Backward(int item);
}

/// <summary>
/// Binds tensors to a <see cref="ScanIo{T}"/>, picks the element type and register width, and runs the per-(b, h)
/// scans in parallel over batch × heads (each thread builds one kernel object with its scratch and reuses it).
/// </summary>
internal static unsafe class Kernels
{
    /// <summary>Forward: writes [output | final state…] into <paramref name="flat"/> and, when given, the boundary states.</summary>
    public static void Forward(ScanShape shape, Tensor[] inputs, Tensor flat, Tensor? saved, int group, int bits)
    {
        if (shape.DType == DType.Float32) Forward<float>(shape, inputs, flat, saved, group, bits);
        else Forward<double>(shape, inputs, flat, saved, group, bits);
    }

    /// <summary>Backward: gradients of every input, in input order (θ0…, q, k, v, lr, τ, γ, β).</summary>
    public static Tensor[] Backward(ScanShape shape, Tensor[] inputs, Tensor saved, Tensor grad, int group, int bits) =>
        shape.DType == DType.Float32
            ? Backward<float>(shape, inputs, saved, grad, group, bits)
            : Backward<double>(shape, inputs, saved, grad, group, bits);

    private static T* Ptr<T>(Tensor t) where T : unmanaged => (T*)((CpuStorage)t.Storage).Pointer + t.Offset;

    private static ScanIo<T> Bind<T>(ScanShape shape, Tensor[] inputs, int group, List<Tensor> keep) where T : unmanaged
    {
        int s = inputs.Length - 7;
        var io = new ScanIo<T>
        {
            B = shape.B, H = shape.H, Len = shape.T, D = shape.D, K = shape.K, Group = group,
            ThetaBatched = shape.ThetaBatched, ExactGelu = shape.ExactGelu,
            Q = new View<T>(inputs[s]), Kx = new View<T>(inputs[s + 1]), V = new View<T>(inputs[s + 2]), Lr = new View<T>(inputs[s + 3]),
            Tau = inputs[s + 4].ToDoubleArray(),
        };
        keep.AddRange(inputs);
        var gamma = inputs[s + 5].Contiguous();
        var beta = inputs[s + 6].Contiguous();
        keep.Add(gamma);
        keep.Add(beta);
        io.Gamma = Ptr<T>(gamma);
        io.Beta = Ptr<T>(beta);
        io.Theta = new T*[s];
        for (int i = 0; i < s; i++)
        {
            var c = inputs[i].Contiguous();
            keep.Add(c);
            io.Theta[i] = Ptr<T>(c);
        }
        return io;
    }

    private static T*[] Blocks<T>(Tensor flat, long offset, int[][] shapes) where T : unmanaged
    {
        var result = new T*[shapes.Length];
        T* p = Ptr<T>(flat) + offset;
        for (int i = 0; i < shapes.Length; i++)
        {
            result[i] = p;
            p += ShapeUtil.Numel(shapes[i]);
        }
        return result;
    }

    private static void Forward<T>(ScanShape shape, Tensor[] inputs, Tensor flat, Tensor? saved, int group, int bits) where T : unmanaged
    {
        var keep = new List<Tensor> { flat };
        var io = Bind<T>(shape, inputs, group, keep);
        io.Out = Ptr<T>(flat);
        io.StateOut = Blocks<T>(flat, shape.OutputLength, shape.StateShapes);
        if (saved is not null)
        {
            keep.Add(saved);
            io.Saved = Ptr<T>(saved);
        }
        Dispatch(io, shape.IsMlp, forward: true, bits);
        GC.KeepAlive(keep);
    }

    private static Tensor[] Backward<T>(ScanShape shape, Tensor[] inputs, Tensor saved, Tensor grad, int group, int bits) where T : unmanaged
    {
        var keep = new List<Tensor> { saved, grad };
        var io = Bind<T>(shape, inputs, group, keep);
        io.Saved = Ptr<T>(saved);
        io.GradOut = Ptr<T>(grad);
        io.GradState = Blocks<T>(grad, shape.OutputLength, shape.StateShapes);
        int b = shape.B, h = shape.H, t = shape.T, d = shape.D, k = shape.K;
        // Laid out [B, T, H, d] and [B, T, H] (ScanIo.TokenRow), returned as [B, H, T, d] and [B, H, T] views.
        var dq = Tensor.Empty([b, t, h, d], shape.DType);
        var dk = Tensor.Empty([b, t, h, d], shape.DType);
        var dv = Tensor.Empty([b, t, h, d], shape.DType);
        var dlr = Tensor.Empty([b, t, h], shape.DType);
        var dTheta = shape.StateShapes.Select(s => Tensor.Empty(s, shape.DType)).ToArray();
        keep.AddRange([dq, dk, dv, dlr, .. dTheta]);
        io.GradQ = Ptr<T>(dq);
        io.GradK = Ptr<T>(dk);
        io.GradV = Ptr<T>(dv);
        io.GradLr = Ptr<T>(dlr);
        io.GradTheta = new T*[dTheta.Length];
        for (int i = 0; i < dTheta.Length; i++) io.GradTheta[i] = Ptr<T>(dTheta[i]);
        io.GradTau = new double[b * h * k];
        io.GradGamma = new double[b * h * d];
        io.GradBeta = new double[b * h * d];
        Dispatch(io, shape.IsMlp, forward: false, bits);
        GC.KeepAlive(keep);

        // Reductions over the parallel items, in a fixed order (deterministic for any thread count).
        var tau = new double[k];
        var gamma = new double[h * d];
        var beta = new double[h * d];
        for (int item = 0; item < b * h; item++)
        {
            for (int i = 0; i < k; i++) tau[i] += io.GradTau[item * k + i];
            int hh = item % h;
            for (int j = 0; j < d; j++)
            {
                gamma[hh * d + j] += io.GradGamma[item * d + j];
                beta[hh * d + j] += io.GradBeta[item * d + j];
            }
        }
        var thetaGrads = shape.ThetaBatched ? dTheta : dTheta.Select(g => g.Sum(0)).ToArray();
        return
        [
            .. thetaGrads, dq.Permute(0, 2, 1, 3), dk.Permute(0, 2, 1, 3), dv.Permute(0, 2, 1, 3), dlr.Permute(0, 2, 1),
            Tensor.FromArray(tau).To(shape.DType),
            Tensor.FromArray(gamma, [h, d]).To(shape.DType),
            Tensor.FromArray(beta, [h, d]).To(shape.DType),
        ];
    }

    /// <summary>
    /// Kernel objects (with their scratch: up to ~1 MB per thread for TTT-MLP at d = 64) kept for later calls with
    /// the same sizes, at most <see cref="MaxPooledPerKey"/> per key. Fresh memory is expensive to touch (a page
    /// fault per 4 KB; on the project's VMs about 30 µs each), so reusing scratch matters for short scans.
    /// </summary>
    private static readonly ConcurrentDictionary<(Type, Type, bool, int, int, int, bool), ConcurrentBag<IScanKernel>> s_pool = new();

    private const int MaxPooledPerKey = 64;

    private static IScanKernel Rent<TIo>((Type, Type, bool, int, int, int, bool) key, TIo io, Func<IScanKernel> create) where TIo : class
    {
        if (s_pool.TryGetValue(key, out var bag) && bag.TryTake(out var kernel))
        {
            kernel.Rebind(io);
            return kernel;
        }
        return create();
    }

    private static void Return((Type, Type, bool, int, int, int, bool) key, IScanKernel kernel)
    {
        var bag = s_pool.GetOrAdd(key, _ => []);
        if (bag.Count < MaxPooledPerKey) bag.Add(kernel);
    }

    private static void Dispatch<T>(ScanIo<T> io, bool mlp, bool forward, int bits) where T : unmanaged
    {
        switch (bits)
        {
            case 512: Run<T, Vector512<T>, S512<T>>(io, mlp, forward); break;
            case 256: Run<T, Vector256<T>, S256<T>>(io, mlp, forward); break;
            default: Run<T, Vector128<T>, S128<T>>(io, mlp, forward); break;
        }
    }

    private static void Run<T, TV, S>(ScanIo<T> io, bool mlp, bool forward) where T : unmanaged where TV : struct where S : struct, ISimd<T, TV>
    {
        // One worker per thread (CpuParallel.Threads), each with its own kernel object and scratch; the (b, h)
        // items are handed out one at a time from a shared counter, so a thread that is slowed down (shared cores)
        // takes fewer of them. Each item's result depends only on the item, so the outcome is deterministic.
        int items = io.B * io.H;
        int next = -1;
        var key = (typeof(S), typeof(T), mlp, io.D, io.K, io.Group, io.ExactGelu);
        CpuParallel.For(CpuParallel.ChunkCount(items, 1), 1, (_, _) =>
        {
            var kernel = Rent(key, io, () => mlp ? new MlpScanKernel<T, TV, S>(io) : new LinearScanKernel<T, TV, S>(io));
            try
            {
                for (int i = Interlocked.Increment(ref next); i < items; i = Interlocked.Increment(ref next))
                {
                    if (forward) kernel.Forward(i);
                    else kernel.Backward(i);
                }
            }
            finally
            {
                Return(key, kernel);
            }
        });
    }
}
