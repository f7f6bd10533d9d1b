// Time and chance enter the core only through these two types, so the unit
// tests can drive every decision with a manual clock and a seeded generator.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace vigil::core {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = std::chrono::milliseconds;

// A seeded generator: production seeds it from std::random_device, tests
// with a constant so jittered delays are reproducible.
class Rng {
public:
    explicit Rng(std::uint64_t seed) : engine_(seed) {}
    // Uniform in [lo, hi].
    double uniform(double lo, double hi) noexcept {
        return std::uniform_real_distribution<double>(lo, hi)(engine_);
    }

private:
    std::mt19937_64 engine_;
};

}  // namespace vigil::core
