#include "supervisor/core/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace vigil::core {

Duration Backoff::nominal(int n) const noexcept {
    const double first = static_cast<double>(spec_.first.count());
    const double cap = static_cast<double>(spec_.cap.count());
    // pow can overflow to inf for large n; min() with cap keeps it finite.
    const double raw = first * std::pow(spec_.factor, static_cast<double>(n));
    return Duration(static_cast<Duration::rep>(std::min(raw, cap)));
}

Duration Backoff::next(Rng& rng) noexcept {
    const Duration base = nominal(attempt_);
    // Stop counting once the cap is reached so attempt_ cannot overflow in an
    // unlimited crash loop.
    if (base < spec_.cap) ++attempt_;
    const double jittered = static_cast<double>(base.count()) * (1.0 + rng.uniform(-kJitter, kJitter));
    return Duration(static_cast<Duration::rep>(std::llround(std::max(0.0, jittered))));
}

void Backoff::run_ended(Duration ran_for) noexcept {
    if (ran_for >= reset_after_) attempt_ = 0;
}

}  // namespace vigil::core
