using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Ttt.Data;
using Ttt.IO;
using Ttt.Models;

namespace Ttt.Training;

/// <summary>Hyper-parameters of a training run (defaults follow the paper's recipe, spec §3).</summary>
public sealed record TrainOptions
{
    /// <summary>Optimizer updates.</summary>
    public int Steps { get; init; } = 200;
    /// <summary>Sequences per micro-batch.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Micro-batches whose gradients are averaged per update.</summary>
    public int GradAccum { get; init; } = 1;
    /// <summary>Peak learning rate.</summary>
    public double PeakLr { get; init; } = 3e-3;
    /// <summary>Learning rate at the end of the cosine decay.</summary>
    public double EndLr { get; init; } = 1e-5;
    /// <summary>Fraction of the steps spent in linear warmup.</summary>
    public double WarmupFraction { get; init; } = 0.1;
    /// <summary>Decoupled weight decay (applied to every parameter).</summary>
    public double WeightDecay { get; init; } = 0.1;
    /// <summary>Adam β1.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>Adam β2.</summary>
    public double Beta2 { get; init; } = 0.95;
    /// <summary>Adam ε.</summary>
    public double Eps { get; init; } = 1e-8;
    /// <summary>Global gradient-norm clip.</summary>
    public double ClipNorm { get; init; } = 1.0;
    /// <summary>Evaluate every this many updates (and at the end); 0: only at the end.</summary>
    public int EvalEvery { get; init; } = 50;
    /// <summary>Batches per evaluation.</summary>
    public int EvalBatches { get; init; } = 4;
    /// <summary>Checkpoint every this many updates (and at the end); 0: only at the end.</summary>
    public int CheckpointEvery { get; init; } = 50;
    /// <summary>Checkpoints kept.</summary>
    public int KeepCheckpoints { get; init; } = 3;
    /// <summary>Consecutive updates with a non-finite loss or gradient after which training stops.</summary>
    public int MaxNonFiniteSteps { get; init; } = 5;
    /// <summary>Apply the TTT-MLP inner learning-rate warmup over the outer warmup (recipe).</summary>
    public bool TttMlpLrWarmup { get; init; } = true;
}

/// <summary>What one update did.</summary>
public sealed record StepReport(long Step, long TotalSteps, double Loss, double Lr, double GradNorm, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Eta, bool Skipped);

/// <summary>Thrown when training must stop (too many non-finite steps in a row).</summary>
public sealed class TrainingStoppedException(string message) : Exception(message);

/// <summary>
/// The training loop: AdamW with warmup + cosine schedule, global-norm clipping, gradient accumulation, the TTT-MLP
/// η warmup, periodic evaluation, atomic checkpoints and bit-for-bit resumption (model, optimizer moments, data
/// position and generator state all restored). Non-finite losses or gradients skip the update; too many in a row
/// stop the run with a clear message.
/// </summary>
public sealed class Trainer
{
    private readonly CausalLM _model;
    private readonly IDataSource _train, _eval;
    private readonly DataSourceState _evalStart;
    private readonly (string Name, Tensor Tensor)[] _parameters;
    private readonly AdamW _optimizer;
    private readonly LrSchedule _schedule;
    private readonly CheckpointStore _checkpoints;
    private readonly Generator _rng;
    private readonly Device _device;

    /// <summary>Creates a trainer writing into <paramref name="runFolder"/>.</summary>
    public Trainer(CausalLM model, IDataSource train, IDataSource eval, TrainOptions options, string runFolder, ulong seed = 0, Device? device = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _train = train ?? throw new ArgumentNullException(nameof(train));
        _eval = eval ?? throw new ArgumentNullException(nameof(eval));
        Options = options ?? throw new ArgumentNullException(nameof(options));
        if (train.VocabSize > model.VocabSize)
            throw new ArgumentException($"the data uses {train.VocabSize} token ids but the model's vocabulary has {model.VocabSize}");
        RunFolder = runFolder;
        _device = device ?? Device.Cpu;
        _evalStart = eval.GetState();
        _parameters = model.NamedParameters().ToArray();
        _optimizer = new AdamW(_parameters, options.Beta1, options.Beta2, options.Eps, options.WeightDecay);
        _schedule = LrSchedule.Recipe(options.PeakLr, options.Steps, options.WarmupFraction, options.EndLr);
        _checkpoints = new CheckpointStore(runFolder, options.KeepCheckpoints);
        _rng = new Generator(seed);
    }

    /// <summary>The options.</summary>
    public TrainOptions Options { get; }
    /// <summary>The run folder.</summary>
    public string RunFolder { get; }
    /// <summary>Updates applied so far.</summary>
    public long Step { get; private set; }
    /// <summary>Updates skipped because of non-finite values.</summary>
    public long SkippedSteps { get; private set; }
    /// <summary>The schedule.</summary>
    public LrSchedule Schedule => _schedule;

