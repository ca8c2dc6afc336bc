#!/usr/bin/env bash
# Builds the C# client with Mono's mcs (C# 7.2): the library with its XML documentation (a public
# member without a doc comment is an error), the test runner, and every C# example (```csharp, ```cs,
# ```c#) of every *.md under docs/ and of clients/csharp/README.md, compiled against the library; a fence
# that looks like C# but is spelled otherwise fails the build (tools/doc-examples.mjs). `build.sh test [--results FILE]` then runs the tests with mono; the
# server suite needs ENCRYPXON_URL and ENCRYPXON_API_KEY (test/e2e/csharp.test.ts provides them).
# Output: $ENCRYPXON_CSHARP_OUT, default clients/csharp/bin.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${ENCRYPXON_CSHARP_OUT:-$here/bin}"

if ! command -v mcs >/dev/null 2>&1; then
  echo "build.sh: mcs not found; on Debian: apt-get install mono-devel" >&2
  exit 127
fi
mkdir -p "$out"
mcs_() { mcs -nologo -langversion:7.2 -r:System.Net.Http.dll -r:System.Numerics.dll "$@"; }

mcs_ -target:library -warn:4 -warnaserror+ -out:"$out/Encrypxon.Client.dll" -doc:"$out/Encrypxon.Client.xml" \
  "$here"/src/*.cs
mcs_ -target:exe -warn:4 -warnaserror+ -out:"$out/Encrypxon.Client.Tests.exe" -r:"$out/Encrypxon.Client.dll" \
  "$here"/tests/*.cs

# The docs' examples: unused variables and awaitless methods are normal in a snippet.
node "$here/tools/doc-examples.mjs" "$out/DocExamples.cs" docs clients/csharp/README.md
mcs_ -target:library -nowarn:168,219,1998 -out:"$out/DocExamples.dll" -r:"$out/Encrypxon.Client.dll" "$out/DocExamples.cs"
echo "built $out/Encrypxon.Client.dll, Encrypxon.Client.Tests.exe, DocExamples.dll"

if [ "${1:-}" = test ]; then
  shift
  cd "$root"
  exec mono --debug "$out/Encrypxon.Client.Tests.exe" "$@"
fi
