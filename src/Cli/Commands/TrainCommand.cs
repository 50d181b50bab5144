using System.Globalization;
using Ttt.Cli.Reporting;
using Ttt.Cpu;
using Ttt.Data;
using Ttt.Models;
using Ttt.Training;

namespace Ttt.Cli.Commands;

/// <summary>
/// <c>ttt train</c>: trains a TTT model or a baseline on built-in or local data, writes checkpoints, metrics and a
/// final evaluation with loss by token position into the run folder.
/// </summary>
public static class TrainCommand
{
    /// <summary>The command's definition.</summary>
    public static CommandSpec Spec { get; } = new("train", "Train a model (TTT-Linear, TTT-MLP, Transformer, Mamba) on built-in or local data.",
    [
        new("--model", "KIND", "ttt-linear, ttt-mlp, transformer or mamba", "ttt-linear"),
        new("--backbone", "NAME", "backbone of TTT models: mamba or transformer", "mamba"),
        new("--size", "NAME|FILE", "size preset (tiny, small, 125m, 350m, 760m, 1.3b) or a config.json", "tiny"),
        new("--data", "TASK", "markov, mqar or text:PATH (a UTF-8 file or folder)", "markov"),
        new("--tokenizer", "NAME", "tokenizer for text data: byte or gpt2", "byte"),
        new("--seq-len", "N", "tokens per training sequence", "256"),
        new("--batch", "N", "sequences per micro-batch", "8"),
        new("--grad-accum", "N", "micro-batches per update", "1"),
        new("--steps", "N", "optimizer updates", "600"),
        new("--lr", "X", "peak learning rate (warmup 10 %, cosine to 1e-5)", "1e-2 for tiny/small, the paper's for 125m…1.3b"),
        new("--weight-decay", "X", "decoupled weight decay", "0.1"),
        new("--eval-every", "N", "evaluate every N updates (0: only at the end)", "100"),
        new("--eval-batches", "N", "batches per periodic evaluation", "4"),
        new("--final-eval-batches", "N", "batches for the final evaluation and the loss-by-position curve", "32"),
        new("--checkpoint-every", "N", "checkpoint every N updates (0: only at the end)", "100"),
        new("--keep-checkpoints", "N", "checkpoints kept", "3"),
        new("--max-nonfinite", "N", "stop after N consecutive updates with a non-finite loss or gradient", "5"),
        new("--detect-anomaly", null, "name the first op that produces NaN/Inf, forward or backward (slow)"),
        new("--seed", "N", "seed of the initialization and the data", "0"),
        new("--threads", "N", "CPU threads", "all cores"),
        new("--dtype", "TYPE", "float32 or float64", "float32"),
        .. DeviceOption.Specs,
        new("--out", "DIR", "run folder", "runs/<model>-<backbone>-<size>-<data>"),
        new("--resume", null, "continue the run in --out from its newest valid checkpoint"),
    ], Run);

