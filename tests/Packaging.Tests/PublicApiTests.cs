using System.Reflection;
using System.Text;

namespace Ttt.Packaging.Tests;

/// <summary>
/// The public surface of every packed library, as text (one line per type and member), compared with
/// <c>PublicApi/ASSEMBLY.txt</c>. A change to the public API shows up as a diff of those files in review.
/// Refresh them with <see cref="Repo.UpdateCommand"/>.
/// </summary>
public sealed class PublicApiTests
{
    public static TheoryData<string> Assemblies => new() { "Ttt.Tensor", "Ttt.Autograd", "Ttt.Layers", "Ttt.Cuda", "Ttt.Testing" };

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void Public_api_matches_the_snapshot(string assemblyName)
    {
        var actual = PublicApi.Describe(Assembly.Load(assemblyName));
        var path = Repo.Path("tests", "Packaging.Tests", "PublicApi", assemblyName + ".txt");
        if (Repo.Updating)
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"{path} is missing; create it with: {Repo.UpdateCommand}");
        var expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        if (expected == actual) return;
        var was = expected.Split('\n').ToHashSet();
        var now = actual.Split('\n').ToHashSet();
        var report = new StringBuilder($"The public API of {assemblyName} changed. If that is deliberate, run: {Repo.UpdateCommand}\n");
        foreach (var line in now.Except(was).Take(40)) report.Append("  + ").AppendLine(line);
        foreach (var line in was.Except(now).Take(40)) report.Append("  - ").AppendLine(line);
        Assert.Fail(report.ToString());
    }

    [Fact]
    public void The_description_sees_members_signatures_and_defaults()
    {
        // The format itself, on a type whose API is known here: a change of any of these must change the text.
        var text = PublicApi.Describe(typeof(Ttt.Testing.TensorGen).Assembly);
        Assert.Contains("public static class Ttt.Testing.TensorGen", text, StringComparison.Ordinal);
        Assert.Contains("  method public static FsCheck.Gen<int[]> Shape(int minRank = 0, int maxRank = 3, int maxDim = 4)", text, StringComparison.Ordinal);
        Assert.Contains("public enum Ttt.Testing.ViewKind", text, StringComparison.Ordinal);
        Assert.Contains("  field Contiguous = 0", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Reduce", text, StringComparison.Ordinal);   // a private method of TensorGen
    }
}

/// <summary>Renders the public (and protected) surface of an assembly as sorted, stable text.</summary>
internal static class PublicApi
{
    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    public static string Describe(Assembly assembly)
    {
        var text = new StringBuilder();
        foreach (var type in assembly.GetExportedTypes().OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            text.Append(TypeHeader(type)).Append('\n');
            foreach (var line in Members(type).Order(StringComparer.Ordinal)) text.Append("  ").Append(line).Append('\n');
        }
        return text.ToString();
    }

    private static string TypeHeader(Type t)
    {
        string kind = t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? (IsReadOnly(t) ? "readonly struct" : "struct")
            : typeof(Delegate).IsAssignableFrom(t) ? "delegate" : "class";
        string modifiers = kind != "class" ? "" : t.IsAbstract && t.IsSealed ? "static " : t.IsAbstract ? "abstract " : t.IsSealed ? "sealed " : "";
        var bases = new List<string>();
        if (kind == "class" && t.BaseType is { } b && b != typeof(object)) bases.Add(Name(b));
        if (t.IsEnum) bases.Add(Name(Enum.GetUnderlyingType(t)));
        var inherited = t.BaseType?.GetInterfaces() ?? [];
        bases.AddRange(t.GetInterfaces().Where(i => i.IsPublic || i.IsNestedPublic).Except(inherited).Select(Name).Order(StringComparer.Ordinal));
        return $"public {modifiers}{kind} {FullName(t)}{(bases.Count > 0 ? " : " + string.Join(", ", bases) : "")}";
    }

    private static IEnumerable<string> Members(Type t)
    {
        if (t.IsEnum)
        {
            foreach (var f in t.GetFields(BindingFlags.Public | BindingFlags.Static))
                yield return $"field {f.Name} = {Convert.ToInt64(f.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture)}";
            yield break;
        }
        foreach (var m in t.GetMembers(All))
        {
            switch (m)
            {
                case ConstructorInfo c when Visible(c):
                    yield return $"ctor {Access(c)}{(c.IsStatic ? "static " : "")}{Name(t, short_: true)}({Parameters(c)})";
                    break;
                case MethodInfo method when Visible(method) && (!method.IsSpecialName || method.Name.StartsWith("op_", StringComparison.Ordinal)) && !method.Name.Contains('<', StringComparison.Ordinal):
                    var generic = method.IsGenericMethodDefinition ? "<" + string.Join(", ", method.GetGenericArguments().Select(a => a.Name)) + ">" : "";
                    yield return $"method {Access(method)}{Modifiers(method)}{Name(method.ReturnType)} {method.Name}{generic}({Parameters(method)})";
                    break;
                case PropertyInfo p:
                    var get = p.GetMethod is { } g && Visible(g) ? Access(g) + "get; " : "";
                    var set = p.SetMethod is { } s && Visible(s)
                        ? Access(s) + (s.ReturnParameter.GetRequiredCustomModifiers().Any(x => x.Name == "IsExternalInit") ? "init; " : "set; ") : "";
                    if (get.Length + set.Length == 0) break;
                    var accessor = (p.GetMethod ?? p.SetMethod)!;
                    var index = p.GetIndexParameters().Length > 0 ? "[" + string.Join(", ", p.GetIndexParameters().Select(Parameter)) + "]" : "";
                    yield return $"property {Modifiers(accessor)}{Name(p.PropertyType)} {p.Name}{index} {{ {get}{set}}}";
                    break;
                case FieldInfo f when (f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly) && !f.Name.Contains('<', StringComparison.Ordinal):
                    var value = f.IsLiteral ? " = " + Literal(f.GetRawConstantValue()) : "";
                    yield return $"field {(f.IsPublic ? "public " : "protected ")}{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}{Name(f.FieldType)} {f.Name}{value}";
                    break;
                case EventInfo e when e.AddMethod is { } add && Visible(add):
                    yield return $"event {Access(add)}{Modifiers(add)}{Name(e.EventHandlerType!)} {e.Name}";
                    break;
            }
        }
    }

