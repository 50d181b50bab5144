using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Json.Nodes;
using Ttt.Cli.Commands;
using Ttt.Data;
using Ttt.Models;

namespace Ttt.Tests;

/// <summary>
/// Seeded mutation fuzzing of the untrusted inputs other than safetensors: model <c>config.json</c> (TTT, Transformer
/// and Mamba, official field names), a run's <c>train_args.json</c>, and <c>text:PATH</c> corpora through the byte
/// and GPT-2 tokenizers. Every case must end in a correct load or an <see cref="InvalidDataException"/> whose
/// message starts with the file's name; for a mutation that changed one field, the message must also name that
/// field. Any other exception, or a case slower than a few seconds, fails with the seed and case to replay it.
/// "Correct" is checked independently of the reader: an accepted config re-validates, round-trips through its JSON,
/// and (when small) builds a model whose forward pass gives logits of the right shape; an accepted corpus holds
/// exactly the bytes of its text files (byte tokenizer) or decodes back to them (GPT-2).
/// </summary>
public sealed class InputFuzzTests(ITestOutputHelper output)
{
    // Fixed so that every run checks the same cases (TTT_FUZZ_SEED explores others; failures print the seed).
    private const int DefaultSeed = 20_261_129;
    private const int ConfigCases = 12_000;
    private const int TrainArgsCases = 3_000;
    private const int CorpusCases = 2_000;
    private static readonly TimeSpan SlowCase = TimeSpan.FromSeconds(5);