    private static int Run(ParsedArgs a)
    {
        var settings = new RunSettings
        {
            Model = a.Choice("--model", "ttt-linear", [.. ModelZoo.Kinds]),
            Backbone = a.Choice("--backbone", "mamba", "mamba", "transformer"),
            Size = a.String("--size", "tiny")!,
            Data = a.String("--data", "markov")!,
            Tokenizer = a.Choice("--tokenizer", "byte", "byte", "gpt2"),
            SeqLen = a.Int("--seq-len", 256, 2, 1 << 20),
            Seed = (ulong)a.Int("--seed", 0, 0),
            DType = a.Choice("--dtype", "float32", "float32", "float64"),
        };
        if (!TTTConfig.PresetNames.Contains(settings.Size) && !File.Exists(settings.Size))
            throw new UsageException($"--size must be one of {string.Join(", ", TTTConfig.PresetNames)} or an existing config.json; got '{settings.Size}'");
        if (settings.Data is not ("markov" or "mqar") && !settings.Data.StartsWith("text:", StringComparison.Ordinal))
            throw new UsageException($"--data must be markov, mqar or text:PATH; got '{settings.Data}'");
        if (settings.Data.StartsWith("text:", StringComparison.Ordinal) && !File.Exists(settings.Data[5..]) && !Directory.Exists(settings.Data[5..]))
            throw new UsageException($"--data: no such file or folder: {settings.Data[5..]}");
        var options = new TrainOptions
        {
            Steps = a.Int("--steps", 600, 1),
            BatchSize = a.Int("--batch", 8, 1, 1 << 16),
            GradAccum = a.Int("--grad-accum", 1, 1, 1 << 16),
            PeakLr = a.Double("--lr", DefaultLr(settings.Size), 0, 10),
            WeightDecay = a.Double("--weight-decay", 0.1, 0, 10),
            EvalEvery = a.Int("--eval-every", 100, 0),
            EvalBatches = a.Int("--eval-batches", 4, 1),
            CheckpointEvery = a.Int("--checkpoint-every", 100, 0),
            KeepCheckpoints = a.Int("--keep-checkpoints", 3, 1, 1000),
            MaxNonFiniteSteps = a.Int("--max-nonfinite", 5, 1),
        };
        int finalBatches = a.Int("--final-eval-batches", 32, 1);
        if (a.Given("--threads")) CpuParallel.Threads = a.Int("--threads", Environment.ProcessorCount, 1, 1024);
        var device = DeviceOption.Resolve(a);
        var outDir = a.String("--out") ?? Path.Combine("runs", settings.RunName());
        bool resume = a.Has("--resume");

        var display = ProgressDisplay.ForConsole(options.Steps);
        using var runLock = RunLock.Acquire(outDir, display.Message);
        var store = new CheckpointStore(outDir, options.KeepCheckpoints);
        if (!resume && store.List().Count > 0)
            throw new UsageException($"{outDir} already holds a run; pass --resume to continue it or choose another --out");
        if (resume && RunSettings.TryLoad(outDir) is { } saved && saved != settings)
            throw new UsageException($"--resume: the options differ from the run in {outDir} ({saved.ToJson().ReplaceLineEndings(" ")})");

        var dtype = DTypes.Parse(settings.DType);
        var (train, eval) = DataSources.Open(settings.Data, settings.Seed, settings.SeqLen, settings.DataOptions(display.Message));
        var model = ModelZoo.Create(settings.Model, settings.Size, train.VocabSize, settings.Seed, settings.Backbone == "mamba", dtype);
        model.To(device);
        IO.AtomicFile.WriteAllText(Path.Combine(outDir, "train_args.json"), settings.ToJson());
        display.Message($"training {settings.Model}{(settings.Model.StartsWith("ttt", StringComparison.Ordinal) ? $" ({settings.Backbone} backbone)" : "")}, " +
            $"{model.ParameterCount():N0} parameters, on {train.Name} (vocab {train.VocabSize}, T = {settings.SeqLen}), " +
            $"{options.Steps} steps × {options.BatchSize * options.GradAccum} sequences, {CpuParallel.Threads} threads → {outDir}");

        var trainer = new Trainer(model, train, eval, options, outDir, settings.Seed, device)
        {
            OnStep = display.Step,
            OnEval = display.Eval,
            Log = display.Message,
            EvalReference = Reference(eval),
        };
        if (resume) trainer.Resume();
        using (a.Has("--detect-anomaly") ? AnomalyMode.Enable() : null) trainer.Run();
        ModelZoo.Save(outDir, model);

        // Final evaluation on more held-out batches, with loss by token position.
        var final = Evaluation.Run(model, Reset(eval), finalBatches, options.BatchSize, device, Reference(eval));
        var unigram = UnigramLoss(settings, train.VocabSize, options.BatchSize, eval, finalBatches);
        Report(outDir, settings, final, unigram, display);
        display.Message($"wrote {outDir}/: config.json, model.safetensors, metrics.csv, loss_by_position.csv, loss_by_position.png, checkpoints/");
        return 0;
    }

