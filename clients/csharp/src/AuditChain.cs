// The audit hash chain checked here, without trusting the service: the canonical form of an event (RFC 8785
// JSON of the exported event with its prev_hash), its SHA-256, and a verifier for exported pages. A port of
// packages/client/src/auditChain.ts, which the service seals with: the output must match it byte for byte
// (JSON.stringify's string escaping and ECMAScript's Number-to-String for numbers).
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;

namespace Encrypxon
{
    /// <summary>
    /// The audit chain's canonical form and hash, the same as the service's and the JavaScript SDK's
    /// (<c>canonicalJson</c>, <c>auditEventHash</c>, <c>verifyAuditEvents</c>).
    /// </summary>
    public static class AuditChain
    {
        /// <summary>The <c>prev_hash</c> of an application's first event: 64 zeros.</summary>
        public const string GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000";

        /// <summary>
        /// JSON with object members sorted by name (UTF-16 code units) and no whitespace: RFC 8785 (JCS), as
        /// the JavaScript SDK's <c>canonicalJson</c> writes it.
        /// </summary>
        /// <param name="value">
        /// null, bool, string, a number (any integral type, float, double or decimal: written as the IEEE
        /// double it is closest to, as JavaScript holds it), a dictionary with string keys
        /// (<see cref="IEnumerable{T}"/> of <see cref="KeyValuePair{TKey,TValue}"/> of string and object, or
        /// <see cref="IDictionary"/>), or any other <see cref="IEnumerable"/> as an array.
        /// </param>
        /// <returns>The canonical JSON text.</returns>
        /// <exception cref="ArgumentException">NaN or an infinity, a non-string key, or a value of another type.</exception>
        public static string CanonicalJson(object value)
        {
            var sb = new StringBuilder();
            Write(sb, value, 0);
            return sb.ToString();
        }

        /// <summary>
        /// The text an event's hash covers: its exported fields and <paramref name="prevHash"/>, canonical JSON
        /// (<c>created_at</c> as ISO 8601 UTC with milliseconds, as the API exports it).
        /// </summary>
        /// <param name="auditEvent">The event, as <see cref="Encrypxon2FaClient.ListAuditAsync"/> returns it.</param>
        /// <param name="prevHash">The previous event's hash (<see cref="GenesisHash"/> for the first).</param>
        /// <returns>The canonical JSON text.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="auditEvent"/> is null.</exception>
        /// <exception cref="ArgumentException">Its <see cref="AuditEvent.Detail"/> holds a value JSON cannot express.</exception>
        public static string CanonicalEvent(AuditEvent auditEvent, string prevHash)
        {
            if (auditEvent == null) throw new ArgumentNullException(nameof(auditEvent));
            var e = auditEvent;
            return CanonicalJson(new Dictionary<string, object>(StringComparer.Ordinal)
            {
                { "app_id", e.AppId },
                { "challenge_id", e.ChallengeId },
                { "created_at", e.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture) },
                { "detail", e.Detail },
                { "device_id", e.DeviceId },
                { "enrollment_id", e.EnrollmentId },
                { "id", e.Id },
                { "ip", e.Ip },
                { "outcome", e.Outcome },
                { "prev_hash", prevHash },
                { "type", e.Type },
                { "user_id", e.UserId },
            });
        }

        /// <summary>Lowercase hex SHA-256 of the UTF-8 of <see cref="CanonicalEvent"/>.</summary>
        /// <param name="auditEvent">The event.</param>
        /// <param name="prevHash">The previous event's hash (<see cref="GenesisHash"/> for the first).</param>
        /// <returns>64 lowercase hex digits.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="auditEvent"/> is null.</exception>
        /// <exception cref="ArgumentException">Its <see cref="AuditEvent.Detail"/> holds a value JSON cannot express.</exception>
        public static string EventHash(AuditEvent auditEvent, string prevHash)
        {
            var bytes = Encoding.UTF8.GetBytes(CanonicalEvent(auditEvent, prevHash));
            using (var sha = SHA256.Create())
            {
                var digest = sha.ComputeHash(bytes);
                var sb = new StringBuilder(64);
                foreach (var b in digest) sb.Append(b.ToString("x2", CultureInfo.InvariantCulture));
                return sb.ToString();
            }
        }

