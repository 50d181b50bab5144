using System.Globalization;

namespace Ttt.Cli;

/// <summary>A command-line mistake: reported as one line, exit code 2, no stack trace.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>One option of a command.</summary>
/// <param name="Name">Long name with dashes ("--model").</param>
/// <param name="Value">Placeholder of the value ("DIR"); null for a flag.</param>
/// <param name="Help">One-line description.</param>
/// <param name="Default">Default shown in help (null: none).</param>
public sealed record OptionSpec(string Name, string? Value, string Help, string? Default = null)
{
    /// <summary>True for options without a value.</summary>
    public bool IsFlag => Value is null;
}

/// <summary>A subcommand: its options and what it does.</summary>
/// <remarks><paramref name="positional"/> names the words the command takes before or among its options (e.g. "ablation|context"); null: none.</remarks>
public sealed class CommandSpec(string name, string summary, IReadOnlyList<OptionSpec> options, Func<ParsedArgs, int> run, string? positional = null)
{
    /// <summary>Subcommand name.</summary>
    public string Name { get; } = name;
    /// <summary>One-line summary.</summary>
    public string Summary { get; } = summary;
    /// <summary>Accepted options (every command also takes --help and --verbose).</summary>
    public IReadOnlyList<OptionSpec> Options { get; } = options;
    /// <summary>Runs the command; returns the exit code.</summary>
    public Func<ParsedArgs, int> Run { get; } = run;

    /// <summary>The help text.</summary>
    public string Help()
    {
        var lines = new List<string> { $"usage: ttt {Name}{(positional is null ? "" : " " + positional)} [options]", "", Summary, "", "options:" };
        foreach (var o in Options.Append(new OptionSpec("--verbose", null, "show stack traces of errors")).Append(new OptionSpec("--help", null, "show this help")))
        {
            var left = o.IsFlag ? o.Name : $"{o.Name} {o.Value}";
            lines.Add($"  {left,-28} {o.Help}{(o.Default is null ? "" : $" (default: {o.Default})")}");
        }
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>Parses <paramref name="args"/> (after the subcommand name).</summary>
    public ParsedArgs Parse(IReadOnlyList<string> args)
    {
        var values = new Dictionary<string, string>();
        var flags = new HashSet<string>();
        var words = new List<string>();
        var known = Options.ToDictionary(o => o.Name);
        for (int i = 0; i < args.Count; i++)
        {
            var a = args[i];
            if (a is "--help" or "-h") { flags.Add("--help"); continue; }
            if (a == "--verbose") { flags.Add("--verbose"); continue; }
            string name = a;
            string? inline = null;
            int eq = a.IndexOf('=', StringComparison.Ordinal);
            if (a.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                name = a[..eq];
                inline = a[(eq + 1)..];
            }
            if (positional is not null && !a.StartsWith('-'))
            {
                words.Add(a);
                continue;
            }
            if (!known.TryGetValue(name, out var spec))
                throw new UsageException(a.StartsWith('-') ? $"unknown option '{name}' (see ttt {Name} --help)" : $"unexpected argument '{a}' (see ttt {Name} --help)");
            if (spec.IsFlag)
            {
                if (inline is not null) throw new UsageException($"option {name} takes no value");
                flags.Add(name);
                continue;
            }
            string value = inline ?? (i + 1 < args.Count ? args[++i] : throw new UsageException($"option {name} needs a value {spec.Value}"));
            if (values.ContainsKey(name)) throw new UsageException($"option {name} given twice");
            values[name] = value;
        }
        return new ParsedArgs(Name, values, flags, words);
    }
}

/// <summary>Parsed options with typed, validated accessors that throw <see cref="UsageException"/>.</summary>
public sealed class ParsedArgs(string command, Dictionary<string, string> values, HashSet<string> flags, IReadOnlyList<string>? positionals = null)
{
    /// <summary>The words given without an option name, in order (commands that take them).</summary>
    public IReadOnlyList<string> Positionals { get; } = positionals ?? [];

    /// <summary>True when the flag was given.</summary>
    public bool Has(string flag) => flags.Contains(flag);

    /// <summary>True when the option was given.</summary>
    public bool Given(string name) => values.ContainsKey(name);

    /// <summary>A string option.</summary>
    public string? String(string name, string? fallback = null) => values.TryGetValue(name, out var v) ? v : fallback;

    /// <summary>A required string option.</summary>
    public string Required(string name) => values.TryGetValue(name, out var v) ? v : throw new UsageException($"missing required option {name}");

    /// <summary>An integer option within [min, max].</summary>
    public int Int(string name, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        if (!values.TryGetValue(name, out var v)) return fallback;
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int x))
            throw new UsageException($"{name} expects an integer, got '{v}'");
        if (x < min || x > max) throw new UsageException($"{name} must be in [{min}, {max}], got {x}");
        return x;
    }

    /// <summary>A number option within [min, max].</summary>
    public double Double(string name, double fallback, double min = double.MinValue, double max = double.MaxValue)
    {
        if (!values.TryGetValue(name, out var v)) return fallback;
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) || !double.IsFinite(x))
            throw new UsageException($"{name} expects a number, got '{v}'");
        if (x < min || x > max) throw new UsageException($"{name} must be in [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}], got {v}");
        return x;
    }

    /// <summary>One of a fixed set of words.</summary>
    public string Choice(string name, string fallback, params string[] choices)
    {
        var v = String(name, fallback)!;
        if (!choices.Contains(v)) throw new UsageException($"{name} must be one of {string.Join(", ", choices)}; got '{v}'");
        return v;
    }

    /// <summary>The command's name.</summary>
    public string Command => command;
}
