using System.Diagnostics;
using System.Globalization;
using Ttt.Data;
using Ttt.Models;

namespace Ttt.Cli.Commands;

/// <summary>
/// <c>ttt generate</c>: samples tokens from a model with recurrent decoding (a prefill of the prompt, then one
/// token at a time through the decoding cache: constant time per token for TTT and Mamba).
/// </summary>
public static class GenerateCommand
{
    /// <summary>The command's definition.</summary>
    public static CommandSpec Spec { get; } = new("generate", "Generate tokens from a model folder with recurrent decoding.",
    [
        new("--model", "DIR", "model folder (a run folder of ttt train)"),
        new("--prompt", "TEXT", "prompt text (text-trained models; encoded with the run's tokenizer)"),
        new("--prompt-ids", "IDS", "prompt as token ids separated by spaces or commas"),
        new("--tokens", "N", "tokens to generate", "100"),
        new("--temperature", "X", "sampling temperature (0: greedy)", "1.0"),
        new("--top-k", "N", "sample among the k most likely tokens (0: all)", "0"),
        new("--seed", "N", "sampling seed", "0"),
        new("--threads", "N", "CPU threads", "all cores"),
        .. DeviceOption.Specs,
    ], Run);

    private static int Run(ParsedArgs a)
    {
        var modelDir = a.Required("--model");
        int count = a.Int("--tokens", 100, 1, 1 << 20);
        double temperature = a.Double("--temperature", 1.0, 0, 100);
        int topK = a.Int("--top-k", 0, 0);
        var gen = new Generator((ulong)a.Int("--seed", 0, 0));
        if (a.Given("--threads")) Ttt.Cpu.CpuParallel.Threads = a.Int("--threads", Environment.ProcessorCount, 1, 1024);
        if (a.Given("--prompt") && a.Given("--prompt-ids")) throw new UsageException("give either --prompt or --prompt-ids, not both");
        if (!Directory.Exists(modelDir)) throw new UsageException($"--model: folder not found: {modelDir}");

        var settings = RunSettings.TryLoad(modelDir);
        ITextTokenizer? tokenizer = settings is { } s && s.Data.StartsWith("text:", StringComparison.Ordinal) ? TextTokenizers.Create(s.Tokenizer) : null;
        var device = DeviceOption.Resolve(a);
        var model = ModelZoo.Load(modelDir);
        model.To(device);
        model.Eval();
        long[] prompt;
        if (a.Given("--prompt-ids")) prompt = ParseIds(a.Required("--prompt-ids"));
        else if (a.Given("--prompt"))
        {
            if (tokenizer is null) throw new UsageException("--prompt needs a model trained on text (train_args.json with text data); use --prompt-ids");
            var ids = new List<int>();
            tokenizer.Encode(System.Text.Encoding.UTF8.GetBytes(a.Required("--prompt")), ids);
            prompt = ids.Select(i => (long)i).ToArray();
        }
        else prompt = [0];
        if (prompt.Length == 0) throw new UsageException("the prompt is empty");
        foreach (var id in prompt)
            if (id < 0 || id >= model.VocabSize) throw new UsageException($"prompt token {id} is outside the vocabulary [0, {model.VocabSize})");

        using var _ = GradMode.Disable();
        var cache = model.NewCache(1);
        var clock = Stopwatch.StartNew();
        var logits = model.Forward(Tensor.FromArray(prompt, [1, prompt.Length], device), cache);
        var prefill = clock.Elapsed;
        var output = new List<long>();
        if (tokenizer is not null) Console.Write(tokenizer.Decode(prompt));
        clock.Restart();
        for (int i = 0; i < count; i++)
        {
            var last = logits.Select(1, logits.Shape[1] - 1).Select(0, 0).ToDoubleArray();
            long next = Sample(last, temperature, topK, gen);
            output.Add(next);
            if (tokenizer is not null) Console.Write(tokenizer.Decode([next]));
            logits = model.Forward(Tensor.FromArray(new[] { next }, [1, 1], device), cache);
        }
        var decode = clock.Elapsed;
        Console.WriteLine();
        if (tokenizer is null) Console.WriteLine(string.Join(" ", output));
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"prefill {prompt.Length} tokens in {prefill.TotalMilliseconds:F0} ms; {count} tokens in {decode.TotalMilliseconds:F0} ms ({decode.TotalMilliseconds / count:F2} ms/token)"));
        return 0;
    }

    /// <summary>Samples an index from logits with temperature and top-k (temperature 0: argmax).</summary>
    public static long Sample(double[] logits, double temperature, int topK, Generator gen)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(gen);
        if (temperature == 0) return Array.IndexOf(logits, logits.Max());
        var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ToArray();
        if (topK > 0 && topK < order.Length) order = order[..topK];
        double max = logits[order[0]];
        var weights = order.Select(i => Math.Exp((logits[i] - max) / temperature)).ToArray();
        double u = gen.NextDouble() * weights.Sum();
        for (int j = 0; j < order.Length; j++)
        {
            u -= weights[j];
            if (u <= 0) return order[j];
        }
        return order[^1];
    }

    private static long[] ParseIds(string text)
    {
        var parts = text.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries);
        return parts.Select(p => long.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v
            : throw new UsageException($"--prompt-ids: '{p}' is not an integer")).ToArray();
    }
}