    /// <summary>
    /// Peak learning rate by size: the paper's (spec §3) for 125m…1.3b; 1e-2 for the CPU-sized presets, which learn
    /// the markov task in 600 updates with it (3e-3 gets about half as far in the same budget).
    /// </summary>
    internal static double DefaultLr(string size) => size switch
    {
        "125m" => 3e-3,
        "350m" => 1.5e-3,
        "760m" => 1.25e-3,
        "1.3b" or "1b" => 1e-3,
        _ => 1e-2,
    };

    /// <summary>The Bayes-optimal per-token loss for markov data (null for other tasks).</summary>
    internal static Func<TokenBatch, double[]?>? Reference(IDataSource eval) =>
        eval is MarkovDataSource markov ? markov.BayesOptimalNll : null;

    private static IDataSource Reset(IDataSource eval)
    {
        var state = eval.GetState();
        eval.SetState(state with { NextSample = 0 });
        return eval;
    }

    /// <summary>
    /// Loss of the unigram predictor: token frequencies counted on training data (add-one smoothed), scored on the
    /// same held-out batches as the model.
    /// </summary>
    internal static double UnigramLoss(RunSettings settings, int vocab, int batchSize, IDataSource eval, int batches)
    {
        var counts = new double[vocab];
        Array.Fill(counts, 1.0);
        var train = DataSources.Create(settings.Data, settings.Seed, DataSplit.Train, settings.SeqLen, settings.DataOptions());
        for (int i = 0; i < Math.Max(8, batches); i++)
            foreach (var t in train.NextBatch(batchSize).Tokens) counts[t]++;
        double total = counts.Sum();
        Reset(eval);
        double nll = 0;
        long n = 0;
        for (int i = 0; i < batches; i++)
            foreach (var label in eval.NextBatch(batchSize).Labels)
                if (label >= 0)
                {
                    nll -= Math.Log(counts[label] / total);
                    n++;
                }
        Reset(eval);
        return nll / Math.Max(n, 1);
    }

    /// <summary>Writes loss_by_position.csv/png and prints the comparison.</summary>
    internal static void Report(string outDir, RunSettings settings, EvalResult final, double unigram, ProgressDisplay display)
    {
        var curves = new List<LossCurve> { new(settings.RunName(), final.LossByPosition) };
        if (final.ReferenceByPosition is { } bayes) curves.Add(new("Bayes-optimal", bayes));
        curves.Add(new("unigram", Enumerable.Repeat(unigram, final.LossByPosition.Length).ToArray()));
        LossPlots.WriteCsv(Path.Combine(outDir, "loss_by_position.csv"), curves);
        LossPlots.WritePng(Path.Combine(outDir, "loss_by_position.png"), $"Loss by token position: {settings.RunName()}", curves);

        int t = final.LossByPosition.Length;
        double Window(double[] v, int from, int to) => v.Skip(from).Take(Math.Max(1, to - from)).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
        int early = Math.Max(1, t / 16);
        display.Message("");
        display.Message($"final evaluation ({final.Tokens:N0} held-out tokens):");
        display.Message($"  model          loss {RunSettings.F(final.MeanLoss)}  perplexity {RunSettings.F(final.Perplexity, "F3")}");
        display.Message($"  unigram        loss {RunSettings.F(unigram)}  (the model is {RunSettings.F(unigram - final.MeanLoss, "F3")} nats better)");
        if (final.ReferenceByPosition is { } bayesCurve)
            display.Message($"  Bayes-optimal  loss {RunSettings.F(final.ReferenceMeanLoss)}  (the floor; the model is {RunSettings.F(final.MeanLoss - final.ReferenceMeanLoss, "F3")} nats above it)");
        display.Message($"  by position:   first {early} tokens {RunSettings.F(Window(final.LossByPosition, 0, early))}" +
            (final.ReferenceByPosition is { } b1 ? $" (optimal {RunSettings.F(Window(b1, 0, early))})" : "") +
            $", last {early} tokens {RunSettings.F(Window(final.LossByPosition, t - early, t))}" +
            (final.ReferenceByPosition is { } b2 ? $" (optimal {RunSettings.F(Window(b2, t - early, t))})" : ""));
    }
}
