using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Ttt.IO;
using Ttt.Training;

namespace Ttt.Tests;

/// <summary>
/// Real <c>ttt train</c> processes killed with SIGKILL at seeded random moments, again and again, each time resumed
/// with <c>--resume</c>: after every kill a valid checkpoint must exist (once one was written) and no older than the
/// one before, every folder under a checkpoint name must verify against its manifest, and the chain of killed and
/// resumed runs must end with exactly the parameters and per-step losses of one uninterrupted run with the same seed.
/// Sometimes the newest checkpoint is damaged on purpose before resuming, to see the fallback across processes.
/// </summary>
public sealed class KillAndResumeTests(ITestOutputHelper output)
{
    // Every run checks the same kill schedule (TTT_KILL_SEED explores others; failures print the seed).
    private const int DefaultSeed = 20_261_129;
    private const int Steps = 60;
    private const int Keep = 2;

    // Kills stop once this much time has gone by and at least MinimumKills happened (the next launch then runs to
    // the end), so a slow machine does fewer kills instead of a much longer test; the count is printed.
    private static readonly TimeSpan KillBudget = TimeSpan.FromSeconds(35);
    private const int MinimumKills = 10;
    private static readonly TimeSpan HardKillBudget = TimeSpan.FromSeconds(150);
    private const int MaximumLaunches = 60;

    // No launch of this tiny run takes this long, even on a loaded machine: beyond it, it hangs.
    private static readonly TimeSpan LaunchTimeout = TimeSpan.FromSeconds(120);

    private const string ModelConfig = """
        {
          "vocab_size": 256, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
          "num_attention_heads": 2, "mini_batch_size": 4, "pre_conv": true, "share_qk": true, "use_gate": true,
          "ttt_layer_type": "linear"
        }
        """;

