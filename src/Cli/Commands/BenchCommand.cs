using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ttt.Benchmarks;
using Ttt.Cli.Bench;
using Ttt.Cpu;
using Ttt.Data;
using Ttt.Models;
using Ttt.Nn;
using Ttt.Training;

namespace Ttt.Cli.Commands;

/// <summary>
/// <c>ttt bench</c>: one table of the engine's speed against same-run ceilings — GEMM vs OpenBLAS, TTT-Linear and
/// TTT-MLP layers (forward, forward+backward) against the machine's FMA peak, blockwise attention, prefill time per
/// token as the context grows, decoding against the measured memory bandwidth, and training throughput.
/// </summary>
public static class BenchCommand
{
    /// <summary>The command's definition.</summary>
    public static CommandSpec Spec { get; } = new("bench", "Measure kernels, layers, prefill, decoding and training speed; print one table.",
    [
        new("--quick", null, "smaller shapes for a smoke run (about a minute)"),
        new("--only", "WORDS", "comma-separated parts: gemm, layers, attention, prefill, decode, train"),
        new("--threads", "N", "CPU threads", "all cores"),
        new("--json", "FILE", "also write every row as JSON"),
        .. DeviceOption.Specs,
    ], Run);

    private sealed record Context(bool Quick, int Threads, double Peak, Device Device, List<BenchRow> Rows)
    {
        public bool OnGpu => Device.Type != DeviceType.Cpu;

        /// <summary>
        /// Median ms of <paramref name="run"/>, waiting for the device after each run: GPU work is queued on a stream,
        /// so a run is timed until its results exist, not until its launches return.
        /// </summary>
        public double Time(Action run, int warmup, int reps) =>
            OnGpu ? Timing.MedianMs(() => { run(); Cuda.Cuda.Device(Device.Index).Synchronize(); }, warmup, reps) : Timing.MedianMs(run, warmup, reps);
    }

