#include <catch2/catch.hpp>

#include <set>

#include "supervisor/core/backoff.hpp"

using namespace std::chrono_literals;
using vigil::core::Backoff;
using vigil::core::Duration;
using vigil::core::Rng;

TEST_CASE("backoff: default sequence is the seed's 1s 2s 4s … capped at 60s", "[backoff]") {
    Backoff b({1000ms, 2.0, 60000ms}, 60000ms);
    const std::vector<long> expected{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000};
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(b.nominal(static_cast<int>(i)).count() == expected[i]);
}

TEST_CASE("backoff: jitter stays within ±10% of each step", "[backoff]") {
    Rng rng(42);
    Backoff b({1000ms, 2.0, 60000ms}, 60000ms);
    for (int i = 0; i < 12; ++i) {
        const auto nominal = b.nominal(b.attempt());
        const auto d = b.next(rng);
        CHECK(d.count() >= static_cast<long>(nominal.count() * 0.9) - 1);
        CHECK(d.count() <= static_cast<long>(nominal.count() * 1.1) + 1);
    }
}

TEST_CASE("backoff: jitter actually varies the delay", "[backoff]") {
    Rng rng(7);
    std::set<long> seen;
    for (int i = 0; i < 20; ++i) {
        Backoff b({1000ms, 2.0, 60000ms}, 60000ms);
        seen.insert(b.next(rng).count());
    }
    CHECK(seen.size() > 10);
}

TEST_CASE("backoff: a run as long as backoff_reset starts the sequence over", "[backoff]") {
    Rng rng(1);
    Backoff b({1000ms, 2.0, 60000ms}, 60000ms);
    b.next(rng);
    b.next(rng);
    b.next(rng);
    REQUIRE(b.attempt() == 3);
    b.run_ended(59999ms);
    CHECK(b.attempt() == 3);
    b.run_ended(60000ms);
    CHECK(b.attempt() == 0);
    CHECK(b.nominal(b.attempt()) == 1000ms);
}

TEST_CASE("backoff: unlimited crash loop never overflows past the cap", "[backoff]") {
    Rng rng(3);
    Backoff b({1000ms, 2.0, 60000ms}, 60000ms);
    for (int i = 0; i < 100000; ++i) b.next(rng);
    const auto d = b.next(rng);
    CHECK(d >= 54000ms);
    CHECK(d <= 66000ms);
}

TEST_CASE("backoff: a zero first step means restart at once", "[backoff]") {
    Rng rng(5);
    Backoff b({0ms, 1.0, 0ms}, 60000ms);
    for (int i = 0; i < 5; ++i) CHECK(b.next(rng) == 0ms);
}
