// Restart delays: first, first*factor, first*factor², … capped, each with a
// jitter of at most ±10 % so a pool that crashed together does not restart in
// lockstep. A run that lasts `reset_after` counts as recovered and starts the
// sequence over (the seed's "1s, 2s, 4s, 8s, up to 1 minute").
#pragma once

#include "config/model.hpp"
#include "supervisor/core/clock.hpp"

namespace vigil::core {

class Backoff {
public:
    static constexpr double kJitter = 0.10;

    Backoff(config::Backoff spec, Duration reset_after) noexcept : spec_(spec), reset_after_(reset_after) {}

    // The delay before the next attempt; advances the sequence.
    Duration next(Rng& rng) noexcept;
    // The un-jittered delay of attempt `n` (0-based).
    Duration nominal(int n) const noexcept;
    // A run of `ran_for` just ended: long enough runs reset the sequence.
    void run_ended(Duration ran_for) noexcept;
    void reset() noexcept { attempt_ = 0; }
    int attempt() const noexcept { return attempt_; }
    void set_attempt(int n) noexcept { attempt_ = n < 0 ? 0 : n; }  // a re-executed vigild goes on

private:
    config::Backoff spec_;
    Duration reset_after_;
    int attempt_ = 0;
};

}  // namespace vigil::core
