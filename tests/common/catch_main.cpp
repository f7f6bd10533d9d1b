// main() of the test binaries whose tests may be skipped (integration, ha,
// chaos, examples): Catch2's own, plus the skip exit code of skip.hpp.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <atomic>
#include <iostream>

#include "skip.hpp"

namespace vigil::test {
namespace {
std::atomic<bool> g_skipped{false};
}

void note_skipped(const std::string& reason) {
    g_skipped = true;
    std::cout << "SKIPPED: " << Catch::getResultCapture().getCurrentTestName() << ": " << reason << std::endl;
}

bool any_skipped() { return g_skipped; }

}  // namespace vigil::test

int main(int argc, char** argv) {
    const int rc = Catch::Session().run(argc, argv);
    // A failure wins over a skip: ctest must show it as failed.
    return rc == 0 && vigil::test::any_skipped() ? vigil::test::kSkipExitCode : rc;
}