    private static int Run(ParsedArgs a)
    {
        bool quick = a.Has("--quick");
        if (quick) Timing.MinWarmup = TimeSpan.FromSeconds(0.5);
        if (a.Given("--threads")) CpuParallel.Threads = a.Int("--threads", Environment.ProcessorCount, 1, 1024);
        var device = DeviceOption.Resolve(a);
        var parts = (a.String("--only") ?? "gemm,layers,attention,prefill,decode,train").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var known = new[] { "gemm", "layers", "attention", "prefill", "decode", "train" };
        foreach (var p in parts)
            if (!known.Contains(p)) throw new UsageException($"--only: unknown part '{p}' (expected {string.Join(", ", known)})");
        var jsonPath = a.String("--json");

        int threads = CpuParallel.Threads;
        Console.WriteLine($"ttt bench on {Environment.ProcessorCount} cores ({threads} threads), {MachineName()}, {(quick ? "quick" : "full")} shapes, device {device}");
        double peak = double.NaN;
        if (device.Type == DeviceType.Cpu)
        {
            peak = Ceilings.PeakGflops(threads);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"measured float32 FMA peak: {peak:F0} GFLOP/s on {threads} threads"));
        }
        else
        {
            var gpu = Cuda.Cuda.Device(device.Index);
            Console.WriteLine($"GPU: {gpu.Name}; rows are timed until the device finishes; the CPU ceilings (FMA peak, OpenBLAS, copy bandwidth) do not apply");
        }
        var ctx = new Context(quick, threads, peak, device, []);
        using (GradMode.Enable())
        {
            if (parts.Contains("gemm")) { if (ctx.OnGpu) DeviceGemm(ctx); else Gemm(ctx); }
            if (parts.Contains("layers")) { ReleaseBuffers(); Layers(ctx); }
            if (parts.Contains("attention")) { ReleaseBuffers(); AttentionRows(ctx); }
            if (parts.Contains("prefill")) { ReleaseBuffers(); Prefill(ctx); }
            if (parts.Contains("decode")) { ReleaseBuffers(); Decode(ctx); }
            if (parts.Contains("train")) { ReleaseBuffers(); Train(ctx); }
        }
        Console.WriteLine();
        Console.WriteLine(Table(ctx.Rows));
        Console.WriteLine($"peak working set: {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20):N0} MiB");
        if (jsonPath is not null)
        {
            var array = new JsonArray(ctx.Rows.Select(r => (JsonNode)r.ToJson()).ToArray());
            IO.AtomicFile.WriteAllText(jsonPath, array.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"wrote {jsonPath} ({ctx.Rows.Count} rows)");
        }
        return 0;
    }

    private static string MachineName()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        }
        catch (IOException)
        {
            return "unknown CPU";
        }
    }

    private static void Add(Context ctx, BenchRow row)
    {
        ctx.Rows.Add(row);
        Console.WriteLine($"  {row.Name,-40} {row.ShapeText(),-34} {BenchRow.F(row.MedianMs, "F2"),10} ms  {BenchRow.F(row.Gflops, "F1"),8} GFLOP/s  {row.Note}");
    }

    // ------------------------------------------------------------------ GEMM vs OpenBLAS

    private static unsafe void Gemm(Context ctx)
    {
        Console.WriteLine($"GEMM (float32) vs OpenBLAS: {OpenBlas.Describe()}");
        int[][] shapes = ctx.Quick ? [[512, 512, 512], [1024, 1024, 1024]] : [[1024, 1024, 1024], [2048, 2048, 2048], [2048, 768, 768]];
        int saved = CpuParallel.Threads;
        foreach (int threads in new[] { 1, saved }.Distinct())
            foreach (var s in shapes)
            {
                int m = s[0], k = s[1], n = s[2];
                CpuParallel.Threads = threads;
                // Both libraries write into preallocated output: the table compares kernels, not allocators.
                var xa = new float[(long)m * k];
                var wa = new float[(long)k * n];
                var ca = new float[(long)m * n];
                new Generator(1).NextDouble();
                for (int i = 0; i < xa.Length; i++) xa[i] = (float)Math.Sin(i);
                for (int i = 0; i < wa.Length; i++) wa[i] = (float)Math.Cos(i);
                double ms;
                fixed (float* px = xa, pw = wa, pc = ca)
                {
                    nint ix = (nint)px, iw = (nint)pw, ic = (nint)pc;
                    ms = Timing.MedianMs(() => Cpu.Gemm.Batched(m, n, k, (float*)ix, [0L], k, 1, (float*)iw, [0L], n, 1, (float*)ic, [0L], n), 2, ctx.Quick ? 5 : 7);
                }
                double flops = 2.0 * m * n * k;
                var row = new BenchRow("gemm").With("m", m).With("k", k).With("n", n).With("threads", threads);
                row.MedianMs = ms;
                row.Gflops = flops / ms / 1e6;
                if (OpenBlas.IsAvailable)
                {
                    OpenBlas.SetThreads(threads);
                    var a = new float[(long)m * k];
                    var b = new float[(long)k * n];
                    var c = new float[(long)m * n];
                    double blasMs;
                    fixed (float* pa = a, pb = b, pc = c)
                    {
                        nint ia = (nint)pa, ib = (nint)pb, ic = (nint)pc;
                        blasMs = Timing.MedianMs(() => OpenBlas.Sgemm(m, n, k, (float*)ia, k, (float*)ib, n, (float*)ic, n), 2, ctx.Quick ? 5 : 7);
                        GC.KeepAlive(a);
                    }
                    row.Share = (100 * blasMs / ms, "OpenBLAS");
                    row.Extra["openblas_gflops"] = flops / blasMs / 1e6;
                    row.Note = string.Create(CultureInfo.InvariantCulture, $"{row.Share.Value.Percent:F0} % of OpenBLAS ({flops / blasMs / 1e6:F1} GFLOP/s)");
                }
                else row.Note = "OpenBLAS not found (apt-get install libopenblas-dev)";
                Add(ctx, row);
            }
        CpuParallel.Threads = saved;
    }

    /// <summary>float32 matmul through the tensor API on the GPU (cuBLAS, with the backend's matmul precision).</summary>
    private static void DeviceGemm(Context ctx)
    {
        var backend = Cuda.Cuda.Backend(ctx.Device.Index);
        Console.WriteLine($"GEMM (float32 Tensor.Matmul on {ctx.Device}: cuBLAS, precision {backend.MatmulPrecision})");
        int[][] shapes = ctx.Quick ? [[1024, 1024, 1024], [2048, 2048, 2048]] : [[2048, 2048, 2048], [4096, 4096, 4096], [2048, 768, 768], [8192, 768, 3072]];
        foreach (var s in shapes)
        {
            int m = s[0], k = s[1], n = s[2];
            var a = Tensor.RandN([m, k], new Generator(1)).To(ctx.Device);
            var b = Tensor.RandN([k, n], new Generator(2)).To(ctx.Device);
            using var _ = GradMode.Disable();
            double ms = ctx.Time(() => Tensor.Matmul(a, b), 2, ctx.Quick ? 5 : 9);
            var row = new BenchRow("gemm cuda").With("m", m).With("k", k).With("n", n);
            row.MedianMs = ms;
            row.Gflops = 2.0 * m * n * k / ms / 1e6;
            row.Note = $"cuBLAS {backend.MatmulPrecision}, includes allocating the output";
            Add(ctx, row);
        }
    }

    // ------------------------------------------------------------------ TTT layers

    /// <summary>Forward FLOPs of a TTT layer over T tokens (projections and the dual-form inner loop; norms ignored).</summary>
    public static double TttLayerFlops(string inner, int batch, int t, int hidden, int heads, int k, int projections = 4)
    {
        int d = hidden / heads;
        double proj = 2.0 * batch * t * hidden * (double)hidden * projections;
        // per token and head: Linear 6d² + 6Kd (K·W, Q·W, state update; QKᵀ, (E⊙A)·G, tril(E)·G);
        // MLP (4d hidden) 56d² + 30Kd.
        double perToken = inner == "mlp" ? 56.0 * d * d + 30.0 * k * d : 6.0 * d * d + 6.0 * k * d;
        return proj + batch * heads * t * perToken;
    }

    private static TTTLayer BenchLayer(string inner, Device device)
    {
        var config = new TTTConfig { HiddenSize = 768, NumAttentionHeads = 12, MiniBatchSize = 16, TttLayerType = inner, TttBaseLr = inner == "mlp" ? 0.1 : 1.0 };
        var layer = new TTTLayer(config, new Generator(1));
        layer.To(device);
        return layer;
    }

    private static void Layers(Context ctx)
    {
        Console.WriteLine("TTT layers (Transformer backbone: q/k/v/o projections, RoPE, dual form, post_norm), float32, B = 1");
        int[] lengths = ctx.Quick ? [512] : [2048, 8192];
        foreach (var inner in new[] { "linear", "mlp" })
        {
            var layer = BenchLayer(inner, ctx.Device);
            foreach (int t in lengths)
            {
                var x = Tensor.RandN([1, t, 768], new Generator(3)).To(ctx.Device);
                var g = Tensor.RandN([1, t, 768], new Generator(4)).To(ctx.Device);
                double flops = TttLayerFlops(inner, 1, t, 768, 12, 16);
                double fwd = ctx.Time(() => { using (GradMode.Disable()) layer.Forward(x); }, 2, ctx.Quick ? 3 : 5);
                AddCompute(ctx, $"ttt-{inner} layer forward", t, fwd, flops);
                void Step()
                {
                    var xi = x.Detach().RequireGrad();
                    layer.Forward(xi).Backward(g);
                    layer.ZeroGrad();
                }
                var (fb, allocated) = TimedWithAllocations(ctx, Step, 2, ctx.Quick ? 3 : 5);
                AddCompute(ctx, $"ttt-{inner} layer forward+backward", t, fb, 3 * flops);
                if (t == lengths[0] && !ctx.OnGpu)
                {
                    // The same step with the buffer pool off, in the same run: what the pool saves in time and in
                    // newly allocated bytes (fresh arrays cost collections and page faults).
                    CpuBufferPool.Enabled = false;
                    double fbOff;
                    long allocatedOff;
                    try
                    {
                        (fbOff, allocatedOff) = TimedWithAllocations(ctx, Step, 1, ctx.Quick ? 3 : 5);
                    }
                    finally
                    {
                        CpuBufferPool.Enabled = true;
                    }
                    var row = new BenchRow($"ttt-{inner} layer step allocations").With("seq_len", t).With("hidden", 768).With("heads", 12).With("mini_batch", 16).With("threads", ctx.Threads);
                    row.MedianMs = fb;
                    row.Extra["allocated_mb_per_step"] = allocated / 1e6;
                    row.Extra["pool_off_allocated_mb_per_step"] = allocatedOff / 1e6;
                    row.Extra["pool_off_median_ms"] = fbOff;
                    row.Note = string.Create(CultureInfo.InvariantCulture,
                        $"forward+backward allocates {allocated / 1e6:F1} MB per step with the buffer pool, {allocatedOff / 1e6:F0} MB and {fbOff:F0} ms without it ({fbOff / fb:F2}× the time)");
                    Add(ctx, row);
                }
            }
        }
    }

    /// <summary>
    /// Each part starts from the same state: the previous part's tensors collected and the CPU buffer pool emptied,
    /// so no part's time or memory depends on what ran before it.
    /// </summary>
    private static void ReleaseBuffers()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        CpuBufferPool.Trim();
        GC.Collect();
    }

    /// <summary>Median ms of <paramref name="run"/> and the bytes it allocated per run (managed arrays, all threads).</summary>
    private static (double Ms, long BytesPerRun) TimedWithAllocations(Context ctx, Action run, int warmup, int reps)
    {
        Timing.WarmUp(run, warmup);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        double ms = ctx.Time(run, 0, reps);
        return (ms, (GC.GetTotalAllocatedBytes(precise: true) - before) / reps);
    }

    private static void AddCompute(Context ctx, string name, int t, double ms, double flops)
    {
        var row = new BenchRow(name).With("seq_len", t).With("hidden", 768).With("heads", 12).With("mini_batch", 16).With("threads", ctx.Threads);
        row.MedianMs = ms;
        row.Gflops = flops / ms / 1e6;
        if (ctx.OnGpu) row.Note = $"on {ctx.Device}";
        else
        {
            row.Share = (100 * row.Gflops / ctx.Peak, "peak");
            row.Note = string.Create(CultureInfo.InvariantCulture, $"{row.Share.Value.Percent:F0} % of peak");
        }
        Add(ctx, row);
    }

    // ------------------------------------------------------------------ attention

    private static void AttentionRows(Context ctx)
    {
        Console.WriteLine("Causal attention layer (q/k/v/o projections, RoPE, blockwise softmax attention), float32, B = 1");
        var attention = new SelfAttention(TransformerConfig.Preset("125m", 256), new Generator(5), DType.Float32);
        attention.To(ctx.Device);
        foreach (int t in ctx.Quick ? new[] { 512 } : [2048, 8192])
        {
            var x = Tensor.RandN([1, t, 768], new Generator(6)).To(ctx.Device);
            var g = Tensor.RandN([1, t, 768], new Generator(7)).To(ctx.Device);
            var (cos, sin) = AbsoluteRope(t, ctx.Device);
            double flops = 2.0 * t * 768 * 768 * 4 + 2.0 * t * (double)t * 768;
            double fwd = ctx.Time(() => { using (GradMode.Disable()) attention.Forward(x, cos, sin); }, 1, ctx.Quick ? 3 : 5);
            AddCompute(ctx, "attention layer forward", t, fwd, flops);
            double fb = ctx.Time(() =>
            {
                var xi = x.Detach().RequireGrad();
                attention.Forward(xi, cos, sin).Backward(g);
                attention.ZeroGrad();
            }, 1, ctx.Quick ? 3 : 5);
            AddCompute(ctx, "attention layer forward+backward", t, fb, 3 * flops);
        }
    }

    private static (Tensor Cos, Tensor Sin) AbsoluteRope(int t, Device device)
    {
        var positions = Enumerable.Range(0, t).Select(i => (long)i).ToArray();
        return Rope.Tables(positions, 64, 10000, DType.Float32, device);
    }

    // ------------------------------------------------------------------ prefill per token

    private static void Prefill(Context ctx)
    {
        Console.WriteLine("Prefill (forward without gradients) time per token as the context grows, D = 768, float32, B = 1");
        int[] lengths = ctx.Quick ? [1024, 2048, 4096] : [1024, 2048, 4096, 8192, 16384, 32768];
        var ttt = BenchLayer("linear", ctx.Device);
        var mamba = new MambaMixer(MambaConfig.Preset("125m", 256), new Generator(8));
        mamba.To(ctx.Device);
        var attention = new SelfAttention(TransformerConfig.Preset("125m", 256), new Generator(9), DType.Float32);
        attention.To(ctx.Device);
        foreach (int t in lengths)
        {
            var x = Tensor.RandN([1, t, 768], new Generator(10)).To(ctx.Device);
            using var _ = GradMode.Disable();
            PerToken(ctx, "ttt-linear layer prefill", t, ctx.Time(() => ttt.Forward(x), 1, 3));
            PerToken(ctx, "mamba mixer prefill", t, ctx.Time(() => mamba.Forward(x), 1, 3));
            if (t <= (ctx.Quick ? 4096 : 16384))
            {
                var (cos, sin) = AbsoluteRope(t, ctx.Device);
                PerToken(ctx, "attention layer prefill", t, ctx.Time(() => attention.Forward(x, cos, sin), 1, 3));
            }
        }
    }

    private static void PerToken(Context ctx, string name, int t, double ms)
    {
        var row = new BenchRow(name).With("seq_len", t).With("hidden", 768).With("threads", ctx.Threads);
        row.MedianMs = ms;
        row.Extra["us_per_token"] = 1000 * ms / t;
        row.Note = string.Create(CultureInfo.InvariantCulture, $"{1000 * ms / t:F1} µs/token");
        Add(ctx, row);
    }

    // ------------------------------------------------------------------ decoding

    private static void Decode(Context ctx)
    {
        string size = ctx.Quick ? "small" : "125m";
        Console.WriteLine($"Decoding one token at a time (TTT-Linear, Mamba backbone, {size}, vocab 32000), float32, B = 1");
        var model = ModelZoo.Create("ttt-linear", size, 32000, 1);
        model.To(ctx.Device);
        model.Eval();
        using var _ = GradMode.Disable();
        var cache = model.NewCache(1);
        model.Forward(Tensor.RandInt([1, 16], 0, 32000, new Generator(11)).To(ctx.Device), cache);
        var next = Tensor.FromArray(new long[] { 7 }, [1, 1], ctx.Device);
        long bytes = model.ParameterCount() * 4;   // every weight is read once per token
        var row = new BenchRow($"decode ttt-linear {size}").With("hidden", model.Parameters().First().Shape[1]).With("threads", ctx.Threads);
        if (ctx.OnGpu)
        {
            double gpuMs = ctx.Time(() => model.Forward(next, cache), 3, 21);
            row.MedianMs = gpuMs;
            row.Extra["gb_per_s"] = bytes / gpuMs / 1e6;
            row.Note = string.Create(CultureInfo.InvariantCulture, $"{bytes / gpuMs / 1e6:F1} GB/s of weights on {ctx.Device}");
            Add(ctx, row);
            return;
        }
        // Rounds of three copy passes, three read passes and three tokens, each the median of its three, so that every
        // token time has bandwidth samples of the same second: the host's bandwidth moves with its neighbours' load
        // (in one run the best of five copies gave 43.6 GB/s while the tokens met a read bandwidth near 30). The first
        // pass after switching from one to the other runs cold (a copy right after tokens: 15-43 GB/s, the next one
        // 52-57), and the median of three sets it aside for all three alike. The share is the median over rounds of
        // (weight bytes / token time) / copy bandwidth: medians compared with medians, as the GEMM rows do.
        var probe = new Ceilings.BandwidthProbe(ctx.Quick ? 1L << 28 : 1L << 30);
        Timing.WarmUp(() => model.Forward(next, cache), 3);
        int rounds = ctx.Quick ? 7 : 15;
        var (tokenMs, copy, read, shares) = (new double[rounds], new double[rounds], new double[rounds], new double[rounds]);
        for (int r = 0; r < rounds; r++)
        {
            copy[r] = Median([probe.CopyGBps(), probe.CopyGBps(), probe.CopyGBps()]);
            read[r] = Median([probe.ReadGBps(), probe.ReadGBps(), probe.ReadGBps()]);
            tokenMs[r] = Timing.MedianMs(() => model.Forward(next, cache), 0, 3);
            shares[r] = bytes / tokenMs[r] / 1e6 / copy[r];
        }
        double ms = Median(tokenMs), bandwidth = Median(copy), readBandwidth = Median(read), gbps = bytes / ms / 1e6;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  copy bandwidth: {bandwidth:F1} GB/s (read + write), read-only: {readBandwidth:F1} GB/s (medians over {rounds} rounds between the timed tokens)"));
        row.MedianMs = ms;
        row.Extra["gb_per_s"] = gbps;
        row.Share = (100 * Median(shares), "copy bandwidth");
        row.Extra["copy_gb_per_s"] = bandwidth;
        row.Extra["read_gb_per_s"] = readBandwidth;
        row.Note = string.Create(CultureInfo.InvariantCulture,
            $"{gbps:F1} GB/s of weights = {row.Share.Value.Percent:F0} % of copy bandwidth ({bandwidth:F1} GB/s), {100 * gbps / readBandwidth:F0} % of read-only bandwidth ({readBandwidth:F1} GB/s)");
        Add(ctx, row);
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    // ------------------------------------------------------------------ training throughput

    private static void Train(Context ctx)
    {
        Console.WriteLine("Training (forward + backward + AdamW) on markov data, float32");
        // Enough steps of the small models (tens of ms each) that the median is past the runtime's recompilation of
        // the hot methods, which takes the first second or two.
        var cases = new List<(string Size, int T, int Batch, int Steps, int Group)> { ("tiny", 256, 8, 40, 0), ("small", 256, 8, 15, 0) };
        if (!ctx.Quick) cases.Add(("125m", 2048, 1, 3, 4));   // three steady steps, so the median is one of them and not the slower of two
        foreach (var (size, t, batch, steps, group) in cases)
        {
            var (train, eval) = DataSources.Open("markov", 1, t);
            var model = ModelZoo.Create("ttt-linear", size, size == "125m" ? 32000 : train.VocabSize, 1);
            foreach (var l in (model as TTTForCausalLM)!.TttLayers) l.Config.ScanCheckpointGroupSize = group;
            model.To(ctx.Device);
            var dir = Path.Combine(Path.GetTempPath(), "ttt-bench-" + Guid.NewGuid().ToString("N"));
            try
            {
                var options = new TrainOptions { Steps = steps + 1, BatchSize = batch, EvalEvery = 0, CheckpointEvery = 0, EvalBatches = 1 };
                var trainer = new Trainer(model, train, eval, options, dir, 1, ctx.Device);
                var times = new List<double>();
                var allocations = new List<long>();
                var clock = Stopwatch.StartNew();
                long allocated = GC.GetTotalAllocatedBytes(precise: true);
                trainer.OnStep = r =>
                {
                    times.Add(clock.Elapsed.TotalMilliseconds);
                    long now = GC.GetTotalAllocatedBytes(precise: true);
                    allocations.Add(now - allocated);
                    allocated = now;
                    clock.Restart();
                };
                trainer.Run();
                var steady = times.Skip(1).Order().ToArray();            // the first step includes compilation
                double ms = steady[steady.Length / 2];
                var row = new BenchRow($"train ttt-linear {size}").With("seq_len", t).With("batch", batch).With("scan_checkpoint", group).With("threads", ctx.Threads);
                row.MedianMs = ms;
                row.Extra["tokens_per_s"] = t * batch / ms * 1000;
                row.Extra["peak_working_set_mib"] = Process.GetCurrentProcess().PeakWorkingSet64 / (double)(1 << 20);
                var steadyAllocations = allocations.Skip(1).Order().ToArray();
                double allocatedMb = steadyAllocations[steadyAllocations.Length / 2] / 1e6;   // median of the steady steps
                row.Extra["allocated_mb_per_step"] = allocatedMb;
                row.Note = string.Create(CultureInfo.InvariantCulture,
                    $"{t * batch / ms * 1000:F0} tokens/s, {model.ParameterCount() / 1e6:F1}M parameters, peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / (1 << 20):N0} MiB, {allocatedMb:F1} MB allocated per step");
                Add(ctx, row);
            }
            finally
            {
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static string Table(List<BenchRow> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| what | shape | threads | median ms | GFLOP/s | % | notes |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---|");
        foreach (var r in rows)
        {
            var threads = r.Fields.FirstOrDefault(f => f.Key == "threads").Value;
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Name} | {r.ShapeText()} | {threads} | {BenchRow.F(r.MedianMs, "F2")} | {BenchRow.F(r.Gflops, "F1")} | {(r.Share is { } s ? $"{s.Percent:F0} % of {s.Of}" : "")} | {r.Note} |"));
        }
        return sb.ToString();
    }
}
