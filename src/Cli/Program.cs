using Ttt.Cli;
using Ttt.Cli.Commands;

return Cli.Run(args, Console.Out, Console.Error);

namespace Ttt.Cli
{
    /// <summary>Entry point and dispatch of the <c>ttt</c> subcommands.</summary>
    public static class Cli
    {
        /// <summary>The subcommands.</summary>
        public static IReadOnlyList<CommandSpec> Commands { get; } =
        [
            TrainCommand.Spec,
            EvalCommand.Spec,
            GenerateCommand.Spec,
            BenchCommand.Spec,
            ExperimentCommand.Spec,
        ];

        /// <summary>Runs the command line; returns the exit code (0 ok, 1 failure, 2 bad arguments).</summary>
        public static int Run(string[] args, TextWriter output, TextWriter error)
        {
            ArgumentNullException.ThrowIfNull(args);
            ArgumentNullException.ThrowIfNull(output);
            ArgumentNullException.ThrowIfNull(error);
            if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
            {
                output.WriteLine(Usage());
                return args.Length == 0 ? 2 : 0;
            }
            var spec = Commands.FirstOrDefault(c => c.Name == args[0]);
            if (spec is null)
            {
                error.WriteLine($"ttt: unknown command '{args[0]}'; commands: {string.Join(", ", Commands.Select(c => c.Name))}");
                return 2;
            }
            bool verbose = args.Contains("--verbose");
            try
            {
                var parsed = spec.Parse(args[1..]);
                if (parsed.Has("--help"))
                {
                    output.WriteLine(spec.Help());
                    return 0;
                }
                return spec.Run(parsed);
            }
            catch (UsageException e)
            {
                error.WriteLine($"ttt {spec.Name}: {e.Message}");
                if (verbose) error.WriteLine(e);
                return 2;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException
                                          or InvalidOperationException or OutOfMemoryException or InsufficientMemoryException or NotSupportedException or IO.SafeTensorsFormatException or ArithmeticException)
            {
                error.WriteLine($"ttt {spec.Name}: error: {e.Message}");
                if (verbose) error.WriteLine(e);
                return 1;
            }
        }

        /// <summary>The top-level help.</summary>
        public static string Usage()
        {
            var lines = new List<string> { "usage: ttt <command> [options]", "", "commands:" };
            lines.AddRange(Commands.Select(c => $"  {c.Name,-10} {c.Summary}"));
            lines.Add("");
            lines.Add("Run 'ttt <command> --help' for the options of a command.");
            return string.Join(Environment.NewLine, lines);
        }
    }
}
