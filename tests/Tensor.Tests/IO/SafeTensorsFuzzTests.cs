using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ttt.IO;
using Xunit;

namespace Ttt.Tests;

/// <summary>
/// Seeded fuzzing of the reader: valid files are mutated (bit flips, truncation, prefix and header edits, random
/// JSON, spliced bytes, near-valid synthetic headers) and each result must either load consistently or fail with a
/// <see cref="SafeTensorsFormatException"/>; any other exception, a slow case, or an allocation beyond a small
/// multiple of the input size fails the test with the seed, case number and mutation needed to replay it.
/// </summary>
public sealed partial class SafeTensorsFuzzTests(ITestOutputHelper output)
{
    private const int CaseCount = 12_000;

    // Fixed so that every run checks the same cases (set TTT_FUZZ_SEED to explore others; failures print the seed).
    private const int DefaultSeed = 20_250_611;

    // The largest growth from file bytes to tensor bytes is 8× (U8/I8/BOOL widened to int64); a non-seekable stream
    // is first copied (a MemoryStream grows by doubling, so up to ~3× more); header parsing allocates strings, shape
    // arrays and tensor objects proportional to the header. 16× the input covers all of these with margin; the
    // constant covers fixed costs (parser state, pooled scratch buffers on first use, exception objects).
    private const long AllocationFactor = 16;
    private const long AllocationConstant = 512 * 1024;

    // Legitimate cases take well under a millisecond (the largest input is a 170 KB fixture); the slowest seen on
    // a machine shared by several builds was ~0.1 s. Seconds mean a pathological path, a hang in the making.
    private static readonly TimeSpan SlowCase = TimeSpan.FromSeconds(5);

    private static readonly string[] InterestingNumbers =
    [
        "-1", "0", "1", "2", "7", "8", "2147483647", "2147483648", "4294967296", "9007199254740993", "9223372036854775807",
        "9223372036854775808", "18446744073709551615", "18446744073709551616", "1e400", "1.5", "-0", "00", "1e3", "2.0", "-9223372036854775808",
    ];

    private static readonly string[] DTypeNames =
    [
        "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U32", "U16", "U8", "BOOL", "U64", "F8_E4M3", "F8_E5M2", "C64", "f32",
        "", "F32 ", "F\\u0033\\u0032", "\\u0000", "BOOL8", "float32",
    ];

    private sealed record CorpusFile(string Name, byte[] Bytes);

    /// <summary>A broken expectation of the harness itself (kept apart from exceptions thrown by the reader).</summary>
    private sealed class FuzzFailure(string message, Exception? inner = null) : Exception(message, inner);

    private sealed class Tally
    {
        public int Loaded;
        public int Rejected;
    }

