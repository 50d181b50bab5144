using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Ttt.Cpu;

namespace Ttt.Cli.Bench;

/// <summary>The machine's own ceilings, measured in the same process as the benchmarks they qualify.</summary>
public static class Ceilings
{
    /// <summary>
    /// Float32 FMA throughput in GFLOP/s on <paramref name="threads"/> threads: 12 independent accumulator chains of
    /// the widest vector per thread (enough to cover the FMA latency on two pipes), a few hundred million FMAs.
    /// </summary>
    public static double PeakGflops(int threads)
    {
        double best = 0;
        for (int rep = 0; rep < 3; rep++)
        {
            long iterations = 20_000_000;
            var sw = Stopwatch.StartNew();
            var sink = new float[threads];
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => sink[t] = FmaLoop(iterations));
            double seconds = sw.Elapsed.TotalSeconds;
            int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
            best = Math.Max(best, threads * iterations * 12.0 * lanes * 2 / seconds / 1e9);
            GC.KeepAlive(sink);
        }
        return best;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float FmaLoop(long iterations)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            var m = Vector512.Create(0.999999f);
            var a = Vector512.Create(1e-7f);
            Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default,
                c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
            for (long i = 0; i < iterations; i++)
            {
                c0 = Vector512.FusedMultiplyAdd(c0, m, a); c1 = Vector512.FusedMultiplyAdd(c1, m, a);
                c2 = Vector512.FusedMultiplyAdd(c2, m, a); c3 = Vector512.FusedMultiplyAdd(c3, m, a);
                c4 = Vector512.FusedMultiplyAdd(c4, m, a); c5 = Vector512.FusedMultiplyAdd(c5, m, a);
                c6 = Vector512.FusedMultiplyAdd(c6, m, a); c7 = Vector512.FusedMultiplyAdd(c7, m, a);
                c8 = Vector512.FusedMultiplyAdd(c8, m, a); c9 = Vector512.FusedMultiplyAdd(c9, m, a);
                c10 = Vector512.FusedMultiplyAdd(c10, m, a); c11 = Vector512.FusedMultiplyAdd(c11, m, a);
            }
            return Vector512.Sum(c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11);
        }
        var m2 = Vector256.Create(0.999999f);
        var a2 = Vector256.Create(1e-7f);
        Vector256<float> d0 = default, d1 = default, d2 = default, d3 = default, d4 = default, d5 = default,
            d6 = default, d7 = default, d8 = default, d9 = default, d10 = default, d11 = default;
        for (long i = 0; i < iterations; i++)
        {
            d0 = Vector256.FusedMultiplyAdd(d0, m2, a2); d1 = Vector256.FusedMultiplyAdd(d1, m2, a2);
            d2 = Vector256.FusedMultiplyAdd(d2, m2, a2); d3 = Vector256.FusedMultiplyAdd(d3, m2, a2);
            d4 = Vector256.FusedMultiplyAdd(d4, m2, a2); d5 = Vector256.FusedMultiplyAdd(d5, m2, a2);
            d6 = Vector256.FusedMultiplyAdd(d6, m2, a2); d7 = Vector256.FusedMultiplyAdd(d7, m2, a2);
            d8 = Vector256.FusedMultiplyAdd(d8, m2, a2); d9 = Vector256.FusedMultiplyAdd(d9, m2, a2);
            d10 = Vector256.FusedMultiplyAdd(d10, m2, a2); d11 = Vector256.FusedMultiplyAdd(d11, m2, a2);
        }
        return Vector256.Sum(d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7 + d8 + d9 + d10 + d11);
    }

    /// <summary>
    /// Buffers of <c>bytes</c> each for repeated one-pass samples of the memory bandwidth, so that a benchmark can take
    /// them between its own runs (the host's bandwidth varies with its neighbours' load from one second to the next).
    /// </summary>
    public sealed class BandwidthProbe
    {
        private readonly byte[] _source, _target;
        private readonly float[] _stream;

        /// <summary>Allocates and touches the buffers: a copy source and target of half of <paramref name="bytes"/> each, and a read buffer of <paramref name="bytes"/>.</summary>
        public BandwidthProbe(long bytes)
        {
            _source = GC.AllocateUninitializedArray<byte>((int)Math.Min(bytes / 2, int.MaxValue - 64));
            _target = GC.AllocateUninitializedArray<byte>(_source.Length);
            new Random(1).NextBytes(_source.AsSpan(0, 4096));
            long n = Math.Min(bytes / sizeof(float), int.MaxValue - 64) / 64 * 64;
            _stream = GC.AllocateUninitializedArray<float>((int)n, pinned: true);
            Array.Fill(_stream, 1f);
            CopyGBps();   // fault the target's pages in
        }

        /// <summary>One copy of the source to the target on the CPU pool's threads: GB/s of bytes read + bytes written.</summary>
        public double CopyGBps()
        {
            var (src, dst) = (_source, _target);
            var sw = Stopwatch.StartNew();
            CpuParallel.For(src.Length, 1 << 22, (s, e) => src.AsSpan((int)s, (int)(e - s)).CopyTo(dst.AsSpan((int)s, (int)(e - s))));
            return 2.0 * src.Length / sw.Elapsed.TotalSeconds / 1e9;
        }

        /// <summary>
        /// One read of the read buffer, GB/s: every CPU pool thread sums its share as four interleaved streams with
        /// software prefetch (the access pattern that read fastest on the reference machine). The ceiling of a
        /// weight-streaming decode, which reads its weights and writes almost nothing.
        /// </summary>
        public unsafe double ReadGBps()
        {
            long n = _stream.Length;
            int threads = Math.Max(1, CpuParallel.Threads);
            fixed (float* p = _stream)
            {
                nint start = (nint)p;
                var sw = Stopwatch.StartNew();
                CpuParallel.ForEach(threads, t => SumStreams((float*)start + n / threads * t, n / threads));
                return n * sizeof(float) / sw.Elapsed.TotalSeconds / 1e9;
            }
        }
    }

    /// <summary>Σ of <paramref name="count"/> floats read as four interleaved streams, 2 KB prefetched ahead.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe float SumStreams(float* x, long count)
    {
        long quarter = count / 4 / 16 * 16;
        float* s0 = x, s1 = x + quarter, s2 = x + 2 * quarter, s3 = x + 3 * quarter;
        var acc = Vector512<float>.Zero;
        for (long i = 0; i < quarter; i += 16)
        {
            if (System.Runtime.Intrinsics.X86.Sse.IsSupported)
            {
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(s0 + i + 512);
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(s1 + i + 512);
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(s2 + i + 512);
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(s3 + i + 512);
            }
            acc += Vector512.Load(s0 + i) + Vector512.Load(s1 + i) + Vector512.Load(s2 + i) + Vector512.Load(s3 + i);
        }
        return Vector512.Sum(acc);
    }
}
