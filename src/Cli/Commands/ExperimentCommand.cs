using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ttt.Cli.Experiments;
using Ttt.Cli.Reporting;
using Ttt.Cpu;
using Ttt.Data;
using Ttt.Models;
using Ttt.Training;

namespace Ttt.Cli.Commands;

/// <summary>
/// <c>ttt experiment ablation|context</c>: reproduces the paper's findings at a size a CPU can train. Each
/// experiment trains its models with the same token budget, data and optimizer settings, evaluates them on the same
/// held-out sequences and writes a results folder: results.csv, results.md (the table, with deltas for the
/// ablation ladder), loss_by_position.csv and PNG plots of loss by token position on a log axis (with the
/// Bayes-optimal curve for markov data).
/// </summary>
public static class ExperimentCommand
{
    /// <summary>The command's definition.</summary>
    public static CommandSpec Spec { get; } = new("experiment",
        "Reproduce the paper at small scale: 'ablation' (Table 1 ladder, linear attention → TTT-Linear) or 'context' (Transformer, Mamba, TTT-Linear, TTT-MLP: loss by token position).",
    [
        new("--data", "TASK", "markov or text:PATH (a UTF-8 file or folder)", "markov"),
        new("--tokenizer", "NAME", "tokenizer for text data: byte or gpt2", "byte"),
        new("--size", "NAME", "size preset of every model (tiny, small, …)", "tiny"),
        new("--seq-len", "N", "tokens per sequence (training and evaluation)", "ablation 128, context 512; --quick: 128 / 256"),
        new("--steps", "N", "optimizer updates per model", "600; --quick: 40 / 30"),
        new("--batch", "N", "sequences per update (and per evaluation batch)", "ablation 4, context 2; --quick: 4"),
        new("--lr", "X", "peak learning rate of every model (warmup 10 %, cosine to 1e-5)", "1e-2"),
        new("--eval-batches", "N", "held-out batches for the final evaluation of each model", "32; --quick: 4"),
        new("--seed", "N", "seed of the initializations and the data", "0"),
        new("--threads", "N", "CPU threads", "all cores"),
        new("--backbone", "NAME", "ablation only: transformer (the paper's ladder, Mamba backbone in the last row) or mamba (every row)", "transformer"),
        new("--quick", null, "a reduced run (shorter sequences, fewer steps) for a smoke check"),
        new("--out", "DIR", "results folder", "runs/experiment-<name>"),
    ], Run, "ablation|context");

    /// <summary>The effective settings of one experiment run.</summary>
    internal sealed record Settings(string Name, string Data, string Tokenizer, string Size, int SeqLen, int Steps, int Batch, double Lr, int EvalBatches, ulong Seed, bool Quick, string Backbone = "transformer")
    {
        /// <summary>The command that reproduces this run.</summary>
        public string CommandLine() => string.Create(CultureInfo.InvariantCulture,
            $"ttt experiment {Name} --data {Data}{(Data.StartsWith("text:", StringComparison.Ordinal) ? $" --tokenizer {Tokenizer}" : "")} --size {Size} --seq-len {SeqLen} --steps {Steps} --batch {Batch} --lr {Lr:G} --eval-batches {EvalBatches} --seed {Seed}{(Backbone == "transformer" ? "" : $" --backbone {Backbone}")}");
    }

    /// <summary>One trained and evaluated model.</summary>
    internal sealed record Row(ExperimentModel Model, long Parameters, long TrainTokens, double Seconds, EvalResult? Result, string? Failure);