    private static int Seed => int.TryParse(Environment.GetEnvironmentVariable("TTT_FUZZ_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) ? s : DefaultSeed;

    /// <summary>A broken expectation of the harness (kept apart from exceptions thrown by the readers).</summary>
    private sealed class FuzzFailure(string message, Exception? inner = null) : Exception(message, inner);

    private sealed class Tally
    {
        public int Loaded, Rejected, Built;
    }

    // ------------------------------------------------------------------ harness

    /// <summary>Runs the cases on a dedicated thread (a hang fails the test instead of stalling it).</summary>
    private void Fuzz(string family, int cases, Func<Random, int, (string Kind, bool Loaded, bool Built)> runCase, int minLoadedPercent, int minRejectedPercent)
    {
        int seed = Seed;
        var tallies = new SortedDictionary<string, Tally>(StringComparer.Ordinal);
        string current = "not started";
        Exception? failure = null;
        double slowestMs = 0;
        var clock = Stopwatch.StartNew();
        var worker = new Thread(() =>
        {
            try
            {
                for (int i = 0; i < cases; i++)
                {
                    var random = new Random(unchecked(seed * 1_000_003 + i));
                    current = $"{family}: seed {seed} case {i}";
                    var start = clock.Elapsed;
                    var (kind, loaded, built) = runCase(random, i);
                    var elapsed = clock.Elapsed - start;
                    if (elapsed > SlowCase) throw new FuzzFailure($"{current} ({kind}) took {elapsed.TotalMilliseconds:F0} ms");
                    slowestMs = Math.Max(slowestMs, elapsed.TotalMilliseconds);
                    // Tallied by the first mutation; "+…" marks cases mutated twice.
                    kind = kind.Contains('+', StringComparison.Ordinal) ? kind[..kind.IndexOf('+', StringComparison.Ordinal)] + "+…" : kind;
                    if (!tallies.TryGetValue(kind, out var tally)) tallies[kind] = tally = new Tally();
                    if (loaded) tally.Loaded++;
                    else tally.Rejected++;
                    if (built) tally.Built++;
                }
            }
            catch (Exception e)
            {
                failure = e is FuzzFailure ? e : new FuzzFailure($"{current}: {e.GetType().Name}: {e.Message}", e);
            }
        }, 16 << 20);
        worker.Start();
        if (!worker.Join(TimeSpan.FromSeconds(180))) Assert.Fail($"the fuzz run did not finish within 180 s; stuck at {current}");
        if (failure is not null) ExceptionDispatchInfo.Capture(failure).Throw();

        int loaded = tallies.Values.Sum(t => t.Loaded), rejected = tallies.Values.Sum(t => t.Rejected), builtTotal = tallies.Values.Sum(t => t.Built);
        output.WriteLine($"{family} fuzz (seed {seed}): {cases} cases in {clock.Elapsed.TotalSeconds:F1} s, {loaded} loaded{(builtTotal > 0 ? $" ({builtTotal} of them built and run)" : "")}, " +
                         $"{rejected} rejected with a clear error, 0 other exceptions; slowest case {slowestMs:F1} ms");
        foreach (var (kind, t) in tallies) output.WriteLine($"  {kind,-22} loaded {t.Loaded,5}  rejected {t.Rejected,5}");
        // Both outcomes must be common, or the fuzzer checks far less than it seems to.
        Assert.True(loaded * 100 >= cases * minLoadedPercent, $"only {loaded} of {cases} cases loaded");
        Assert.True(rejected * 100 >= cases * minRejectedPercent, $"only {rejected} of {cases} cases were rejected");
    }

    /// <summary>A rejection must be an InvalidDataException naming the source (and the field, when given).</summary>
    private static void CheckRejection(InvalidDataException e, string source, string? field, string description)
    {
        if (!e.Message.StartsWith(source + ": ", StringComparison.Ordinal))
            throw new FuzzFailure($"{description}: the message does not start with the file's name: {e.Message}", e);
        if (field is not null && !e.Message.Contains(field, StringComparison.Ordinal))
            throw new FuzzFailure($"{description}: the message does not name the field {field}: {e.Message}", e);
    }

    // ------------------------------------------------------------------ config.json

    private static readonly string[] ConfigCorpus =
    [
        TTTConfig.Preset("tiny", 32, "linear", mambaBackbone: true).ToJson(),
        TTTConfig.Preset("tiny", 48, "mlp", mambaBackbone: false).ToJson(),
        // The official 125m TTT-Linear config as the PyTorch code writes it (extra fields kept).
        """
        {"architectures": ["TTTForCausalLM"], "bos_token_id": 1, "conv_kernel": 4, "eos_token_id": 2, "hidden_act": "silu",
         "hidden_size": 768, "initializer_range": 0.02, "intermediate_size": 2048, "max_position_embeddings": 2048,
         "mini_batch_size": 16, "model_type": "ttt", "num_attention_heads": 12, "num_hidden_layers": 12, "pad_token_id": null,
         "pre_conv": true, "pretraining_tp": 1, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "scan_checkpoint_group_size": 4,
         "share_qk": true, "tie_word_embeddings": true, "torch_dtype": "float32", "ttt_base_lr": 1.0, "ttt_layer_type": "linear",
         "use_cache": false, "use_gate": true, "vocab_size": 32000}
        """,
        TransformerConfig.Preset("tiny", 40).ToJson(),
        MambaConfig.Preset("tiny", 36).ToJson(),
        """
        {"d_model": 32, "n_layer": 2, "vocab_size": 50, "ssm_cfg": {"d_state": 8, "d_conv": 4, "expand": 2}, "rms_norm": true,
         "residual_in_fp32": true, "fused_add_norm": true, "pad_vocab_size_multiple": 8, "tie_embeddings": true, "model_type": "mamba"}
        """,
    ];

    private static readonly JsonNode?[] ValuePool =
    [
        null, true, false, 0, 1, 2, 3, 4, 7, 8, 16, 17, 64, 100, -1, -8, 65536, int.MaxValue, 2147483648L, long.MaxValue, 1e300,
        0.5, 1e-300, -0.0, 2.5, "", "linear", "mlp", "silu", "gelu", "auto", "ttt", "transformer", "mamba", "Mamba2", "abc", "16",
        new JsonArray(), new JsonArray(1, 2), new JsonObject(), new JsonObject { ["layer"] = "Mamba1" },
    ];

    [Fact]
    public void Config_json_loads_correctly_or_fails_with_a_clear_error() =>
        Fuzz("config.json", ConfigCases, ConfigCase, minLoadedPercent: 10, minRejectedPercent: 40);

    private static (string, bool, bool) ConfigCase(Random random, int index)
    {
        const string source = "config.json";
        string original = ConfigCorpus[random.Next(ConfigCorpus.Length)];
        var (json, kind, field) = MutateJson(random, original, random.Next(3) == 0 ? 2 : 1);
        string description = $"seed {Seed} config case {index} ({kind}{(field is null ? "" : " " + field)}): {Shorten(json)}";
        object config;
        try
        {
            string type = ModelZoo.ModelType(json, source);
            config = type switch
            {
                "ttt" => TTTConfig.Parse(json, source),
                "transformer" => TransformerConfig.Parse(json, source),
                "mamba" => MambaConfig.Parse(json, source),
                _ => ModelZoo.FromConfigJson(json, 0, DType.Float32, source), // must reject the unknown type before building
            };
        }
        catch (InvalidDataException e)
        {
            CheckRejection(e, source, field, description);
            return (kind, false, false);
        }
        catch (Exception e)
        {
            throw new FuzzFailure($"{description}: {e.GetType().Name} instead of InvalidDataException: {e.Message}", e);
        }

        // Accepted: it re-validates, its JSON parses back to the same JSON, and a small one builds and runs.
        bool built = false;
        try
        {
            switch (config)
            {
                case TTTConfig t:
                    t.Validate(source);
                    Assert.Equal(t.ToJson(), TTTConfig.Parse(t.ToJson()).ToJson());
                    if (Small(t.VocabSize, t.HiddenSize, t.IntermediateSize, t.NumHiddenLayers) && t.MiniBatchSize <= 32 && t.ConvKernel <= 16 && random.Next(8) == 0)
                        built = Run(new TTTForCausalLM(t, new Generator(1)), t.VocabSize, 2 * t.MiniBatchSize + 1);
                    break;
                case TransformerConfig t:
                    t.Validate(source);
                    Assert.Equal(t.ToJson(), TransformerConfig.Parse(t.ToJson()).ToJson());
                    if (Small(t.VocabSize, t.HiddenSize, t.IntermediateSize, t.NumHiddenLayers) && random.Next(8) == 0)
                        built = Run(new TransformerForCausalLM(t, new Generator(1)), t.VocabSize, 9);
                    break;
                case MambaConfig m:
                    m.Validate(source);
                    Assert.Equal(m.ToJson(), MambaConfig.Parse(m.ToJson()).ToJson());
                    if (m.ParameterCount() < 300_000 && m.DConv <= 16 && m.DState <= 64 && random.Next(8) == 0)
                        built = Run(new MambaForCausalLM(m, new Generator(1)), m.VocabSize, 9);
                    break;
                default:
                    throw new FuzzFailure($"{description}: an unknown model_type was accepted ({config.GetType().Name})");
            }
        }
        catch (Exception e) when (e is not FuzzFailure)
        {
            throw new FuzzFailure($"{description}: accepted, but {e.GetType().Name}: {e.Message}", e);
        }
        return (kind, true, built);
    }

    private static bool Small(long vocab, long hidden, long intermediate, long layers) =>
        vocab * hidden + layers * (12 * hidden * hidden + 3 * hidden * intermediate) < 300_000;

    /// <summary>A forward pass of a freshly built model on a few tokens: logits [1, T, V].</summary>
    private static bool Run(CausalLM model, int vocab, int length)
    {
        var ids = Tensor.FromArray(Enumerable.Range(0, length).Select(i => (long)(i * 7 % vocab)).ToArray(), [1, length]);
        using var _ = GradMode.Disable();
        var logits = model.Forward(ids);
        Assert.Equal([1, length, model.VocabSize], logits.ShapeArray());
        Assert.True(model.VocabSize >= vocab);
        return true;
    }

    /// <summary>Mutates JSON text: structured edits of one field (named in the result) or text-level damage.</summary>
    private static (string Json, string Kind, string? Field) MutateJson(Random random, string original, int rounds)
    {
        string json = original;
        string kind = "";
        string? field = null;
        for (int round = 0; round < rounds; round++)
        {
            int roll = random.Next(100);
            JsonObject? root = null;
            try
            {
                root = JsonNode.Parse(json) as JsonObject;
                _ = root?.Count; // duplicate keys (from an earlier round) throw here
            }
            catch (System.Text.Json.JsonException) { }
            catch (ArgumentException) { root = null; }
            if (roll < 60 && root is not null && root.Count > 0)
            {
                var keys = root.Select(p => p.Key).ToList();
                string key = keys[random.Next(keys.Count)];
                string k2;
                switch (random.Next(5))
                {
                    case 0:
                    case 1:
                        root[key] = ValuePool[random.Next(ValuePool.Length)]?.DeepClone();
                        (k2, field) = ("set", key);
                        break;
                    case 2 when root[key] is JsonValue v && v.TryGetValue<double>(out double number):
                        double changed = random.Next(6) switch
                        {
                            0 => number + 1, 1 => number - 1, 2 => number * 2, 3 => Math.Floor(number / 2), 4 => -number, _ => 0,
                        };
                        root[key] = Math.Abs(changed) < 1e15 && changed == Math.Floor(changed) ? JsonValue.Create((long)changed) : JsonValue.Create(changed);
                        (k2, field) = ("tweak", key);
                        break;
                    case 3:
                        root.Remove(key);
                        (k2, field) = ("remove", null);
                        break;
                    default:
                        root[random.Next(2) == 0 ? "model_type" : "unknown_" + random.Next(10)] = ValuePool[random.Next(ValuePool.Length)]?.DeepClone();
                        (k2, field) = ("add", null);
                        break;
                }
                json = root.ToJsonString();
                kind = kind.Length == 0 ? k2 : kind + "+" + k2;
                if (round > 0) field = null; // two edits: the error may be about either
            }
            else
            {
                (json, string what) = DamageText(random, json);
                kind = kind.Length == 0 ? what : kind + "+" + what;
                field = null;
            }
        }
        return (json, kind, field);
    }

    /// <summary>Text-level damage: bit flips, truncation, insertions, deletions, duplicated keys, odd wrappers.</summary>
    private static (string, string) DamageText(Random random, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json).ToList();
        switch (random.Next(9))
        {
            case 0:
                for (int k = random.Next(1, 4); k > 0 && bytes.Count > 0; k--) bytes[random.Next(bytes.Count)] ^= (byte)(1 << random.Next(8));
                return (Decode(bytes), "flip");
            case 1:
                return (Decode(bytes.Take(random.Next(bytes.Count + 1)).ToList()), "truncate");
            case 2:
                {
                    string[] pieces = ["{", "}", "[", "]", ",", ":", "\"", "\\", "null", "1e999", "-", "\u0000", "/*x*/", "NaN", "\uFEFF"];
                    int at = random.Next(bytes.Count + 1);
                    bytes.InsertRange(at, Encoding.UTF8.GetBytes(pieces[random.Next(pieces.Length)]));
                    return (Decode(bytes), "insert");
                }
            case 3:
                {
                    int at = random.Next(bytes.Count + 1), length = Math.Min(bytes.Count - at, random.Next(1, 12));
                    bytes.RemoveRange(at, length);
                    return (Decode(bytes), "delete");
                }
            case 4:
                {
                    // A key written twice (JSON objects with duplicate names).
                    int colon = json.IndexOf(':', StringComparison.Ordinal), comma = json.IndexOf(',', StringComparison.Ordinal);
                    if (colon < 0 || comma < colon) return (json + "}", "suffix");
                    string first = json[1..comma];
                    return ("{" + first + "," + json[1..], "duplicate-key");
                }
            case 5:
                return (random.Next(3) switch { 0 => "[" + json + "]", 1 => "\"" + json.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"", _ => json + json }, "wrap");
            case 6:
                {
                    int depth = random.Next(10, 2000);
                    string deep = new string('[', depth) + new string(']', depth);
                    return (json.Length < 2 ? deep : json.Insert(json.Length - 1, ",\"deep\":" + deep), "deep-nesting");
                }
            case 7:
                {
                    var noise = new byte[random.Next(0, 64)];
                    random.NextBytes(noise);
                    return (Decode([.. noise]), "random-bytes");
                }
            default:
                return random.Next(2) == 0 ? ("", "empty") : ("\uFEFF" + json, "bom");
        }
    }

    private static string Decode(List<byte> bytes) => Encoding.UTF8.GetString(bytes.ToArray());

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";

    [Theory]
    [InlineData("\"hidden_size\": 60, \"num_attention_heads\": 8", "hidden_size 60 is not divisible by num_attention_heads 8")]
    [InlineData("\"mini_batch_size\": 0", "mini_batch_size must be positive")]
    [InlineData("\"mini_batch_size\": -16", "mini_batch_size must be positive")]
    [InlineData("\"mini_batch_size\": 100000000", "mini_batch_size 100000000 is absurdly large")]
    [InlineData("\"vocab_size\": 2000000000", "vocab_size 2000000000")]
    [InlineData("\"vocab_size\": 3000000000", "field \"vocab_size\" has an invalid value 3000000000")]
    [InlineData("\"hidden_size\": \"64\"", "field \"hidden_size\" has an invalid value \"64\"")]
    [InlineData("\"ttt_layer_type\": \"conv\"", "ttt_layer_type must be \"linear\" or \"mlp\"")]
    [InlineData("\"conv_kernel\": 1000000", "conv_kernel 1000000 is absurdly large")]
    [InlineData("\"rms_norm_eps\": -1e-6", "rms_norm_eps must be positive")]
    [InlineData("\"pad_token_id\": -1", "pad_token_id must be ≥ 0")]
    [InlineData("\"rope_theta\": 1e4, \"rope_theta\": 1e5", "not valid JSON")]
    public void A_bad_config_field_is_one_error_naming_the_file_and_the_field(string fields, string message)
    {
        using var dir = CliRunner.Temp();
        var path = dir.File("config.json");
        // A small valid config with the given fields replacing its own.
        var overridden = System.Text.RegularExpressions.Regex.Matches(fields, "\"(\\w+)\":").Select(m => m.Groups[1].Value).ToHashSet();
        var kept = new[] { ("vocab_size", "32"), ("hidden_size", "64"), ("num_attention_heads", "4"), ("intermediate_size", "128") }
            .Where(f => !overridden.Contains(f.Item1)).Select(f => $"\"{f.Item1}\": {f.Item2}, ");
        File.WriteAllText(path, "{" + string.Concat(kept) + fields + "}");
        var e = Assert.Throws<InvalidDataException>(() => TTTConfig.Load(path));
        Assert.StartsWith(path + ": ", e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    // ------------------------------------------------------------------ train_args.json

    [Fact]
    public void Train_args_json_loads_correctly_or_fails_with_a_clear_error()
    {
        var folder = Path.Combine(Path.GetTempPath(), "ttt-fuzz-args-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "train_args.json");
        string[] corpus =
        [
            new RunSettings().ToJson(),
            new RunSettings { Model = "ttt-mlp", Backbone = "transformer", Size = "small", Data = "text:corpus", Tokenizer = "gpt2", SeqLen = 512, Seed = 3, DType = "float64" }.ToJson(),
            new RunSettings { Model = "mamba", Size = "config.json", Data = "mqar" }.ToJson(),
        ];
        try
        {
            Fuzz("train_args.json", TrainArgsCases, (random, index) =>
            {
                var (json, kind, field) = MutateJson(random, corpus[random.Next(corpus.Length)], random.Next(3) == 0 ? 2 : 1);
                File.WriteAllText(path, json);
                string description = $"seed {Seed} train_args case {index} ({kind}{(field is null ? "" : " " + field)}): {Shorten(json)}";
                RunSettings? settings;
                try
                {
                    settings = RunSettings.TryLoad(folder);
                }
                catch (InvalidDataException e)
                {
                    CheckRejection(e, path, field, description);
                    return (kind, false, false);
                }
                catch (Exception e)
                {
                    throw new FuzzFailure($"{description}: {e.GetType().Name} instead of InvalidDataException: {e.Message}", e);
                }
                // Accepted: every field holds a value the commands accept.
                if (settings is null) throw new FuzzFailure($"{description}: an existing file read as absent");
                if (!ModelZoo.Kinds.Contains(settings.Model) || settings.Backbone is not ("mamba" or "transformer") || settings.Tokenizer is not ("byte" or "gpt2")
                    || settings.DType is not ("float32" or "float64") || settings.SeqLen < 2 || string.IsNullOrEmpty(settings.Size) || string.IsNullOrEmpty(settings.Data))
                    throw new FuzzFailure($"{description}: accepted invalid settings {settings}");
                return (kind, true, false);
            }, minLoadedPercent: 10, minRejectedPercent: 40);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // ------------------------------------------------------------------ text corpora and tokenizers

    private static readonly string[] Texts =
    [
        "the cat sat on the mat.\nthe dog sat on the log.\n",
        "Grüße aus Köln — 東京 → 🙂 naïve café\r\n",
        "a<|endoftext|>b <|endoftext|>\n\ttabs\tand  spaces ",
        "x",
        string.Concat(Enumerable.Repeat("0123456789abcdef", 40)),
    ];

    [Fact]
    public void Text_corpora_load_correctly_or_fail_with_a_clear_error()
    {
        var root = Path.Combine(Path.GetTempPath(), "ttt-fuzz-text-" + Guid.NewGuid().ToString("N"));
        try
        {
            Fuzz("text corpus", CorpusCases, (random, index) =>
            {
                var folder = Path.Combine(root, index.ToString(CultureInfo.InvariantCulture));
                Directory.CreateDirectory(folder);
                try
                {
                    return CorpusCase(random, index, folder);
                }
                finally
                {
                    Directory.Delete(folder, recursive: true);
                }
            }, minLoadedPercent: 30, minRejectedPercent: 3);
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    private static (string, bool, bool) CorpusCase(Random random, int index, string folder)
    {
        // One file or a folder of up to four (some in a subfolder), each a mutated text.
        bool asFolder = random.Next(3) == 0;
        int count = asFolder ? random.Next(0, 5) : 1;
        var files = new List<(string Relative, byte[] Bytes)>();
        var kinds = new List<string>();
        for (int f = 0; f < count; f++)
        {
            var (bytes, kind) = MutateText(random, Encoding.UTF8.GetBytes(Texts[random.Next(Texts.Length)]));
            string relative = (asFolder && random.Next(4) == 0 ? "sub/" : "") + $"doc{f}.txt";
            var full = Path.Combine(folder, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllBytes(full, bytes);
            files.Add((relative, bytes));
            kinds.Add(kind);
        }
        string path = asFolder ? folder : Path.Combine(folder, files[0].Relative);
        ITextTokenizer tokenizer = random.Next(10) == 0 ? Gpt2Tokenizer.Instance : ByteTokenizer.Instance;
        string kindName = (asFolder ? "folder " : "file ") + (kinds.Count == 0 ? "none" : kinds[0]);
        string description = $"seed {Seed} corpus case {index} ({kindName}, {tokenizer.Name}, {count} files)";
        TextCorpus corpus;
        try
        {
            corpus = TextCorpus.Load(path, tokenizer);
        }
        catch (InvalidDataException e)
        {
            CheckRejection(e, $"text corpus '{path}' is empty", null, description);
            return (kindName, false, false);
        }
        catch (Exception e)
        {
            throw new FuzzFailure($"{description}: {e.GetType().Name} instead of InvalidDataException: {e.Message}", e);
        }

        try
        {
            // The documents are the files that are valid UTF-8 without NUL bytes and not empty, in ordinal order.
            var documents = files.Where(f => f.Bytes.Length > 0 && !f.Bytes.Contains((byte)0) && IsUtf8(f.Bytes))
                                 .OrderBy(f => f.Relative, StringComparer.Ordinal).ToList();
            Assert.Equal(documents.Select(d => d.Relative), corpus.Files);
            Assert.Equal(files.Count, corpus.Files.Count + corpus.SkippedFiles.Count + corpus.EmptyFileCount);
            var tokens = corpus.Tokens.ToArray();
            Assert.All(tokens, t => Assert.InRange(t, 0, tokenizer.VocabSize - 1));
            if (tokenizer is ByteTokenizer)
            {
                var expected = new List<int>();
                foreach (var d in documents)
                {
                    if (expected.Count > 0) expected.Add(0);
                    expected.AddRange(d.Bytes.Select(b => (int)b));
                }
                Assert.Equal(expected, tokens);
            }
            else if (documents.Count == 1)
            {
                Assert.Equal(Encoding.UTF8.GetString(documents[0].Bytes), tokenizer.Decode(tokens.Select(t => (long)t).ToArray()));
            }
            // A data source over it: a window that fits gives batches of in-range tokens, one that does not is refused.
            int length = random.Next(2, 40);
            try
            {
                var source = new TextDataSource(corpus, (ulong)index, random.Next(2) == 0 ? DataSplit.Train : DataSplit.Eval, length);
                var batch = source.NextBatch(2);
                foreach (long t in batch.Tokens) Assert.InRange(t, 0, tokenizer.VocabSize - 1);
            }
            catch (InvalidDataException e) when (e.Message.Contains(corpus.Path, StringComparison.Ordinal) || e.Message.Contains("text corpus", StringComparison.Ordinal))
            {
            }
        }
        catch (Exception e) when (e is not FuzzFailure)
        {
            throw new FuzzFailure($"{description}: accepted, but {e.GetType().Name}: {e.Message}", e);
        }
        return (kindName, true, false);
    }

    private static bool IsUtf8(byte[] bytes) => System.Text.Unicode.Utf8.IsValid(bytes);

    private static (byte[], string) MutateText(Random random, byte[] text)
    {
        var bytes = text.ToList();
        switch (random.Next(8))
        {
            case 0:
                return (text, "intact");
            case 1:
                for (int k = random.Next(1, 4); k > 0 && bytes.Count > 0; k--) bytes[random.Next(bytes.Count)] ^= (byte)(1 << random.Next(8));
                return ([.. bytes], "flip");
            case 2:
                return ([.. bytes.Take(random.Next(bytes.Count + 1))], "truncate");
            case 3:
                bytes.Insert(random.Next(bytes.Count + 1), 0);
                return ([.. bytes], "nul");
            case 4:
                {
                    var noise = new byte[random.Next(0, 200)];
                    random.NextBytes(noise);
                    return (noise, "random-bytes");
                }
            case 5:
                return ([], "empty");
            case 6:
                {
                    byte[][] odd = [[0xEF, 0xBB, 0xBF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [0xE2, 0x82]];
                    bytes.InsertRange(random.Next(bytes.Count + 1), odd[random.Next(odd.Length)]);
                    return ([.. bytes], "odd-utf8");
                }
            default:
                return ([.. Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("<|endoftext|>", random.Next(1, 4)))), .. bytes], "special-tokens");
        }
    }
}