    [Fact]
    public void Training_killed_at_random_moments_resumes_to_the_uninterrupted_run()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("TTT_KILL_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) ? s : DefaultSeed;
        using var dir = CliRunner.Temp();
        File.WriteAllText(dir.File("config.json"), ModelConfig);
        var corpus = new StringBuilder();
        for (int i = 0; corpus.Length < 6000; i++) corpus.Append(CultureInfo.InvariantCulture, $"line {i}: the cat {(i * 7) % 13} sat on mat {(i * 5) % 11}.\n");
        File.WriteAllText(dir.File("corpus.txt"), corpus.ToString());
        string[] Args(string run, bool resume) =>
        [
            "train", "--size", dir.File("config.json"), "--data", "text:" + dir.File("corpus.txt"), "--seq-len", "16", "--batch", "2",
            "--steps", Steps.ToString(CultureInfo.InvariantCulture), "--eval-every", "7", "--eval-batches", "1", "--final-eval-batches", "1",
            "--checkpoint-every", "1", "--keep-checkpoints", Keep.ToString(CultureInfo.InvariantCulture), "--threads", "1", "--seed", "5",
            "--out", run, .. resume ? new[] { "--resume" } : [],
        ];

        // The reference: one uninterrupted run.
        var reference = dir.File("reference");
        // The reference: one uninterrupted run, also timing how long a launch takes to write its first checkpoint.
        TimeSpan startUp;
        var referenceStore = new CheckpointStore(reference, Keep);
        using (var referenceRun = TttProcess.Start(Args(reference, resume: false)))
        {
            var timer = Stopwatch.StartNew();
            while (!referenceRun.Exited.IsSet && timer.Elapsed < LaunchTimeout && Newest(referenceStore) == 0) Thread.Sleep(1);
            startUp = timer.Elapsed;
            var (refCode, refOut) = referenceRun.Finish(LaunchTimeout);
            Assert.True(refCode == 0, $"the uninterrupted run failed ({refCode}):\n{refOut}");
        }

        var random = new Random(seed);
        var clock = Stopwatch.StartNew();
        int chains = 0, launches = 0, kills = 0, killsAnyTime = 0, killsWhileSaving = 0, killsBeforeFirstCheckpoint = 0, damaged = 0, resumedLaunches = 0;
        // A chain of killed and resumed launches in one folder, until a launch runs to the last step. A kill can land
        // several steps after the checkpoint it waited for, so a chain may reach the end before MinimumKills kills:
        // then, with time left, another chain starts in a new folder. Every chain must end as the uninterrupted run.
        while (true)
        {
            chains++;
            var run = dir.File($"killed-{chains}");
            var (lastOutput, store) = RunChain(run);
            AssertChainEndsAsTheReference(run, store, lastOutput);
            if (kills >= MinimumKills || clock.Elapsed >= HardKillBudget) break;
        }

        output.WriteLine($"kill-and-resume (seed {seed}): a launch writes its first checkpoint after {startUp.TotalSeconds:F1} s; {chains} chains, {launches} launches, {kills} SIGKILLs survived in {clock.Elapsed.TotalSeconds:F1} s " +
                         $"({killsAnyTime} at a random time from the start, {killsWhileSaving} with a checkpoint being written, " +
                         $"{killsBeforeFirstCheckpoint} before the first checkpoint), {damaged} newest checkpoints damaged on purpose, " +
                         $"{resumedLaunches} launches resumed; failures 0");
        Assert.True(kills >= MinimumKills, $"only {kills} kills happened within {HardKillBudget.TotalSeconds} s (minimum {MinimumKills})");
        Assert.True(resumedLaunches >= kills / 2, $"only {resumedLaunches} of {launches} launches resumed");

        (string LastOutput, CheckpointStore Store) RunChain(string run)
        {
            var store = new CheckpointStore(run, Keep);
            var damagedSteps = new HashSet<long>();
            long newestValid = 0;
            string lastOutput = "";
            int chainLaunches = 0;
            while (true)
            {
                Assert.True(launches < MaximumLaunches, $"seed {seed}: {launches} launches without finishing");
                var before = store.List();
                bool damageNewest = chainLaunches > 0 && before.Count >= 2 && before.Take(2).All(c => CheckpointStore.Verify(c.Path) is null) && random.Next(6) == 0;
                if (damageNewest)
                {
                    // A damaged newest checkpoint: resuming must skip it for the previous one.
                    var weights = Path.Combine(before[0].Path, "model.safetensors");
                    var bytes = File.ReadAllBytes(weights);
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                    File.WriteAllBytes(weights, bytes);
                    Assert.NotNull(CheckpointStore.Verify(before[0].Path));
                    damagedSteps.Add(before[0].Step);
                    damaged++;
                }
                long resumeFrom = store.LatestValid()?.Step ?? 0;
                Assert.True(resumeFrom >= (damageNewest ? before[1].Step : newestValid), $"seed {seed}: a valid checkpoint was lost between launches");
                using var process = TttProcess.Start(Args(run, resume: chainLaunches > 0));
                launches++;
                chainLaunches++;
                string where = $"seed {seed}, chain {chains}, launch {chainLaunches}";
                bool killed = false;
                if (clock.Elapsed < KillBudget || (kills < MinimumKills && clock.Elapsed < HardKillBudget))
                {
                    // A quarter of the kills at a uniformly random time within 1.2 × the time a launch takes to write its
                    // first checkpoint (during start-up, the run lock, train_args.json or the first steps); the rest after the
                    // run reached a random later checkpoint: half of them a uniformly random fraction of one update
                    // (compute and checkpoint write) later, half a few milliseconds after the next checkpoint write began.
                    int mode = random.Next(8);
                    bool anyTime = mode < 2;
                    if (anyTime)
                    {
                        process.Exited.Wait(TimeSpan.FromMilliseconds(random.NextDouble() * 1.2 * startUp.TotalMilliseconds), TestContext.Current.CancellationToken);
                    }
                    else
                    {
                        long target = resumeFrom + random.Next(1, 4), seen = resumeFrom;
                        var deadline = Stopwatch.StartNew();
                        TimeSpan lastSeen = TimeSpan.Zero, stepTime = TimeSpan.FromMilliseconds(100);
                        while (!process.Exited.IsSet && deadline.Elapsed < LaunchTimeout && seen < target)
                        {
                            long newest = Newest(store);
                            if (newest > seen)
                            {
                                if (lastSeen > TimeSpan.Zero) stepTime = (deadline.Elapsed - lastSeen) / (newest - seen);
                                (seen, lastSeen) = (newest, deadline.Elapsed);
                            }
                            Thread.Sleep(1);
                        }
                        if (mode < 5)
                        {
                            process.Exited.Wait(TimeSpan.FromMilliseconds(random.NextDouble() * stepTime.TotalMilliseconds), TestContext.Current.CancellationToken);
                        }
                        else
                        {
                            while (!process.Exited.IsSet && deadline.Elapsed < LaunchTimeout && !Writing(store)) Thread.Sleep(1);
                            process.Exited.Wait(random.Next(0, 15), TestContext.Current.CancellationToken);
                        }
                    }
                    killed = process.Kill();
                    if (killed) kills++;
                    if (killed && anyTime) killsAnyTime++;
                }
                var (code, text) = process.Finish(LaunchTimeout);
                lastOutput = text;
                if (text.Contains("resumed from", StringComparison.Ordinal))
                {
                    resumedLaunches++;
                    string expected = $"resumed from step-{resumeFrom:D7} (step {resumeFrom})";
                    Assert.True(text.Contains(expected, StringComparison.Ordinal), $"{where}: expected '{expected}':\n{text}");
                }
                if (damageNewest && text.Contains("resumed from", StringComparison.Ordinal))
                    Assert.Contains("is damaged", text);

                // What the kill left: every folder under a checkpoint name is whole (or is one damaged on purpose and
                // not yet rewritten), and no valid checkpoint was lost.
                if (Directory.Exists(store.Folder) && Directory.GetDirectories(store.Folder).Any(d => Path.GetFileName(d).StartsWith('.')))
                    killsWhileSaving++;
                foreach (var (step, path) in store.List())
                {
                    var problem = CheckpointStore.Verify(path);
                    if (problem is null) damagedSteps.Remove(step);
                    Assert.True(problem is null || damagedSteps.Contains(step), $"{where}: {Path.GetFileName(path)} is under a checkpoint name but does not verify: {problem}\n{text}");
                }
                var latest = store.LatestValid();
                Assert.True((latest?.Step ?? 0) >= resumeFrom, $"{where}: the newest valid checkpoint went from step {resumeFrom} to {latest?.Step.ToString(CultureInfo.InvariantCulture) ?? "none"}\n{text}");
                if (latest is null) killsBeforeFirstCheckpoint++;
                newestValid = latest?.Step ?? 0;

                if (!killed)
                {
                    Assert.True(code == 0, $"{where}: ttt train exited with {code}:\n{text}");
                    return (lastOutput, store);
                }
            }
        }

        // The chain ends where the uninterrupted run ended: the same parameters, bit for bit, and the same losses.
        void AssertChainEndsAsTheReference(string run, CheckpointStore store, string lastOutput)
        {
            AssertSameTensors(Path.Combine(reference, "model.safetensors"), Path.Combine(run, "model.safetensors"));
            AssertSameTensors(Path.Combine(referenceStore.List()[0].Path, "optimizer.safetensors"),
                Path.Combine(store.List()[0].Path, "optimizer.safetensors"));
            Assert.Equal(MetricsWithoutTimings(reference), MetricsWithoutTimings(run));

            // Nothing left that could be mistaken for a checkpoint or a finished file: no temporary files or folders,
            // no lock, only the newest Keep checkpoints, each verifying.
            var stray = Directory.EnumerateFileSystemEntries(run, "*", SearchOption.AllDirectories)
                .Select(p => Path.GetRelativePath(run, p))
                .Where(p => Path.GetFileName(p).StartsWith('.') || p.EndsWith(".tmp", StringComparison.Ordinal))
                .ToList();
            Assert.True(stray.Count == 0, $"left behind: {string.Join(", ", stray)}\n{lastOutput}");
            Assert.Equal(Directory.GetDirectories(store.Folder).Length, store.List().Count);
            Assert.Equal(Enumerable.Range(0, Keep).Select(i => (long)(Steps - i)), store.List().Select(c => c.Step));
            Assert.All(store.List(), c => Assert.Null(CheckpointStore.Verify(c.Path)));
        }
    }

