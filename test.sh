#!/usr/bin/env bash
# The test command (README): builds everything (gcc builds the userland and test programs as part
# of the build) and runs every xunit project.
set -euo pipefail
cd "$(dirname "$0")"
dotnet build Lab.sln -c Release -nologo -v q
dotnet test Lab.sln -c Release --no-build -nologo -v q "$@"