        /// <summary>
        /// Checks events already in hand, newest first (as <c>GET /v1/audit</c> pages them): one
        /// <see cref="AuditChainVerifier"/> fed with all of them.
        /// </summary>
        /// <param name="events">The events, newest first.</param>
        /// <param name="contiguous">False for a filtered export (by user, type…): only each event's own hash is checked.</param>
        /// <param name="complete">True when the oldest event must be the application's first.</param>
        /// <returns>The verdict.</returns>
        /// <exception cref="ArgumentNullException"><paramref name="events"/> or one of them is null.</exception>
        public static AuditChainResult VerifyEvents(IEnumerable<AuditEvent> events, bool contiguous = true, bool complete = false)
        {
            var v = new AuditChainVerifier(contiguous);
            v.Add(events);
            return v.Result(complete);
        }

        // ── Canonical JSON ──────────────────────────────────────────────────────────────────────────

        // Deep enough for any detail the service writes; bounded so a cyclic structure cannot overflow the stack.
        private const int MaxDepth = 128;

        private static void Write(StringBuilder sb, object value, int depth)
        {
            if (depth > MaxDepth) throw new ArgumentException("canonical JSON: nested too deeply (a cycle?)");
            if (value == null) { sb.Append("null"); return; }
            var s = value as string;
            if (s != null) { WriteString(sb, s); return; }
            if (value is bool) { sb.Append((bool)value ? "true" : "false"); return; }
            double number;
            if (TryNumber(value, out number)) { sb.Append(NumberToString(number)); return; }
            var members = Members(value);
            if (members != null)
            {
                members.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
                sb.Append('{');
                for (var i = 0; i < members.Count; i++)
                {
                    if (i > 0) sb.Append(',');
                    WriteString(sb, members[i].Key);
                    sb.Append(':');
                    Write(sb, members[i].Value, depth + 1);
                }
                sb.Append('}');
                return;
            }
            var list = value as IEnumerable;
            if (list != null)
            {
                sb.Append('[');
                var first = true;
                foreach (var item in list)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    Write(sb, item, depth + 1);
                }
                sb.Append(']');
                return;
            }
            throw new ArgumentException("canonical JSON has no " + value.GetType().Name);
        }

        private static List<KeyValuePair<string, object>> Members(object value)
        {
            var typed = value as IEnumerable<KeyValuePair<string, object>>;
            if (typed != null) return typed.ToList();
            var dictionary = value as IDictionary;
            if (dictionary == null) return null;
            var list = new List<KeyValuePair<string, object>>();
            foreach (DictionaryEntry entry in dictionary)
            {
                var key = entry.Key as string;
                if (key == null) throw new ArgumentException("canonical JSON: object keys must be strings");
                list.Add(new KeyValuePair<string, object>(key, entry.Value));
            }
            return list;
        }

        private static bool TryNumber(object value, out double number)
        {
            if (value is double) number = (double)value;
            else if (value is float) number = (float)value;
            else if (value is long) number = (long)value;
            else if (value is int) number = (int)value;
            else if (value is short) number = (short)value;
            else if (value is sbyte) number = (sbyte)value;
            else if (value is ulong) number = (ulong)value;
            else if (value is uint) number = (uint)value;
            else if (value is ushort) number = (ushort)value;
            else if (value is byte) number = (byte)value;
            else if (value is decimal) number = (double)(decimal)value;
            else
            {
                number = 0;
                return false;
            }
            return true;
        }

        /// <summary>JSON.stringify of a string: the two-character escapes, \u00xx for other controls and for lone surrogates.</summary>
        private static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            for (var i = 0; i < s.Length; i++)
            {
                var c = s[i];
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\b': sb.Append("\\b"); break;
                    case '\f': sb.Append("\\f"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20)
                        {
                            Escape(sb, c);
                        }
                        else if (char.IsHighSurrogate(c))
                        {
                            if (i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                            {
                                sb.Append(c).Append(s[i + 1]);
                                i++;
                            }
                            else Escape(sb, c);
                        }
                        else if (char.IsLowSurrogate(c)) Escape(sb, c);
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        private static void Escape(StringBuilder sb, char c) =>
            sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));

        /// <summary>
        /// ECMAScript's Number::toString (what JSON.stringify writes): the shortest digits that read back as
        /// the same double (the nearer, then the even one, on a tie), in plain notation from 1e-6 up to 1e21,
        /// else as d.ddde±n. Exact arithmetic (Steele &amp; White / Burger &amp; Dybvig), so it does not depend on
        /// the platform's own formatting, which differs between .NET Framework, Mono and .NET Core.
        /// </summary>
        internal static string NumberToString(double v)
        {
            if (double.IsNaN(v) || double.IsInfinity(v)) throw new ArgumentException("canonical JSON has no NaN or Infinity");
            if (v == 0) return "0"; // -0 too
            if (v < 0) return "-" + NumberToString(-v);

            int k;
            var digits = ShortestDigits(v, out k);
            var n = k; // v = 0.d1d2…dK × 10^n
            var len = digits.Length;
            if (len <= n && n <= 21) return digits + new string('0', n - len);
            if (0 < n && n <= 21) return digits.Substring(0, n) + "." + digits.Substring(n);
            if (-6 < n && n <= 0) return "0." + new string('0', -n) + digits;
            var e = n - 1;
            var exponent = (e < 0 ? "-" : "+") + Math.Abs(e).ToString(CultureInfo.InvariantCulture);
            return len == 1 ? digits + "e" + exponent : digits.Substring(0, 1) + "." + digits.Substring(1) + "e" + exponent;
        }

        /// <summary>The shortest digits of a positive finite double, and k with v = 0.digits × 10^k.</summary>
        private static string ShortestDigits(double v, out int k)
        {
            var bits = BitConverter.DoubleToInt64Bits(v);
            var biased = (int)((bits >> 52) & 0x7FF);
            var f = bits & 0xFFFFFFFFFFFFFL;
            int e;
            if (biased == 0) e = -1074;
            else
            {
                f |= 1L << 52;
                e = biased - 1075;
            }
            // Round-half-even reading: an even mantissa owns the ends of its rounding interval.
            var even = (f & 1) == 0;
            // The gap below is half the gap above at a power of two (not for the smallest normal).
            var unequal = biased > 1 && f == 1L << 52;
            BigInteger r, s, mPlus, mMinus;
            if (e >= 0)
            {
                var be = BigInteger.One << e;
                if (!unequal) { r = f * be * 2; s = 2; mPlus = be; mMinus = be; }
                else { r = f * be * 4; s = 4; mPlus = be * 2; mMinus = be; }
            }
            else
            {
                if (!unequal) { r = new BigInteger(f) * 2; s = BigInteger.One << (1 - e); mPlus = 1; mMinus = 1; }
                else { r = new BigInteger(f) * 4; s = BigInteger.One << (2 - e); mPlus = 2; mMinus = 1; }
            }
            // v = r/s, the interval (r − m−)/s … (r + m+)/s. Scale by 10^k so that the high end is just below 1.
            k = (int)Math.Ceiling(Math.Log10(v) - 1e-10);
            if (k >= 0) s *= BigInteger.Pow(10, k);
            else
            {
                var scale = BigInteger.Pow(10, -k);
                r *= scale;
                mPlus *= scale;
                mMinus *= scale;
            }
            Func<BigInteger, BigInteger, bool> highReached = (rr, mp) => even ? rr + mp >= s : rr + mp > s;
            while (highReached(r, mPlus))
            {
                s *= 10;
                k++;
            }
            while (!highReached(r * 10, mPlus * 10))
            {
                r *= 10;
                mPlus *= 10;
                mMinus *= 10;
                k--;
            }

            var sb = new StringBuilder(17);
            for (;;)
            {
                r *= 10;
                mPlus *= 10;
                mMinus *= 10;
                BigInteger rem;
                var d = (int)BigInteger.DivRem(r, s, out rem);
                r = rem;
                var low = even ? r <= mMinus : r < mMinus;
                var high = even ? r + mPlus >= s : r + mPlus > s;
                if (!low && !high)
                {
                    sb.Append((char)('0' + d));
                    continue;
                }
                if (low && high)
                {
                    var twice = r * 2;
                    if (twice > s || (twice == s && d % 2 == 1)) d++;
                }
                else if (high) d++;
                // A round-up of a 9 carries into the digits before it.
                while (d == 10)
                {
                    if (sb.Length == 0)
                    {
                        k++;
                        d = 1;
                        break;
                    }
                    d = sb[sb.Length - 1] - '0' + 1;
                    sb.Length--;
                }
                sb.Append((char)('0' + d));
                return sb.ToString();
            }
        }
    }

    /// <summary>
    /// Checks exported audit events offline, fed newest first as <c>GET /v1/audit</c> pages them (call
    /// <see cref="Add"/> with each page in turn, then <see cref="Result"/>). The newest events may still be
    /// unsealed (<c>PrevHash</c>/<c>Hash</c> null: written in the last moments); any other event must match its
    /// hash, and, for an unfiltered export, link to the one before it. The JavaScript SDK's
    /// <c>AuditChainVerifier</c>; not thread-safe.
    /// </summary>
    public sealed class AuditChainVerifier
    {
        private readonly bool _contiguous;
        private int _checked;
        private int _unsealed;
        private bool _sealedSeen;
        // The prev_hash the next (older) event's hash must equal.
        private string _expected;
        private string _newerId;
        private string _brokenId;
        private string _brokenReason;

        /// <summary>A verifier for one export.</summary>
        /// <param name="contiguous">False for a filtered export (by user, type…): only each event's own hash is checked.</param>
        public AuditChainVerifier(bool contiguous = true)
        {
            _contiguous = contiguous;
        }

        /// <summary>Checks the next (older) events; after a break, further events are ignored.</summary>
        /// <param name="events">One page of events, newest first.</param>
        /// <exception cref="ArgumentNullException"><paramref name="events"/> or one of them is null.</exception>
        public void Add(IEnumerable<AuditEvent> events)
        {
            if (events == null) throw new ArgumentNullException(nameof(events));
            foreach (var e in events)
            {
                if (_brokenReason != null) return;
                if (e == null) throw new ArgumentNullException(nameof(events), "an event is null");
                if (e.Hash == null || e.PrevHash == null)
                {
                    if (_sealedSeen) Break(e.Id, "unsealed_in_chain");
                    else _unsealed++;
                    continue;
                }
                if (_contiguous && _expected != null && e.Hash != _expected)
                {
                    // The newer event's link does not reach this one: name the newer side, as the service does.
                    Break(_newerId ?? e.Id, "prev_hash_mismatch");
                    return;
                }
                if (AuditChain.EventHash(e, e.PrevHash) != e.Hash)
                {
                    Break(e.Id, "hash_mismatch");
                    return;
                }
                _sealedSeen = true;
                _expected = e.PrevHash;
                _newerId = e.Id;
                _checked++;
            }
        }

        private void Break(string eventId, string reason)
        {
            _brokenId = eventId;
            _brokenReason = reason;
        }

        /// <summary>The verdict on what was added so far.</summary>
        /// <param name="complete">True when the export goes back to the application's first event, which must then start the chain.</param>
        /// <returns>Ok, or the first broken link.</returns>
        public AuditChainResult Result(bool complete = false)
        {
            if (_brokenReason != null)
                return new AuditChainResult { Ok = false, EventId = _brokenId, Reason = _brokenReason, Checked = _checked, Unsealed = _unsealed };
            if (complete && _expected != null && _expected != AuditChain.GenesisHash)
                return new AuditChainResult { Ok = false, EventId = _newerId ?? "", Reason = "not_genesis", Checked = _checked, Unsealed = _unsealed };
            return new AuditChainResult { Ok = true, Checked = _checked, Unsealed = _unsealed, OldestPrevHash = _expected };
        }
    }

    /// <summary>What <see cref="AuditChainVerifier"/> (or <see cref="Encrypxon2FaClient.VerifyAuditOfflineAsync"/>) found.</summary>
    public sealed class AuditChainResult
    {
        /// <summary>True when every sealed event matched its hash (and, for a contiguous export, its link).</summary>
        public bool Ok { get; set; }

        /// <summary>Sealed events that verified.</summary>
        public int Checked { get; set; }

        /// <summary>Newest events not sealed yet (written in the last moments), skipped.</summary>
        public int Unsealed { get; set; }

        /// <summary>
        /// When ok: the <c>prev_hash</c> of the oldest event checked (<see cref="AuditChain.GenesisHash"/> if it is
        /// the application's first), to link the next, older export to; null when none was sealed or not ok.
        /// </summary>
        public string OldestPrevHash { get; set; }

        /// <summary>
        /// When not ok: the event where the chain breaks (for <c>prev_hash_mismatch</c>, the newer side of the
        /// broken link; for <c>known_hash_missing</c>, empty); null when ok.
        /// </summary>
        public string EventId { get; set; }

        /// <summary>
        /// When not ok: <c>hash_mismatch</c> (edited), <c>prev_hash_mismatch</c> (an event deleted, inserted or
        /// moved), <c>unsealed_in_chain</c> (a seal removed), <c>not_genesis</c> (a complete export that does not
        /// start the chain) or <c>known_hash_missing</c> (a hash kept from an earlier check is gone); null when ok.
        /// </summary>
        public string Reason { get; set; }
    }
}