    private static int Run(ParsedArgs a)
    {
        if (a.Positionals.Count != 1 || !ExperimentPlans.Names.Contains(a.Positionals[0]))
            throw new UsageException($"expected one experiment name: {string.Join(" or ", ExperimentPlans.Names)} (e.g. ttt experiment ablation --quick)");
        string name = a.Positionals[0];
        bool quick = a.Has("--quick");
        bool ablation = name == "ablation";
        var settings = new Settings(
            name,
            a.String("--data", "markov")!,
            a.Choice("--tokenizer", "byte", "byte", "gpt2"),
            a.String("--size", "tiny")!,
            a.Int("--seq-len", quick ? (ablation ? 128 : 256) : (ablation ? 128 : 512), 2, 1 << 20),
            a.Int("--steps", quick ? (ablation ? 40 : 30) : 600, 1, 1 << 24),
            a.Int("--batch", quick ? 4 : ablation ? 4 : 2, 1, 1 << 16),
            a.Double("--lr", 1e-2, 0, 10),
            a.Int("--eval-batches", quick ? 4 : 32, 1, 1 << 16),
            (ulong)a.Int("--seed", 0, 0),
            quick,
            a.Choice("--backbone", "transformer", "transformer", "mamba"));
        if (!ablation && a.Given("--backbone")) throw new UsageException("--backbone applies to the ablation experiment only");
        if (settings.Data != "markov" && !settings.Data.StartsWith("text:", StringComparison.Ordinal))
            throw new UsageException($"--data must be markov or text:PATH; got '{settings.Data}'");
        if (settings.Data.StartsWith("text:", StringComparison.Ordinal) && !File.Exists(settings.Data[5..]) && !Directory.Exists(settings.Data[5..]))
            throw new UsageException($"--data: no such file or folder: {settings.Data[5..]}");
        if (!TTTConfig.PresetNames.Contains(settings.Size))
            throw new UsageException($"--size must be one of {string.Join(", ", TTTConfig.PresetNames)}; got '{settings.Size}'");
        if (a.Given("--threads")) CpuParallel.Threads = a.Int("--threads", Environment.ProcessorCount, 1, 1024);
        var outDir = a.String("--out") ?? Path.Combine("runs", $"experiment-{name}{(settings.Backbone == "mamba" ? "-mamba" : "")}{(quick ? "-quick" : "")}");
        if (File.Exists(Path.Combine(outDir, "results.csv")))
            throw new UsageException($"{outDir} already holds results; choose another --out");
        Directory.CreateDirectory(outDir);

        var log = new ProgressDisplay(Console.Out, false, Math.Max(1, settings.Steps / 10));
        log.Message($"{settings.CommandLine()}{(quick ? " (quick)" : "")}, {CpuParallel.Threads} threads → {outDir}");
        var rows = new List<Row>();
        var plan = ExperimentPlans.For(name, settings.SeqLen, settings.Backbone);
        for (int i = 0; i < plan.Count; i++)
        {
            rows.Add(TrainOne(settings, plan[i], Path.Combine(outDir, "models", plan[i].Slug(i)), log));
            WriteResults(outDir, settings, rows, final: i == plan.Count - 1);
        }
        log.Message($"wrote {outDir}/: results.csv, results.md, loss_by_position.csv, loss_by_position.png{(rows.Any(r => r.Result?.ReferenceByPosition is not null) ? ", gap_to_bayes.png" : "")}, models/");
        return rows.All(r => r.Result is not null) ? 0 : 1;
    }

    private static Row TrainOne(Settings s, ExperimentModel m, string runDir, ProgressDisplay log)
    {
        var (train, eval) = DataSources.Open(s.Data, s.Seed, s.SeqLen, new DataSourceOptions { Tokenizer = s.Tokenizer });
        var model = Build(m, s, train.VocabSize);
        long parameters = model.ParameterCount();
        var options = new TrainOptions
        {
            Steps = s.Steps,
            BatchSize = s.Batch,
            PeakLr = s.Lr,
            EvalEvery = 0,
            EvalBatches = s.EvalBatches,
            CheckpointEvery = 0,
            KeepCheckpoints = 1,
        };
        long tokens = (long)s.Steps * s.Batch * s.SeqLen;
        log.Message($"[{m.Label}] {m.Kind}{(m.Backbone == "-" ? "" : $" ({m.Backbone} backbone)")}, {parameters:N0} parameters, {s.Steps} steps × {s.Batch} × {s.SeqLen} = {tokens:N0} tokens");
        var progress = ProgressDisplay.ForConsole(s.Steps);
        var trainer = new Trainer(model, train, eval, options, runDir, s.Seed)
        {
            OnStep = progress.Step,
            Log = log.Message,
            EvalReference = TrainCommand.Reference(eval),
        };
        var clock = Stopwatch.StartNew();
        try
        {
            var result = trainer.Run() ?? trainer.Evaluate();
            clock.Stop();
            ModelZoo.Save(runDir, model);
            log.Message($"[{m.Label}] eval loss {F(result.MeanLoss)}" +
                (result.ReferenceByPosition is null ? "" : $" (Bayes-optimal {F(result.ReferenceMeanLoss)})") + $", {F(clock.Elapsed.TotalSeconds, "F0")} s");
            return new Row(m, parameters, tokens, clock.Elapsed.TotalSeconds, result, null);
        }
        catch (TrainingStoppedException e)
        {
            // A configuration that diverges is a result too: report it rather than abort the experiment.
            log.Message($"[{m.Label}] training stopped: {e.Message}");
            return new Row(m, parameters, tokens, clock.Elapsed.TotalSeconds, null, "diverged");
        }
    }