    [Fact]
    public void MutatedFilesLoadConsistentlyOrFailWithAFormatError()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("TTT_FUZZ_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int s) ? s : DefaultSeed;
        var corpus = Corpus();
        var tallies = new SortedDictionary<string, Tally>(StringComparer.Ordinal);
        string current = "not started";
        double worstShareOfBound = 0, slowestMs = 0;
        long largestAllocation = 0, largestAllocationInput = 0;
        Exception? failure = null;
        var clock = Stopwatch.StartNew();

        // A dedicated thread so that a hanging case fails the test instead of stalling the run, and so that
        // GC.GetAllocatedBytesForCurrentThread sees only the reader's allocations.
        var worker = new Thread(() =>
        {
            try
            {
                for (int i = 0; i < CaseCount; i++)
                {
                    var random = new Random(unchecked(seed * 1_000_003 + i));
                    var (bytes, mutation, origin) = Mutate(random, corpus);
                    current = $"seed {seed} case {i}: {mutation} of {origin} ({bytes.Length} bytes)";
                    var (loaded, allocated, elapsed) = RunCase(random, bytes, current);
                    string kind = mutation.Split(' ')[0];
                    if (!tallies.TryGetValue(kind, out var tally)) tallies[kind] = tally = new Tally();
                    if (loaded) tally.Loaded++;
                    else tally.Rejected++;

                    long bound = AllocationFactor * bytes.Length + AllocationConstant;
                    if (allocated > bound)
                        throw new FuzzFailure($"{current}: allocated {allocated} bytes, more than the bound {bound}");
                    if (elapsed > SlowCase)
                        throw new FuzzFailure($"{current}: took {elapsed.TotalMilliseconds:F0} ms");
                    worstShareOfBound = Math.Max(worstShareOfBound, (double)allocated / bound);
                    if (allocated > largestAllocation) (largestAllocation, largestAllocationInput) = (allocated, bytes.Length);
                    slowestMs = Math.Max(slowestMs, elapsed.TotalMilliseconds);
                }
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        worker.Start();
        if (!worker.Join(TimeSpan.FromSeconds(120)))
            Assert.Fail($"the fuzz run did not finish within 120 s; stuck at {current}");
        if (failure is not null) ExceptionDispatchInfo.Capture(failure).Throw();

        int loadedTotal = tallies.Values.Sum(t => t.Loaded), rejectedTotal = tallies.Values.Sum(t => t.Rejected);
        output.WriteLine($"seed {seed}: {CaseCount} cases in {clock.Elapsed.TotalSeconds:F1} s, {loadedTotal} loaded, {rejectedTotal} rejected; " +
                         $"largest allocation {largestAllocation} bytes (for a {largestAllocationInput}-byte input), at most {worstShareOfBound:P0} of the bound " +
                         $"({AllocationFactor}× the input + {AllocationConstant / 1024} KiB); slowest case {slowestMs:F1} ms");
        foreach (var (kind, tally) in tallies) output.WriteLine($"  {kind,-12} loaded {tally.Loaded,5}  rejected {tally.Rejected,5}");

        // A fuzzer whose mutations all fail, or all pass, checks far less than it seems to; both outcomes must be
        // common for the run to mean something.
        Assert.True(loadedTotal >= CaseCount / 20, $"only {loadedTotal} of {CaseCount} cases loaded");
        Assert.True(rejectedTotal >= CaseCount / 2, $"only {rejectedTotal} of {CaseCount} cases were rejected");
    }

    /// <summary>Loads one input through a randomly chosen entry point; true when it loaded.</summary>
    private static (bool Loaded, long Allocated, TimeSpan Elapsed) RunCase(Random random, byte[] bytes, string description)
    {
        DType? convertTo = random.Next(4) == 0 ? DType.Float64 : random.Next(8) == 0 ? DType.Float32 : null;
        bool checkFinite = random.Next(4) == 0;
        int route = random.Next(100);
        string? path = null;
        if (route == 0)
        {
            path = Path.Combine(Path.GetTempPath(), $"ttt-fuzz-{Environment.ProcessId}-{Guid.NewGuid():N}.safetensors");
            File.WriteAllBytes(path, bytes);
        }

        var clock = Stopwatch.StartNew();
        long before = GC.GetAllocatedBytesForCurrentThread();
        try
        {
            SafeTensorFile file;
            if (path is not null)
            {
                file = SafeTensorFile.Open(path, convertTo, checkFinite);
            }
            else if (route <= 5)
            {
                using var pipe = new ForwardOnlyStream(bytes);
                file = SafeTensorFile.Read(pipe, "fuzz", convertTo, checkFinite);
            }
            else if (route <= 10)
            {
                using var seekable = new MemoryStream(bytes, writable: false);
                file = SafeTensorFile.Read(seekable, "fuzz", convertTo, checkFinite);
            }
            else
            {
                file = SafeTensorFile.Read(bytes, "fuzz", convertTo, checkFinite);
            }
            using (file) CheckConsistent(file, bytes.Length, convertTo, checkFinite, description);
            return (true, GC.GetAllocatedBytesForCurrentThread() - before, clock.Elapsed);
        }
        catch (SafeTensorsFormatException e)
        {
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (!e.Message.StartsWith(e.SourceName + ": ", StringComparison.Ordinal))
                throw new FuzzFailure($"{description}: message does not start with the source: {e.Message}");
            return (false, allocated, clock.Elapsed);
        }
        catch (Exception e) when (e is not FuzzFailure)
        {
            throw new FuzzFailure($"{description}: {e.GetType().Name} instead of SafeTensorsFormatException (convertTo {convertTo}, checkFinite {checkFinite}, route {route})", e);
        }
        finally
        {
            if (path is not null) File.Delete(path);
        }
    }

    /// <summary>A file that loaded must be self-consistent: every tensor as its entry says, inside the input.</summary>
    private static void CheckConsistent(SafeTensorFile file, int inputLength, DType? convertTo, bool checkFinite, string description)
    {
        long covered = 0;
        foreach (var entry in file.Entries)
        {
            var tensor = file[entry.Name];
            var expectedDType = entry.DType.IsFloatingPoint() && convertTo is { } c ? c : entry.DType.NaturalDType();
            if (tensor.DType != expectedDType || !tensor.Shape.SequenceEqual(entry.Shape) || tensor.Numel != entry.ElementCount
                || entry.ByteLength != entry.ElementCount * entry.DType.ElementSize())
                throw new FuzzFailure($"{description}: tensor '{entry.Name}' does not match its entry {entry}");
            if (checkFinite && tensor.DType.IsFloatingPoint() && !tensor.ToDoubleArray().All(double.IsFinite))
                throw new FuzzFailure($"{description}: checkFinite passed a non-finite tensor '{entry.Name}'");
            covered += entry.ByteLength;
        }
        if (covered > inputLength)
            throw new FuzzFailure($"{description}: tensors cover {covered} bytes of a {inputLength}-byte input");
    }

    // ---------------------------------------------------------------- corpus

    private static List<CorpusFile> Corpus()
    {
        var corpus = new List<CorpusFile>();
        using (var written = new MemoryStream())
        {
            SafeTensorFile.Write(written, new Dictionary<string, Tensor>
            {
                ["w"] = SafeTensorsRoundTripTests.Values(DType.Float32, [3, 4], 1),
                ["d"] = SafeTensorsRoundTripTests.Values(DType.Float64, [2], 2),
                ["ids"] = SafeTensorsRoundTripTests.Values(DType.Int64, [5], 3),
                ["scalar"] = SafeTensorsRoundTripTests.Values(DType.Float32, [], 4),
                ["empty"] = SafeTensorsRoundTripTests.Values(DType.Float32, [0, 3], 5),
            }, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "fuzz corpus" });
            corpus.Add(new("written", written.ToArray()));
        }

        // Every other dtype, hand-built with valid contents (BOOL bytes 0/1).
        var exotic = new (string Name, string DType, int[] Shape, int Size)[]
        {
            ("h", "F16", [4], 2), ("b", "BF16", [2, 2], 2), ("m", "BOOL", [3], 1), ("i8", "I8", [5], 1), ("u8", "U8", [2], 1),
            ("i16", "I16", [2], 2), ("u16", "U16", [1], 2), ("i32", "I32", [3], 4), ("u32", "U32", [2], 4),
        };
        var entries = new List<string>();
        var data = new List<byte>();
        var random = new Random(99);
        foreach (var (name, dtype, shape, size) in exotic)
        {
            int bytes = (int)ShapeUtil.Numel(shape) * size;
            entries.Add(RawSafeTensors.Entry(name, dtype, shape, data.Count, data.Count + bytes));
            for (int k = 0; k < bytes; k++) data.Add(dtype == "BOOL" ? (byte)random.Next(2) : (byte)random.Next(256));
        }
        corpus.Add(new("exotic", RawSafeTensors.Build(RawSafeTensors.Header([.. entries]), data.ToArray())));
        corpus.Add(new("empty", RawSafeTensors.Build("{}", [])));
        corpus.Add(new("metadata-only", RawSafeTensors.Build("{\"__metadata__\":{\"a\":\"b\"}}", [])));
        foreach (var fixture in new[] { "linear_mamba/inputs.safetensors", "layer_linear/model.safetensors", "layer_mlp/outputs.safetensors" })
            corpus.Add(new(fixture, File.ReadAllBytes(ReferenceFixtures.PathOf(fixture.Split('/')))));
        return corpus;
    }

    // ---------------------------------------------------------------- mutations

    private static (byte[] Bytes, string Mutation, string Origin) Mutate(Random random, List<CorpusFile> corpus)
    {
        var origin = corpus[random.Next(corpus.Count)];
        byte[] file = origin.Bytes;
        int roll = random.Next(100);
        var (bytes, mutation) = roll switch
        {
            < 14 => FlipBits(random, file),
            < 18 => SetBytes(random, file),
            < 25 => Truncate(random, file),
            < 29 => Append(random, file),
            < 32 => Prepend(random, file),
            < 37 => ReplacePrefix(random, file),
            < 50 => EditNumber(random, file),
            < 57 => EditDType(random, file),
            < 68 => EditStructure(random, file),
            < 76 => RandomHeader(random),
            < 82 => SpliceHeader(random, file),
            _ => Synthesize(random),
        };
        return (bytes, mutation, roll is >= 68 and < 76 or >= 82 ? "nothing" : origin.Name);
    }

    private static int HeaderEnd(byte[] file) =>
        file.Length < 8 ? file.Length : (int)Math.Min(file.Length, 8 + (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(file), int.MaxValue));

    private static (byte[], string) FlipBits(Random random, byte[] file)
    {
        byte[] copy = (byte[])file.Clone();
        int flips = random.Next(1, 9);
        int headerEnd = HeaderEnd(file);
        for (int k = 0; k < flips; k++)
        {
            // Mostly the prefix and header, where a flipped bit changes meaning; data bits only change values.
            int at = random.Next(10) < 8 ? random.Next(headerEnd) : random.Next(copy.Length);
            copy[at] ^= (byte)(1 << random.Next(8));
        }
        return (copy, $"flip {flips} bits");
    }

    private static (byte[], string) SetBytes(Random random, byte[] file)
    {
        byte[] copy = (byte[])file.Clone();
        byte[] choices = [0x00, 0xFF, (byte)'{', (byte)'}', (byte)'"', (byte)',', (byte)']', (byte)'-', (byte)'9', 0x80, (byte)'\\', (byte)' '];
        int count = random.Next(1, 4);
        for (int k = 0; k < count; k++) copy[random.Next(HeaderEnd(file))] = choices[random.Next(choices.Length)];
        return (copy, $"set {count} bytes");
    }

    private static (byte[], string) Truncate(Random random, byte[] file)
    {
        int length = random.Next(2) == 0 ? random.Next(HeaderEnd(file) + 1) : random.Next(file.Length);
        return (file[..length], $"truncate to {length}");
    }

    private static (byte[], string) Append(Random random, byte[] file)
    {
        var extra = new byte[random.Next(1, 65)];
        if (random.Next(2) == 0) random.NextBytes(extra);
        else extra.AsSpan().Fill(random.Next(2) == 0 ? (byte)' ' : (byte)0);
        return ([.. file, .. extra], $"append {extra.Length} bytes");
    }

    private static (byte[], string) Prepend(Random random, byte[] file)
    {
        var extra = new byte[random.Next(1, 17)];
        random.NextBytes(extra);
        return ([.. extra, .. file], $"prepend {extra.Length} bytes");
    }

    private static (byte[], string) ReplacePrefix(Random random, byte[] file)
    {
        if (file.Length < 8) return FlipBits(random, file);
        ulong header = BinaryPrimitives.ReadUInt64LittleEndian(file);
        ulong[] choices =
        [
            0, 1, 7, 8, (ulong)file.Length - 8, (ulong)file.Length - 7, (ulong)file.Length, header + 1, header - 1, header + 8, header - 8,
            1UL << 31, 1UL << 32, 100_000_001, 1UL << 63, ulong.MaxValue, (ulong)random.NextInt64(),
        ];
        ulong value = choices[random.Next(choices.Length)];
        byte[] copy = (byte[])file.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(copy, value);
        return (copy, $"prefix {value}");
    }

    private static (string Header, byte[] Data)? Split(byte[] file)
    {
        if (file.Length < 8) return null;
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (length > (ulong)(file.Length - 8)) return null;
        return (Encoding.UTF8.GetString(file, 8, (int)length).TrimEnd(' '), file[(8 + (int)length)..]);
    }

    private static (byte[], string) EditNumber(Random random, byte[] file)
    {
        if (Split(file) is not var (header, data)) return FlipBits(random, file);
        var numbers = NumberPattern().Matches(header);
        if (numbers.Count == 0) return FlipBits(random, file);
        var target = numbers[random.Next(numbers.Count)];
        string replacement = random.Next(3) switch
        {
            0 => InterestingNumbers[random.Next(InterestingNumbers.Length)],
            1 => (long.Parse(target.Value, CultureInfo.InvariantCulture) + random.Next(-9, 10)).ToString(CultureInfo.InvariantCulture),
            _ => random.NextInt64(-1, 1L << random.Next(1, 63)).ToString(CultureInfo.InvariantCulture),
        };
        string edited = header[..target.Index] + replacement + header[(target.Index + target.Length)..];
        return (RawSafeTensors.Build(edited, data), $"number {target.Value}->{replacement}");
    }

    private static (byte[], string) EditDType(Random random, byte[] file)
    {
        if (Split(file) is not var (header, data)) return FlipBits(random, file);
        var dtypes = DTypePattern().Matches(header);
        if (dtypes.Count == 0) return EditNumber(random, file);
        var target = dtypes[random.Next(dtypes.Count)].Groups[1];
        string replacement = random.Next(5) == 0 ? RandomText(random) : DTypeNames[random.Next(DTypeNames.Length)];
        string edited = header[..target.Index] + replacement + header[(target.Index + target.Length)..];
        return (RawSafeTensors.Build(edited, data), $"dtype {target.Value}->{replacement}");
    }

    private static (byte[], string) EditStructure(Random random, byte[] file)
    {
        if (Split(file) is not var (header, data) || JsonNode.Parse(header) is not JsonObject root) return FlipBits(random, file);
        var names = root.Select(p => p.Key).Where(k => k != "__metadata__").ToList();
        if (names.Count == 0) return RandomHeader(random);
        string name = names[random.Next(names.Count)];
        var entry = root[name] as JsonObject;
        string what;
        switch (random.Next(10))
        {
            case 0:
                root.Remove(name);
                what = "remove entry";
                break;
            case 1:
                // A textual duplicate: JsonObject cannot hold two equal keys, the header text can.
                string first = EntryPattern().Match(header).Value;
                return (RawSafeTensors.Build("{" + first + "," + header[1..], data), "duplicate entry");
            case 2:
                root[name + "_copy"] = entry?.DeepClone();
                what = "copy entry (overlap)";
                break;
            case 3 when names.Count > 1:
                string other = names[(names.IndexOf(name) + 1) % names.Count];
                var a = root[name]?["data_offsets"]?.DeepClone();
                root[name]!["data_offsets"] = root[other]?["data_offsets"]?.DeepClone();
                root[other]!["data_offsets"] = a;
                what = "swap offsets";
                break;
            case 4 when entry is not null:
                entry["shape"] = new JsonArray(Enumerable.Range(0, random.Next(0, 5)).Select(_ => (JsonNode?)JsonValue.Create(random.Next(-1, 6))).ToArray());
                what = "random shape";
                break;
            case 5 when entry is not null:
                entry.Remove(new[] { "dtype", "shape", "data_offsets" }[random.Next(3)]);
                what = "remove field";
                break;
            case 6 when entry is not null:
                entry[new[] { "extra", "dtype2", "Shape" }[random.Next(3)]] = 1;
                what = "add field";
                break;
            case 7:
                root["__metadata__"] = RandomJson(random, 2);
                what = "random metadata";
                break;
            case 8 when entry is not null:
                long begin = random.NextInt64(0, data.Length + 3), end = random.NextInt64(0, data.Length + 3);
                entry["data_offsets"] = new JsonArray(begin, end);
                what = "random offsets";
                break;
            default:
                root[name] = RandomJson(random, 3);
                what = "random entry";
                break;
        }
        return (RawSafeTensors.Build(root.ToJsonString(), data), $"structure {what}");
    }

    private static (byte[], string) RandomHeader(Random random)
    {
        var header = new JsonObject();
        int count = random.Next(0, 5);
        for (int i = 0; i < count; i++) header[random.Next(3) == 0 ? "__metadata__" : RandomText(random)] = RandomJson(random, 3);
        var data = new byte[random.Next(0, 65)];
        random.NextBytes(data);
        return (RawSafeTensors.Build(header.ToJsonString(), data), "random-json header");
    }

    private static (byte[], string) SpliceHeader(Random random, byte[] file)
    {
        if (Split(file) is not var (header, data) || header.Length < 2) return Truncate(random, file);
        byte[] text = Encoding.UTF8.GetBytes(header);
        int at = random.Next(1, text.Length);
        byte[] edited;
        string what;
        if (random.Next(2) == 0)
        {
            var inserted = new byte[random.Next(1, 9)];
            random.NextBytes(inserted);
            edited = [.. text[..at], .. inserted, .. text[at..]];
            what = $"insert {inserted.Length} bytes at {at}";
        }
        else
        {
            int end = Math.Min(text.Length, at + random.Next(1, 17));
            edited = [.. text[..at], .. text[end..]];
            what = $"delete [{at}, {end})";
        }
        return (RawSafeTensors.BuildRaw(edited, data), $"splice {what}");
    }

    /// <summary>A near-valid file: random entries laid out correctly, then sometimes one small inconsistency.</summary>
    private static (byte[], string) Synthesize(Random random)
    {
        int count = random.Next(0, 6);
        var specs = Enumerable.Range(0, count).Select(i => (
            Name: $"t{i}",
            DType: DTypeNames[random.Next(12)],
            Shape: Enumerable.Range(0, random.Next(0, 4)).Select(_ => random.Next(0, 5)).ToArray())).ToList();
        var order = specs.OrderBy(_ => random.Next()).ToList(); // data order differs from header order
        var offsets = new Dictionary<string, (long Begin, long End)>();
        long cursor = 0;
        foreach (var spec in order)
        {
            SafeTensorDTypes.TryParse(spec.DType, out var dtype);
            long bytes = ShapeUtil.Numel(spec.Shape) * dtype.ElementSize();
            offsets[spec.Name] = (cursor, cursor + bytes);
            cursor += bytes;
        }
        long dataLength = cursor;
        string flaw = "none";
        if (count > 0 && random.Next(3) == 0)
        {
            var victim = specs[random.Next(count)];
            var (b, e) = offsets[victim.Name];
            switch (random.Next(4))
            {
                case 0: offsets[victim.Name] = (b, e + 1); flaw = "end+1"; break;
                case 1: offsets[victim.Name] = (Math.Max(0, b - 1), e); flaw = "begin-1"; break;
                case 2 when victim.Shape.Length > 0: victim.Shape[0]++; flaw = "dim+1"; break;
                default: dataLength += random.Next(-3, 4); flaw = "data length"; break;
            }
        }
        string header = RawSafeTensors.Header([.. specs.Select(s => RawSafeTensors.Entry(s.Name, s.DType, s.Shape, offsets[s.Name].Begin, offsets[s.Name].End))]);
        var data = new byte[Math.Max(0, dataLength)];
        random.NextBytes(data);
        if (random.Next(2) == 0)
            for (int k = 0; k < data.Length; k++) data[k] &= 1; // keeps BOOL bytes valid (and floats finite) more often
        return (RawSafeTensors.Build(header, data), $"synthetic flaw={flaw}");
    }

    private static JsonNode? RandomJson(Random random, int depth)
    {
        int kind = random.Next(depth <= 0 ? 5 : 7);
        return kind switch
        {
            0 => null,
            1 => JsonValue.Create(random.Next(2) == 0),
            2 => JsonValue.Create(random.Next(3) == 0 ? random.NextDouble() * 1e6 - 5e5 : random.NextInt64(-10, 1L << 40)),
            3 => JsonValue.Create(RandomText(random)),
            4 => JsonValue.Create(DTypeNames[random.Next(DTypeNames.Length)]),
            5 => new JsonArray(Enumerable.Range(0, random.Next(0, 4)).Select(_ => RandomJson(random, depth - 1)).ToArray()),
            _ => RandomObject(random, depth),
        };
    }

    private static JsonObject RandomObject(Random random, int depth)
    {
        string[] keys = ["dtype", "shape", "data_offsets", "__metadata__", "format", "x"];
        var result = new JsonObject();
        int count = random.Next(0, 4);
        for (int i = 0; i < count; i++) result[keys[random.Next(keys.Length)]] = RandomJson(random, depth - 1);
        return result;
    }

    private static string RandomText(Random random)
    {
        const string alphabet = "abcXYZ019_.-\"\\ é€\U0001F600\u0000\n";
        var text = new StringBuilder();
        int length = random.Next(0, 8);
        for (int i = 0; i < length; i++)
        {
            char c = alphabet[random.Next(alphabet.Length)];
            if (char.IsSurrogate(c)) text.Append("\U0001F600");
            else text.Append(c);
        }
        return text.ToString();
    }

    [GeneratedRegex(@"-?\d+")]
    private static partial Regex NumberPattern();

    [GeneratedRegex("\"dtype\":\"([^\"]*)\"")]
    private static partial Regex DTypePattern();

    [GeneratedRegex("\"[^\"]*\":\\{[^{}]*\\}")]
    private static partial Regex EntryPattern();
}