    private static long Newest(CheckpointStore store)
    {
        try
        {
            var list = store.List();
            return list.Count == 0 ? 0 : list[0].Step;
        }
        catch (IOException)
        {
            return 0; // the folder changed while being listed
        }
    }

    /// <summary>True while a checkpoint is being written (its temporary folder exists).</summary>
    private static bool Writing(CheckpointStore store)
    {
        try
        {
            return Directory.Exists(store.Folder) && Directory.EnumerateDirectories(store.Folder, ".tmp-*").Any();
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static void AssertSameTensors(string expectedPath, string actualPath)
    {
        using var expected = SafeTensorFile.Load(expectedPath);
        using var actual = SafeTensorFile.Load(actualPath);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var name in expected.Keys)
        {
            var a = expected[name].ToDoubleArray().Select(BitConverter.DoubleToInt64Bits);
            var b = actual[name].ToDoubleArray().Select(BitConverter.DoubleToInt64Bits);
            Assert.True(a.SequenceEqual(b), $"{name} differs from the uninterrupted run ({actualPath})");
        }
    }

    /// <summary>metrics.csv without the timing columns (tokens/s, elapsed), which differ from run to run.</summary>
    private static string[] MetricsWithoutTimings(string run) =>
        File.ReadAllLines(Path.Combine(run, "metrics.csv"))
            .Select(line => line.Split(','))
            .Select(cols => string.Join(',', cols.Where((_, i) => i is not (4 or 5))))
            .ToArray();

    /// <summary>A <c>ttt</c> process started from the built command's assembly, its output collected.</summary>
    private sealed class TttProcess : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();

        private TttProcess(Process process)
        {
            _process = process;
            process.OutputDataReceived += (_, e) => Append(e.Data);
            process.ErrorDataReceived += (_, e) => Append(e.Data);
            process.Exited += (_, _) => Exited.Set();
            process.EnableRaisingEvents = true;
        }

        /// <summary>Set once the process has exited.</summary>
        public ManualResetEventSlim Exited { get; } = new();

        public static TttProcess Start(string[] args)
        {
            var info = new ProcessStartInfo(DotnetHost()) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ttt.dll"));
            foreach (var a in args) info.ArgumentList.Add(a);
            info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            var process = new Process { StartInfo = info };
            var result = new TttProcess(process);
            process.Start();
            if (process.HasExited) result.Exited.Set();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return result;
        }

        /// <summary>SIGKILL (Process.Kill on Unix); false when the process had already exited.</summary>
        public bool Kill()
        {
            if (_process.HasExited) return false;
            try
            {
                _process.Kill(entireProcessTree: false);
                return true;
            }
            catch (InvalidOperationException)
            {
                return false; // exited in between
            }
        }

        public (int Code, string Output) Finish(TimeSpan timeout)
        {
            if (!_process.WaitForExit(timeout))
            {
                _process.Kill();
                _process.WaitForExit();
                throw new TimeoutException($"ttt did not finish within {timeout.TotalSeconds} s:\n{Text()}");
            }
            _process.WaitForExit(); // drains the output readers
            return (_process.ExitCode, Text());
        }

        private void Append(string? line)
        {
            if (line is null) return;
            lock (_output) _output.AppendLine(line);
        }

        private string Text()
        {
            lock (_output) return _output.ToString();
        }

        public void Dispose()
        {
            _process.Dispose();
            Exited.Dispose();
        }

        /// <summary>The dotnet host that runs this test (the runtime's folder is DOTNET_ROOT/shared/Microsoft.NETCore.App/VERSION/).</summary>
        private static string DotnetHost()
        {
            string exe = RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "dotnet.exe" : "dotnet";
            var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
            var candidate = Path.Combine(root, exe);
            return File.Exists(candidate) ? candidate : exe;
        }
    }
}
