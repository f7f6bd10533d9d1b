// The invariant check shared by the fuzz targets: a broken invariant aborts
// (libFuzzer reports it as a crash with the input; the replay driver as a
// failed test).
#pragma once

#include <cstdio>
#include <cstdlib>

namespace vigil::fuzz {

[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
}

}  // namespace vigil::fuzz

#define VIGIL_FUZZ_CHECK(cond)                   \
    do {                                         \
        if (!(cond)) ::vigil::fuzz::fail(#cond); \
    } while (0)