    private static bool Visible(MethodBase m) => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly;

    private static string Access(MethodBase m) => m.IsPublic ? "public " : "protected ";

    private static string Modifiers(MethodInfo m)
    {
        if (m.IsStatic) return "static ";
        if (m.DeclaringType!.IsInterface) return "";
        if (m.IsAbstract) return "abstract ";
        if (m.IsVirtual && !m.IsFinal) return m.GetBaseDefinition() != m ? "override " : "virtual ";
        if (m.IsVirtual && m.GetBaseDefinition() != m) return "sealed override ";
        return "";
    }

    private static bool IsReadOnly(Type t) => t.GetCustomAttributes(false).Any(a => a.GetType().Name == "IsReadOnlyAttribute");

    private static string Parameters(MethodBase m) => string.Join(", ", m.GetParameters().Select(Parameter));

    private static string Parameter(ParameterInfo p)
    {
        var type = p.ParameterType;
        string prefix = "";
        if (type.IsByRef)
        {
            type = type.GetElementType()!;
            prefix = p.IsOut ? "out " : p.IsIn ? "in " : "ref ";
        }
        if (p.GetCustomAttributes(false).Any(a => a is ParamArrayAttribute)) prefix += "params ";
        if (p.Member is MethodInfo { IsStatic: true } owner && p.Position == 0 && owner.IsDefined(typeof(System.Runtime.CompilerServices.ExtensionAttribute), false))
            prefix = "this " + prefix;
        var value = p.HasDefaultValue ? " = " + Literal(p.RawDefaultValue) : "";
        return $"{prefix}{Name(type)} {p.Name}{value}";
    }

    private static string Literal(object? value) => value switch
    {
        null => "null",
        string s => "\"" + s + "\"",
        bool b => b ? "true" : "false",
        char c => "'" + c + "'",
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        float f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string FullName(Type t) =>
        (t.IsNested ? FullName(t.DeclaringType!) + "." : t.Namespace is { } ns ? ns + "." : "") + Name(t, short_: false, declaringOnly: true);

    private static string Name(Type t) => Name(t, short_: false);

    private static readonly Dictionary<Type, string> Keywords = new()
    {
        [typeof(void)] = "void", [typeof(bool)] = "bool", [typeof(byte)] = "byte", [typeof(sbyte)] = "sbyte",
        [typeof(short)] = "short", [typeof(ushort)] = "ushort", [typeof(int)] = "int", [typeof(uint)] = "uint",
        [typeof(long)] = "long", [typeof(ulong)] = "ulong", [typeof(float)] = "float", [typeof(double)] = "double",
        [typeof(decimal)] = "decimal", [typeof(char)] = "char", [typeof(string)] = "string", [typeof(object)] = "object",
        [typeof(nint)] = "nint", [typeof(nuint)] = "nuint",
    };

    private static string Name(Type t, bool short_, bool declaringOnly = false)
    {
        if (Keywords.TryGetValue(t, out var keyword)) return keyword;
        if (t.IsGenericParameter) return t.Name;
        if (t.IsArray) return Name(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
        if (t.IsPointer) return Name(t.GetElementType()!) + "*";
        if (t.IsByRef) return "ref " + Name(t.GetElementType()!);
        if (Nullable.GetUnderlyingType(t) is { } underlying) return Name(underlying) + "?";
        var name = t.Name;
        int tick = name.IndexOf('`', StringComparison.Ordinal);
        if (tick >= 0) name = name[..tick];
        if (t.IsGenericType)
        {
            // Only the arguments that belong to this type, not to the types it is nested in.
            var args = t.GetGenericArguments();
            int own = t.IsNested ? args.Length - t.DeclaringType!.GetGenericArguments().Length : args.Length;
            if (own > 0) name += "<" + string.Join(", ", args.Skip(args.Length - own).Select(Name)) + ">";
        }
        if (short_ || declaringOnly) return name;
        if (t.IsNested) return Name(t.DeclaringType!) + "." + name;
        return (t.Namespace is { } ns ? ns + "." : "") + name;
    }
}
