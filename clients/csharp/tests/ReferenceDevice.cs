using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;

namespace Encrypxon.Tests
{
    /// <summary>The reference device CLI (packages/device) playing the user's phone, run with node.</summary>
    public sealed class ReferenceDevice
    {
        private readonly string _node;
        private readonly string _bin;
        private readonly string _store;
        private string _deviceId;

        public ReferenceDevice()
        {
            _node = Env("ENCRYPXON_NODE") ?? "node";
            _bin = Env("ENCRYPXON_DEVICE_BIN")
                ?? Path.GetFullPath(Path.Combine(AppDomain.CurrentDomain.BaseDirectory, "..", "..", "..", "packages", "device", "bin", "encrypxon-device.mjs"));
            if (!File.Exists(_bin)) throw new InvalidOperationException("the device CLI is not at " + _bin + " (set ENCRYPXON_DEVICE_BIN)");
            _store = Env("ENCRYPXON_DEVICE_STORE") ?? Path.Combine(Path.GetTempPath(), "encrypxon-csharp-device-" + Guid.NewGuid().ToString("N"));
        }

        private static string Env(string name)
        {
            var v = Environment.GetEnvironmentVariable(name);
            return string.IsNullOrEmpty(v) ? null : v;
        }

        /// <summary>Runs one command with --store and --json; returns its stdout, throws with stderr on failure.</summary>
        public string Run(params string[] args)
        {
            var all = new List<string> { _bin };
            all.AddRange(args);
            if (_deviceId != null && args[0] != "enroll")
            {
                all.Add("--device");
                all.Add(_deviceId);
            }
            all.Add("--store");
            all.Add(_store);
            all.Add("--json");
            var info = new ProcessStartInfo(_node, string.Join(" ", all.Select(Quote)))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                StandardOutputEncoding = Encoding.UTF8,
                StandardErrorEncoding = Encoding.UTF8,
            };
            using (var p = Process.Start(info))
            {
                p.StandardInput.Close();
                var stderr = p.StandardError.ReadToEndAsync();
                var stdout = p.StandardOutput.ReadToEnd();
                if (!p.WaitForExit(60000))
                {
                    p.Kill();
                    throw new TimeoutException("encrypxon-device " + args[0] + " did not finish within 60 s");
                }
                if (p.ExitCode != 0)
                    throw new InvalidOperationException("encrypxon-device " + args[0] + " exited " + p.ExitCode + ": " + stderr.Result.Trim());
                return stdout;
            }
        }

        /// <summary>Enrolls from the enrollment URI; returns the new device id.</summary>
        public string Enroll(string enrollmentUri, string name)
        {
            var info = (Dictionary<string, object>)Json.Parse(Run("enroll", enrollmentUri, "--name", name));
            _deviceId = (string)info["device_id"];
            return _deviceId;
        }

        /// <summary>The ids and titles of the challenges pending for the device.</summary>
        public List<KeyValuePair<string, string>> Pending()
        {
            var list = (Dictionary<string, object>)Json.Parse(Run("list"));
            return ((List<object>)list["challenges"]).Cast<Dictionary<string, object>>()
                .Select(c =>
                {
                    var context = c["context"] as Dictionary<string, object>;
                    object title = null;
                    if (context != null) context.TryGetValue("title", out title);
                    return new KeyValuePair<string, string>((string)c["id"], title as string);
                })
                .ToList();
        }

        public void Approve(string challengeId, string number = null)
        {
            if (number == null) Run("approve", challengeId);
            else Run("approve", challengeId, "--number", number);
        }

        public void Deny(string challengeId, string reason) => Run("deny", challengeId, "--reason", reason);

        /// <summary>Quotes one argument for Process's command-line parsing (the Windows rules, which Mono follows).</summary>
        private static string Quote(string arg)
        {
            var sb = new StringBuilder("\"");
            var backslashes = 0;
            foreach (var c in arg)
            {
                if (c == '\\') { backslashes++; continue; }
                if (c == '"') sb.Append('\\', backslashes * 2 + 1);
                else sb.Append('\\', backslashes);
                backslashes = 0;
                sb.Append(c);
            }
            sb.Append('\\', backslashes * 2);
            return sb.Append('"').ToString();
        }
    }
}