    /// <summary>Called after every update.</summary>
    public Action<StepReport>? OnStep { get; set; }
    /// <summary>Called after every evaluation.</summary>
    public Action<long, EvalResult>? OnEval { get; set; }
    /// <summary>Messages (resumption, fallbacks, skipped steps).</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Optional reference predictor evaluated on the same held-out batches (e.g. the Bayes-optimal loss).</summary>
    public Func<TokenBatch, double[]?>? EvalReference { get; set; }

    private string MetricsPath => Path.Combine(RunFolder, "metrics.csv");
    private const string MetricsHeader = "step,loss,lr,grad_norm,tokens_per_s,elapsed_s,eval_loss,eval_accuracy\n";
    private int _consecutiveBad;

    /// <summary>Restores the newest valid checkpoint, if any; returns its step (0 when starting fresh).</summary>
    public long Resume()
    {
        _checkpoints.RemoveLeftovers(Log);
        var latest = _checkpoints.LatestValid(Log);
        if (latest is null) return 0;
        var (step, path) = latest.Value;
        // The manifest proves the files are as written, not that they fit this model (a changed config) or hold
        // finite values: both are checked, and errors name the file and the tensor.
        var weightsPath = Path.Combine(path, "model.safetensors");
        using (var weights = SafeTensorFile.Load(weightsPath, _model.DType, checkFinite: true))
            try
            {
                _model.LoadSaved(weights.ToDictionary(kv => kv.Key, kv => kv.Value.To(_device)));
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"{weightsPath}: {e.Message}", e);
            }
        TrainerState? state;
        try
        {
            state = JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(Path.Combine(path, "trainer_state.json")));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: trainer_state.json is not a valid trainer state ({e.Message})", e);
        }
        if (state is null || state.Rng is null || state.TrainData is null || state.Step < 0)
            throw new InvalidDataException($"{path}: trainer_state.json is incomplete (it needs step, train_data and rng)");
        var optimizerPath = Path.Combine(path, "optimizer.safetensors");
        using (var opt = SafeTensorFile.Load(optimizerPath, _model.DType, checkFinite: true))
            try
            {
                _optimizer.Load(opt.ToDictionary(kv => kv.Key, kv => kv.Value.To(_device)), state.Step);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"{optimizerPath}: {e.Message}", e);
            }
        _train.SetState(state.TrainData);
        _rng.SetState(state.Rng);
        Step = state.Step;
        SkippedSteps = state.SkippedSteps;
        _consecutiveBad = state.ConsecutiveBad;
        TrimMetrics(Step);
        Log?.Invoke($"resumed from {Path.GetFileName(path)} (step {Step})");
        return Step;
    }

    /// <summary>Trains until <see cref="TrainOptions.Steps"/> updates are done; returns the last evaluation.</summary>
    public EvalResult? Run(CancellationToken cancel = default)
    {
        Directory.CreateDirectory(RunFolder);
        _checkpoints.RemoveLeftovers(Log);
        // Starting from step 0, rows left by an earlier attempt that was killed before its first checkpoint are stale.
        if (Step == 0 || !File.Exists(MetricsPath)) AtomicFile.WriteAllText(MetricsPath, MetricsHeader);
        var clock = Stopwatch.StartNew();
        long startStep = Step;
        long tokensPerUpdate = (long)Options.BatchSize * Options.GradAccum * _train.SequenceLength;
        EvalResult? lastEval = null;
        var tttLayers = (_model as TTTForCausalLM)?.TttLayers.ToArray() ?? [];
        bool mlpWarmup = Options.TttMlpLrWarmup && tttLayers.Any(l => l.Inner is MlpInner);
        _model.Train();
        while (Step < Options.Steps)
        {
            cancel.ThrowIfCancellationRequested();
            long step = Step + 1;
            double lr = _schedule.At(Step);
            if (mlpWarmup)
                foreach (var layer in tttLayers) layer.LrMultiplier = TttMlpWarmup.Multiplier(step, _schedule.WarmupSteps);
            _model.ZeroGrad();
            double lossSum = 0;
            for (int a = 0; a < Options.GradAccum; a++)
            {
                var batch = _train.NextBatch(Options.BatchSize);
                var logits = _model.Forward(batch.InputsTensor(_device));
                var loss = Tensor.FusedCrossEntropy(logits, batch.LabelsTensor(_device));
                (Options.GradAccum == 1 ? loss : loss * (1.0 / Options.GradAccum)).Backward();
                lossSum += loss.Item();
            }
            double meanLoss = lossSum / Options.GradAccum;
            double norm = Gradients.GlobalNorm(_parameters.Select(p => p.Tensor));
            bool skipped = !double.IsFinite(meanLoss) || !double.IsFinite(norm);
            if (skipped)
            {
                SkippedSteps++;
                _consecutiveBad++;
                Log?.Invoke($"step {step}: non-finite {(double.IsFinite(meanLoss) ? "gradient" : "loss")}; update skipped ({_consecutiveBad} in a row)");
                if (_consecutiveBad >= Options.MaxNonFiniteSteps)
                    throw new TrainingStoppedException($"stopped at step {step}: {_consecutiveBad} consecutive updates had a non-finite loss or gradient (limit {Options.MaxNonFiniteSteps}); lower the learning rate or check the data");
            }
            else
            {
                _consecutiveBad = 0;
                if (norm > Options.ClipNorm) Gradients.Scale(_parameters.Select(p => p.Tensor), Options.ClipNorm / norm);   // clip by the norm measured above
                _optimizer.Update(lr);
            }
            _model.ZeroGrad();
            Step = step;
            var elapsed = clock.Elapsed;
            double tps = (Step - startStep) * tokensPerUpdate / Math.Max(elapsed.TotalSeconds, 1e-9);
            var eta = TimeSpan.FromSeconds(elapsed.TotalSeconds / (Step - startStep) * (Options.Steps - Step));
            OnStep?.Invoke(new StepReport(Step, Options.Steps, meanLoss, lr, norm, tps, elapsed, eta, skipped));
            string evalCols = ",";
            if (Step == Options.Steps || (Options.EvalEvery > 0 && Step % Options.EvalEvery == 0))
            {
                lastEval = Evaluate();
                OnEval?.Invoke(Step, lastEval);
                evalCols = string.Create(CultureInfo.InvariantCulture, $"{lastEval.MeanLoss:G6},{lastEval.Accuracy:G6}");
            }
            File.AppendAllText(MetricsPath, string.Create(CultureInfo.InvariantCulture,
                $"{Step},{meanLoss:G6},{lr:G6},{norm:G6},{tps:F1},{elapsed.TotalSeconds:F2},{evalCols}\n"));
            if (Step == Options.Steps || (Options.CheckpointEvery > 0 && Step % Options.CheckpointEvery == 0))
                SaveCheckpoint();
        }
        return lastEval;
    }

    /// <summary>Evaluates on the eval stream, always from its first batch (the same held-out set each time).</summary>
    public EvalResult Evaluate()
    {
        _eval.SetState(_evalStart);
        return Evaluation.Run(_model, _eval, Options.EvalBatches, Options.BatchSize, _device, EvalReference);
    }

    /// <summary>Writes a checkpoint of the current state.</summary>
    public string SaveCheckpoint() => _checkpoints.Save(Step, folder =>
    {
        AtomicFile.WriteAllText(Path.Combine(folder, "config.json"), _model.ConfigJson());
        SafeTensorFile.Save(Path.Combine(folder, "model.safetensors"), _model.StateToSave(), new Dictionary<string, string> { ["format"] = "pt" });
        SafeTensorFile.Save(Path.Combine(folder, "optimizer.safetensors"), _optimizer.State());
        var state = new TrainerState(Step, SkippedSteps, _consecutiveBad, _train.GetState(), _rng.GetState());
        AtomicFile.WriteAllText(Path.Combine(folder, "trainer_state.json"), JsonSerializer.Serialize(state, new JsonSerializerOptions { WriteIndented = true }));
    });

    private void TrimMetrics(long step)
    {
        if (!File.Exists(MetricsPath)) return;
        var lines = File.ReadAllLines(MetricsPath);
        var kept = new StringBuilder(MetricsHeader);
        int columns = MetricsHeader.Count(c => c == ',');
        foreach (var line in lines.Skip(1))
        {
            // Rows after the checkpoint are redone; a row cut short by a kill mid-append is dropped whatever its
            // first digits say (a truncated "13," could read as step 1).
            if (line.Count(c => c == ',') != columns) continue;
            if (!long.TryParse(line.AsSpan(0, line.IndexOf(',')), NumberStyles.Integer, CultureInfo.InvariantCulture, out long s) || s > step) continue;
            kept.Append(line).Append('\n');
        }
        AtomicFile.WriteAllText(MetricsPath, kept.ToString());
    }

    /// <summary>The part of a checkpoint that is not tensors.</summary>
    public sealed record TrainerState(long Step, long SkippedSteps, int ConsecutiveBad, DataSourceState TrainData, ulong[] Rng);
}
