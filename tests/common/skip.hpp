// A test whose prerequisite is missing (root, PostgreSQL, Redis, cgroups …)
// must not pass: VIGIL_SKIP(reason) prints the reason and ends the test case,
// and the test binary's main (catch_main.cpp) then exits with kSkipExitCode,
// which CMake's SKIP_RETURN_CODE turns into "Skipped" in ctest. (Debian 12's
// Catch2 is 2.13, without the SKIP() of Catch2 3.3.)
#pragma once

#include <string>

namespace vigil::test {

inline constexpr int kSkipExitCode = 77;  // automake's "skipped", also ctest's usual choice

// Records the skip (the binary's exit code becomes kSkipExitCode unless a
// test failed) and prints "SKIPPED: reason" on stdout.
void note_skipped(const std::string& reason);
bool any_skipped();

}  // namespace vigil::test

// Only in a TEST_CASE's own body (it returns from it).
#define VIGIL_SKIP(reason)                                   \
    do {                                                     \
        ::vigil::test::note_skipped(reason);                 \
        return;                                              \
    } while (0)