    private static CausalLM Build(ExperimentModel m, Settings s, int vocab)
    {
        if (m.Configure is null) return ModelZoo.Create(m.Kind, s.Size, vocab, s.Seed);
        var config = TTTConfig.Preset(s.Size, vocab, m.Kind == "ttt-mlp" ? "mlp" : "linear", m.Backbone == "mamba");
        m.Configure(config);
        config.Validate($"experiment {s.Name}: {m.Label}");
        return new TTTForCausalLM(config, new Generator(s.Seed));
    }

    // ------------------------------------------------------------------ reporting

    /// <summary>Position windows [from, to) (0-based) growing by 4×: 1–4, 5–16, 17–64, … up to T.</summary>
    internal static IReadOnlyList<(int From, int To)> Windows(int t)
    {
        var windows = new List<(int, int)>();
        for (int from = 0, to = 4; from < t; from = to, to *= 4) windows.Add((from, Math.Min(to, t)));
        return windows;
    }

    private static double Mean(double[] v, int from, int to)
    {
        double sum = 0;
        int n = 0;
        for (int i = from; i < Math.Min(to, v.Length); i++)
            if (double.IsFinite(v[i]))
            {
                sum += v[i];
                n++;
            }
        return n == 0 ? double.NaN : sum / n;
    }

    private static string F(double v, string format = "F4") => double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "NaN";

