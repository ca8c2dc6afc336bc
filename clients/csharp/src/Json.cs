// A small JSON reader and writer, so that the library needs nothing beyond netstandard2.0 itself.
// Objects become Dictionary<string, object> (ordinal keys), arrays List<object>, numbers long when they
// are whole and fit, else double; strings, bool and null as themselves.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Encrypxon
{
    internal static class Json
    {
        public static object Parse(string text)
        {
            if (text == null) throw new FormatException("no JSON text");
            var reader = new Reader(text);
            reader.SkipSpace();
            var value = reader.ReadValue(0);
            reader.SkipSpace();
            if (!reader.AtEnd) throw reader.Error("unexpected text after the JSON value");
            return value;
        }

        public static string Serialize(object value)
        {
            var sb = new StringBuilder();
            Write(sb, value);
            return sb.ToString();
        }

        private static void Write(StringBuilder sb, object value)
        {
            if (value == null) sb.Append("null");
            else if (value is string s) WriteString(sb, s);
            else if (value is bool b) sb.Append(b ? "true" : "false");
            else if (value is int i) sb.Append(i.ToString(CultureInfo.InvariantCulture));
            else if (value is long l) sb.Append(l.ToString(CultureInfo.InvariantCulture));
            else if (value is double d)
            {
                if (double.IsNaN(d) || double.IsInfinity(d)) throw new ArgumentException("JSON has no NaN or Infinity");
                sb.Append(d.ToString("R", CultureInfo.InvariantCulture));
            }
            else if (value is IEnumerable<KeyValuePair<string, object>> obj)
            {
                sb.Append('{');
                var first = true;
                foreach (var kv in obj)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, kv.Key);
                    sb.Append(':');
                    Write(sb, kv.Value);
                }
                sb.Append('}');
            }
            else if (value is IEnumerable list)
            {
                sb.Append('[');
                var first = true;
                foreach (var item in list)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    Write(sb, item);
                }
                sb.Append(']');
            }
            else throw new ArgumentException("cannot write a " + value.GetType().Name + " as JSON");
        }

        private static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (var c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        // Control characters, and the line separators some JavaScript parsers choke on.
                        if (c < 0x20 || c == '\u2028' || c == '\u2029')
                            sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        private sealed class Reader
        {
            // Deep enough for any answer of the API; bounded so a hostile body cannot overflow the stack.
            private const int MaxDepth = 64;
            private readonly string _s;
            private int _i;

            public Reader(string s) { _s = s; }

            public bool AtEnd => _i >= _s.Length;

            public FormatException Error(string what) =>
                new FormatException("invalid JSON at offset " + _i.ToString(CultureInfo.InvariantCulture) + ": " + what);

            public void SkipSpace()
            {
                while (_i < _s.Length && (_s[_i] == ' ' || _s[_i] == '\t' || _s[_i] == '\n' || _s[_i] == '\r')) _i++;
            }

            public object ReadValue(int depth)
            {
                if (depth > MaxDepth) throw Error("nested too deeply");
                if (AtEnd) throw Error("unexpected end");
                var c = _s[_i];
                switch (c)
                {
                    case '{': return ReadObject(depth);
                    case '[': return ReadArray(depth);
                    case '"': return ReadString();
                    case 't': Expect("true"); return true;
                    case 'f': Expect("false"); return false;
                    case 'n': Expect("null"); return null;
                    default:
                        if (c == '-' || (c >= '0' && c <= '9')) return ReadNumber();
                        throw Error("unexpected character '" + c + "'");
                }
            }

            private void Expect(string word)
            {
                if (string.CompareOrdinal(_s, _i, word, 0, word.Length) != 0) throw Error("expected " + word);
                _i += word.Length;
            }

            private Dictionary<string, object> ReadObject(int depth)
            {
                var obj = new Dictionary<string, object>(StringComparer.Ordinal);
                _i++;
                SkipSpace();
                if (!AtEnd && _s[_i] == '}') { _i++; return obj; }
                for (;;)
                {
                    SkipSpace();
                    if (AtEnd || _s[_i] != '"') throw Error("expected a member name");
                    var key = ReadString();
                    SkipSpace();
                    if (AtEnd || _s[_i] != ':') throw Error("expected ':'");
                    _i++;
                    SkipSpace();
                    obj[key] = ReadValue(depth + 1);
                    SkipSpace();
                    if (AtEnd) throw Error("unexpected end in an object");
                    if (_s[_i] == ',') { _i++; continue; }
                    if (_s[_i] == '}') { _i++; return obj; }
                    throw Error("expected ',' or '}'");
                }
            }

            private List<object> ReadArray(int depth)
            {
                var list = new List<object>();
                _i++;
                SkipSpace();
                if (!AtEnd && _s[_i] == ']') { _i++; return list; }
                for (;;)
                {
                    SkipSpace();
                    list.Add(ReadValue(depth + 1));
                    SkipSpace();
                    if (AtEnd) throw Error("unexpected end in an array");
                    if (_s[_i] == ',') { _i++; continue; }
                    if (_s[_i] == ']') { _i++; return list; }
                    throw Error("expected ',' or ']'");
                }
            }

            private string ReadString()
            {
                _i++;
                var sb = new StringBuilder();
                for (;;)
                {
                    if (AtEnd) throw Error("unterminated string");
                    var c = _s[_i++];
                    if (c == '"') return sb.ToString();
                    if (c < 0x20) throw Error("control character in a string");
                    if (c != '\\') { sb.Append(c); continue; }
                    if (AtEnd) throw Error("unterminated escape");
                    var e = _s[_i++];
                    switch (e)
                    {
                        case '"': sb.Append('"'); break;
                        case '\\': sb.Append('\\'); break;
                        case '/': sb.Append('/'); break;
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case 'n': sb.Append('\n'); break;
                        case 'r': sb.Append('\r'); break;
                        case 't': sb.Append('\t'); break;
                        case 'u':
                            if (_i + 4 > _s.Length) throw Error("short \\u escape");
                            int code;
                            if (!int.TryParse(_s.Substring(_i, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out code))
                                throw Error("bad \\u escape");
                            sb.Append((char)code);
                            _i += 4;
                            break;
                        default: throw Error("bad escape");
                    }
                }
            }

            private object ReadNumber()
            {
                var start = _i;
                if (_s[_i] == '-') _i++;
                var intStart = _i;
                while (!AtEnd && _s[_i] >= '0' && _s[_i] <= '9') _i++;
                if (_i == intStart) throw Error("expected digits");
                if (_i - intStart > 1 && _s[intStart] == '0') throw Error("leading zero");
                var whole = true;
                if (!AtEnd && _s[_i] == '.')
                {
                    whole = false;
                    _i++;
                    var fracStart = _i;
                    while (!AtEnd && _s[_i] >= '0' && _s[_i] <= '9') _i++;
                    if (_i == fracStart) throw Error("expected digits after '.'");
                }
                if (!AtEnd && (_s[_i] == 'e' || _s[_i] == 'E'))
                {
                    whole = false;
                    _i++;
                    if (!AtEnd && (_s[_i] == '+' || _s[_i] == '-')) _i++;
                    var expStart = _i;
                    while (!AtEnd && _s[_i] >= '0' && _s[_i] <= '9') _i++;
                    if (_i == expStart) throw Error("expected exponent digits");
                }
                var text = _s.Substring(start, _i - start);
                long l;
                if (whole && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
                // .NET Framework and Mono throw OverflowException past double's range (1e400), .NET Core 3+
                // answers infinity: both are a malformed answer here, reported like any other.
                double d;
                if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out d) || double.IsInfinity(d))
                {
                    _i = start;
                    throw Error("number out of range");
                }
                return d;
            }
        }
    }

    /// <summary>Typed reads of one JSON object of an answer; a missing or mistyped field is an error.</summary>
    internal sealed class JsonObject
    {
        private readonly Dictionary<string, object> _fields;
        private readonly string _what;

        public JsonObject(object value, string what)
        {
            _fields = value as Dictionary<string, object>;
            _what = what;
            if (_fields == null) throw Unexpected("is not a JSON object");
        }

        public IReadOnlyDictionary<string, object> Fields => _fields;

        private EncrypxonClientException Unexpected(string problem) =>
            new EncrypxonClientException("unexpected answer from the API: " + _what + " " + problem);

        public bool Has(string name) => _fields.ContainsKey(name);

        private object Raw(string name, bool optional)
        {
            object v;
            if (_fields.TryGetValue(name, out v)) return v;
            if (optional) return null;
            throw Unexpected("has no \"" + name + "\"");
        }

        public string String(string name)
        {
            var v = Raw(name, false) as string;
            if (v == null) throw Unexpected("field \"" + name + "\" is not a string");
            return v;
        }

        public string OptionalString(string name)
        {
            var v = Raw(name, true);
            if (v == null) return null;
            var s = v as string;
            if (s == null) throw Unexpected("field \"" + name + "\" is not a string");
            return s;
        }

        public long Integer(string name)
        {
            var v = Raw(name, false);
            if (v is long) return (long)v;
            throw Unexpected("field \"" + name + "\" is not a whole number");
        }

        public bool Boolean(string name)
        {
            var v = Raw(name, false);
            if (v is bool) return (bool)v;
            throw Unexpected("field \"" + name + "\" is not true or false");
        }

        public DateTimeOffset Time(string name)
        {
            var t = OptionalTime(name);
            if (t == null) throw Unexpected("field \"" + name + "\" is null");
            return t.Value;
        }

        public DateTimeOffset? OptionalTime(string name)
        {
            var s = OptionalString(name);
            if (s == null) return null;
            DateTimeOffset t;
            if (!DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out t))
                throw Unexpected("field \"" + name + "\" is not a timestamp");
            return t;
        }

        public JsonObject Object(string name)
        {
            return new JsonObject(Raw(name, false), _what + "." + name);
        }

        public IReadOnlyDictionary<string, object> OptionalDictionary(string name)
        {
            var v = Raw(name, true);
            if (v == null) return null;
            var d = v as Dictionary<string, object>;
            if (d == null) throw Unexpected("field \"" + name + "\" is not an object");
            return d;
        }

        public List<object> Array(string name)
        {
            var v = Raw(name, false) as List<object>;
            if (v == null) throw Unexpected("field \"" + name + "\" is not an array");
            return v;
        }

        public List<object> OptionalArray(string name)
        {
            var v = Raw(name, true);
            if (v == null) return null;
            var l = v as List<object>;
            if (l == null) throw Unexpected("field \"" + name + "\" is not an array");
            return l;
        }
    }
}