    private static string Csv(string s) => s.Contains(',', StringComparison.Ordinal) || s.Contains('"', StringComparison.Ordinal) ? $"\"{s.Replace("\"", "\"\"", StringComparison.Ordinal)}\"" : s;

    private static void WriteResults(string outDir, Settings s, List<Row> rows, bool final)
    {
        var windows = Windows(s.SeqLen);
        string WindowName((int From, int To) w) => $"{w.From + 1}-{w.To}";

        // results.csv: one row per model.
        var csv = new StringBuilder("experiment,row,configuration,model,backbone,parameters,train_tokens,train_seconds,eval_loss,delta_vs_previous,perplexity,bayes_optimal_loss,status");
        foreach (var w in windows) csv.Append(",loss_pos_").Append(WindowName(w));
        csv.Append('\n');
        double previous = double.NaN;
        foreach (var (r, i) in rows.Select((r, i) => (r, i)))
        {
            double loss = r.Result?.MeanLoss ?? double.NaN;
            double delta = i == 0 ? double.NaN : loss - previous;
            csv.Append(CultureInfo.InvariantCulture, $"{s.Name},{i + 1},{Csv(r.Model.Label)},{r.Model.Kind},{r.Model.Backbone},{r.Parameters},{r.TrainTokens},{F(r.Seconds, "F1")},{F(loss, "G6")},{(i == 0 ? "" : F(delta, "G6"))},{F(Math.Exp(loss), "G6")},{F(r.Result?.ReferenceMeanLoss ?? double.NaN, "G6")},{r.Failure ?? "ok"}");
            foreach (var w in windows) csv.Append(',').Append(F(r.Result is null ? double.NaN : Mean(r.Result.LossByPosition, w.From, w.To), "G6"));
            csv.Append('\n');
            previous = loss;
        }
        IO.AtomicFile.WriteAllText(Path.Combine(outDir, "results.csv"), csv.ToString());

        // Curves: every model, and the Bayes-optimal loss on the same tokens (markov).
        var curves = rows.Where(r => r.Result is not null).Select(r => new LossCurve(r.Model.Label, r.Result!.LossByPosition)).ToList();
        var bayes = rows.Select(r => r.Result?.ReferenceByPosition).FirstOrDefault(b => b is not null);
        if (bayes is not null) curves.Add(new LossCurve("Bayes-optimal", bayes));
        if (curves.Count > 0)
        {
            LossPlots.WriteCsv(Path.Combine(outDir, "loss_by_position.csv"), curves);
            LossPlots.WritePng(Path.Combine(outDir, "loss_by_position.png"), $"{s.Name}: loss by token position ({s.Data}, T = {s.SeqLen})", curves);
            if (bayes is not null)
            {
                var gaps = rows.Where(r => r.Result?.ReferenceByPosition is not null)
                    .Select(r => new LossCurve(r.Model.Label, r.Result!.LossByPosition.Zip(r.Result.ReferenceByPosition!, (l, b) => l - b).ToArray())).ToList();
                LossPlots.WritePng(Path.Combine(outDir, "gap_to_bayes.png"), $"{s.Name}: loss − Bayes-optimal loss by token position", gaps);
            }
        }

        // results.md
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"# ttt experiment {s.Name}{(s.Quick ? " (quick run)" : "")}{(final ? "" : " (in progress)")}\n\n");
        md.Append(CultureInfo.InvariantCulture, $"Command: `{s.CommandLine()}`\n\n");
        md.Append(CultureInfo.InvariantCulture, $"Every model: size preset `{s.Size}`, {s.Steps} updates × {s.Batch} sequences × {s.SeqLen} tokens = {(long)s.Steps * s.Batch * s.SeqLen:N0} training tokens, AdamW (peak lr {s.Lr:G}, warmup 10 %, cosine, weight decay 0.1, clip 1.0), seed {s.Seed}; evaluated on the same {s.EvalBatches * s.Batch} held-out sequences ({s.EvalBatches * s.Batch * s.SeqLen:N0} tokens). Loss in nats per token.\n\n");
        if (s.Name == "ablation")
        {
            md.Append("| configuration | parameters | loss | Δ | perplexity |\n|---|---:|---:|---:|---:|\n");
            previous = double.NaN;
            foreach (var (r, i) in rows.Select((r, i) => (r, i)))
            {
                double loss = r.Result?.MeanLoss ?? double.NaN;
                string delta = i == 0 ? "" : (loss - previous >= 0 ? "+" : "") + F(loss - previous);
                md.Append(CultureInfo.InvariantCulture, $"| {r.Model.Label} | {r.Parameters:N0} | {(r.Failure ?? F(loss))} | {delta} | {F(Math.Exp(loss), "F3")} |\n");
                previous = loss;
            }
        }
        else
        {
            md.Append("| model | parameters | loss |");
            foreach (var w in windows) md.Append(" pos ").Append(WindowName(w)).Append(" |");
            md.Append(" last window − Bayes |\n|---|---:|---:|");
            foreach (var _ in windows) md.Append("---:|");
            md.Append("---:|\n");
            foreach (var r in rows)
            {
                md.Append(CultureInfo.InvariantCulture, $"| {r.Model.Label} | {r.Parameters:N0} | {(r.Failure ?? F(r.Result!.MeanLoss))} |");
                foreach (var w in windows) md.Append(' ').Append(r.Result is null ? "" : F(Mean(r.Result.LossByPosition, w.From, w.To))).Append(" |");
                var last = windows[^1];
                md.Append(' ').Append(r.Result?.ReferenceByPosition is { } rb ? F(Mean(r.Result.LossByPosition, last.From, last.To) - Mean(rb, last.From, last.To)) : "").Append(" |\n");
            }
            if (bayes is not null)
            {
                md.Append("| Bayes-optimal | | ").Append(F(Mean(bayes, 0, bayes.Length))).Append(" |");
                foreach (var w in windows) md.Append(' ').Append(F(Mean(bayes, w.From, w.To))).Append(" |");
                md.Append(" 0 |\n");
            }
        }
        if (bayes is not null && s.Name == "ablation")
            md.Append(CultureInfo.InvariantCulture, $"\nBayes-optimal loss on the same tokens: {F(Mean(bayes, 0, bayes.Length))}.\n");
        long maxParams = rows.Max(r => r.Parameters);
        md.Append("\nParameter counts relative to the largest model: ")
          .Append(string.Join(", ", rows.Select(r => $"{r.Model.Label} {100.0 * r.Parameters / maxParams:F0} %")))
          .Append(".\n\nTraining time per model (s, this machine): ")
          .Append(string.Join(", ", rows.Select(r => $"{r.Model.Label} {r.Seconds:F0}")))
          .Append(".\n\n![loss by token position](loss_by_position.png)\n");
        if (bayes is not null) md.Append("\n![loss minus the Bayes-optimal loss](gap_to_bayes.png)\n");
        IO.AtomicFile.WriteAllText(Path.Combine(outDir, "results.md"), md.ToString());
    }
}
